//! The side panel (egui): scene, variant, predictors, mode, horizon and speed; the live
//! error plot, the hovered body's error, the outcome question, the surprise meter, the
//! controls, and the last error or status.

use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use egui_plot::{Legend, Line, Plot};

use crate::scene_view::{GHOST_COMPARE, GHOST_PRIMARY, PLAN, new_variant};
use crate::session::{PredictorKind, body_errors};
use crate::{Mode, Viewer};

pub(crate) struct PanelPlugin;

impl Plugin for PanelPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(EguiPrimaryContextPass, panel);
    }
}

fn egui_colour(c: Color) -> egui::Color32 {
    let s = c.to_srgba();
    egui::Color32::from_rgb(
        (s.red * 255.0) as u8,
        (s.green * 255.0) as u8,
        (s.blue * 255.0) as u8,
    )
}

fn panel(
    mut contexts: EguiContexts,
    mut viewer: ResMut<Viewer>,
    diagnostics: Res<DiagnosticsStore>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let fps = diagnostics
        .get(&FrameTimeDiagnosticsPlugin::FRAME_TIME)
        .and_then(|d| d.smoothed())
        .unwrap_or(0.0);
    let mut root = egui::Ui::new(
        ctx.clone(),
        "viewport".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    egui::Panel::right("foresight-panel").default_size(330.0).show(&mut root, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Foresight");
            ui.label(egui::RichText::new(&viewer.session.instance.description).italics());
            ui.separator();

            // Scene and variant.
            let current = viewer.session.path.clone();
            let mut chosen = None;
            egui::ComboBox::from_label("scene")
                .selected_text(viewer.session.instance.name.clone())
                .show_ui(ui, |ui| {
                    for f in &viewer.scene_files {
                        let name = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                        if ui.selectable_label(*f == current, name).clicked() {
                            chosen = Some(f.clone());
                        }
                    }
                });
            if let Some(f) = chosen {
                match viewer.session.reload_from(&f) {
                    Ok(()) => {
                        viewer.status = format!("opened {}", f.display());
                        viewer.reset_views();
                    }
                    Err(e) => viewer.status = e,
                }
            }
            ui.horizontal(|ui| {
                ui.label(format!("seed {}", viewer.session.seed));
                if ui.button("New variant (N)").clicked() {
                    new_variant(&mut viewer);
                }
                if ui.button("Restart (R)").clicked() {
                    viewer.session.restart();
                    viewer.reset_views();
                }
            });
            ui.horizontal(|ui| {
                let label = if viewer.playing { "Pause (Space)" } else { "Play (Space)" };
                if ui.button(label).clicked() {
                    viewer.playing = !viewer.playing;
                }
                if ui.button("Step (Right)").clicked() {
                    viewer.playing = false;
                    viewer.step_once = true;
                }
                ui.label(format!("t = {:.2} s", viewer.session.tick() as f32 * viewer.session.instance.dt));
            });
            ui.add(egui::Slider::new(&mut viewer.speed, 0.1..=2.0).text("speed"));
            // The timeline: every tick of the run so far.
            let latest = viewer.session.tick();
            let mut shown = viewer.shown_tick();
            let dt = viewer.session.instance.dt;
            let slider = egui::Slider::new(&mut shown, 0..=latest.max(1))
                .text("timeline (tick)")
                .custom_formatter(move |t, _| format!("{t:.0} · {:.2} s", t as f32 * dt));
            if ui.add(slider).changed() {
                viewer.scrub_to(shown as i64);
            }
            if let Some(t) = viewer.view_tick {
                ui.label(format!(
                    "Looking back at t = {:.2} s (now {:.2} s), with the forecast made from there. ← → step (Shift: 10), End: now; play continues from here and drops the later run.",
                    t as f32 * dt,
                    latest as f32 * dt
                ));
            }
            if let Some(goal) = crate::planning::goal_text(&viewer.session) {
                ui.separator();
                ui.label(egui::RichText::new(goal).strong());
                if ui.button("Plan (P)").on_hover_text("Imagine candidate pushes with the forecast's model, pick the one that reaches the goal, then watch the truth").clicked() {
                    viewer.plan_requested = true;
                }
                if let Some(plan) = viewer.plan.as_ref() {
                    ui.horizontal(|ui| {
                        ui.colored_label(egui_colour(PLAN), "■ chosen push, imagined path");
                        ui.colored_label(egui_colour(PLAN.with_alpha(0.35)), "■ other candidates");
                    });
                    for line in plan.lines(&viewer.session) {
                        ui.label(line);
                    }
                }
            }
            ui.separator();

            // Predictors and mode.
            let mut primary = viewer.primary;
            egui::ComboBox::from_label("forecast").selected_text(primary.label()).show_ui(ui, |ui| {
                for k in PredictorKind::ALL {
                    ui.selectable_value(&mut primary, k, k.label());
                }
            });
            let mut compare = viewer.compare;
            egui::ComboBox::from_label("compare with")
                .selected_text(compare.map_or("none", PredictorKind::label))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut compare, None, "none");
                    for k in PredictorKind::ALL {
                        ui.selectable_value(&mut compare, Some(k), k.label());
                    }
                });
            if compare == Some(primary) {
                compare = None;
            }
            if primary != viewer.primary || compare != viewer.compare {
                viewer.primary = primary;
                viewer.compare = compare;
                viewer.refresh = true;
                viewer.error_log.clear();
            }
            ui.horizontal(|ui| {
                ui.colored_label(egui_colour(GHOST_PRIMARY), "■ forecast");
                if viewer.compare.is_some() {
                    ui.colored_label(egui_colour(GHOST_COMPARE), "■ compared");
                }
                ui.colored_label(egui::Color32::from_rgb(255, 64, 25), "— error");
            });
            let mut mode = viewer.mode;
            ui.horizontal(|ui| {
                ui.radio_value(&mut mode, Mode::Rolling, "rolling");
                ui.radio_value(&mut mode, Mode::OpenLoop, "open loop");
            });
            if mode != viewer.mode {
                viewer.mode = mode;
                viewer.refresh = true;
            }
            if viewer.mode == Mode::Rolling {
                let mut every = viewer.every as u32;
                ui.add(egui::Slider::new(&mut every, 1..=120).text("re-forecast every (ticks)"));
                viewer.every = u64::from(every);
            } else if ui.button("Forecast from now").clicked() {
                viewer.refresh = true;
            }
            let mut horizon = viewer.horizon as u32;
            ui.add(egui::Slider::new(&mut horizon, 15..=300).text("horizon (ticks)"));
            if horizon as usize != viewer.horizon {
                viewer.horizon = horizon as usize;
                viewer.refresh = true;
            }
            ui.separator();

            // Reading.
            ui.label("Mean forecast error (m) against time (s)");
            let primary_pts: Vec<[f64; 2]> = viewer.error_log.iter().filter_map(|(t, a, _)| a.map(|a| [*t, f64::from(a)])).collect();
            let compare_pts: Vec<[f64; 2]> = viewer.error_log.iter().filter_map(|(t, _, b)| b.map(|b| [*t, f64::from(b)])).collect();
            let (pname, cname) = (viewer.primary.label(), viewer.compare.map_or("", PredictorKind::label));
            Plot::new("error-plot").height(140.0).legend(Legend::default()).show(ui, |plot| {
                plot.line(Line::new(pname, primary_pts).color(egui_colour(GHOST_PRIMARY)));
                if !compare_pts.is_empty() {
                    plot.line(Line::new(cname, compare_pts).color(egui_colour(GHOST_COMPARE)));
                }
            });
            let level = viewer.surprise.level();
            ui.horizontal(|ui| {
                ui.label("surprise");
                ui.add(egui::ProgressBar::new(level).desired_width(200.0).fill(egui::Color32::from_rgb((80.0 + 175.0 * level) as u8, (200.0 - 150.0 * level) as u8, 60)));
            });
            if let Some(i) = viewer.hovered {
                let tick = viewer.shown_tick();
                let name = viewer.session.instance.bodies[i].name.clone().unwrap_or(format!("body {i}"));
                let err = viewer.track(viewer.primary).and_then(|t| t.at(tick)).map(|f| body_errors(f, viewer.shown())[i]);
                match err {
                    Some(e) => ui.label(format!("{name}: forecast error {e:.3} m (drag to push)")),
                    None => ui.label(format!("{name} (drag to push)")),
                };
            }
            if let Some((text, truth)) = viewer.session.question_text() {
                ui.separator();
                ui.label(egui::RichText::new(text).strong());
                let forecast = viewer.outcome_forecast;
                let yes_no = |b: Option<bool>| match b {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "not yet known",
                };
                ui.label(format!("forecast (made at t = 0) says: {}", yes_no(forecast)));
                ui.label(format!("truth says: {}", yes_no(truth)));
            }
            ui.separator();
            ui.label(format!("{} bodies, frame {:.1} ms", viewer.session.instance.bodies.len(), fps));
            if let Some(e) = &viewer.session.reload_error {
                ui.colored_label(egui::Color32::from_rgb(220, 60, 50), format!("scene file error (last good scene kept): {e}"));
            }
            if !viewer.status.is_empty() {
                ui.label(&viewer.status);
            }
            ui.collapsing("Controls", |ui| {
                ui.label("Space play/pause · ← → timeline (Shift: 10; → at now: step) · Home/End · R restart · N new variant · P plan (scenes with a goal) · F frame all · F12 screenshot · V record a GIF");
                ui.label("Drag empty space to orbit, scroll to zoom; drag a body to push it.");
                ui.label("Shift+click a body (touch it; the mover itself: topple it) or a point (reach it) to set a goal, then P.");
                ui.label("Edit and save the scene file: it reloads in place.");
            });
        });
    });
    Ok(())
}

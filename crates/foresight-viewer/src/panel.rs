//! The side panel (egui): scene, variant, predictors, mode, horizon and speed; the live
//! error plot, the hovered body's error, the outcome question, the surprise meter, the
//! controls, and the last error or status.

use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use egui_plot::{Legend, Line, Plot};

use crate::forecast::Forecaster;
use crate::ghosts::{ERROR_LINE, predictor_colour};
use crate::predictions::Predictions;
use crate::scene_view::{PLAN, new_variant};
use crate::session::{PredictorKind, body_errors};
use crate::{FrameCost, Mode, PlanAsked, Plans, RenderSettings, RunReset, Viewer};

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

#[allow(clippy::too_many_arguments)]
fn panel(
    mut contexts: EguiContexts,
    mut viewer: ResMut<Viewer>,
    mut forecaster: ResMut<Forecaster>,
    mut predictions: ResMut<Predictions>,
    plans: Res<Plans>,
    mut reset: MessageWriter<RunReset>,
    mut plan_asked: MessageWriter<PlanAsked>,
    mut render: ResMut<RenderSettings>,
    mut cost: ResMut<FrameCost>,
    diagnostics: Res<DiagnosticsStore>,
) -> Result {
    let clock = std::time::Instant::now();
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
            let instance = &viewer.session.instance;
            if let Some(note) = forecaster.clock_note(instance) {
                ui.label(egui::RichText::new(note).small());
            }
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
                        viewer.run_replaced(&mut reset, true);
                    }
                    Err(e) => viewer.status = e,
                }
            }
            ui.horizontal(|ui| {
                ui.label(format!("seed {}", viewer.session.seed));
                if ui.button("New variant (N)").clicked() {
                    new_variant(&mut viewer, &mut reset);
                }
                if ui.button("Restart (R)").clicked() {
                    viewer.session.restart();
                    viewer.run_replaced(&mut reset, false);
                }
            });
            ui.horizontal(|ui| {
                let label = if viewer.playing { "Pause (Space)" } else { "Play (Space)" };
                if ui.button(label).clicked() {
                    viewer.playing = !viewer.playing;
                }
                if ui.button("Step (Right)").clicked() {
                    // As →: looking back, one tick forward on the timeline; at now, a step.
                    match viewer.view_tick {
                        Some(t) => viewer.scrub_to(t as i64 + 1),
                        None => {
                            viewer.playing = false;
                            viewer.step_once = true;
                        }
                    }
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
            timeline_markers(ui, &mut viewer, &predictions);
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
                    plan_asked.write(PlanAsked);
                }
                if let Some(plan) = plans.view.as_ref() {
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

            // The line-up: every predictor, in its colour, with its running score.
            lineup(ui, &mut viewer, &mut predictions, &mut forecaster);
            let mut mode = predictions.mode;
            ui.horizontal(|ui| {
                ui.radio_value(&mut mode, Mode::Rolling, "rolling");
                ui.radio_value(&mut mode, Mode::OpenLoop, "open loop");
            });
            if mode != predictions.mode {
                predictions.mode = mode;
                predictions.refresh = true;
            }
            if predictions.mode == Mode::Rolling {
                let mut every = predictions.every as u32;
                ui.add(egui::Slider::new(&mut every, 1..=120).text("re-forecast every (ticks)"));
                predictions.every = u64::from(every);
            } else if ui.button("Forecast from now").clicked() {
                predictions.refresh = true;
            }
            let mut horizon = predictions.horizon as u32;
            ui.add(egui::Slider::new(&mut horizon, 15..=300).text("horizon (ticks)"));
            if horizon as usize != predictions.horizon {
                predictions.horizon = horizon as usize;
                predictions.refresh = true;
            }
            ui.separator();

            // Reading.
            ui.label("Mean forecast error (m) against time (s)");
            Plot::new("error-plot").height(140.0).legend(Legend::default()).show(ui, |plot| {
                for score in predictions.lineup.scores() {
                    plot.line(
                        Line::new(score.kind.label(), score.curve.clone())
                            .color(egui_colour(predictor_colour(score.kind))),
                    );
                }
            });
            let level = predictions.surprise.level();
            ui.horizontal(|ui| {
                ui.label("surprise");
                ui.add(egui::ProgressBar::new(level).desired_width(200.0).fill(egui::Color32::from_rgb((80.0 + 175.0 * level) as u8, (200.0 - 150.0 * level) as u8, 60)));
            });
            if let Some(i) = viewer.hovered.filter(|&i| i < viewer.session.instance.bodies.len()) {
                let tick = viewer.shown_tick();
                let name = viewer.session.instance.bodies[i].name.clone().unwrap_or(format!("body {i}"));
                let err = predictions.track(predictions.lead(), viewer.session.generation).and_then(|t| t.at(tick)).and_then(|f| body_errors(f, viewer.shown()).get(i).copied());
                match err {
                    Some(e) => ui.label(format!("{name}: forecast error {e:.3} m (drag to push)")),
                    None => ui.label(format!("{name} (drag to push)")),
                };
            }
            if let Some((text, truth)) = viewer.session.question_text() {
                ui.separator();
                ui.label(egui::RichText::new(text).strong());
                ui.label(format!("truth says: {}", yes_no(truth)));
                for score in predictions.lineup.scores() {
                    let right = match (score.outcome, truth) {
                        (Some(a), Some(t)) if a == t => " ✔",
                        (Some(_), Some(_)) => " ✘",
                        _ => "",
                    };
                    ui.colored_label(
                        egui_colour(predictor_colour(score.kind)),
                        format!("{} (from t = 0) says: {}{right}", score.kind.label(), yes_no(score.outcome)),
                    );
                }
            }
            ui.separator();
            ui.label(format!("{} bodies, frame {:.1} ms", viewer.session.instance.bodies.len(), fps));
            if let Some(ours) = cost.ours_p50() {
                ui.label(format!("the app's own systems: {ours:.1} ms a frame (the rest is the renderer)"));
            }
            let mut light = render.light;
            ui.checkbox(&mut light, "light rendering (no shadows, no MSAA: for machines without a GPU)");
            if light != render.light {
                render.light = light;
            }
            if let Some(e) = &viewer.session.reload_error {
                ui.colored_label(egui::Color32::from_rgb(220, 60, 50), format!("scene file error (last good scene kept): {e}"));
            }
            if !viewer.status.is_empty() {
                ui.label(&viewer.status);
            }
            ui.collapsing("Controls", |ui| {
                ui.label("Space play/pause · ← → timeline (Shift: 10; → at now: step) · Home/End · R restart · N new variant · P plan (scenes with a goal) · F frame all · F12 screenshot · V record a GIF");
                ui.label("Drag empty space to orbit, right- or middle-drag to pan, scroll to zoom; drag a body to push it; C over a body: the camera follows it (C again: free).");
                ui.label("Shift+click a body (touch it; the mover itself: topple it) or a point (reach it) to set a goal, then P.");
                ui.label("Edit and save the scene file: it reloads in place.");
            });
        });
    });
    cost.add_ours(clock.elapsed());
    Ok(())
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not yet known",
    }
}

/// The line-up: a row per predictor (shown or not, its colour, the lead, its running
/// mean error and its outcome answer), the second model's file, and the error-line key.
fn lineup(
    ui: &mut egui::Ui,
    viewer: &mut Viewer,
    predictions: &mut Predictions,
    forecaster: &mut Forecaster,
) {
    ui.label(egui::RichText::new("Predictors").strong()).on_hover_text(
        "Tick to forecast with it; the lead (◉) draws the error lines, drives the surprise meter and the push preview, and plans.",
    );
    let mut toggled = None;
    let mut lead = None;
    egui::Grid::new("lineup")
        .num_columns(5)
        .striped(true)
        .show(ui, |ui| {
            ui.label("");
            ui.label("predictor");
            ui.label("lead");
            ui.label("mean error");
            ui.label("outcome");
            ui.end_row();
            for kind in PredictorKind::ALL {
                let available = forecaster.available(kind);
                let score = predictions.lineup.scores().iter().find(|s| s.kind == kind);
                let mut on = score.is_some();
                if ui
                    .add_enabled(available, egui::Checkbox::without_text(&mut on))
                    .changed()
                {
                    toggled = Some(kind);
                }
                let name = match (kind, forecaster.model2_name()) {
                    (PredictorKind::Learned2, Some(file)) => format!("■ learned: {file}"),
                    _ => format!("■ {}", kind.label()),
                };
                ui.colored_label(egui_colour(predictor_colour(kind)), name);
                let is_lead = predictions.lead() == kind;
                if ui
                    .add_enabled(available, egui::RadioButton::new(is_lead, ""))
                    .clicked()
                    && !is_lead
                {
                    lead = Some(kind);
                }
                ui.label(
                    score
                        .and_then(|s| s.running_mean())
                        .map_or("–".into(), |m| format!("{m:.3} m")),
                );
                ui.label(score.map_or("", |s| yes_no(s.outcome)));
                ui.end_row();
            }
        });
    if let Some(k) = toggled
        && predictions.lineup.toggle(k)
    {
        predictions.refresh = true;
    }
    if let Some(k) = lead
        && predictions.lineup.set_lead(k)
    {
        predictions.refresh = true;
        predictions.surprise = crate::session::Surprise::default();
    }
    if let Some((best, m)) = predictions
        .lineup
        .best()
        .filter(|_| predictions.lineup.scores().len() > 1)
    {
        ui.label(format!(
            "best on this run so far: {} ({m:.3} m)",
            best.label()
        ));
    }
    // A second model file, from the directory of the first.
    let mut picked = None;
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("model 2")
            .selected_text(forecaster.model2_name().unwrap_or("none").to_string())
            .show_ui(ui, |ui| {
                for f in &viewer.model_files {
                    let name = f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if ui.selectable_label(false, name).clicked() {
                        picked = Some(f.clone());
                    }
                }
            });
        if forecaster.loading() {
            ui.spinner();
        }
    });
    if let Some(f) = picked {
        forecaster.load_model2(&f);
        viewer.status = format!("loading {}…", f.display());
    }
    ui.colored_label(egui_colour(ERROR_LINE), "— error of the lead's ghosts");
}

/// A strip under the timeline: pushes (orange), contacts of the outcome question's bodies
/// (green), surprise peaks (red), where the lead's forecast began (its colour) and the
/// tick shown (white). Click or drag on it to look at a moment.
fn timeline_markers(ui: &mut egui::Ui, viewer: &mut Viewer, predictions: &Predictions) {
    let latest = viewer.session.tick().max(1);
    let (rect, response) = ui.allocate_exact_size(
        egui::vec2(ui.available_width(), 16.0),
        egui::Sense::click_and_drag(),
    );
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, egui::Color32::from_gray(35));
    let x = |t: u64| rect.left() + rect.width() * (t.min(latest) as f32 / latest as f32);
    let mark = |t: u64, colour: egui::Color32, from: f32, to: f32| {
        let at = x(t);
        painter.line_segment(
            [
                egui::pos2(at, rect.top() + rect.height() * from),
                egui::pos2(at, rect.top() + rect.height() * to),
            ],
            egui::Stroke::new(2.0, colour),
        );
    };
    let now = viewer.session.tick();
    for p in viewer.session.pushes.iter().filter(|p| p.tick <= now) {
        mark(p.tick, egui::Color32::from_rgb(255, 140, 0), 0.0, 0.5);
    }
    for &t in viewer.session.contact_ticks() {
        mark(t, egui::Color32::from_rgb(60, 220, 90), 0.5, 1.0);
    }
    for &t in &predictions.surprise_peaks {
        mark(t, egui::Color32::from_rgb(235, 50, 40), 0.25, 0.75);
    }
    if let Some(track) = predictions.track(predictions.lead(), viewer.session.generation) {
        mark(
            track.start,
            egui_colour(predictor_colour(predictions.lead())),
            0.0,
            1.0,
        );
    }
    mark(viewer.shown_tick(), egui::Color32::WHITE, 0.0, 1.0);
    if (response.clicked() || response.dragged())
        && let Some(p) = response.interact_pointer_pos()
    {
        let f = ((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
        viewer.scrub_to((f * latest as f32).round() as i64);
    }
    response.on_hover_text(
        "orange: pushes · green: contacts of the question's bodies · red: surprise peaks · the lead's colour: where its forecast began · white: the tick shown. Click to look at a moment.",
    );
}

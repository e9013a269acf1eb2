//! Foresight's demo app as bevy plugins: the truth as solid bodies, the forecasts as
//! translucent ghosts with paths and error lines, a panel (egui) to choose the scene, the
//! variant, the predictors and the mode, live error plots and the surprise meter, an
//! orbit camera, click-and-drag pushes, hot reload of the scene file, and a headless
//! screenshot mode. What it shows is computed by [`session`], which knows nothing of bevy.

pub mod forecast;
pub mod ghosts;
pub mod lineup;
mod panel;
pub mod planning;
pub mod predictions;
pub mod record;
pub(crate) mod scene_view;
pub mod session;

use std::path::PathBuf;

use bevy::diagnostic::FrameTimeDiagnosticsPlugin;
use bevy::prelude::*;
use bevy::window::WindowResolution;
use bevy_egui::EguiPlugin;
use foresight_model::LearnedModel;
use foresight_sim::BodyState;
use foresight_sim::stats::{median, percentile};

use crate::forecast::Forecaster;
use crate::lineup::Lineup;
use crate::planning::{PlanView, plan_request};
use crate::predictions::Predictions;
use crate::session::{PredictorKind, Session};

/// What `foresight view` asked for.
#[derive(Resource, Clone, Debug)]
pub struct ViewerConfig {
    /// Scene file to open.
    pub scene: PathBuf,
    /// Directory the scene picker lists.
    pub scenes_dir: PathBuf,
    /// Model weights.
    pub model: PathBuf,
    /// A second model file for the line-up.
    pub model2: Option<PathBuf>,
    /// The predictors forecasting at once, the lead first (the learned model when empty).
    pub lineup: Vec<PredictorKind>,
    /// The light render mode (no shadows, no MSAA) for machines without a GPU.
    pub light: bool,
    /// Seed of the first variant.
    pub seed: u64,
    /// Save a screenshot here after `frames` frames, then exit.
    pub screenshot: Option<PathBuf>,
    /// Frames to run in headless mode.
    pub frames: u32,
    /// Plan a push on the first frame (for headless runs; the P key in the app).
    pub plan: bool,
    /// Record an animated GIF of `frames` frames here, then exit.
    pub record: Option<PathBuf>,
}

/// Open loop: one forecast from a chosen moment, watched drifting. Rolling: re-forecast
/// from the latest truth every `every` ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One forecast from a fixed tick.
    OpenLoop,
    /// Re-forecast every N ticks.
    Rolling,
}

/// The simulation and what is shown of it.
#[derive(Resource)]
pub struct Viewer {
    /// The running scene.
    pub session: Session,
    /// Running or paused.
    pub playing: bool,
    /// Simulated seconds per real second.
    pub speed: f32,
    accumulator: f32,
    /// Step once on the next frame (while paused).
    pub step_once: bool,
    /// Body under the pointer.
    pub hovered: Option<usize>,
    /// Last message for the status line (errors, saved screenshots).
    pub status: String,
    /// Next seed for "new variant".
    pub next_seed: u64,
    /// Scene files the picker offers.
    pub scene_files: Vec<PathBuf>,
    /// Model files the panel offers as the second model.
    pub model_files: Vec<PathBuf>,
    /// The tick being looked at on the timeline, when not the latest: the truth of that
    /// tick is shown with the forecast made from it; play branches from there.
    pub view_tick: Option<u64>,
    shown_generation: Option<u64>,
}

impl Viewer {
    /// A viewer on a loaded session.
    pub fn new(session: Session, scene_files: Vec<PathBuf>) -> Viewer {
        let seed = session.seed;
        Viewer {
            session,
            playing: true,
            speed: 1.0,
            accumulator: 0.0,
            step_once: false,
            hovered: None,
            status: String::new(),
            next_seed: seed + 1,
            scene_files,
            model_files: Vec::new(),
            view_tick: None,
            shown_generation: None,
        }
    }

    /// The tick shown: the one scrubbed to, else the latest.
    pub fn shown_tick(&self) -> u64 {
        self.view_tick
            .map_or(self.session.tick(), |t| t.min(self.session.tick()))
    }

    /// The truth shown (at [`Viewer::shown_tick`]).
    pub fn shown(&self) -> &Vec<BodyState> {
        &self.session.frames[self.shown_tick() as usize]
    }

    /// Looks at tick `t` of the run (the latest when `t` is at or past it); pauses.
    pub fn scrub_to(&mut self, t: i64) {
        let latest = self.session.tick();
        let t = t.clamp(0, latest as i64) as u64;
        self.view_tick = (t < latest).then_some(t);
        self.playing = false;
    }

    /// The run was replaced (restart, new variant, another scene, a reload, a branch):
    /// back to its latest tick, and every view of the old run is dropped
    /// ([`RunReset`]); `reframe`: the camera frames the new scene.
    pub fn run_replaced(&mut self, reset: &mut MessageWriter<RunReset>, reframe: bool) {
        self.view_tick = None;
        reset.write(RunReset { reframe });
    }
}

/// The run was replaced: forecasts, scores and plans of the old one are dropped (and,
/// with `reframe`, the camera frames the new scene).
#[derive(Message, Debug, Clone, Copy)]
pub struct RunReset {
    /// A new scene or variant: frame it.
    pub reframe: bool,
}

/// Plan a push for the scene's goal from now (the Plan button, P, `--plan`).
#[derive(Message, Debug, Clone, Copy)]
pub struct PlanAsked;

/// The plan on screen.
#[derive(Resource, Default)]
pub struct Plans {
    /// The latest plan and how the truth is playing it out.
    pub view: Option<PlanView>,
    /// Why the last plan request failed, if it did.
    pub error: Option<String>,
}

pub(crate) fn reset_on_new_run(
    mut resets: MessageReader<RunReset>,
    mut viewer: ResMut<Viewer>,
    mut predictions: ResMut<Predictions>,
    mut plans: ResMut<Plans>,
    mut forecaster: ResMut<Forecaster>,
    mut drag: ResMut<scene_view::Drag>,
) {
    if resets.read().count() > 0 {
        predictions.reset();
        plans.view = None;
        plans.error = None;
        // What was being computed for the old run (a plan holds the world still).
        forecaster.cancel();
        // The bodies may be others now.
        viewer.hovered = None;
        drag.body = None;
    }
}

/// Everything: simulation, forecasts, drawing, panel, input, hot reload, capture.
pub struct ViewerPlugin;

impl Plugin for ViewerPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<record::Recording>()
            .init_resource::<Plans>()
            .init_resource::<Predictions>()
            .add_message::<RunReset>()
            .add_message::<PlanAsked>()
            .add_systems(Startup, plan_at_start)
            .init_resource::<RenderSettings>()
            .init_resource::<FrameCost>()
            .add_plugins((EguiPlugin::default(), FrameTimeDiagnosticsPlugin::default()))
            .add_plugins((
                scene_view::SceneViewPlugin,
                ghosts::GhostsPlugin,
                panel::PanelPlugin,
            ))
            .add_systems(First, frame_begins)
            .add_systems(Last, frame_ends)
            .add_systems(Update, ours_begin.before(Ours))
            .add_systems(Update, ours_end.after(Ours))
            .add_systems(
                Update,
                (
                    reset_on_new_run,
                    predictions::receive_model,
                    poll_scene_file,
                    predictions::receive_forecasts,
                    receive_plans,
                    request_plan,
                    predictions::request_forecasts,
                    advance_simulation,
                    capture_when_done,
                    record::toggle_recording,
                    record::record_frames,
                )
                    .chain()
                    .in_set(Ours),
            );
    }
}

/// The app's own systems in `Update` (simulation, forecasts, the 3-D view), timed by
/// [`FrameCost`].
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ours;

/// How the scene is rendered.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct RenderSettings {
    /// No shadows and no MSAA: for machines with no GPU (a software renderer).
    pub light: bool,
}

/// Where the time of a frame goes: the whole frame, the main-world update (`First` to
/// `Last`, bevy's systems too) and, within it, the wall-clock span of the app's own
/// systems (the [`Ours`] set and the panel); the rest of a frame is the renderer.
#[derive(Resource, Default)]
pub struct FrameCost {
    frame_start: Option<std::time::Instant>,
    ours_start: Option<std::time::Instant>,
    ours_now: std::time::Duration,
    /// Frame times, ms.
    pub frame_ms: Vec<f32>,
    /// The app's own systems per frame, ms.
    pub ours_ms: Vec<f32>,
    /// The main-world update per frame (`First` to `Last`), ms.
    pub update_ms: Vec<f32>,
}

impl FrameCost {
    /// Adds time spent in one of the app's systems this frame.
    pub fn add_ours(&mut self, d: std::time::Duration) {
        self.ours_now += d;
    }

    /// Median of the app's own time per frame over the last 120 frames, ms.
    pub fn ours_p50(&self) -> Option<f32> {
        median(&self.ours_ms[self.ours_ms.len().saturating_sub(120)..])
    }
}

fn frame_begins(mut cost: ResMut<FrameCost>) {
    cost.frame_start = Some(std::time::Instant::now());
    cost.ours_now = std::time::Duration::ZERO;
}

fn ours_begin(mut cost: ResMut<FrameCost>) {
    cost.ours_start = Some(std::time::Instant::now());
}

fn ours_end(mut cost: ResMut<FrameCost>) {
    if let Some(t) = cost.ours_start.take() {
        cost.add_ours(t.elapsed());
    }
}

fn frame_ends(mut cost: ResMut<FrameCost>, time: Res<Time<Real>>) {
    let Some(start) = cost.frame_start.take() else {
        return;
    };
    cost.frame_ms.push(time.delta_secs() * 1000.0);
    let (ours, update) = (
        cost.ours_now.as_secs_f32() * 1000.0,
        start.elapsed().as_secs_f32() * 1000.0,
    );
    cost.ours_ms.push(ours);
    cost.update_ms.push(update);
    if cost.ours_ms.len() > 20_000 {
        cost.frame_ms.drain(..10_000);
        cost.ours_ms.drain(..10_000);
        cost.update_ms.drain(..10_000);
    }
}

impl ViewerConfig {
    /// Checks what can be checked before anything loads: at least one frame, a display
    /// to open the window on, and a `.png` screenshot file.
    pub fn check(&self) -> Result<(), String> {
        if self.frames == 0 {
            return Err("--frames must be at least 1".into());
        }
        if std::env::var_os("DISPLAY").is_none() {
            return Err("no display: set DISPLAY (for example run `Xvfb :99 &` and `DISPLAY=:99 foresight view ...`)".into());
        }
        if let Some(shot) = &self.screenshot
            && shot.extension().is_none_or(|x| x != "png")
        {
            return Err(format!(
                "{}: the screenshot must be a .png file",
                shot.display()
            ));
        }
        if let Some(gif) = &self.record
            && gif.extension().is_none_or(|x| x != "gif")
        {
            return Err(format!(
                "{}: the recording must be a .gif file",
                gif.display()
            ));
        }
        for out in self.screenshot.iter().chain(&self.record) {
            foresight_sim::check_out_dirs([out]).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Runs without a person: a screenshot or a recording, one tick per frame, then exit.
    pub fn headless(&self) -> bool {
        self.screenshot.is_some() || self.record.is_some()
    }
}

/// Runs the app until the window closes (or the headless screenshot is saved). Fails
/// before opening a window when the configuration does not pass [`ViewerConfig::check`]
/// or the scene or the model cannot be loaded.
pub fn run(config: ViewerConfig) -> Result<(), String> {
    config.check()?;
    let session = Session::load(&config.scene, config.seed)?;
    let model = LearnedModel::load(&config.model).map_err(|e| e.to_string())?;
    let model2 = match &config.model2 {
        Some(p) => Some((
            forecast::file_name(p),
            LearnedModel::load(p).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    let scene_files = foresight_sim::scene_files(&config.scenes_dir).unwrap_or_default();
    let mut viewer = Viewer::new(session, scene_files);
    let predictions = Predictions::new(Lineup::new(&config.lineup));
    viewer.model_files = config
        .model
        .parent()
        .and_then(|d| std::fs::read_dir(d).ok())
        .map(|entries| {
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect();
            files.sort();
            files
        })
        .unwrap_or_default();
    if model2.is_none() && predictions.lineup.contains(PredictorKind::Learned2) {
        return Err(
            "--lineup has learned2 but no second model was given: add --model2 FILE.safetensors"
                .into(),
        );
    }
    let headless = config.headless();
    let light = config.light;
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "Foresight: the truth and the forecast".into(),
            resolution: WindowResolution::new(1280, 720),
            ..default()
        }),
        ..default()
    }))
    .insert_resource(config)
    .insert_resource(viewer)
    // After the task-pool plugin has sized the pools.
    .insert_resource(Forecaster::start(Some(model), model2))
    .insert_resource(predictions)
    .insert_resource(RenderSettings { light })
    .insert_resource(ClearColor(Color::srgb(0.78, 0.82, 0.87)))
    .add_plugins(ViewerPlugin);
    if headless {
        app.insert_resource(bevy::winit::WinitSettings::continuous());
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => Err(format!("the viewer stopped with code {code}")),
    }
}

fn poll_scene_file(
    mut viewer: ResMut<Viewer>,
    time: Res<Time>,
    mut since: Local<f32>,
    mut reset: MessageWriter<RunReset>,
) {
    *since += time.delta_secs();
    if *since < 0.5 {
        return;
    }
    *since = 0.0;
    let before = viewer.session.generation;
    if viewer.session.poll_file() {
        if viewer.session.generation != before {
            viewer.status = format!("reloaded {}", viewer.session.path.display());
            viewer.run_replaced(&mut reset, true);
        } else if let Some(e) = viewer.session.reload_error.clone() {
            viewer.status = format!("kept the last good scene: {e}");
        }
    }
}

fn advance_simulation(
    mut viewer: ResMut<Viewer>,
    mut predictions: ResMut<Predictions>,
    mut plans: ResMut<Plans>,
    time: Res<Time>,
    config: Res<ViewerConfig>,
    mut forecaster: ResMut<Forecaster>,
) {
    if let Some(t) = viewer.view_tick
        && (viewer.playing || viewer.step_once)
    {
        // Play from an earlier moment: the run continues from there, exactly.
        match viewer.session.branch_at(t) {
            Ok(_) => {
                // Dropped now, not next frame: the old plan must not act on the branch.
                let seconds = t as f64 * f64::from(viewer.session.instance.dt);
                predictions.branch(t, seconds);
                plans.view = None;
                plans.error = None;
                forecaster.cancel();
                viewer.status = format!(
                    "continued from t = {:.2} s (the later run was dropped)",
                    t as f32 * viewer.session.instance.dt
                );
            }
            Err(e) => viewer.status = e,
        }
        viewer.view_tick = None;
    }
    let dt = viewer.session.instance.dt;
    let mut steps = 0;
    if forecaster.planning() {
        // The world waits while a plan is imagined from this moment.
        viewer.accumulator = 0.0;
    } else if config.headless() {
        // Headless runs are reproducible: one tick per frame, whatever the frame time.
        steps = 1;
    } else if viewer.playing {
        viewer.accumulator += time.delta_secs().min(0.1) * viewer.speed;
        while viewer.accumulator >= dt && steps < 8 {
            viewer.accumulator -= dt;
            steps += 1;
        }
    } else if viewer.step_once {
        steps = 1;
    }
    viewer.step_once = false;
    for _ in 0..steps {
        let v = &mut *viewer;
        if let Some(plan) = plans.view.as_mut() {
            match plan.apply_if_due(&mut v.session) {
                Ok(true) => predictions.refresh = true,
                Ok(false) => {}
                Err(e) => v.status = format!("the planned push failed: {e}"),
            }
        }
        v.session.step();
        predictions.log_errors(&v.session);
        if let Some(plan) = plans.view.as_mut() {
            plan.update(&v.session);
        }
    }
}

/// Sends a plan request when one was asked for (Plan button, P key, `--plan`).
/// `--plan`: a plan is asked for on the first frame.
fn plan_at_start(config: Res<ViewerConfig>, mut asked: MessageWriter<PlanAsked>) {
    if config.plan {
        asked.write(PlanAsked);
    }
}

fn request_plan(
    mut viewer: ResMut<Viewer>,
    mut plans: ResMut<Plans>,
    mut asked: MessageReader<PlanAsked>,
    predictions: Res<Predictions>,
    mut forecaster: ResMut<Forecaster>,
) {
    if asked.read().count() == 0 {
        return;
    }
    if viewer.view_tick.is_some() {
        viewer.status = "looking back: press End (or play) to plan from now".into();
        return;
    }
    let spec = foresight_plan::PlanSpec {
        seed: viewer.session.seed ^ viewer.session.tick(),
        ..Default::default()
    };
    match plan_request(&viewer.session, predictions.lead(), spec) {
        Ok(r) => {
            if forecaster.request_plan(r) {
                plans.view = None;
                plans.error = None;
                viewer.status = "imagining candidate pushes…".into();
            }
        }
        Err(e) => {
            viewer.status = e.clone();
            plans.error = Some(e);
        }
    }
}

/// Plans that finished: shown (and played by the truth) if made for this run.
fn receive_plans(
    mut viewer: ResMut<Viewer>,
    mut plans: ResMut<Plans>,
    mut forecaster: ResMut<Forecaster>,
) {
    if let Some(answer) = forecaster.drain_plan() {
        match answer {
            Ok(a) if a.generation == viewer.session.generation => {
                if let Some(goal) = viewer.session.instance.goal {
                    viewer.status = String::new();
                    plans.view = Some(PlanView::new(*a, goal));
                    // Planned from the latest tick: back to it, and play.
                    viewer.view_tick = None;
                    viewer.playing = true;
                }
            }
            // Made for a scene or run since replaced.
            Ok(_) => viewer.status = String::new(),
            Err(e) => {
                viewer.status = format!("planning failed: {e}");
                plans.error = Some(e);
            }
        }
    }
}

#[derive(Resource)]
struct ScreenshotSaved;

#[allow(clippy::too_many_arguments)]
fn capture_when_done(
    mut commands: Commands,
    config: Res<ViewerConfig>,
    viewer: Res<Viewer>,
    plans: Res<Plans>,
    predictions: Res<Predictions>,
    cost: Res<FrameCost>,
    mut frames: Local<u32>,
    saved: Option<Res<ScreenshotSaved>>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(path) = config.screenshot.clone() else {
        return;
    };
    if config.plan && plans.view.is_none() && plans.error.is_none() {
        // A headless plan is waited for before frames count towards the screenshot.
        return;
    }
    *frames += 1;
    if saved.is_some() {
        // The first frames (window and pipeline setup) are not counted.
        let skip = |v: &[f32]| 30.min(v.len() / 2);
        let frame_ms = &cost.frame_ms[skip(&cost.frame_ms)..];
        let ours = &cost.ours_ms[skip(&cost.ours_ms)..];
        let update = &cost.update_ms[skip(&cost.update_ms)..];
        if let (Some(p50), Some(p95), Some(ours), Some(update)) = (
            median(frame_ms),
            percentile(frame_ms, 0.95),
            median(ours),
            median(update),
        ) {
            let names: Vec<&str> = predictions
                .lineup
                .kinds()
                .iter()
                .map(|k| k.name())
                .collect();
            println!(
                "{}: {} bodies, {} frames, line-up {}, {} rendering: frame time p50 {p50:.1} ms, p95 {p95:.1} ms; the app's own systems p50 {ours:.2} ms, the main-world update p50 {update:.1} ms; screenshot {}",
                viewer.session.instance.name,
                viewer.session.instance.bodies.len(),
                *frames,
                names.join(","),
                if config.light { "light" } else { "full" },
                path.display()
            );
        }
        if let Some(plan) = &plans.view {
            for line in plan.lines(&viewer.session) {
                println!("plan: {line}");
            }
        }
        if let Some(e) = &plans.error {
            println!("plan: failed: {e}");
        }
        exit.write(AppExit::Success);
        return;
    }
    if *frames == config.frames {
        commands
            .spawn(bevy::render::view::screenshot::Screenshot::primary_window())
            .observe(bevy::render::view::screenshot::save_to_disk(path))
            .observe(
                |_: On<bevy::render::view::screenshot::ScreenshotCaptured>,
                 mut commands: Commands| {
                    commands.insert_resource(ScreenshotSaved);
                },
            );
    }
}

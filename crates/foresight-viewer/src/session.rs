//! The viewer's model of what is on screen, free of bevy so it can be tested without a
//! window: the running scene (truth), its history, the pushes, hot reload that keeps the
//! last good scene, the forecasts, their errors and the surprise meter.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use foresight_model::{Context, Forecast};
use foresight_sim::{BodyState, ObjectRef, Push, Scene, SceneInstance, World};

/// Which forecaster draws a ghost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PredictorKind {
    /// The trained graph network (`--model`).
    Learned,
    /// A second model file (`--model2`, or picked in the panel).
    Learned2,
    /// Constant velocity.
    ConstantVelocity,
    /// Gravity, no contacts.
    Ballistic,
    /// Gravity, stopping at the first static surface a body would cross.
    BallisticStop,
}

impl PredictorKind {
    /// All kinds, in menu order.
    pub const ALL: [PredictorKind; 5] = [
        PredictorKind::Learned,
        PredictorKind::Learned2,
        PredictorKind::ConstantVelocity,
        PredictorKind::Ballistic,
        PredictorKind::BallisticStop,
    ];

    /// Name in menus and legends.
    pub fn label(self) -> &'static str {
        match self {
            PredictorKind::Learned => "learned",
            PredictorKind::Learned2 => "learned (model 2)",
            PredictorKind::ConstantVelocity => "constant velocity",
            PredictorKind::Ballistic => "ballistic",
            PredictorKind::BallisticStop => "ballistic-stop",
        }
    }

    /// Name on the command line (`--lineup`).
    pub fn name(self) -> &'static str {
        match self {
            PredictorKind::Learned => "learned",
            PredictorKind::Learned2 => "learned2",
            PredictorKind::ConstantVelocity => "constant-velocity",
            PredictorKind::Ballistic => "ballistic",
            PredictorKind::BallisticStop => "ballistic-stop",
        }
    }

    /// The kind named `name` on the command line.
    pub fn from_name(name: &str) -> Option<PredictorKind> {
        PredictorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A forecast made from the truth at `start` tick.
#[derive(Debug, Clone)]
pub struct Track {
    /// Who made it.
    pub kind: PredictorKind,
    /// Tick of the last truth frame it saw.
    pub start: u64,
    /// `states[k]` is the forecast for tick `start + k + 1`.
    pub states: Forecast,
    /// Incremented on every restart or reload, so stale forecasts are dropped.
    pub generation: u64,
    /// A preview of a push being aimed (not scored: the push may never happen).
    pub preview: bool,
}

impl Track {
    /// The forecast state for `tick`, if the track covers it.
    pub fn at(&self, tick: u64) -> Option<&Vec<BodyState>> {
        if tick <= self.start {
            return None;
        }
        self.states.get((tick - self.start - 1) as usize)
    }
}

/// Per-body distance between forecast and truth, m.
pub fn body_errors(forecast: &[BodyState], truth: &[BodyState]) -> Vec<f32> {
    forecast
        .iter()
        .zip(truth)
        .map(|(f, t)| {
            (0..3)
                .map(|c| (f.position[c] - t.position[c]).powi(2))
                .sum::<f32>()
                .sqrt()
        })
        .collect()
}

/// Mean distance between forecast and truth over bodies, m.
pub fn mean_error(forecast: &[BodyState], truth: &[BodyState]) -> f32 {
    let e = body_errors(forecast, truth);
    if e.is_empty() {
        0.0
    } else {
        e.iter().sum::<f32>() / e.len() as f32
    }
}

/// How far reality has departed from what the model expected, in [0, 1].
///
/// Each tick, the truth is compared with the forecast the model had made *before* that
/// tick's events (so a push the model did not see counts); the error's rate of growth is
/// smoothed, and mapped to [0, 1]: 0 when the world does what was expected, towards 1 when
/// it departs by more than about `scale` metres per second.
#[derive(Debug, Clone)]
pub struct Surprise {
    /// Smoothed departure rate, m/s.
    pub rate: f32,
    last_error: Option<f32>,
    scale: f32,
}

impl Default for Surprise {
    fn default() -> Self {
        Surprise {
            rate: 0.0,
            last_error: None,
            scale: 0.5,
        }
    }
}

impl Surprise {
    /// Feeds the error of the standing forecast at a new tick; `dt` seconds per tick.
    pub fn observe(&mut self, error: f32, dt: f32) {
        if let Some(prev) = self.last_error {
            let growth = ((error - prev) / dt).max(0.0);
            self.rate = 0.85 * self.rate + 0.15 * growth;
        }
        self.last_error = Some(error);
    }

    /// The standing forecast was replaced (it now starts from the truth).
    pub fn reset_baseline(&mut self) {
        self.last_error = None;
    }

    /// The meter, in [0, 1].
    pub fn level(&self) -> f32 {
        1.0 - (-self.rate / self.scale).exp()
    }
}

/// Frames of truth a forecast or a plan is given on the model's clock: more than the 30
/// still ticks that put a body to sleep, so a forecast knows who is asleep. A scene on
/// another clock (a finer tick, weaker gravity) is given as many of its own frames as
/// reach back as far (`foresight_model::clock`).
pub const HISTORY_FRAMES: usize = 32;

/// The world is saved every this many ticks, for going back in time exactly.
pub const SNAPSHOT_EVERY: u64 = 30;

/// A push made in the app, as it was applied (so a branch replays it exactly).
#[derive(Debug, Clone, Copy, PartialEq)]
struct UserPush {
    tick: u64,
    body: usize,
    impulse: [f32; 3],
    point: [f32; 3],
}

/// The running scene and everything that happened in it.
pub struct Session {
    /// Scene file.
    pub path: PathBuf,
    /// The last scene that loaded and validated.
    pub scene: Scene,
    /// Seed of the variant.
    pub seed: u64,
    /// The sampled variant.
    pub instance: SceneInstance,
    /// The simulator.
    pub world: World,
    /// What a predictor knows of the scene (shared with the background forecasts).
    pub ctx: Arc<Context>,
    /// Truth at every tick since the start.
    pub frames: Vec<Vec<BodyState>>,
    /// Every push so far and scripted ahead, absolute ticks.
    pub pushes: Vec<Push>,
    /// The error of the last reload, shown until the file is fixed.
    pub reload_error: Option<String>,
    /// Bumped on restart, new variant, reload and branch.
    pub generation: u64,
    modified: Option<SystemTime>,
    /// The full world state at every multiple of [`SNAPSHOT_EVERY`] ticks so far.
    snapshots: Vec<foresight_sim::world::Snapshot>,
    user_pushes: Vec<UserPush>,
    /// Ticks at which the outcome question's objects came into touch, kept as the run
    /// goes (the timeline draws them every frame).
    contact_marks: Vec<u64>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Session {
    /// Loads a scene file and samples `seed`.
    pub fn load(path: &Path, seed: u64) -> Result<Session, String> {
        let scene = Scene::load(path).map_err(|e| e.to_string())?;
        let mut s = Session::from_scene(path, scene, seed)?;
        s.modified = modified(path);
        Ok(s)
    }

    fn from_scene(path: &Path, scene: Scene, seed: u64) -> Result<Session, String> {
        let instance = scene
            .sample(seed)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let world = World::new(&instance);
        foresight_sim::check::check_start(&instance, &world, &path.display().to_string())
            .map_err(|e| e.to_string())?;
        let frames = vec![world.states()];
        let snapshots = vec![world.snapshot()];
        let mut ctx = Context::from_instance(&instance);
        ctx.masses = world.masses();
        Ok(Session {
            path: path.to_path_buf(),
            pushes: instance.pushes.clone(),
            scene,
            seed,
            instance,
            world,
            ctx: Arc::new(ctx),
            frames,
            reload_error: None,
            generation: 0,
            modified: None,
            snapshots,
            user_pushes: Vec::new(),
            contact_marks: Vec::new(),
        })
    }

    /// Current tick.
    pub fn tick(&self) -> u64 {
        self.world.tick()
    }

    /// The latest truth.
    pub fn current(&self) -> &Vec<BodyState> {
        self.frames
            .last()
            .expect("a session always has its first frame")
    }

    /// Steps the simulator one tick and records the truth (and a snapshot every
    /// [`SNAPSHOT_EVERY`] ticks).
    pub fn step(&mut self) {
        self.world.step();
        self.frames.push(self.world.states());
        let t = self.frames.len() - 1;
        if self.question_touch(t) && !self.question_touch(t - 1) {
            self.contact_marks.push(t as u64);
        }
        if self.tick().is_multiple_of(SNAPSHOT_EVERY) {
            self.snapshots.push(self.world.snapshot());
        }
    }

    /// Back to tick 0 of the same variant.
    pub fn restart(&mut self) {
        self.world.reset();
        self.frames = vec![self.world.states()];
        self.snapshots = vec![self.world.snapshot()];
        self.pushes = self.instance.pushes.clone();
        self.user_pushes.clear();
        self.contact_marks.clear();
        self.generation += 1;
    }

    /// Goes back to `tick` and continues from there: the world is restored from the last
    /// snapshot at or before it and re-simulated (with the pushes made before `tick`), so
    /// it is exactly as it was; everything after `tick` (truth and pushes) is dropped.
    /// Returns the ticks re-simulated (fewer than [`SNAPSHOT_EVERY`]).
    pub fn branch_at(&mut self, tick: u64) -> Result<u64, String> {
        let now = self.tick();
        if tick > now {
            return Err(format!("tick {tick} has not happened yet (now {now})"));
        }
        if tick == now {
            return Ok(0);
        }
        let k = ((tick / SNAPSHOT_EVERY) as usize).min(self.snapshots.len() - 1);
        let snapshot = self.snapshots[k].clone();
        self.world.restore(&snapshot).map_err(|e| e.to_string())?;
        self.user_pushes.retain(|p| p.tick < tick);
        let kept: Vec<Push> = self.user_pushes.iter().map(|u| self.recorded(u)).collect();
        self.snapshots.truncate(k + 1);
        self.frames.truncate(snapshot.tick() as usize + 1);
        let restored = snapshot.tick();
        self.contact_marks.retain(|&t| t <= restored);
        self.pushes = self.instance.pushes.clone();
        self.pushes.extend(kept);
        let replay = self.user_pushes.clone();
        let resimulated = tick - self.tick();
        while self.tick() < tick {
            let now = self.tick();
            for u in replay.iter().filter(|u| u.tick == now) {
                self.world
                    .apply_impulse(u.body, u.impulse, Some(u.point))
                    .map_err(|e| e.to_string())?;
            }
            self.step();
        }
        self.generation += 1;
        Ok(resimulated)
    }

    /// A user push as forecasts see it (the offset from the body's centre at its tick).
    fn recorded(&self, u: &UserPush) -> Push {
        let centre = self.frames[u.tick as usize][u.body].position;
        Push {
            body: u.body,
            tick: u.tick,
            impulse: u.impulse,
            offset: [0, 1, 2].map(|c| u.point[c] - centre[c]),
        }
    }

    /// A new variant of the same scene.
    pub fn new_variant(&mut self, seed: u64) -> Result<(), String> {
        let mut next = Session::from_scene(&self.path, self.scene.clone(), seed)?;
        next.modified = self.modified;
        next.generation = self.generation + 1;
        *self = next;
        Ok(())
    }

    /// Pushes a body now: the impulse reaches the simulator at the next step and is
    /// recorded as an action for every forecast made from here on.
    pub fn push(&mut self, body: usize, impulse: [f32; 3], point: [f32; 3]) -> Result<(), String> {
        if body >= self.current().len() {
            return Err(format!("no body {body}"));
        }
        self.world
            .apply_impulse(body, impulse, Some(point))
            .map_err(|e| e.to_string())?;
        let u = UserPush {
            tick: self.tick(),
            body,
            impulse,
            point,
        };
        self.user_pushes.push(u);
        self.pushes.push(self.recorded(&u));
        Ok(())
    }

    /// The recent truth a forecast or a plan made at `tick` sees: the frames ending at
    /// `tick` that reach back over [`HISTORY_FRAMES`] ticks of the shipped models' clock.
    pub fn history(&self, tick: u64) -> &[Vec<BodyState>] {
        use foresight_model::clock::{Clock, MODEL_GRAVITY, MODEL_SIZES, MODEL_TICK};
        let end = (tick as usize).min(self.frames.len() - 1);
        let i = &self.instance;
        let frames = Clock::for_scene(
            i.dt,
            i.gravity,
            &i.bodies,
            MODEL_TICK,
            MODEL_GRAVITY,
            MODEL_SIZES,
        )
        .scene_frames(HISTORY_FRAMES);
        &self.frames[(end + 1).saturating_sub(frames)..=end]
    }

    /// The pushes at or after `tick`, relative to it.
    pub fn actions_from(&self, tick: u64) -> Vec<Push> {
        foresight_sim::pushes_from(&self.pushes, tick)
    }

    /// Loads `path` anew (another scene or the same file after an edit). On failure the
    /// current scene keeps running and the error is kept for display.
    pub fn reload_from(&mut self, path: &Path) -> Result<(), String> {
        match Session::load(path, self.seed) {
            Ok(mut next) => {
                next.generation = self.generation + 1;
                *self = next;
                Ok(())
            }
            Err(e) => {
                self.modified = modified(path);
                self.reload_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Reloads when the scene file changed on disk since it was last read; true when a
    /// reload was attempted.
    pub fn poll_file(&mut self) -> bool {
        let now = modified(&self.path);
        if now.is_some() && now != self.modified {
            self.modified = now;
            let path = self.path.clone();
            let _ = self.reload_from(&path);
            return true;
        }
        false
    }

    /// A body's or static's name, or "body 3" when it has none.
    pub fn object_name(&self, o: ObjectRef) -> String {
        self.instance.object_name(o)
    }

    /// The outcome question in words, with the truth's answer once known.
    pub fn question_text(&self) -> Option<(String, Option<bool>)> {
        let q = self.instance.question?;
        let name = |o: ObjectRef| self.object_name(o);
        let secs = q.within_ticks as f32 * self.instance.dt;
        let text = format!("Does {} touch {} within {secs:.2} s?", name(q.a), name(q.b));
        let touched = self
            .frames
            .iter()
            .take(q.within_ticks as usize + 1)
            .any(|f| self.touching(f, q.a, q.b, foresight_sim::world::TOUCH_DISTANCE));
        let known = if touched {
            Some(true)
        } else if self.tick() >= q.within_ticks {
            Some(false)
        } else {
            None
        };
        Some((text, known))
    }

    /// Whether a forecast (from tick 0) answers the question yes.
    pub fn forecast_answer(&self, track: &Track) -> Option<bool> {
        let q = self.instance.question?;
        if track.start != 0 {
            return None;
        }
        Some(
            track
                .states
                .iter()
                .take(q.within_ticks as usize)
                .any(|f| self.touching(f, q.a, q.b, foresight_model::eval::FORECAST_TOUCH)),
        )
    }

    /// The ticks at which the outcome question's two objects come into touch (the truth,
    /// so far): the timeline's contact markers.
    pub fn contact_ticks(&self) -> &[u64] {
        &self.contact_marks
    }

    /// Whether the question's objects touch in the truth at tick `t`.
    fn question_touch(&self, t: usize) -> bool {
        self.instance.question.is_some_and(|q| {
            self.frames
                .get(t)
                .is_some_and(|f| self.touching(f, q.a, q.b, foresight_sim::world::TOUCH_DISTANCE))
        })
    }

    fn touching(&self, f: &[BodyState], a: ObjectRef, b: ObjectRef, within: f32) -> bool {
        foresight_model::eval::object_distance(&self.ctx, f, a, b) <= within
    }
}

//! Evaluation on held-out seeds: every predictor on every scene, forecasts started every
//! half second, errors at horizons in seconds (position RMSE of all bodies and of the
//! bodies that move, rotation error, final displacement), outcome questions scored against
//! the trivial answers ("always yes", "always no", the majority), and checks a predictor
//! can fail on every forecast it makes, the first one 5 seconds long (guards fired,
//! penetration of static colliders, energy gained in closed scenes). The report prints itself as a table ([`std::fmt::Display`]).
//! It does not train or load models: the caller passes the predictors.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use foresight_sim::{BodyState, ObjectRef, Push, Scene, Trajectory, World, scene_files, stem_in};
use rapier3d::math::Vector;
use rayon::prelude::*;
use serde::Serialize;

use crate::context::{Context, rotation_of};
use crate::dataset::EVAL_SEED_BASE;
use crate::error::ModelError;
use crate::learned::LearnedModel;
use crate::predictor::{
    Ballistic, ConstantVelocity, Forecast, Guards, MAX_SPEED, Predictor, finite_difference_history,
};
use crate::references::{BallisticStop, RapierPerturbed, deepest_static_penetration};

/// Horizons reported, seconds (converted to ticks with each scene's time step).
pub const HORIZONS_S: [f32; 4] = [0.25, 0.5, 1.0, 2.0];
/// The horizon of the headline numbers, seconds.
pub const HEADLINE_S: f32 = 1.0;
/// Time between forecast starts, seconds.
pub const START_EVERY_S: f32 = 0.5;
/// Length of the rollout from the first frame (the checks look at it and at every other
/// forecast), seconds.
pub const CHECK_ROLLOUT_S: f32 = 5.0;
/// A body counts as moving over a horizon when its true displacement exceeds this, m.
pub const MOVING_DISPLACEMENT: f64 = 0.01;
/// A forecast says two objects touch when closer than this (m).
pub const FORECAST_TOUCH: f32 = 0.02;
/// The name the learned model goes by.
pub const LEARNED: &str = "learned";
/// The reference that measures how predictable a scene is (not a baseline to beat).
pub const FLOOR: &str = "rapier-perturbed";
/// The baselines the learned model's ratio is taken against (the best of those present).
pub const BASELINES: [&str; 3] = ["constant-velocity", "ballistic", "ballistic-stop"];
/// A scene is "over the floor" when the learned 1-s RMSE exceeds this many times the
/// floor's ...
pub const OVER_FLOOR_FACTOR: f64 = 3.0;
/// ... and this many metres.
pub const OVER_FLOOR_MIN_M: f64 = 0.05;
/// A state is at a guard when its speed reaches this fraction of the limit.
pub const GUARD_FRACTION: f32 = 0.999;

/// `seconds` in ticks of `dt` (rounded, at least one).
pub fn ticks(seconds: f32, dt: f32) -> usize {
    ((seconds / dt).round() as usize).max(1)
}

/// The report key of a horizon: `0.25s`, `0.5s`, `1s`, `2s`.
pub fn horizon_key(seconds: f32) -> String {
    format!("{seconds}s")
}

/// Geometric mean of positive values (each floored at 1e-9 so a zero cannot swallow the
/// rest); `None` when there are none. A value that is not finite (a diverged forecast)
/// makes the mean infinite rather than vanish into the floor.
pub fn geometric_mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.into_iter().fold((0.0, 0usize), |(s, n), x| {
        let x = if x.is_nan() { f64::INFINITY } else { x };
        (s + x.max(1e-9).ln(), n + 1)
    });
    (n > 0).then(|| (sum / n as f64).exp())
}

/// Errors at one horizon.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HorizonMetrics {
    /// Root mean squared position error over all bodies and starts, m.
    pub position_rmse: f64,
    /// The same over the bodies whose true displacement from the start exceeds
    /// [`MOVING_DISPLACEMENT`]; absent when none moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moving_rmse: Option<f64>,
    /// Body samples in `moving_rmse`.
    pub moving_samples: usize,
    /// Mean rotation error, degrees.
    pub rotation_deg: f64,
    /// Mean final displacement error (distance at the horizon), m.
    pub fde: f64,
    /// Forecasts measured.
    pub forecasts: usize,
}

/// Checks of one rollout (or several, merged) that a predictor can fail.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Checks {
    /// Fraction of forecast body-ticks at a guard: speed at least
    /// [`GUARD_FRACTION`]`·MAX_SPEED`, spin at least `GUARD_FRACTION·10·MAX_SPEED`, or any
    /// value not finite.
    pub clamp_fraction: f64,
    /// Body-ticks at a guard.
    pub clamped_body_ticks: usize,
    /// Body-ticks checked.
    pub body_ticks: usize,
    /// Deepest penetration of any body into any static collider in any forecast state, m.
    pub max_penetration_m: f64,
    /// Fraction of forecast body-ticks at which the static projection moved a body back
    /// out of a static collider (a guard: the predictor had sunk it deeper than
    /// [`crate::statics::SLOP`]).
    pub held_fraction: f64,
    /// Body-ticks at which the static projection moved a body.
    pub held_body_ticks: usize,
    /// The deepest penetration of a static collider the predictor itself produced, m:
    /// where the static projection held a body, how deep it was before it was moved back
    /// out (which `max_penetration_m`, after the projection, no longer shows); elsewhere
    /// `max_penetration_m` itself (for the truth and the references, which are never
    /// held, the two are equal).
    pub max_penetration_before_hold_m: f64,
    /// In closed scenes (no pushes): the largest energy gained over a forecast, relative to
    /// its start; see [`energy_gain`]. Absent for scenes with pushes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_gain: Option<f64>,
}

impl Checks {
    fn merge(&mut self, o: &Checks) {
        self.clamped_body_ticks += o.clamped_body_ticks;
        self.body_ticks += o.body_ticks;
        self.clamp_fraction = self.clamped_body_ticks as f64 / self.body_ticks.max(1) as f64;
        self.max_penetration_m = self.max_penetration_m.max(o.max_penetration_m);
        self.held_body_ticks += o.held_body_ticks;
        self.held_fraction = self.held_body_ticks as f64 / self.body_ticks.max(1) as f64;
        self.max_penetration_before_hold_m = self
            .max_penetration_before_hold_m
            .max(o.max_penetration_before_hold_m);
        self.energy_gain = match (self.energy_gain, o.energy_gain) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// One predictor on one scene.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PredictorReport {
    /// Errors keyed by horizon ([`horizon_key`]).
    pub horizons: BTreeMap<String, HorizonMetrics>,
    /// Outcome questions the forecast answered like the truth.
    pub outcome_correct: usize,
    /// Outcome questions asked.
    pub outcome_total: usize,
    /// Checks of every forecast (the 5-second one from the first frame and those from
    /// every start), over seeds.
    pub checks: Checks,
}

/// The outcome questions of one scene and how trivial answers fare on them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutcomeBaselines {
    /// Questions asked (over seeds and start moments).
    pub questions: usize,
    /// Questions the truth answers "yes".
    pub truth_yes: usize,
    /// Accuracy of always answering "yes".
    pub always_yes: f64,
    /// Accuracy of always answering "no".
    pub always_no: f64,
    /// Accuracy of always giving this scene's majority answer.
    pub majority: f64,
}

/// One scene.
#[derive(Debug, Clone, Serialize)]
pub struct SceneReport {
    /// Dynamic bodies.
    pub bodies: usize,
    /// Seeds evaluated.
    pub seeds: Vec<u64>,
    /// Per predictor.
    pub predictors: BTreeMap<String, PredictorReport>,
    /// The same checks on the truth itself (the recorded runs, as if forecast from the
    /// first frame): what the simulator's own contacts allow, to read the predictors' against.
    pub truth_checks: Checks,
    /// The scene's outcome questions, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeBaselines>,
    /// Learned RMSE at 1 s over the best baseline's (of [`BASELINES`]; absent without a
    /// learned model).
    pub ratio_1s: Option<f64>,
    /// Which baseline was best at 1 s.
    pub best_baseline_1s: String,
    /// Learned RMSE at 1 s over the floor's ([`FLOOR`]).
    pub floor_ratio_1s: Option<f64>,
}

impl SceneReport {
    /// A predictor's all-bodies position RMSE at the headline horizon.
    pub fn rmse_1s(&self, predictor: &str) -> Option<f64> {
        self.metrics_1s(predictor).map(|m| m.position_rmse)
    }

    /// A predictor's moving-bodies position RMSE at the headline horizon.
    pub fn moving_rmse_1s(&self, predictor: &str) -> Option<f64> {
        self.metrics_1s(predictor).and_then(|m| m.moving_rmse)
    }

    fn metrics_1s(&self, predictor: &str) -> Option<&HorizonMetrics> {
        self.predictors
            .get(predictor)?
            .horizons
            .get(&horizon_key(HEADLINE_S))
    }
}

/// Headline numbers. Fields about the learned model are absent without one.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Geometric mean over scenes of the learned 1-s position RMSE (all bodies), m.
    pub rmse_1s_geomean: Option<f64>,
    /// The same over bodies that move.
    pub rmse_1s_moving_geomean: Option<f64>,
    /// Geometric mean over scenes of the floor's ([`FLOOR`]) 1-s position RMSE, m.
    pub floor_1s_geomean: Option<f64>,
    /// Mean over scenes of the learned/best-baseline RMSE ratio at 1 s.
    pub ratio_1s_mean: Option<f64>,
    /// Largest per-scene ratio.
    pub ratio_1s_worst: Option<f64>,
    /// Scene with the largest ratio.
    pub worst_scene: Option<String>,
    /// Scenes where the learned model beats constant velocity at 1 s.
    pub scenes_beating_constant_velocity: Option<usize>,
    /// Scenes whose learned 1-s RMSE is above [`OVER_FLOOR_FACTOR`] times the floor's and
    /// above [`OVER_FLOOR_MIN_M`].
    pub scenes_over_floor: Option<Vec<String>>,
    /// Learned-model outcome accuracy over all questions.
    pub outcome_accuracy: Option<f64>,
    /// Questions asked (over scenes, seeds and start moments).
    pub outcome_questions: usize,
    /// Accuracy of each scene's majority answer, over all questions.
    pub outcome_majority_accuracy: Option<f64>,
    /// Accuracy of always answering "yes", over all questions.
    pub outcome_always_yes_accuracy: Option<f64>,
    /// Scenes where the learned model answers worse than the scene's majority answer.
    pub scenes_below_majority: Option<Vec<String>>,
    /// Fraction of the learned model's forecast body-ticks at a guard (all forecasts of all
    /// scenes).
    pub clamp_fraction: Option<f64>,
    /// Deepest penetration of a static collider in any learned forecast, m.
    pub max_penetration_m: Option<f64>,
    /// Fraction of the learned model's forecast body-ticks at which the static projection
    /// moved a body back out of a static collider.
    pub held_fraction: Option<f64>,
    /// The deepest penetration of a static collider the learned model itself produced,
    /// before the static projection moved bodies back out, m (see
    /// [`Checks::max_penetration_before_hold_m`]).
    pub max_penetration_before_hold_m: Option<f64>,
    /// Deepest penetration of a static collider in the truth itself, m: the simulator's own
    /// allowance on impact, to read `max_penetration_m` against.
    pub truth_max_penetration_m: Option<f64>,
    /// Largest relative energy gain of a learned forecast in a closed scene (see
    /// [`energy_gain`]).
    pub max_energy_gain: Option<f64>,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Model file evaluated.
    pub model: String,
    /// The command that produced this report.
    pub command: String,
    /// Horizons, seconds.
    pub horizons_s: Vec<f32>,
    /// Per scene.
    pub scenes: BTreeMap<String, SceneReport>,
    /// Headline numbers.
    pub summary: Summary,
}

/// The predictors an evaluation compares: the learned model (when given), then the
/// references that bracket it (constant velocity, ballistic, ballistic-stop, and
/// rapier-perturbed, the floor).
pub fn line_up(learned: Option<&LearnedModel>) -> Vec<&dyn Predictor> {
    let references: [&dyn Predictor; 4] = [
        &ConstantVelocity,
        &Ballistic,
        &BallisticStop,
        &RapierPerturbed::DEFAULT,
    ];
    learned
        .map(|l| l as &dyn Predictor)
        .into_iter()
        .chain(references)
        .collect()
}

/// The scene files of `dir`, or only those named in `only` (file names without `.ron`)
/// when it is not empty.
pub fn select_scenes(dir: &Path, only: &[String]) -> Result<Vec<PathBuf>, ModelError> {
    let mut files = scene_files(dir)?;
    if !only.is_empty() {
        files.retain(|f| stem_in(f, only));
        if files.is_empty() {
            return Err(ModelError::Spec(format!(
                "{}: no scene files named {} here",
                dir.display(),
                only.join(", ")
            )));
        }
    }
    Ok(files)
}

/// [`eval_seeds`], asking for at least one.
pub fn held_out_seeds(n: usize) -> Result<Vec<u64>, ModelError> {
    if n == 0 {
        return Err(ModelError::Spec("--seeds must be at least 1".into()));
    }
    Ok(eval_seeds(n))
}

/// Seeds used for evaluation: never used by any dataset.
pub fn eval_seeds(n: usize) -> Vec<u64> {
    (0..n as u64).map(|k| EVAL_SEED_BASE + k).collect()
}

fn angle_deg(a: &BodyState, b: &BodyState) -> f64 {
    let q = rotation_of(a).inverse() * rotation_of(b);
    f64::from(2.0 * q.w.abs().min(1.0).acos()).to_degrees()
}

fn dist(a: &BodyState, b: &BodyState) -> f64 {
    let d: f32 = (0..3)
        .map(|k| (a.position[k] - b.position[k]).powi(2))
        .sum();
    f64::from(d.sqrt())
}

/// Pushes at or after `t0`, with ticks relative to `t0`.
pub fn actions_from(traj: &Trajectory, t0: usize) -> Vec<Push> {
    foresight_sim::pushes_from(&traj.pushes, t0 as u64)
}

/// Exact distance between objects `a` and `b` in `state` by the context's shape queries
/// (0 when they overlap; infinite between two statics).
pub fn object_distance(ctx: &Context, state: &[BodyState], a: ObjectRef, b: ObjectRef) -> f32 {
    match (a, b) {
        (ObjectRef::Body(i), ObjectRef::Body(j)) => ctx.body_distance(i, &state[i], j, &state[j]),
        (ObjectRef::Body(i), ObjectRef::Static(s)) | (ObjectRef::Static(s), ObjectRef::Body(i)) => {
            ctx.static_distance(i, &state[i], s)
        }
        _ => f32::INFINITY,
    }
}

/// Whether `a` and `b` touch in `state`: closer than [`FORECAST_TOUCH`] by the context's
/// exact shape queries. Truth and forecasts are judged by this one rule.
pub fn touches(ctx: &Context, state: &[BodyState], a: ObjectRef, b: ObjectRef) -> bool {
    object_distance(ctx, state, a, b) <= FORECAST_TOUCH
}

/// Whether a forecast says the question's objects touch within its first `within` ticks.
pub fn forecast_touches(
    ctx: &Context,
    forecast: &Forecast,
    a: ObjectRef,
    b: ObjectRef,
    within: usize,
) -> bool {
    forecast.iter().take(within).any(|f| touches(ctx, f, a, b))
}

/// Kinetic energy (linear and rotational) and potential energy of body `i` at `s`, J.
/// Potential energy is `−m·g·x`, zero at the origin; rotational energy uses the principal
/// inertia in the body's axes (`ω` rotated into them with the state's rotation).
fn body_energy(ctx: &Context, i: usize, s: &BodyState) -> (f64, f64) {
    let m = ctx.masses[i];
    let v = Vector::from_array(s.velocity);
    let w = rotation_of(s).inverse() * Vector::from_array(s.angular_velocity);
    let inv = ctx.inv_inertia[i];
    let spin: f32 = (0..3)
        .filter(|&k| inv[k] > 0.0)
        .map(|k| 0.5 * w[k] * w[k] / inv[k])
        .sum();
    let potential = -m * Vector::from_array(ctx.gravity).dot(Vector::from_array(s.position));
    (
        f64::from(0.5 * m * v.length_squared() + spin),
        f64::from(potential),
    )
}

/// Kinetic (linear and rotational) plus potential energy of a state, J. Potential energy
/// is `−m·g·x`, zero at the origin; rotational energy uses the principal inertia in the
/// body's axes (`ω` rotated into them with the state's rotation).
pub fn energy(ctx: &Context, state: &[BodyState]) -> f64 {
    state
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (k, p) = body_energy(ctx, i, s);
            k + p
        })
        .sum()
}

/// The energy that [`energy_gain`] divides by, J: the start's kinetic energy plus, for
/// every body, the work of lifting it by its own bounding radius (`Σ m·|g|·r`).
pub fn energy_scale(ctx: &Context, start: &[BodyState]) -> f64 {
    let g = f64::from(Vector::from_array(ctx.gravity).length());
    let lift: f64 = (0..ctx.len())
        .map(|i| f64::from(ctx.masses[i]) * g * f64::from(ctx.radii[i]))
        .sum();
    let kinetic: f64 = start
        .iter()
        .enumerate()
        .map(|(i, s)| body_energy(ctx, i, s).0)
        .sum();
    (kinetic + lift).max(1e-6)
}

/// Relative energy gain of a forecast in a closed scene: `(max_t E(t) − E(start))` over
/// [`energy_scale`], and 0 when the energy never rises above the start's. Physics without
/// pushes only loses energy, so a gain of 1 means the forecast created as much energy as
/// the start's motion plus lifting every body by its own size. States that are not finite
/// are skipped (the clamp check counts them).
pub fn energy_gain(ctx: &Context, start: &[BodyState], forecast: &[Vec<BodyState>]) -> f64 {
    let e0 = energy(ctx, start);
    let peak = forecast
        .iter()
        .map(|f| energy(ctx, f))
        .filter(|e| e.is_finite())
        .fold(e0, f64::max);
    (peak - e0).max(0.0) / energy_scale(ctx, start)
}

/// Whether a forecast state sits at a guard of the integrator: speed or spin at the limit
/// ([`MAX_SPEED`], `10·MAX_SPEED`) or any value not finite.
pub fn at_guard(s: &BodyState) -> bool {
    let finite = s
        .position
        .iter()
        .chain(&s.rotation)
        .chain(&s.velocity)
        .chain(&s.angular_velocity)
        .all(|x| x.is_finite());
    !finite
        || Vector::from_array(s.velocity).length() >= GUARD_FRACTION * MAX_SPEED
        || Vector::from_array(s.angular_velocity).length() >= GUARD_FRACTION * 10.0 * MAX_SPEED
}

/// The checks of one forecast from `start`: guards (the speed guards read from the
/// states, the static projection's from `guards`), penetration, and (when `closed`, a
/// scene with no pushes) energy gain. The evaluation gives as `start` the state the
/// predictor saw, with finite-difference velocities ([`crate::predictor::first_frame_velocity`]
/// at the first frame).
pub fn check_forecast(
    ctx: &Context,
    start: &[BodyState],
    forecast: &[Vec<BodyState>],
    guards: &Guards,
    closed: bool,
) -> Checks {
    let mut c = Checks::default();
    for f in forecast {
        for (i, s) in f.iter().enumerate() {
            c.body_ticks += 1;
            if at_guard(s) {
                c.clamped_body_ticks += 1;
            }
            let p = f64::from(deepest_static_penetration(ctx, i, s));
            if p.is_finite() {
                c.max_penetration_m = c.max_penetration_m.max(p);
            }
        }
    }
    c.clamp_fraction = c.clamped_body_ticks as f64 / c.body_ticks.max(1) as f64;
    c.held_body_ticks = guards.held_body_ticks;
    c.held_fraction = c.held_body_ticks as f64 / c.body_ticks.max(1) as f64;
    c.max_penetration_before_hold_m = c.max_penetration_m.max(f64::from(guards.deepest_held_m));
    c.energy_gain = closed.then(|| energy_gain(ctx, start, forecast));
    c
}

#[derive(Default, Clone)]
struct Acc {
    sq: f64,
    moving_sq: f64,
    moving: usize,
    rot: f64,
    fde: f64,
    body_samples: usize,
    forecasts: usize,
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.sq += o.sq;
        self.moving_sq += o.moving_sq;
        self.moving += o.moving;
        self.rot += o.rot;
        self.fde += o.fde;
        self.body_samples += o.body_samples;
        self.forecasts += o.forecasts;
    }

    fn metrics(&self) -> Option<HorizonMetrics> {
        let n = self.body_samples as f64;
        (self.body_samples > 0).then(|| HorizonMetrics {
            position_rmse: (self.sq / n).sqrt(),
            moving_rmse: (self.moving > 0).then(|| (self.moving_sq / self.moving as f64).sqrt()),
            moving_samples: self.moving,
            rotation_deg: self.rot / n,
            fde: self.fde / n,
            forecasts: self.forecasts,
        })
    }
}

struct SeedResult {
    /// `[predictor][horizon]`.
    acc: Vec<Vec<Acc>>,
    /// `(correct, asked)` per predictor.
    outcome: Vec<(usize, usize)>,
    /// Questions asked and how many the truth answers yes.
    questions: (usize, usize),
    checks: Vec<Checks>,
    truth_checks: Checks,
}

/// One outcome question: asked from `start`, "do a and b touch in ticks (start, within]".
struct Asked {
    start: usize,
    truth: bool,
}

/// The questions to ask of a trajectory from the given start ticks: from every start
/// before the time limit at which the truth has not already touched, with the truth's
/// answer by [`touches`].
fn questions(ctx: &Context, traj: &Trajectory, starts: &[usize]) -> Option<(Vec<Asked>, usize)> {
    let q = traj.outcome?.question;
    let within = (q.within_ticks as usize).min(traj.steps());
    let touch: Vec<bool> = (0..=within)
        .map(|t| touches(ctx, &traj.frames[t], q.a, q.b))
        .collect();
    let asked = starts
        .iter()
        .copied()
        .filter(|&t0| t0 < within)
        .take_while(|&t0| !touch[..=t0].iter().any(|&x| x))
        .map(|t0| Asked {
            start: t0,
            truth: touch[t0 + 1..=within].iter().any(|&x| x),
        })
        .collect();
    Some((asked, within))
}

fn run_seed(
    scene: &Scene,
    seed: u64,
    predictors: &[&dyn Predictor],
) -> Result<SeedResult, ModelError> {
    let instance = scene.sample(seed)?;
    let dt = instance.dt;
    let horizons: Vec<usize> = HORIZONS_S.iter().map(|&s| ticks(s, dt)).collect();
    let max_h = horizons.iter().copied().max().unwrap_or(1);
    let headline = ticks(HEADLINE_S, dt);
    let check = ticks(CHECK_ROLLOUT_S, dt);
    let every = ticks(START_EVERY_S, dt);
    let duration = instance.steps as usize;
    let mut starts: Vec<usize> = (0..)
        .step_by(every)
        .take_while(|t0| t0 + headline <= duration)
        .collect();
    if starts.is_empty() {
        starts.push(0);
    }
    let last_start = starts.last().copied().unwrap_or(0);
    let steps = (last_start + max_h).max(check);
    let traj = World::new(&instance).record(steps as u64);
    let ctx = Context::from_trajectory(&traj);
    let closed = traj.pushes.is_empty();
    let asked = questions(&ctx, &traj, &starts);
    let mut acc = vec![vec![Acc::default(); horizons.len()]; predictors.len()];
    let mut outcome = vec![(0usize, 0usize); predictors.len()];
    let mut checks = vec![Checks::default(); predictors.len()];
    for (pi, p) in predictors.iter().enumerate() {
        for &t0 in &starts {
            let question = asked
                .as_ref()
                .and_then(|(qs, within)| qs.iter().find(|q| q.start == t0).map(|q| (q, *within)));
            let mut need = max_h;
            if let Some((_, within)) = question {
                need = need.max(within - t0);
            }
            if t0 == 0 {
                need = need.max(check);
            }
            let horizon = need.min(steps - t0);
            let (forecast, guards) =
                p.rollout_guarded(&ctx, &traj.frames[..=t0], &actions_from(&traj, t0), horizon)?;
            let start = &traj.frames[t0];
            for (hi, &h) in horizons.iter().enumerate() {
                if h > forecast.len() {
                    continue;
                }
                let (pred, truth) = (&forecast[h - 1], &traj.frames[t0 + h]);
                let a = &mut acc[pi][hi];
                for ((x, y), s) in pred.iter().zip(truth).zip(start) {
                    let d = dist(x, y);
                    a.sq += d * d;
                    a.fde += d;
                    a.rot += angle_deg(x, y);
                    a.body_samples += 1;
                    if dist(s, y) > MOVING_DISPLACEMENT {
                        a.moving_sq += d * d;
                        a.moving += 1;
                    }
                }
                a.forecasts += 1;
            }
            if let (Some((q, within)), Some(o)) = (question, traj.outcome) {
                let said =
                    forecast_touches(&ctx, &forecast, o.question.a, o.question.b, within - t0);
                outcome[pi].1 += 1;
                if said == q.truth {
                    outcome[pi].0 += 1;
                }
            }
            // The start's velocities as the predictors see them (finite differences).
            let seen =
                finite_difference_history(&traj.frames[t0.saturating_sub(1)..=t0], dt, ctx.gravity)
                    .pop()
                    .unwrap_or_default();
            checks[pi].merge(&check_forecast(&ctx, &seen, &forecast, &guards, closed));
        }
    }
    let questions = asked.map_or((0, 0), |(qs, _)| {
        (qs.len(), qs.iter().filter(|q| q.truth).count())
    });
    let truth_checks = check_forecast(
        &ctx,
        &traj.frames[0],
        &traj.frames[1..],
        &Guards::default(),
        closed,
    );
    Ok(SeedResult {
        acc,
        outcome,
        questions,
        checks,
        truth_checks,
    })
}

fn scene_report(
    scene: &Scene,
    seeds: &[u64],
    predictors: &[&dyn Predictor],
    results: &[&SeedResult],
) -> SceneReport {
    let mut preds = BTreeMap::new();
    for (pi, p) in predictors.iter().enumerate() {
        let mut rep = PredictorReport::default();
        for (hi, &h) in HORIZONS_S.iter().enumerate() {
            let mut a = Acc::default();
            for r in results {
                a.add(&r.acc[pi][hi]);
            }
            if let Some(m) = a.metrics() {
                rep.horizons.insert(horizon_key(h), m);
            }
        }
        for r in results {
            rep.outcome_correct += r.outcome[pi].0;
            rep.outcome_total += r.outcome[pi].1;
            rep.checks.merge(&r.checks[pi]);
        }
        preds.insert(p.name().to_string(), rep);
    }
    let (questions, yes) = results
        .iter()
        .fold((0, 0), |(q, y), r| (q + r.questions.0, y + r.questions.1));
    let outcome = (questions > 0).then(|| {
        let n = questions as f64;
        OutcomeBaselines {
            questions,
            truth_yes: yes,
            always_yes: yes as f64 / n,
            always_no: (questions - yes) as f64 / n,
            majority: yes.max(questions - yes) as f64 / n,
        }
    });
    let mut truth_checks = Checks::default();
    for r in results {
        truth_checks.merge(&r.truth_checks);
    }
    let mut report = SceneReport {
        bodies: scene.body_count() as usize,
        seeds: seeds.to_vec(),
        predictors: preds,
        truth_checks,
        outcome,
        ratio_1s: None,
        best_baseline_1s: String::new(),
        floor_ratio_1s: None,
    };
    let best = BASELINES
        .iter()
        .filter_map(|&n| report.rmse_1s(n).map(|r| (n, r)))
        .fold(None, |acc: Option<(&str, f64)>, x| match acc {
            Some(a) if a.1 <= x.1 => Some(a),
            _ => Some(x),
        });
    let learned = report.rmse_1s(LEARNED);
    report.ratio_1s = learned.zip(best).map(|(l, b)| l / b.1.max(1e-4));
    report.best_baseline_1s = best.map(|b| b.0.to_string()).unwrap_or_default();
    report.floor_ratio_1s = learned
        .zip(report.rmse_1s(FLOOR))
        .map(|(l, f)| l / f.max(1e-4));
    report
}

fn summarize(reports: &BTreeMap<String, SceneReport>, has_learned: bool) -> Summary {
    let ratios: Vec<(String, f64)> = reports
        .iter()
        .filter_map(|(n, r)| r.ratio_1s.map(|x| (n.clone(), x)))
        .collect();
    let worst = ratios
        .iter()
        .cloned()
        .fold(None, |acc: Option<(String, f64)>, x| match acc {
            Some(a) if a.1 >= x.1 => Some(a),
            _ => Some(x),
        });
    let (mut questions, mut yes, mut majority) = (0, 0, 0);
    let (mut correct, mut asked) = (0, 0);
    let mut below_majority = Vec::new();
    let mut over_floor = Vec::new();
    let mut beats = 0;
    let mut checks = Checks::default();
    let mut energy = None::<f64>;
    for (name, r) in reports {
        if let Some(o) = &r.outcome {
            questions += o.questions;
            yes += o.truth_yes;
            majority += o.truth_yes.max(o.questions - o.truth_yes);
        }
        let Some(l) = r.predictors.get(LEARNED) else {
            continue;
        };
        correct += l.outcome_correct;
        asked += l.outcome_total;
        if let Some(o) = &r.outcome
            && l.outcome_total > 0
            && (l.outcome_correct as f64 / l.outcome_total as f64) < o.majority
        {
            below_majority.push(name.clone());
        }
        let lr = r.rmse_1s(LEARNED);
        if let (Some(a), Some(b)) = (lr, r.rmse_1s("constant-velocity"))
            && a < b
        {
            beats += 1;
        }
        if let (Some(a), Some(f)) = (lr, r.rmse_1s(FLOOR))
            && a > OVER_FLOOR_FACTOR * f
            && a > OVER_FLOOR_MIN_M
        {
            over_floor.push(name.clone());
        }
        checks.merge(&l.checks);
        if let Some(e) = l.checks.energy_gain {
            energy = Some(energy.map_or(e, |x| x.max(e)));
        }
    }
    let geo =
        |f: &dyn Fn(&SceneReport) -> Option<f64>| geometric_mean(reports.values().filter_map(f));
    let frac = |k: usize| (questions > 0).then(|| k as f64 / questions as f64);
    Summary {
        rmse_1s_geomean: geo(&|r| r.rmse_1s(LEARNED)),
        rmse_1s_moving_geomean: geo(&|r| r.moving_rmse_1s(LEARNED)),
        floor_1s_geomean: geo(&|r| r.rmse_1s(FLOOR)),
        ratio_1s_mean: (!ratios.is_empty())
            .then(|| ratios.iter().map(|r| r.1).sum::<f64>() / ratios.len() as f64),
        ratio_1s_worst: worst.as_ref().map(|w| w.1),
        worst_scene: worst.map(|w| w.0),
        scenes_beating_constant_velocity: has_learned.then_some(beats),
        scenes_over_floor: has_learned.then_some(over_floor),
        outcome_accuracy: (has_learned && asked > 0).then(|| correct as f64 / asked as f64),
        outcome_questions: questions,
        outcome_majority_accuracy: frac(majority),
        outcome_always_yes_accuracy: frac(yes),
        scenes_below_majority: has_learned.then_some(below_majority),
        clamp_fraction: has_learned.then_some(checks.clamp_fraction),
        max_penetration_m: has_learned.then_some(checks.max_penetration_m),
        held_fraction: has_learned.then_some(checks.held_fraction),
        max_penetration_before_hold_m: has_learned.then_some(checks.max_penetration_before_hold_m),
        truth_max_penetration_m: reports
            .values()
            .map(|r| r.truth_checks.max_penetration_m)
            .reduce(f64::max),
        max_energy_gain: energy,
    }
}

/// Evaluates `predictors` on one scene over `seeds` (seeds run in parallel).
pub fn evaluate_scene(
    scene: &Scene,
    seeds: &[u64],
    predictors: &[&dyn Predictor],
) -> Result<SceneReport, ModelError> {
    let results: Vec<SeedResult> = seeds
        .par_iter()
        .map(|&seed| run_seed(scene, seed, predictors))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&SeedResult> = results.iter().collect();
    Ok(scene_report(scene, seeds, predictors, &refs))
}

/// Evaluates `predictors` (the learned one, if any, named [`LEARNED`]) on every scene file,
/// one parallel job per scene and seed; `progress` is called after each job.
pub fn evaluate(
    scenes: &[PathBuf],
    seeds: &[u64],
    predictors: &[&dyn Predictor],
    model: &str,
    command: &str,
    progress: &(dyn Fn() + Sync),
) -> Result<EvalReport, ModelError> {
    let loaded: Vec<Scene> = scenes.iter().map(Scene::load).collect::<Result<_, _>>()?;
    let jobs: Vec<(usize, u64)> = (0..loaded.len())
        .flat_map(|s| seeds.iter().map(move |&seed| (s, seed)))
        .collect();
    let results: Vec<(usize, SeedResult)> = jobs
        .par_iter()
        .map(|&(s, seed)| {
            let r = run_seed(&loaded[s], seed, predictors)?;
            progress();
            Ok((s, r))
        })
        .collect::<Result<_, ModelError>>()?;

    let mut reports = BTreeMap::new();
    for (si, scene) in loaded.iter().enumerate() {
        let mine: Vec<&SeedResult> = results
            .iter()
            .filter(|(s, _)| *s == si)
            .map(|(_, r)| r)
            .collect();
        reports.insert(
            scene.name.clone(),
            scene_report(scene, seeds, predictors, &mine),
        );
    }
    let has_learned = predictors.iter().any(|p| p.name() == LEARNED);
    Ok(EvalReport {
        model: model.to_string(),
        command: command.to_string(),
        horizons_s: HORIZONS_S.to_vec(),
        summary: summarize(&reports, has_learned),
        scenes: reports,
    })
}

/// A number to a fixed precision, or `-` when absent.
fn num(x: Option<f64>, precision: usize) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "-".to_string(), |v| format!("{v:.precision$}"))
}

fn list(x: &Option<Vec<String>>) -> String {
    match x {
        None => "-".into(),
        Some(v) if v.is_empty() => "none".into(),
        Some(v) => v.join(","),
    }
}

impl fmt::Display for EvalReport {
    /// The per-scene table at 1 s and the summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:14} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "scene",
            "learned",
            "moving",
            "const-vel",
            "ballistic",
            "b-stop",
            "floor",
            "l/floor",
            "outcome",
            "majority"
        )?;
        for (name, s) in &self.scenes {
            let outcome = s
                .predictors
                .get(LEARNED)
                .filter(|l| l.outcome_total > 0)
                .map_or("-".to_string(), |l| {
                    format!("{}/{}", l.outcome_correct, l.outcome_total)
                });
            let majority = s.outcome.as_ref().map_or("-".to_string(), |o| {
                format!(
                    "{}/{}",
                    o.truth_yes.max(o.questions - o.truth_yes),
                    o.questions
                )
            });
            writeln!(
                f,
                "{name:14} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
                num(s.rmse_1s(LEARNED), 4),
                num(s.moving_rmse_1s(LEARNED), 4),
                num(s.rmse_1s("constant-velocity"), 4),
                num(s.rmse_1s("ballistic"), 4),
                num(s.rmse_1s("ballistic-stop"), 4),
                num(s.rmse_1s(FLOOR), 4),
                num(s.floor_ratio_1s, 1),
                outcome,
                majority
            )?;
        }
        let sm = &self.summary;
        writeln!(
            f,
            "position RMSE at 1 s, m (moving: bodies that moved more than {MOVING_DISPLACEMENT} m; floor: {FLOOR}; outcome: questions answered like the truth)"
        )?;
        write!(
            f,
            "summary: rmse_1s_geomean {} m, rmse_1s_moving_geomean {} m, floor_1s_geomean {} m, \
             ratio_1s_mean {}, ratio_1s_worst {} ({}), scenes_beating_constant_velocity {}, \
             scenes_over_floor {}, outcome_accuracy {} over {} questions \
             (outcome_majority_accuracy {}, outcome_always_yes_accuracy {}), \
             scenes_below_majority {}, clamp_fraction {}, max_penetration_m {} \
             (truth_max_penetration_m {}; held_fraction {}, max_penetration_before_hold_m {}), \
             max_energy_gain {}",
            num(sm.rmse_1s_geomean, 4),
            num(sm.rmse_1s_moving_geomean, 4),
            num(sm.floor_1s_geomean, 4),
            num(sm.ratio_1s_mean, 3),
            num(sm.ratio_1s_worst, 3),
            sm.worst_scene.as_deref().unwrap_or("-"),
            sm.scenes_beating_constant_velocity
                .map_or("-".to_string(), |n| format!("{n}/{}", self.scenes.len())),
            list(&sm.scenes_over_floor),
            num(sm.outcome_accuracy, 3),
            sm.outcome_questions,
            num(sm.outcome_majority_accuracy, 3),
            num(sm.outcome_always_yes_accuracy, 3),
            list(&sm.scenes_below_majority),
            num(sm.clamp_fraction, 4),
            num(sm.max_penetration_m, 3),
            num(sm.truth_max_penetration_m, 3),
            num(sm.held_fraction, 5),
            num(sm.max_penetration_before_hold_m, 3),
            num(sm.max_energy_gain, 3),
        )
    }
}

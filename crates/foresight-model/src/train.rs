//! Training: samples of (state, next learned step) from dataset episodes with noise on
//! the velocity history (so rollouts learn to recover from their own errors), targets
//! that undo that noise, normalization fitted on the training split, AdamW with warm-up
//! and cosine decay, a validation split by episode seed. Seeded throughout: the same
//! data, seed and `--epochs` give the same weights.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use foresight_sim::{BodyState, Push, Trajectory};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rapier3d::math::Rotation;
use rayon::prelude::*;

use crate::clock::{MODEL_GRAVITY, MODEL_TICK, same_tick, trained_sizes};
use crate::context::{Context, Turn};
use crate::dataset::{is_validation, load_episodes, read_manifest};
use crate::error::ModelError;
use crate::features::{
    EDGE_FEATURES, FeatureConfig, Graph, HISTORY, NODE_FEATURES, OUTPUTS_PER_TICK, build_graph,
    outputs,
};
use crate::learned::{LearnedModel, TrainInfo, past_velocities};
use crate::net::{Net, Normalizer, Stats};
use crate::predictor::finite_difference_history;
use crate::step::{self, step_kicks, total_kicks};

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    /// Graph and network configuration.
    pub features: FeatureConfig,
    /// Seed for initialization, sampling and noise.
    pub seed: u64,
    /// Passes over the training samples (an epoch is one sample per (episode, tick) on average).
    pub epochs: Option<f64>,
    /// Wall-clock cap in minutes (stops early; use `epochs` alone for reproducible runs).
    pub minutes: Option<f64>,
    /// Graphs per batch.
    pub batch_graphs: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Standard deviation of the noise on the current velocity, m/s.
    pub velocity_noise: f32,
    /// Standard deviation of the noise on the current position, m.
    pub position_noise: f32,
    /// Standard deviation of the noise on the angular velocity, rad/s.
    pub spin_noise: f32,
    /// Augment every sample by a random turn about the vertical and a random mirror.
    pub augment: bool,
    /// Share of training draws whose tick is chosen in proportion to how much the
    /// bodies' contact forces change there ([`activity`]) instead of uniformly:
    /// impacts are rare ticks, and uniform draws spend most of training on bodies at rest
    /// or in steady flight. 0 draws every tick uniformly.
    pub focus: f32,
    /// Probability that a sample starts from the network's own forecast of its current
    /// state (one learned step from the truth before it) instead of the truth, with
    /// targets that lead back onto the truth: training on the errors rollouts make
    /// ("pushforward"). 0 never does.
    pub pushforward: f32,
    /// Share of training over which the pushforward probability rises linearly from 0 to
    /// `pushforward` (0: at full strength from the first step).
    pub pushforward_warmup: f32,
    /// Ticks over which a sample's targets bring a start that is off the truth (noise, a
    /// pushforward forecast) back onto it ([`step::settling_targets`]); 1 corrects it all
    /// in the step's first tick.
    pub settle_ticks: usize,
    /// Errors larger than this (in units of the residuals' pooled scale) count linearly
    /// instead of squared, in training and validation loss alike (Huber): hard impacts,
    /// whose residuals are many times larger than a rolling or resting contact's, then
    /// no longer outweigh the small, steady corrections. 0: squared error everywhere.
    pub huber: f32,
    /// Leave bodies that only their joints hold (no contact candidate that can move them,
    /// [`crate::features::Graph::touching`]) out of the loss:
    /// forecasts do not use the network's output for them
    /// ([`crate::learned::Rules::joints_alone`]), so it need not learn what the joints give.
    pub joints_alone: bool,
    /// Keep an exponential moving average of the weights with this decay per step (0:
    /// off) and write it instead of the last step's weights: the average over roughly
    /// the last `1 / (1 − decay)` steps, which smooths out where the last steps happened
    /// to leave the weights.
    pub ema: f64,
    /// Share of draws from a scene's first ticks (the first `HISTORY · step_ticks`, most
    /// of whose velocity history is cut short by the start): forecasts from a scene's
    /// first frame, which the app shows first, are otherwise a few in a thousand of the
    /// draws.
    pub early: f32,
    /// Recorded in the sidecar.
    pub command: String,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            features: FeatureConfig::default(),
            seed: 0,
            epochs: Some(1.0),
            minutes: None,
            batch_graphs: 16,
            learning_rate: 1e-3,
            velocity_noise: 0.02,
            position_noise: 0.002,
            spin_noise: 0.05,
            augment: true,
            focus: 0.0,
            pushforward: 0.0,
            pushforward_warmup: 0.0,
            settle_ticks: 1,
            huber: 0.0,
            joints_alone: false,
            ema: 0.0,
            early: 0.0,
            command: String::new(),
        }
    }
}

/// Widest hidden layer a model may have (training and loading alike).
pub const MAX_HIDDEN: usize = 1024;
/// Most message-passing rounds a model may have.
pub const MAX_PASSES: usize = 8;
/// Largest connectivity radius a model may have, m.
pub const MAX_RADIUS: f32 = 10.0;
/// Most simulator ticks one learned step may span.
pub const MAX_STEP_TICKS: usize = 30;

impl FeatureConfig {
    /// Checks the network sizes against [`MAX_HIDDEN`], [`MAX_PASSES`] and
    /// [`MAX_STEP_TICKS`] (hidden and step ticks at least 1), and the connectivity radius
    /// (finite, in (0, [`MAX_RADIUS`]] m: a huge one would connect everything).
    pub fn check(&self) -> Result<(), ModelError> {
        if !(1..=MAX_HIDDEN).contains(&self.hidden)
            || self.passes > MAX_PASSES
            || !(1..=MAX_STEP_TICKS).contains(&self.step_ticks)
        {
            return Err(ModelError::Spec(format!(
                "--hidden must be 1..={MAX_HIDDEN}, --passes 0..={MAX_PASSES}, --step-ticks 1..={MAX_STEP_TICKS}"
            )));
        }
        if !(self.radius.is_finite() && self.radius > 0.0 && self.radius <= MAX_RADIUS) {
            return Err(ModelError::Spec(format!(
                "the connectivity radius must be in (0, {MAX_RADIUS}] m, not {}",
                self.radius
            )));
        }
        Ok(())
    }
}

impl TrainSpec {
    /// The pushforward probability at `frac` of the way through training: rising linearly
    /// from 0 over the first `pushforward_warmup` of it, then `pushforward`.
    pub fn pushforward_at(&self, frac: f64) -> f32 {
        if self.pushforward_warmup > 0.0 {
            self.pushforward * (frac as f32 / self.pushforward_warmup).min(1.0)
        } else {
            self.pushforward
        }
    }

    /// These settings with every training noise scaled by `scale`.
    pub fn with_noise(mut self, scale: f32) -> Self {
        self.position_noise *= scale;
        self.velocity_noise *= scale;
        self.spin_noise *= scale;
        self
    }

    /// Checks the settings before any work: the network sizes ([`FeatureConfig::check`])
    /// and positive time and epoch limits.
    pub fn check(&self) -> Result<(), ModelError> {
        self.features.check()?;
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if self.minutes.is_some_and(|m| !positive(m)) || self.epochs.is_some_and(|e| !positive(e)) {
            return Err(ModelError::Spec(
                "--minutes and --epochs must be positive".into(),
            ));
        }
        let noise = [self.position_noise, self.velocity_noise, self.spin_noise];
        if noise
            .iter()
            .any(|x| !(x.is_finite() && *x >= 0.0 && *x <= 100.0))
        {
            return Err(ModelError::Spec(
                "--noise must be a finite scale in 0..=100 times the default noise".into(),
            ));
        }
        // Settling over every tick of the step would leave its end velocity off the truth.
        let most = self.features.step_ticks.saturating_sub(1).max(1);
        if !(1..=most).contains(&self.settle_ticks) {
            return Err(ModelError::Spec(format!(
                "--settle-ticks must be 1..={most} (fewer than the step's {} ticks), not {}",
                self.features.step_ticks, self.settle_ticks
            )));
        }
        if !(self.ema.is_finite() && (0.0..1.0).contains(&self.ema)) {
            return Err(ModelError::Spec(format!(
                "--ema must be a decay in [0, 1) (0: off; 0.999 averages about the last 1000 steps), not {}",
                self.ema
            )));
        }
        if !(self.huber.is_finite() && (0.0..=100.0).contains(&self.huber)) {
            return Err(ModelError::Spec(format!(
                "--huber must be 0 (squared error) or a scale in (0, 100], not {}",
                self.huber
            )));
        }
        for (flag, x) in [
            ("--focus", self.focus),
            ("--pushforward", self.pushforward),
            ("--pushforward-warmup", self.pushforward_warmup),
            ("--early", self.early),
        ] {
            if !(0.0..=1.0).contains(&x) {
                return Err(ModelError::Spec(format!(
                    "{flag} must be a share in 0..=1, not {x}"
                )));
            }
        }
        Ok(())
    }
}

/// Checks that a model file to be written is named `*.safetensors`.
pub fn check_model_path(out: &Path) -> Result<(), ModelError> {
    if out.extension().is_none_or(|x| x != "safetensors") {
        return Err(ModelError::Spec(format!(
            "{}: the model file must end in .safetensors",
            out.display()
        )));
    }
    Ok(())
}

/// What a training run wrote: the model, its loss curve, and the training facts.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// The weights file (its sidecar `.json` is beside it).
    pub model: PathBuf,
    /// The loss curve (PNG).
    pub loss_curve: PathBuf,
    /// Steps, time, losses and episodes of the run.
    pub info: TrainInfo,
}

impl fmt::Display for TrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.info;
        write!(
            f,
            "{}: {} steps in {:.0} s, train loss {:.4}, validation loss {:.4} ({} train / {} validation episodes); loss curve {}",
            self.model.display(),
            info.iterations,
            info.seconds,
            info.train_loss,
            info.val_loss,
            info.train_episodes,
            info.val_episodes,
            self.loss_curve.display()
        )
    }
}

/// Trains on the dataset in `data` ([`load_split`], [`train`]), writes the model to `out`
/// and its loss curve beside it (`NAME-loss.png`).
pub fn train_to_file(
    data: &Path,
    out: &Path,
    spec: &TrainSpec,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<TrainReport, ModelError> {
    let (train_eps, val_eps) = load_split(data)?;
    let mut trained = train(
        &train_eps,
        &val_eps,
        spec,
        &data.display().to_string(),
        on_event,
    )?;
    trained.model.save(out)?;
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let png = out.with_file_name(format!("{stem}-loss.png"));
    crate::plot::loss_curve(&png, &trained.curve)?;
    Ok(TrainReport {
        model: out.to_path_buf(),
        loss_curve: png,
        info: trained.model.sidecar.train.clone(),
    })
}

/// One point of the loss curve.
#[derive(Debug, Clone, Copy)]
pub struct CurvePoint {
    /// Optimizer step.
    pub iteration: usize,
    /// Smoothed training loss.
    pub train: f64,
    /// Validation loss.
    pub val: f64,
}

/// What training reports as it goes.
pub enum TrainEvent {
    /// Training starts; `iterations` is known in epoch mode.
    Start {
        /// Planned optimizer steps, if known.
        iterations: Option<usize>,
    },
    /// A curve point was measured.
    Point(CurvePoint),
    /// One optimizer step finished.
    Step(usize),
}

/// A trained model and its loss curve.
pub struct Trained {
    /// The model.
    pub model: LearnedModel,
    /// Loss curve.
    pub curve: Vec<CurvePoint>,
}

/// An episode ready for sampling.
pub struct Episode {
    /// Its context.
    pub ctx: Context,
    /// Its trajectory, velocities replaced by finite differences.
    pub traj: Trajectory,
    /// Scene name.
    pub scene: String,
}

/// Standard normal sample (Box–Muller).
pub fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// A symmetry of the physics used to augment samples: mirror x (optionally), then turn
/// by `angle` about the vertical (y) axis. Gravity along y is unchanged by it; a scene with
/// other gravity is turned with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Symmetry {
    /// Turn about +y, radians.
    pub angle: f32,
    /// Mirror x before turning.
    pub mirror: bool,
}

impl Symmetry {
    /// The symmetry as a [`Turn`].
    fn as_turn(&self) -> Turn {
        Turn {
            rotation: Rotation::from_rotation_y(self.angle),
            mirror: self.mirror,
        }
    }

    /// A vector (position, velocity, impulse).
    pub fn vector(&self, v: [f32; 3]) -> [f32; 3] {
        self.as_turn().vector(v)
    }

    /// A pseudo-vector (angular velocity): mirrored with the sign of the determinant.
    pub fn pseudo(&self, w: [f32; 3]) -> [f32; 3] {
        self.as_turn().pseudo(w)
    }

    /// An orientation `[x, y, z, w]`: M·R·M under the mirror (our shapes are symmetric
    /// under their own x mirror), then turned.
    pub fn rotation(&self, q: [f32; 4]) -> [f32; 4] {
        self.as_turn().orientation(q)
    }

    /// A body state.
    pub fn state(&self, s: &BodyState) -> BodyState {
        self.as_turn().state(s)
    }

    /// The scene's context (statics, bodies, joints, gravity) under the symmetry.
    pub fn context(&self, t: &Trajectory) -> Context {
        self.as_turn()
            .context(t.dt, t.gravity, &t.statics, &t.bodies, &t.joints)
    }

    /// A push.
    pub fn push(&self, p: &Push) -> Push {
        self.as_turn().push(p)
    }
}

/// Builds one training sample at tick `t`: the graph (position and velocity history
/// perturbed by noise when `noise` is given, the whole scene under `symmetry` when given)
/// and the targets for the next learned step: the residual velocities of every tick that,
/// integrated by the step rule ([`crate::step`]) from the (noisy) state, land exactly on
/// the recorded truth; a start off the truth is brought back onto it over `settle` ticks
/// ([`step::settling_targets`]). `start` replaces the recorded state at `t` (given in the
/// scene's own frame), e.g. by a forecast of it.
#[allow(clippy::needless_range_loop)] // x, y, z index several arrays at once
pub fn make_sample(
    ep: &Episode,
    cfg: &FeatureConfig,
    t: usize,
    start: Option<&[BodyState]>,
    noise: Option<(&mut ChaCha8Rng, f32, f32, f32)>,
    symmetry: Option<Symmetry>,
    settle: usize,
) -> (Graph, Vec<f32>) {
    let k = cfg.step_ticks;
    let lo = t.saturating_sub(HISTORY * k);
    let raw = &ep.traj.frames[lo..=t + k];
    let (window, pushes, sym_ctx): (Vec<Vec<BodyState>>, Vec<Push>, Option<Context>) =
        match symmetry {
            Some(sym) => (
                raw.iter()
                    .map(|f| f.iter().map(|s| sym.state(s)).collect())
                    .collect(),
                ep.traj.pushes.iter().map(|p| sym.push(p)).collect(),
                Some(sym.context(&ep.traj)),
            ),
            None => (raw.to_vec(), ep.traj.pushes.clone(), None),
        };
    let ctx = sym_ctx.as_ref().unwrap_or(&ep.ctx);
    let now = t - lo;
    let mut state: Vec<BodyState> = match (start, symmetry) {
        (Some(s), Some(sym)) => s.iter().map(|b| sym.state(b)).collect(),
        (Some(s), None) => s.to_vec(),
        (None, _) => window[now].clone(),
    };
    let mut past = past_velocities(&window[..=now], k);
    if let Some((rng, sx, sv, sw)) = noise {
        for i in 0..state.len() {
            let mut e = [normal(rng) * sv, normal(rng) * sv, normal(rng) * sv];
            for c in 0..3 {
                state[i].position[c] += normal(rng) * sx;
                state[i].velocity[c] += e[c];
                state[i].angular_velocity[c] += normal(rng) * sw;
            }
            for p in past.iter_mut() {
                for c in 0..3 {
                    e[c] += normal(rng) * sv * 0.5;
                    p[i][c] += e[c];
                }
            }
        }
    }
    let kicks = step_kicks(ctx, &state, &pushes, t as u64, k);
    let g = build_graph(ctx, cfg, &state, &past, &total_kicks(&kicks), None);
    let mut targets = Vec::with_capacity(state.len() * outputs(cfg));
    for i in 0..state.len() {
        let truth: Vec<&BodyState> = window[now + 1..=now + k].iter().map(|f| &f[i]).collect();
        targets.extend(step::settling_targets(
            ctx,
            &state[i],
            &window[now][i],
            &kicks[i],
            &truth,
            settle,
        ));
    }
    (g, targets)
}

/// The model's forecast of an episode's state at tick `t`, one learned step of `k` ticks
/// from the recorded truth at `t - k` (with the history and pushes a forecast would have;
/// with `joints_alone`, the network's output unused on bodies only their joints hold, as
/// the loss leaves them out).
fn forecast_state(
    model: &LearnedModel,
    ep: &Episode,
    t: usize,
    k: usize,
    joints_alone: bool,
) -> Result<Vec<BodyState>, ModelError> {
    let from = t - k;
    let lo = from.saturating_sub(HISTORY * k + crate::learned::SLEEP_TICKS as usize);
    let pushes = foresight_sim::pushes_from(&ep.traj.pushes, from as u64);
    let mut out = model.rollout_differenced(
        &ep.ctx,
        &ep.traj.frames[lo..=from],
        &pushes,
        k,
        joints_alone,
    )?;
    Ok(out.pop().unwrap_or_else(|| ep.traj.frames[t].clone()))
}

/// Loads a dataset directory as episodes, split into (train, validation) by episode seed.
pub fn load_split(data: &Path) -> Result<(Vec<Episode>, Vec<Episode>), ModelError> {
    let manifest = read_manifest(data)?;
    let mut train = Vec::new();
    let mut val = Vec::new();
    for (entry, traj) in load_episodes(data, &manifest)? {
        let mut traj = traj;
        traj.frames = finite_difference_history(&traj.frames, traj.dt, traj.gravity);
        let ep = Episode {
            ctx: Context::from_trajectory(&traj),
            traj,
            scene: entry.scene.clone(),
        };
        if is_validation(entry.seed) {
            val.push(ep)
        } else {
            train.push(ep)
        }
    }
    if train.is_empty() {
        return Err(ModelError::Dataset {
            dir: data.display().to_string(),
            reason: "no training episodes; generate more episodes".into(),
        });
    }
    if val.is_empty() {
        // Tiny datasets: hold out the last training episode so validation means something.
        val.push(train.pop().expect("at least one episode"));
        if train.is_empty() {
            return Err(ModelError::Dataset {
                dir: data.display().to_string(),
                reason: "needs at least two episodes".into(),
            });
        }
    }
    Ok((train, val))
}

/// How much the contact forces on an episode's bodies change at each sample tick `t`
/// (`0..frames - k`): the largest over bodies of the second difference of velocity across
/// learned steps, `|v(t+k) - 2v(t) + v(t-k)|` plus the same of the spin times the body's
/// size, m/s, capped at 5. Zero for bodies at rest, in free flight or in steady contact;
/// large where a contact begins, ends or changes (impacts, topples, a push).
pub fn activity(ep: &Episode, k: usize) -> Vec<f32> {
    let frames = &ep.traj.frames;
    let n = frames.len();
    (0..n.saturating_sub(k))
        .map(|t| {
            let (a, b, c) = (&frames[t.saturating_sub(k)], &frames[t], &frames[t + k]);
            (0..b.len())
                .map(|i| {
                    let d2 = |f: fn(&BodyState) -> [f32; 3]| -> f32 {
                        (0..3)
                            .map(|x| (f(&c[i])[x] - 2.0 * f(&b[i])[x] + f(&a[i])[x]).powi(2))
                            .sum::<f32>()
                            .sqrt()
                    };
                    d2(|s| s.velocity) + ep.ctx.radii[i] * d2(|s| s.angular_velocity)
                })
                .fold(0.0f32, f32::max)
                .min(5.0)
        })
        .collect()
}

/// (episode, tick) pairs a scene-balanced sampler draws from: a scene uniformly, one of
/// its episodes uniformly, then a tick — with probability `early` one of the first
/// `HISTORY · k` (a forecast from a scene's first frames, its velocity history mostly
/// cut short by the start), else uniformly, or with probability `focus` in proportion to
/// the tick's [`activity`].
struct Sampler {
    by_scene: Vec<Vec<usize>>,
    focus: f32,
    early: f32,
    /// Per episode, the cumulative activity over its ticks (empty when `focus` is 0).
    cumulative: Vec<Vec<f32>>,
}

impl Sampler {
    fn new(eps: &[Episode], k: usize, focus: f32, early: f32) -> Sampler {
        let mut names: Vec<&str> = eps.iter().map(|e| e.scene.as_str()).collect();
        names.sort();
        names.dedup();
        let by_scene = names
            .iter()
            .map(|n| (0..eps.len()).filter(|&i| eps[i].scene == *n).collect())
            .collect();
        let cumulative = if focus > 0.0 {
            eps.par_iter()
                .map(|e| {
                    activity(e, k)
                        .iter()
                        .scan(0.0f32, |acc, a| {
                            *acc += a;
                            Some(*acc)
                        })
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        Sampler {
            by_scene,
            focus,
            early,
            cumulative,
        }
    }

    fn draw(&self, eps: &[Episode], k: usize, rng: &mut ChaCha8Rng) -> Option<(usize, usize)> {
        let scene = &self.by_scene[rng.random_range(0..self.by_scene.len())];
        let e = scene[rng.random_range(0..scene.len())];
        let frames = eps[e].traj.frames.len();
        if frames <= k {
            return None;
        }
        // Drawn only when asked for, so runs without it are unchanged.
        if self.early > 0.0 && rng.random::<f32>() < self.early {
            return Some((e, rng.random_range(0..(HISTORY * k).min(frames - k))));
        }
        if self.focus > 0.0 && rng.random::<f32>() < self.focus {
            let cum = &self.cumulative[e];
            let total = cum.last().copied().unwrap_or(0.0);
            if total > 0.0 {
                let u = rng.random::<f32>() * total;
                let t = cum.partition_point(|c| *c <= u).min(cum.len() - 1);
                return Some((e, t));
            }
        }
        Some((e, rng.random_range(0..frames - k)))
    }
}

/// A batch: the graphs joined, normalized targets, and per-node loss weights that give
/// every graph the same total weight (a 216-body pile counts as much as a single ball);
/// with `joints_alone`, a body only its joints hold weighs nothing (its graph then weighs
/// less than the others).
struct Batch {
    graph: Graph,
    targets: Tensor,
    weights: Tensor,
}

fn batch_tensors(
    samples: Vec<(Graph, Vec<f32>)>,
    stats: &Stats,
    joints_alone: bool,
) -> Result<Batch, ModelError> {
    let mut g = Graph::default();
    let mut targets = Vec::new();
    let mut weights = Vec::new();
    let graphs = samples.len().max(1) as f32;
    for (s, t) in samples {
        let w = 1.0 / (s.nodes.max(1) as f32 * graphs);
        weights.extend(s.active.iter().zip(&s.touching).map(|(&on, &touch)| {
            if joints_alone && on > 0.0 && touch == 0.0 {
                0.0
            } else {
                w
            }
        }));
        g.append(&s);
        targets.extend(t);
    }
    stats.apply(&mut g);
    stats.target.apply(&mut targets);
    let width = targets.len() / g.nodes.max(1);
    let tt = Tensor::from_vec(targets, (g.nodes, width), &Device::Cpu)?;
    let wt = Tensor::from_vec(weights, g.nodes, &Device::Cpu)?;
    Ok(Batch {
        graph: g,
        targets: tt,
        weights: wt,
    })
}

/// What each normalized error `e` costs: `e²`, or with `huber` > 0, `2·huber·|e| - huber²`
/// beyond `huber` (the same value and slope there; [`TrainSpec::huber`]).
pub fn error_cost(err: &Tensor, huber: f32) -> Result<Tensor, ModelError> {
    if huber > 0.0 {
        let a = err.abs()?;
        let inside = a.clamp(0f32, huber)?;
        Ok((inside.sqr()? + ((a - &inside)? * (2.0 * f64::from(huber)))?)?)
    } else {
        Ok(err.sqr()?)
    }
}

/// Mean [`error_cost`] of the normalized residuals, each graph weighted equally.
fn loss(net: &Net, b: &Batch, huber: f32) -> Result<Tensor, ModelError> {
    let pred = net.forward(&b.graph)?;
    let per_node = error_cost(&(pred - &b.targets)?, huber)?.mean(1)?;
    Ok((per_node * &b.weights)?.sum_all()?)
}

/// Target normalization: zero mean, one pooled scale for every linear residual and one
/// for every angular residual (no per-axis scales: a vertical error costs what a sideways
/// one does).
fn pooled_target_stats(targets: &[f32], width: usize) -> Normalizer {
    let (mut lin, mut ang, mut n) = (0.0f64, 0.0f64, 0usize);
    for row in targets.chunks_exact(width) {
        for tick in row.chunks_exact(OUTPUTS_PER_TICK) {
            lin += tick[..3].iter().map(|x| f64::from(*x).powi(2)).sum::<f64>();
            ang += tick[3..].iter().map(|x| f64::from(*x).powi(2)).sum::<f64>();
            n += 3;
        }
    }
    let n = n.max(1) as f64;
    let (sl, sa) = (
        ((lin / n).sqrt() as f32).max(1e-3),
        ((ang / n).sqrt() as f32).max(1e-3),
    );
    let std = (0..width)
        .map(|c| if c % OUTPUTS_PER_TICK < 3 { sl } else { sa })
        .collect();
    Normalizer {
        mean: vec![0.0; width],
        std,
    }
}

/// Trains a model on `train`, validating on `val`.
pub fn train(
    train: &[Episode],
    val: &[Episode],
    spec: &TrainSpec,
    dataset: &str,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<Trained, ModelError> {
    spec.check()?;
    let cfg = spec.features;
    let k = cfg.step_ticks;
    // A learned step means so many ticks of one length under one gravity: the data must
    // share its clock (forecasts of other clocks convert to it, `crate::clock`).
    let (tick, gravity) = train
        .first()
        .map_or((MODEL_TICK, MODEL_GRAVITY), |e| (e.traj.dt, e.traj.gravity));
    let other = |e: &&Episode| {
        !same_tick(e.traj.dt, tick) || (0..3).any(|c| (e.traj.gravity[c] - gravity[c]).abs() > 1e-4)
    };
    if let Some(e) = train.iter().chain(val).find(other) {
        return Err(ModelError::Dataset {
            dir: dataset.to_string(),
            reason: format!(
                "scene {} steps at {} s under gravity {:?} where scene {} steps at {tick} s under {gravity:?}; a model learns one clock: make the dataset from scenes of one time_step and gravity",
                e.scene,
                e.traj.dt,
                e.traj.gravity,
                train.first().map_or("the default", |f| f.scene.as_str())
            ),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);

    // Normalization from noise-free training samples.
    let sampler = Sampler::new(train, k, 0.0, 0.0);
    // Fitted on samples augmented as training will see them: a feature whose spread is
    // tiny in the scenes' own orientation (a hinge axis along z) is not tiny once turned.
    let stat_draws: Vec<(usize, usize, Option<Symmetry>)> = (0..4000)
        .filter_map(|_| {
            let (e, t) = sampler.draw(train, k, &mut rng)?;
            let symmetry = spec.augment.then(|| Symmetry {
                angle: rng.random_range(0.0..std::f32::consts::TAU),
                mirror: rng.random::<bool>(),
            });
            Some((e, t, symmetry))
        })
        .collect();
    let stat_samples: Vec<(Graph, Vec<f32>)> = stat_draws
        .par_iter()
        .map(|&(e, t, sym)| make_sample(&train[e], &cfg, t, None, None, sym, 1))
        .collect();
    // A state the features cannot describe would make every statistic, and so every
    // step, NaN: refuse it here, naming the sample, rather than train on it.
    let finite = |xs: &[f32]| xs.iter().all(|x| x.is_finite());
    if let Some((&(e, t, _), _)) = stat_draws
        .iter()
        .zip(&stat_samples)
        .find(|(_, (g, tg))| !(finite(&g.node_features) && finite(&g.edge_features) && finite(tg)))
    {
        return Err(ModelError::Spec(format!(
            "the training sample of scene {} (seed {}) at tick {t} has features that are not numbers; a body's shape is one the contact queries cannot handle: report the scene",
            train[e].scene, train[e].traj.seed
        )));
    }
    let (mut nodes, mut edges, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    for (g, t) in &stat_samples {
        nodes.extend_from_slice(&g.node_features);
        edges.extend_from_slice(&g.edge_features);
        targets.extend_from_slice(t);
    }
    let stats = Stats {
        node: Normalizer::fit(&nodes, NODE_FEATURES),
        edge: if edges.is_empty() {
            Normalizer::identity(EDGE_FEATURES)
        } else {
            Normalizer::fit(&edges, EDGE_FEATURES)
        },
        target: pooled_target_stats(&targets, outputs(&cfg)),
    };

    // A fixed validation set, noise-free.
    let val_sampler = Sampler::new(val, k, 0.0, 0.0);
    let mut vrng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x7a1);
    let val_draws: Vec<(usize, usize)> = (0..96)
        .filter_map(|_| val_sampler.draw(val, k, &mut vrng))
        .collect();
    let val_batches: Vec<Batch> = val_draws
        .chunks(spec.batch_graphs.max(1))
        .map(|c| {
            batch_tensors(
                c.iter()
                    .map(|&(e, t)| make_sample(&val[e], &cfg, t, None, None, None, 1))
                    .collect(),
                &stats,
                spec.joints_alone,
            )
        })
        .collect::<Result<_, _>>()?;

    let net = Net::new(&cfg, spec.seed)?;
    let sampler = Sampler::new(train, k, spec.focus, spec.early);
    // The network being trained, as a forecaster (shares its weights) for pushforward.
    let current = (spec.pushforward > 0.0)
        .then(|| LearnedModel::new(net.clone(), stats.clone(), TrainInfo::default()));
    let mut opt = AdamW::new(
        net.vars(),
        ParamsAdamW {
            lr: spec.learning_rate,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;

    // The weights' moving average, when kept (`spec.ema`).
    let mut average: Option<Vec<Tensor>> = (spec.ema > 0.0)
        .then(|| {
            net.vars()
                .iter()
                .map(|v| v.as_tensor().detach().copy())
                .collect()
        })
        .transpose()?;

    let samples_per_epoch: usize = train
        .iter()
        .map(|e| e.traj.frames.len().saturating_sub(k))
        .sum();
    let planned = spec.epochs.map(|ep| {
        ((ep * samples_per_epoch as f64) / spec.batch_graphs as f64)
            .ceil()
            .max(1.0) as usize
    });
    on_event(TrainEvent::Start {
        iterations: planned,
    });
    let start = Instant::now();
    let budget = spec.minutes.map(|m| m * 60.0);
    let eval_every = 250;
    let warmup = 300usize;
    let mut curve = Vec::new();
    let mut smooth = f64::NAN;
    let mut iteration = 0usize;
    let val_loss = |net: &Net| -> Result<f64, ModelError> {
        let mut sum = 0.0;
        for b in &val_batches {
            sum += f64::from(loss(net, b, spec.huber)?.to_scalar::<f32>()?);
        }
        Ok(sum / val_batches.len().max(1) as f64)
    };
    loop {
        let elapsed = start.elapsed().as_secs_f64();
        let frac = match (planned, budget) {
            (Some(p), Some(b)) => (iteration as f64 / p as f64).max(elapsed / b),
            (Some(p), None) => iteration as f64 / p as f64,
            (None, Some(b)) => elapsed / b,
            (None, None) => 1.0,
        };
        if frac >= 1.0 {
            break;
        }
        let lr = if iteration < warmup {
            spec.learning_rate * (iteration + 1) as f64 / warmup as f64
        } else {
            spec.learning_rate * (0.03 + 0.97 * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos()))
        };
        opt.set_learning_rate(lr);
        let pushforward = spec.pushforward_at(frac);
        let draws: Vec<(usize, usize, u64)> = (0..spec.batch_graphs)
            .filter_map(|_| {
                sampler
                    .draw(train, k, &mut rng)
                    .map(|(e, t)| (e, t, rng.random::<u64>()))
            })
            .collect();
        let samples: Vec<(Graph, Vec<f32>)> = draws
            .par_iter()
            .map(|&(e, t, s)| -> Result<(Graph, Vec<f32>), ModelError> {
                let mut r = ChaCha8Rng::seed_from_u64(s);
                // Drawn only when pushforward is on, so runs without it are unchanged.
                let forecast = match &current {
                    Some(m) if t >= k && r.random::<f32>() < pushforward => {
                        Some(forecast_state(m, &train[e], t, k, spec.joints_alone)?)
                    }
                    _ => None,
                };
                let symmetry = spec.augment.then(|| Symmetry {
                    angle: r.random_range(0.0..std::f32::consts::TAU),
                    mirror: r.random::<bool>(),
                });
                Ok(make_sample(
                    &train[e],
                    &cfg,
                    t,
                    forecast.as_deref(),
                    Some((
                        &mut r,
                        spec.position_noise,
                        spec.velocity_noise,
                        spec.spin_noise,
                    )),
                    symmetry,
                    spec.settle_ticks,
                ))
            })
            .collect::<Result<_, _>>()?;
        let batch = batch_tensors(samples, &stats, spec.joints_alone)?;
        let l = loss(&net, &batch, spec.huber)?;
        opt.backward_step(&l)?;
        if let Some(avg) = &mut average {
            average_step(avg, &net.vars(), spec.ema, iteration)?;
        }
        let lv = f64::from(l.to_scalar::<f32>()?);
        if !lv.is_finite() {
            return Err(ModelError::Spec(format!(
                "training diverged: the loss is {lv} at step {}; no weights written (try another --seed, or check the dataset)",
                iteration + 1
            )));
        }
        smooth = if smooth.is_nan() {
            lv
        } else {
            0.98 * smooth + 0.02 * lv
        };
        iteration += 1;
        on_event(TrainEvent::Step(iteration));
        if iteration.is_multiple_of(eval_every) || iteration == 1 {
            let p = CurvePoint {
                iteration,
                train: smooth,
                val: val_loss(&net)?,
            };
            curve.push(p);
            on_event(TrainEvent::Point(p));
        }
    }
    if let Some(avg) = &average {
        for (a, v) in avg.iter().zip(net.vars()) {
            v.set(a)?;
        }
    }
    let final_val = val_loss(&net)?;
    if !final_val.is_finite() {
        return Err(ModelError::Spec(format!(
            "the validation loss is {final_val}: a validation sample has features that are not numbers; no weights written"
        )));
    }
    let p = CurvePoint {
        iteration,
        train: smooth,
        val: final_val,
    };
    curve.push(p);
    on_event(TrainEvent::Point(p));
    let info = TrainInfo {
        command: spec.command.clone(),
        seed: spec.seed,
        iterations: iteration,
        seconds: start.elapsed().as_secs_f64(),
        train_loss: smooth,
        val_loss: final_val,
        train_episodes: train.len(),
        val_episodes: val.len(),
        dataset: dataset.to_string(),
    };
    Ok(Trained {
        model: LearnedModel::new(net, stats, info)
            .with_tick(tick)
            .with_gravity(gravity)
            .with_sizes(trained_sizes(
                train.iter().map(|e| e.traj.bodies.as_slice()),
            ))
            .frozen()?,
        curve,
    })
}

/// One step of the weights' moving average with decay `ema` after `iteration` steps
/// (early on it covers the steps so far only: decay at most `(1 + t) / (10 + t)`). The
/// average is kept out of the gradient graph: a tracked sum would hold every earlier
/// step's tensors alive.
fn average_step(
    average: &mut [Tensor],
    vars: &[candle_core::Var],
    ema: f64,
    iteration: usize,
) -> candle_core::Result<()> {
    let t = iteration as f64;
    let d = ema.min((1.0 + t) / (10.0 + t));
    for (a, v) in average.iter_mut().zip(vars) {
        *a = ((&*a * d)? + (v.as_tensor().detach() * (1.0 - d))?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The moving average moves toward the weights by the step's share and holds no
    /// gradient history (a tracked average keeps every step's tensors: out of memory
    /// within a training).
    #[test]
    fn the_weights_average_steps_toward_the_weights_and_tracks_nothing() {
        let var = candle_core::Var::from_slice(&[1.0f32, 3.0], 2, &Device::Cpu).unwrap();
        let mut avg = vec![Tensor::from_slice(&[0.0f32, 1.0], 2, &Device::Cpu).unwrap()];
        assert!(var.as_tensor().track_op());
        // After 1000 steps the decay is the one given: 0.75 · average + 0.25 · weights.
        average_step(&mut avg, std::slice::from_ref(&var), 0.75, 1000).unwrap();
        assert_eq!(avg[0].to_vec1::<f32>().unwrap(), vec![0.25, 1.5]);
        assert!(!avg[0].track_op(), "the average joined the gradient graph");
        // At the first step the decay is 0.1 whatever is asked.
        average_step(&mut avg, std::slice::from_ref(&var), 0.999, 0).unwrap();
        let v = avg[0].to_vec1::<f32>().unwrap();
        assert!(
            (v[0] - 0.925).abs() < 1e-6 && (v[1] - 2.85).abs() < 1e-6,
            "{v:?}"
        );
    }

    /// Per-node loss weights: each graph weighs the same in total, and with
    /// `joints_alone` a body that receives edges but no contact edge (only its joints hold
    /// it) weighs nothing, while a touching body and a body with no edge at all keep theirs.
    #[test]
    fn bodies_only_joints_hold_leave_the_loss_with_joints_alone() {
        let width = outputs(&FeatureConfig::default());
        let graph = |active: Vec<f32>, touching: Vec<f32>| {
            let nodes = active.len();
            let g = Graph {
                nodes,
                node_features: vec![0.0; nodes * NODE_FEATURES],
                active,
                touching,
                ..Default::default()
            };
            (g, vec![0.0; nodes * width])
        };
        let stats = Stats {
            node: Normalizer::identity(NODE_FEATURES),
            edge: Normalizer::identity(EDGE_FEATURES),
            target: Normalizer::identity(width),
        };
        let samples = || {
            vec![
                graph(vec![1.0, 1.0, 0.0], vec![1.0, 0.0, 0.0]),
                graph(vec![1.0], vec![1.0]),
            ]
        };
        let weights = |joints_alone| {
            batch_tensors(samples(), &stats, joints_alone)
                .unwrap()
                .weights
                .to_vec1::<f32>()
                .unwrap()
        };
        let (third, half) = (1.0 / 6.0, 1.0 / 2.0);
        assert_eq!(weights(false), vec![third, third, third, half]);
        assert_eq!(weights(true), vec![third, 0.0, third, half]);
    }

    /// `early`: a share of draws from the first `HISTORY · k` ticks, the rest as before.
    #[test]
    fn early_draws_come_from_the_first_ticks() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let scene = foresight_sim::Scene::load(root.join("assets/scenes/drop.ron")).unwrap();
        let eps: Vec<Episode> = (0..3)
            .map(|seed| {
                let traj = foresight_sim::World::new(&scene.sample(seed).unwrap()).record(200);
                Episode {
                    ctx: Context::from_trajectory(&traj),
                    traj,
                    scene: "drop".into(),
                }
            })
            .collect();
        let k = 4;
        let first = HISTORY * k;
        let draws = |early: f32, seed: u64| {
            let sampler = Sampler::new(&eps, k, 0.0, early);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..2000)
                .map(|_| sampler.draw(&eps, k, &mut rng).unwrap().1)
                .collect::<Vec<usize>>()
        };
        assert!(draws(1.0, 1).iter().all(|&t| t < first));
        let share = |ts: Vec<usize>| ts.iter().filter(|&&t| t < first).count() as f32 / 2000.0;
        // Uniform over 197 ticks: about 10 % in the first 20; with early 0.5, about 55 %.
        let (plain, half) = (share(draws(0.0, 2)), share(draws(0.5, 2)));
        assert!((0.06..0.14).contains(&plain), "{plain}");
        assert!((0.49..0.61).contains(&half), "{half}");
    }
}

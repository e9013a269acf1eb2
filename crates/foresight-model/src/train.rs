//! Training: samples of (state, next learned step) from dataset episodes with noise on
//! the velocity history (so rollouts learn to recover from their own errors), targets
//! that undo that noise, normalization fitted on the training split, AdamW with warm-up
//! and cosine decay, a validation split by episode seed. Seeded throughout: the same
//! data, seed and `--epochs` give the same weights.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use foresight_sim::{BodyState, Trajectory};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use crate::context::Context;
use crate::dataset::{is_validation, load_episodes, read_manifest};
use crate::error::ModelError;
use crate::features::{EDGE_FEATURES, FeatureConfig, Graph, NODE_FEATURES, OUTPUTS, build_graph};
use crate::learned::{LearnedModel, TrainInfo, past_velocities};
use crate::net::{Net, Normalizer, Stats};
use crate::predictor::{finite_difference_history, rotation_delta};

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
            learning_rate: 2e-3,
            velocity_noise: 0.02,
            position_noise: 0.002,
            spin_noise: 0.05,
            command: String::new(),
        }
    }
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
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Builds one training sample: the graph at tick `t` (position and velocity perturbed by
/// noise when `rng` is given) and the targets for the next learned step: the constant
/// accelerations that, integrated tick by tick from the (noisy) state, land exactly on
/// the true positions and rotations `step_ticks` later, minus gravity.
#[allow(clippy::needless_range_loop)] // x, y, z index several arrays at once
pub fn make_sample(
    ep: &Episode,
    cfg: &FeatureConfig,
    t: usize,
    noise: Option<(&mut ChaCha8Rng, f32, f32, f32)>,
) -> (Graph, Vec<f32>) {
    let k = cfg.step_ticks;
    let frames = &ep.traj.frames;
    let ctx = &ep.ctx;
    let mut state: Vec<BodyState> = frames[t].clone();
    let mut past = past_velocities(&frames[..=t], k);
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
    let mut kicks = vec![([0.0f32; 3], [0.0f32; 3]); state.len()];
    // Velocity each push adds, times the ticks it acts for within the step.
    let mut kick_travel = vec![([0.0f32; 3], [0.0f32; 3]); state.len()];
    for p in ep
        .traj
        .pushes
        .iter()
        .filter(|p| p.tick as usize >= t && (p.tick as usize) < t + k && p.body < state.len())
    {
        let (dv, dw) = ctx.kick(p, &frames[p.tick as usize][p.body]);
        let ticks = (t + k - p.tick as usize) as f32;
        for c in 0..3 {
            kicks[p.body].0[c] += dv[c];
            kicks[p.body].1[c] += dw[c];
            kick_travel[p.body].0[c] += dv[c] * ticks;
            kick_travel[p.body].1[c] += dw[c] * ticks;
        }
    }
    let g = build_graph(ctx, cfg, &state, &past, &kicks, None);
    let dt = ctx.dt;
    let kf = k as f32;
    let denom = dt * kf * (kf + 1.0) / 2.0;
    let next = &frames[t + k];
    let mut targets = Vec::with_capacity(state.len() * OUTPUTS);
    for i in 0..state.len() {
        for c in 0..3 {
            let travel = (next[i].position[c] - state[i].position[c]) / dt;
            targets.push(
                (travel - kf * state[i].velocity[c] - kick_travel[i].0[c]) / denom - ctx.gravity[c],
            );
        }
        let turn = rotation_delta(&state[i], &next[i]) / dt;
        let turn = turn.to_array();
        for c in 0..3 {
            targets
                .push((turn[c] - kf * state[i].angular_velocity[c] - kick_travel[i].1[c]) / denom);
        }
    }
    (g, targets)
}

/// Loads a dataset directory as episodes, split into (train, validation) by episode seed.
pub fn load_split(data: &Path) -> Result<(Vec<Episode>, Vec<Episode>), ModelError> {
    let manifest = read_manifest(data)?;
    let mut train = Vec::new();
    let mut val = Vec::new();
    for (entry, traj) in load_episodes(data, &manifest)? {
        let mut traj = traj;
        traj.frames = finite_difference_history(&traj.frames, traj.dt);
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

/// (episode, tick) pairs a scene-balanced sampler draws from.
struct Sampler {
    by_scene: Vec<Vec<usize>>,
}

impl Sampler {
    fn new(eps: &[Episode]) -> Sampler {
        let mut names: Vec<&str> = eps.iter().map(|e| e.scene.as_str()).collect();
        names.sort();
        names.dedup();
        let by_scene = names
            .iter()
            .map(|n| (0..eps.len()).filter(|&i| eps[i].scene == *n).collect())
            .collect();
        Sampler { by_scene }
    }

    fn draw(&self, eps: &[Episode], k: usize, rng: &mut ChaCha8Rng) -> Option<(usize, usize)> {
        let scene = &self.by_scene[rng.random_range(0..self.by_scene.len())];
        let e = scene[rng.random_range(0..scene.len())];
        let frames = eps[e].traj.frames.len();
        if frames <= k {
            return None;
        }
        Some((e, rng.random_range(0..frames - k)))
    }
}

fn batch_tensors(
    samples: Vec<(Graph, Vec<f32>)>,
    stats: &Stats,
) -> Result<(Graph, Tensor), ModelError> {
    let mut g = Graph::default();
    let mut targets = Vec::new();
    for (s, t) in samples {
        g.append(&s);
        targets.extend(t);
    }
    stats.node.apply(&mut g.node_features);
    stats.edge.apply(&mut g.edge_features);
    stats.target.apply(&mut targets);
    for t in targets.iter_mut() {
        *t = t.clamp(-8.0, 8.0);
    }
    let tt = Tensor::from_vec(targets, (g.nodes, OUTPUTS), &Device::Cpu)?;
    Ok((g, tt))
}

fn loss(net: &Net, g: &Graph, targets: &Tensor) -> Result<Tensor, ModelError> {
    let pred = net.forward(g)?;
    Ok((pred - targets)?.sqr()?.mean_all()?)
}

/// Trains a model on `train`, validating on `val`.
pub fn train(
    train: &[Episode],
    val: &[Episode],
    spec: &TrainSpec,
    dataset: &str,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<Trained, ModelError> {
    let cfg = spec.features;
    let k = cfg.step_ticks;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);

    // Normalization from noise-free training samples.
    let sampler = Sampler::new(train);
    let stat_draws: Vec<(usize, usize)> = (0..600)
        .filter_map(|_| sampler.draw(train, k, &mut rng))
        .collect();
    let stat_samples: Vec<(Graph, Vec<f32>)> = stat_draws
        .par_iter()
        .map(|&(e, t)| make_sample(&train[e], &cfg, t, None))
        .collect();
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
        target: Normalizer::fit(&targets, OUTPUTS),
    };

    // A fixed validation set, noise-free.
    let val_sampler = Sampler::new(val);
    let mut vrng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x7a1);
    let val_draws: Vec<(usize, usize)> = (0..96)
        .filter_map(|_| val_sampler.draw(val, k, &mut vrng))
        .collect();
    let val_batches: Vec<(Graph, Tensor)> = val_draws
        .chunks(spec.batch_graphs.max(1))
        .map(|c| {
            batch_tensors(
                c.iter()
                    .map(|&(e, t)| make_sample(&val[e], &cfg, t, None))
                    .collect(),
                &stats,
            )
        })
        .collect::<Result<_, _>>()?;

    let net = Net::new(&cfg, spec.seed)?;
    let mut opt = AdamW::new(
        net.vars(),
        ParamsAdamW {
            lr: spec.learning_rate,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;

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
        for (g, t) in &val_batches {
            sum += f64::from(loss(net, g, t)?.to_scalar::<f32>()?);
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
        let draws: Vec<(usize, usize, u64)> = (0..spec.batch_graphs)
            .filter_map(|_| {
                sampler
                    .draw(train, k, &mut rng)
                    .map(|(e, t)| (e, t, rng.random::<u64>()))
            })
            .collect();
        let samples: Vec<(Graph, Vec<f32>)> = draws
            .par_iter()
            .map(|&(e, t, s)| {
                let mut r = ChaCha8Rng::seed_from_u64(s);
                make_sample(
                    &train[e],
                    &cfg,
                    t,
                    Some((
                        &mut r,
                        spec.position_noise,
                        spec.velocity_noise,
                        spec.spin_noise,
                    )),
                )
            })
            .collect();
        let (g, t) = batch_tensors(samples, &stats)?;
        let l = loss(&net, &g, &t)?;
        opt.backward_step(&l)?;
        let lv = f64::from(l.to_scalar::<f32>()?);
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
    let final_val = val_loss(&net)?;
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
        model: LearnedModel::new(net, stats, info),
        curve,
    })
}

//! The learned predictor: the graph network plus its normalization, the rollout loop
//! (one learned step spans `step_ticks` simulator ticks and is integrated tick by tick,
//! so every tick of the forecast exists; the scene's joints are then held exactly by
//! [`project_joints`]), and the model files: safetensors weights with
//! a JSON sidecar that is checked before anything is trusted.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use foresight_sim::{BodyState, Push};
use rapier3d::math::Vector;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, MODEL_GRAVITY, MODEL_SIZES, MODEL_TICK};
use crate::context::Context;
use crate::error::ModelError;
use crate::features::{
    EDGE_FEATURES, FeatureConfig, Graph, HISTORY, NODE_FEATURES, build_graph, layout_fingerprint,
    outputs,
};
use crate::infer::FrozenNet;
use crate::neighbours::Neighbours;
use crate::net::{Net, Normalizer, Stats, parameter_shapes};
use crate::predictor::{Forecast, Guards, Predictor, check_request, finite_difference_history};
use crate::step::{advance, step_kicks, total_kicks};

/// Version of the model file layout; bump when features or the sidecar change.
pub const MODEL_FORMAT_VERSION: u32 = 2;
const FORMAT_NAME: &str = "foresight-model";

/// Training facts kept with the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainInfo {
    /// The exact command that trained the model.
    pub command: String,
    /// Seed of the training run.
    pub seed: u64,
    /// Optimizer steps taken.
    pub iterations: usize,
    /// Wall time of the training loop, s.
    pub seconds: f64,
    /// Final training loss (normalized squared or Huber error, smoothed).
    pub train_loss: f64,
    /// Final validation loss (normalized squared or Huber error, as trained).
    pub val_loss: f64,
    /// Training episodes.
    pub train_episodes: usize,
    /// Validation episodes.
    pub val_episodes: usize,
    /// Dataset directory.
    pub dataset: String,
}

/// The JSON file beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Always "foresight-model".
    pub format: String,
    /// [`MODEL_FORMAT_VERSION`].
    pub format_version: u32,
    /// Graph and network configuration.
    pub features: FeatureConfig,
    /// Node feature count the network expects.
    pub node_features: usize,
    /// Edge feature count the network expects.
    pub edge_features: usize,
    /// Hash of the feature and output layout and the step rule
    /// ([`crate::features::layout_fingerprint`]).
    pub layout: String,
    /// Normalization statistics.
    pub stats: Stats,
    /// Weights file name (beside the sidecar).
    pub weights_file: String,
    /// Weights file size, bytes.
    pub weights_bytes: u64,
    /// FNV-1a 64 checksum of the weights file, hex.
    pub weights_checksum: String,
    /// How it was trained.
    pub train: TrainInfo,
    /// The simulator tick of every episode the model learned from, s (models from
    /// before this field: 1/60, the tick of all their data). A scene with another tick
    /// is forecast on this one ([`crate::clock`]).
    #[serde(default = "default_tick")]
    pub tick: f32,
    /// The gravity of every episode the model learned from, m/s² (models from before
    /// this field: the default (0, −9.81, 0) of all their data). A scene with gravity of
    /// another strength or direction is forecast on a clock, and turned, so that it is
    /// this one ([`crate::clock`]).
    #[serde(default = "default_gravity")]
    pub gravity: [f32; 3],
    /// The sizes of the scenes the model learned from, m: the smallest and largest
    /// [`crate::clock::scene_size`] among its episodes, widened by a tenth (models from
    /// before this field: [`MODEL_SIZES`], the shipped data's). A scene outside is forecast
    /// at a size within ([`crate::clock`]).
    #[serde(default = "default_sizes")]
    pub sizes: [f32; 2],
}

fn default_tick() -> f32 {
    MODEL_TICK
}

fn default_gravity() -> [f32; 3] {
    MODEL_GRAVITY
}

fn default_sizes() -> [f32; 2] {
    [MODEL_SIZES.0, MODEL_SIZES.1]
}

/// FNV-1a 64-bit hash (stable across builds), for weight checksums.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The sidecar path of a weights path (`x.safetensors` → `x.json`).
pub fn sidecar_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// The trained graph network as a [`Predictor`].
pub struct LearnedModel {
    net: Net,
    /// A snapshot of the weights for fast forecasts (a loaded or a finished trained
    /// model); `None` reads the network's live weights through candle (training's own
    /// pushforward forecasts, [`LearnedModel::untrained`]).
    frozen: Option<FrozenNet>,
    stats: Stats,
    /// What forecasts give beyond the network (both on unless switched off).
    rules: Rules,
    /// Sidecar contents (training facts, config).
    pub sidecar: Sidecar,
}

/// What a forecast gives, not learns, beyond gravity, pushes, joints and sleep. Training's
/// own forecasts (pushforward) go without the static hold, and without `joints_alone`
/// unless the training leaves those bodies out of its loss too (`train --joints-alone`),
/// so switching either for forecasts leaves training, and every trained model, as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Hold the static geometry after every tick ([`project_statics`]).
    pub hold_statics: bool,
    /// A body with no contact candidate, only joint partners near it (and, jointed to the
    /// world, statics that cannot move it: out of reach or at its joint's axis), moves by
    /// gravity, pushes and its joints alone: the network's output for it is not used (as
    /// for a body with nothing near, which flies exactly ballistic).
    pub joints_alone: bool,
}

impl Rules {
    /// Forecasts for use: both rules on.
    pub const FORECAST: Rules = Rules {
        hold_statics: true,
        joints_alone: true,
    };
    /// Training's own forecasts: the network's steps as they are.
    pub const TRAINING: Rules = Rules {
        hold_statics: false,
        joints_alone: false,
    };
}

/// Velocity history of a rollout or sample: `past[k]` is `(k + 1)` learned steps ago.
pub fn past_velocities(history: &[Vec<BodyState>], step_ticks: usize) -> Vec<Vec<[f32; 3]>> {
    let last = history.len() - 1;
    (1..HISTORY)
        .map(|k| {
            let idx = last.saturating_sub(k * step_ticks);
            history[idx].iter().map(|s| s.velocity).collect()
        })
        .collect()
}

impl LearnedModel {
    /// An untrained network of the default configuration, initialized from `seed`, whose
    /// normalized outputs decode to residuals of mean `target_mean` and scale
    /// `target_std` (identity input statistics): for tests that need a model whose
    /// outputs are arbitrary but fixed.
    pub fn untrained(
        seed: u64,
        target_mean: f32,
        target_std: f32,
    ) -> Result<LearnedModel, ModelError> {
        let cfg = FeatureConfig::default();
        let stats = Stats {
            node: Normalizer::identity(NODE_FEATURES),
            edge: Normalizer::identity(EDGE_FEATURES),
            target: Normalizer {
                mean: vec![target_mean; outputs(&cfg)],
                std: vec![target_std; outputs(&cfg)],
            },
        };
        Ok(LearnedModel::new(
            Net::new(&cfg, seed)?,
            stats,
            TrainInfo::default(),
        ))
    }

    /// Wraps a network with its statistics.
    pub fn new(net: Net, stats: Stats, train: TrainInfo) -> LearnedModel {
        let sidecar = Sidecar {
            format: FORMAT_NAME.into(),
            format_version: MODEL_FORMAT_VERSION,
            features: *net.config(),
            node_features: NODE_FEATURES,
            edge_features: EDGE_FEATURES,
            layout: layout_fingerprint(),
            stats: stats.clone(),
            weights_file: String::new(),
            weights_bytes: 0,
            weights_checksum: String::new(),
            train,
            tick: default_tick(),
            gravity: default_gravity(),
            sizes: default_sizes(),
        };
        LearnedModel {
            net,
            frozen: None,
            stats,
            rules: Rules::FORECAST,
            sidecar,
        }
    }

    /// The same model, learned at simulator ticks of `tick` seconds.
    pub fn with_tick(mut self, tick: f32) -> LearnedModel {
        self.sidecar.tick = tick;
        self
    }

    /// The simulator tick the model learned its steps at, s.
    pub fn tick(&self) -> f32 {
        self.sidecar.tick
    }

    /// The same model, learned on scenes whose sizes span `sizes` (m, smallest first).
    pub fn with_sizes(mut self, sizes: (f32, f32)) -> LearnedModel {
        self.sidecar.sizes = [sizes.0, sizes.1];
        self
    }

    /// The sizes of scenes the model learned on, m (smallest, largest).
    pub fn sizes(&self) -> (f32, f32) {
        (self.sidecar.sizes[0], self.sidecar.sizes[1])
    }

    /// The same model, learned under `gravity` (m/s²).
    pub fn with_gravity(mut self, gravity: [f32; 3]) -> LearnedModel {
        self.sidecar.gravity = gravity;
        self
    }

    /// The gravity the model learned under, m/s².
    pub fn gravity(&self) -> [f32; 3] {
        self.sidecar.gravity
    }

    /// The same model forecasting without the static projection: what the network alone
    /// does (`eval --no-static-hold`, `bench predict --no-static-hold`).
    pub fn without_static_hold(mut self) -> LearnedModel {
        self.rules.hold_statics = false;
        self
    }

    /// The same model with the network's output used also on bodies that only their
    /// joints hold (`eval --network-on-joints`): how forecasts were made before
    /// [`Rules::joints_alone`].
    pub fn with_network_on_joints(mut self) -> LearnedModel {
        self.rules.joints_alone = false;
        self
    }

    /// The same model forecasting through a snapshot of its current weights
    /// ([`FrozenNet`]: the same arithmetic without candle's per-operation tensors, about
    /// 1.6× faster on the pile's graphs). Training of the network after this call does
    /// not reach the snapshot.
    pub fn frozen(mut self) -> Result<LearnedModel, ModelError> {
        self.frozen = Some(FrozenNet::from_net(&self.net)?);
        Ok(self)
    }

    /// The network. A clone of it shares its weights; a model made [`LearnedModel::frozen`]
    /// keeps forecasting with the weights it had then, whatever later happens to them.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// The configuration.
    pub fn config(&self) -> &FeatureConfig {
        self.net.config()
    }

    /// Normalized graph for a state.
    pub fn normalized_graph(
        &self,
        ctx: &Context,
        state: &[BodyState],
        past: &[Vec<[f32; 3]>],
        kicks: &[([f32; 3], [f32; 3])],
        awake: Option<&[bool]>,
    ) -> Graph {
        let mut g = build_graph(ctx, self.config(), state, past, kicks, awake);
        self.stats.apply(&mut g);
        g
    }

    /// Every body's residual velocities for one learned step: `step_ticks ×`
    /// [`crate::features::OUTPUTS_PER_TICK`] values per body (see [`crate::step`]).
    pub fn residuals(
        &self,
        ctx: &Context,
        state: &[BodyState],
        past: &[Vec<[f32; 3]>],
        kicks: &[([f32; 3], [f32; 3])],
        awake: Option<&[bool]>,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let g = self.normalized_graph(ctx, state, past, kicks, awake);
        Ok(self
            .residuals_of(vec![g], self.rules)?
            .pop()
            .unwrap_or_default())
    }

    /// [`LearnedModel::residuals`] of several normalized graphs in one forward pass (the
    /// graphs are concatenated): one list of per-body residuals per graph, zero for a
    /// body that receives no edge and, under [`Rules::joints_alone`], for one that
    /// receives no contact edge that can move it (an edge from a body it is jointed to
    /// does not count, nor, for a body jointed to the world, a static out of reach or at
    /// its joint: [`crate::features::Graph::touching`]).
    pub fn residuals_of(
        &self,
        graphs: Vec<Graph>,
        rules: Rules,
    ) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
        let width = outputs(self.config());
        let sizes: Vec<usize> = graphs.iter().map(|g| g.nodes).collect();
        // One graph (a single forecast) is used as it is; several are joined.
        let all = match <[Graph; 1]>::try_from(graphs) {
            Ok([one]) => one,
            Err(graphs) => {
                let mut all = Graph::default();
                for g in &graphs {
                    all.append(g);
                }
                all
            }
        };
        let rows: Vec<Vec<f32>> = if all.edges() == 0 {
            vec![vec![0.0; width]; all.nodes]
        } else {
            let out = match &self.frozen {
                Some(f) => f.forward(&all),
                None => self.net.forward(&all)?.flatten_all()?.to_vec1::<f32>()?,
            };
            out.chunks_exact(width)
                .zip(&all.active)
                .zip(&all.touching)
                .map(|((row, &on), &touch)| {
                    if on == 0.0 || (rules.joints_alone && touch == 0.0) {
                        return vec![0.0; width];
                    }
                    let mut r = row.to_vec();
                    self.stats.target.invert(&mut r);
                    r
                })
                .collect()
        };
        let mut rows = rows.into_iter();
        Ok(sizes
            .iter()
            .map(|&n| rows.by_ref().take(n).collect())
            .collect())
    }

    /// Writes the weights and the sidecar beside them.
    pub fn save(&mut self, weights: &Path) -> Result<(), ModelError> {
        let file = weights.display().to_string();
        let io = |reason: String| ModelError::Io {
            file: file.clone(),
            reason,
        };
        let tmp = weights.with_extension("safetensors.partial");
        candle_core::safetensors::save(&self.net.tensors(), &tmp)
            .map_err(|e| io(format!("cannot write weights: {e}")))?;
        let bytes =
            std::fs::read(&tmp).map_err(|e| io(format!("cannot read back weights: {e}")))?;
        std::fs::rename(&tmp, weights).map_err(|e| io(format!("cannot write weights: {e}")))?;
        self.sidecar.weights_file = weights
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.sidecar.weights_bytes = bytes.len() as u64;
        self.sidecar.weights_checksum = format!("{:016x}", fnv1a(&bytes));
        let json = serde_json::to_string_pretty(&self.sidecar).map_err(|e| io(e.to_string()))?;
        let side = sidecar_path(weights);
        std::fs::write(&side, json + "\n").map_err(|e| ModelError::Io {
            file: side.display().to_string(),
            reason: format!("cannot write sidecar: {e}"),
        })
    }

    /// Loads and checks a model: sidecar format and version, weights size and checksum,
    /// and every tensor's name and shape.
    pub fn load(weights: &Path) -> Result<LearnedModel, ModelError> {
        let side = sidecar_path(weights);
        let side_name = side.display().to_string();
        let sidecar_err = |reason: String| ModelError::Sidecar {
            file: side_name.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&side)
            .map_err(|e| sidecar_err(format!("cannot read the model sidecar: {e}")))?;
        #[derive(Deserialize)]
        struct Head {
            format: String,
            format_version: u32,
        }
        let head: Head = serde_json::from_str(&text)
            .map_err(|e| sidecar_err(format!("not a model sidecar ({e})")))?;
        if head.format != FORMAT_NAME {
            return Err(sidecar_err(format!(
                "format is {:?}, not {FORMAT_NAME:?}",
                head.format
            )));
        }
        if head.format_version != MODEL_FORMAT_VERSION {
            return Err(sidecar_err(format!(
                "model format version {}, this build reads version {MODEL_FORMAT_VERSION}",
                head.format_version
            )));
        }
        let sidecar: Sidecar = serde_json::from_str(&text)
            .map_err(|e| sidecar_err(format!("sidecar fields are wrong ({e})")))?;
        let cfg = sidecar.features;
        if sidecar.node_features != NODE_FEATURES
            || sidecar.edge_features != EDGE_FEATURES
            || sidecar.layout != layout_fingerprint()
        {
            return Err(sidecar_err(format!(
                "model was made for feature layout {} ({} node, {} edge features), this build uses {} ({NODE_FEATURES}, {EDGE_FEATURES}); retrain it with `foresight train`",
                sidecar.layout,
                sidecar.node_features,
                sidecar.edge_features,
                layout_fingerprint()
            )));
        }
        // One set of limits for training and loading.
        let sizes = cfg.check();
        let sizes_ok = sizes.is_ok();
        let out = if sizes_ok { outputs(&cfg) } else { 0 };
        let stats = &sidecar.stats;
        let usable = |n: &Normalizer| {
            n.mean.iter().all(|x| x.is_finite()) && n.std.iter().all(|x| x.is_finite() && *x > 0.0)
        };
        let stats_ok = usable(&stats.node)
            && usable(&stats.edge)
            && usable(&stats.target)
            && sidecar.stats.node.mean.len() == NODE_FEATURES
            && sidecar.stats.node.std.len() == NODE_FEATURES
            && sidecar.stats.edge.mean.len() == EDGE_FEATURES
            && sidecar.stats.edge.std.len() == EDGE_FEATURES
            && sidecar.stats.target.mean.len() == out
            && sidecar.stats.target.std.len() == out;
        if !(sidecar.tick.is_finite() && sidecar.tick > 0.0) {
            return Err(sidecar_err(format!(
                "tick is {} s; it must be the positive time step the model was trained at (1/60 for the shipped data)",
                sidecar.tick
            )));
        }
        if !(sidecar.gravity.iter().all(|g| g.is_finite())
            && Vector::from_array(sidecar.gravity).length() > 0.0)
        {
            return Err(sidecar_err(format!(
                "gravity is {:?} m/s²; it must be the gravity the model was trained under, not zero ((0, -9.81, 0) for the shipped data)",
                sidecar.gravity
            )));
        }
        let [lo, hi] = sidecar.sizes;
        if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi) {
            return Err(sidecar_err(format!(
                "sizes are {:?} m; they must be the smallest and largest scene sizes the model was trained on, positive, smallest first ([{}, {}] for the shipped data)",
                sidecar.sizes, MODEL_SIZES.0, MODEL_SIZES.1
            )));
        }
        if let Err(e) = sizes {
            return Err(sidecar_err(format!("network sizes are out of range ({e})")));
        }
        if !stats_ok {
            return Err(sidecar_err(
                "normalization statistics are out of range".into(),
            ));
        }
        let file = weights.display().to_string();
        let werr = |reason: String| ModelError::Weights {
            file: file.clone(),
            reason,
        };
        let bytes = std::fs::read(weights).map_err(|e| ModelError::Io {
            file: file.clone(),
            reason: format!("cannot read weights: {e}"),
        })?;
        if bytes.len() as u64 != sidecar.weights_bytes {
            return Err(werr(format!(
                "file is {} bytes, the sidecar says {} (truncated or replaced)",
                bytes.len(),
                sidecar.weights_bytes
            )));
        }
        let sum = format!("{:016x}", fnv1a(&bytes));
        if sum != sidecar.weights_checksum {
            return Err(werr(format!(
                "checksum {sum} does not match the sidecar's {} (corrupt)",
                sidecar.weights_checksum
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu)
            .map_err(|e| werr(format!("not a safetensors file ({e})")))?;
        for (name, shape) in parameter_shapes(&cfg) {
            match tensors.get(&name) {
                None => return Err(werr(format!("tensor {name} is missing"))),
                Some(t) if t.dims() != shape.as_slice() => {
                    return Err(werr(format!(
                        "tensor {name} has shape {:?}, expected {shape:?}",
                        t.dims()
                    )));
                }
                Some(t) => {
                    let values = t
                        .flatten_all()
                        .and_then(|v| v.to_dtype(candle_core::DType::F32))
                        .and_then(|v| v.to_vec1::<f32>())
                        .map_err(|e| werr(format!("tensor {name} cannot be read ({e})")))?;
                    if values.iter().any(|x| !x.is_finite()) {
                        return Err(werr(format!("tensor {name} holds non-finite values")));
                    }
                }
            }
        }
        let net = Net::from_tensors(&cfg, &tensors).map_err(|e| werr(e.to_string()))?;
        let frozen = FrozenNet::from_net(&net).map_err(|e| werr(e.to_string()))?;
        Ok(LearnedModel {
            net,
            frozen: Some(frozen),
            stats: sidecar.stats.clone(),
            rules: Rules::FORECAST,
            sidecar,
        })
    }
}

impl Predictor for LearnedModel {
    fn name(&self) -> &str {
        "learned"
    }

    fn rollout(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<Forecast, ModelError> {
        Ok(self.rollout_guarded(ctx, history, actions, horizon)?.0)
    }

    fn rollout_guarded(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<(Forecast, Guards), ModelError> {
        let mut out = self.forecast_all(ctx, history, &[actions.to_vec()], horizon)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// All candidates advance together: each learned step is one forward pass over the
    /// concatenated graphs of every candidate.
    fn rollout_batch(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        action_sets: &[Vec<Push>],
        horizon: usize,
    ) -> Result<Vec<Forecast>, ModelError> {
        let out = self.forecast_all(ctx, history, action_sets, horizon)?;
        Ok(out.into_iter().map(|(f, _)| f).collect())
    }
}

/// Runs `f` in a one-thread pool of the calling thread's own. One forecast's matrices are
/// small: candle's multi-threaded matmul (the path of models that are not frozen:
/// training's own, untrained ones) spends more on handing work between threads than on
/// arithmetic (parallel callers stay parallel).
fn on_one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    thread_local! {
        static POOL: Option<rayon::ThreadPool> = rayon::ThreadPoolBuilder::new().num_threads(1).build().ok();
    }
    POOL.with(|pool| match pool {
        Some(p) => p.install(f),
        None => f(),
    })
}

/// One candidate's rollout in progress.
struct Branch<'a> {
    actions: &'a [Push],
    hist: Vec<Vec<BodyState>>,
    state: Vec<BodyState>,
    sleep: Sleep,
    out: Forecast,
    guards: Guards,
}

impl LearnedModel {
    /// Frames of history a forecast looks at: the velocity history at learned-step
    /// spacing, and enough to see who has been still long enough to sleep.
    fn history_needed(&self) -> usize {
        (HISTORY * self.config().step_ticks).max(SLEEP_TICKS as usize) + 1
    }

    /// Every action set's forecast from a recorded history, with its guards: the checks,
    /// the finite differences and the one-thread pool [`Predictor::rollout_guarded`] and
    /// [`Predictor::rollout_batch`] share.
    fn forecast_all(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        action_sets: &[Vec<Push>],
        horizon: usize,
    ) -> Result<Vec<(Forecast, Guards)>, ModelError> {
        for actions in action_sets {
            check_request(ctx, history, actions)?;
        }
        let tick = self.tick();
        let clock = Clock::for_scene(
            ctx.dt,
            ctx.gravity,
            &ctx.bodies,
            tick,
            self.gravity(),
            self.sizes(),
        );
        if !clock.is_model_time() {
            // Forecast on the model's own clock, read back on the scene's.
            let on_model_clock = clock.context(ctx);
            let recent = clock.history(history, self.history_needed());
            let hist = finite_difference_history(&recent, tick, on_model_clock.gravity);
            let now = hist[hist.len() - 1].clone();
            let sets: Vec<Vec<Push>> = action_sets.iter().map(|a| clock.pushes(a)).collect();
            let ticks = clock.ticks_to_cover(horizon);
            let out = on_one_thread(|| {
                let out = self.rollout_here(&on_model_clock, hist, &sets, ticks, self.rules);
                (out, PhaseTimes::take())
            });
            PhaseTimes::record(out.1);
            let out = out.0?;
            return Ok(out
                .into_iter()
                .map(|(f, g)| {
                    (
                        clock.read(&now, &f, horizon),
                        clock.guards(g, horizon * ctx.len()),
                    )
                })
                .collect());
        }
        let recent = &history[history.len().saturating_sub(self.history_needed())..];
        let hist = finite_difference_history(recent, ctx.dt, ctx.gravity);
        // The steps' times are kept on the pool's thread; they are handed to the caller's.
        let (out, times) = on_one_thread(|| {
            let out = self.rollout_here(ctx, hist, action_sets, horizon, self.rules);
            (out, PhaseTimes::take())
        });
        PhaseTimes::record(times);
        out
    }

    /// [`Predictor::rollout`] from a history whose velocities are finite differences
    /// already ([`finite_difference_history`] of a trajectory: training's episodes),
    /// under [`Rules::TRAINING`], with `joints_alone` as the training's loss has it:
    /// training's pushforward forecasts.
    pub(crate) fn rollout_differenced(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
        joints_alone: bool,
    ) -> Result<Forecast, ModelError> {
        let rules = Rules {
            joints_alone,
            ..Rules::TRAINING
        };
        check_request(ctx, history, actions)?;
        let hist = history[history.len().saturating_sub(self.history_needed())..].to_vec();
        let actions = [actions.to_vec()];
        // Training's forecasts are not timed: their step times are dropped on the pool's
        // thread, so they never reach a later benchmark's figures.
        let mut out = on_one_thread(|| {
            let out = self.rollout_here(ctx, hist, &actions, horizon, rules);
            PhaseTimes::take();
            out
        })?;
        Ok(out.pop().unwrap_or_default().0)
    }

    /// Rolls every action set forward from `hist`, the recent history with finite-difference
    /// velocities, most recent last, under `rules` (training's own forecasts go without
    /// them, so the network learns from its own steps as they are).
    fn rollout_here(
        &self,
        ctx: &Context,
        mut hist: Vec<Vec<BodyState>>,
        action_sets: &[Vec<Push>],
        horizon: usize,
        rules: Rules,
    ) -> Result<Vec<(Forecast, Guards)>, ModelError> {
        let k = self.config().step_ticks;
        let n = ctx.len();
        // Velocity history at learned-step spacing.
        let keep = (HISTORY * k).max(1);
        let sleep = Sleep::from_history(ctx, &hist);
        if hist.len() > keep {
            hist.drain(..hist.len() - keep);
        }
        let mut branches: Vec<Branch> = action_sets
            .iter()
            .map(|actions| Branch {
                actions,
                state: hist[hist.len() - 1].clone(),
                sleep: sleep.clone(),
                hist: hist.clone(),
                out: Vec::with_capacity(horizon),
                guards: Guards::default(),
            })
            .collect();
        let mut tick = 0u64;
        while (tick as usize) < horizon {
            let started = Instant::now();
            // Pushes landing during this step: applied exactly at their tick, and shown to the network.
            let mut graphs = Vec::with_capacity(branches.len());
            let mut step = Vec::with_capacity(branches.len());
            for b in &mut branches {
                let kicks = step_kicks(ctx, &b.state, b.actions, tick, k);
                for p in b
                    .actions
                    .iter()
                    .filter(|p| p.tick >= tick && p.tick < tick + k as u64)
                {
                    b.sleep.wake(p.body);
                }
                let step_kick = total_kicks(&kicks);
                b.sleep
                    .wake_near_movers(ctx, &b.state, &step_kick, self.config());
                let past = past_velocities(&b.hist, k);
                let awake = b.sleep.awake();
                graphs.push(self.normalized_graph(ctx, &b.state, &past, &step_kick, Some(&awake)));
                step.push((kicks, awake));
            }
            let built = Instant::now();
            let edges = graphs.iter().map(Graph::edges).sum();
            let residuals = self.residuals_of(graphs, rules)?;
            let decoded = Instant::now();
            for ((b, (kicks, awake)), residual) in branches.iter_mut().zip(step).zip(residuals) {
                for j in 0..k {
                    let mut next: Vec<BodyState> = (0..n)
                        .map(|i| {
                            if awake[i] {
                                advance(ctx, &b.state[i], j, &kicks[i], &residual[i])
                            } else {
                                BodyState {
                                    velocity: [0.0; 3],
                                    angular_velocity: [0.0; 3],
                                    ..b.state[i]
                                }
                            }
                        })
                        .collect();
                    let held = if rules.hold_statics {
                        project_statics(ctx, &mut next, &awake)
                    } else {
                        Guards::default()
                    };
                    project_joints(ctx, &mut next);
                    b.sleep.update(&next, &awake);
                    b.hist.push(next.clone());
                    if b.out.len() < horizon {
                        b.out.push(next.clone());
                        b.guards.merge(&held);
                    }
                    b.state = next;
                }
                if b.hist.len() > keep + k {
                    b.hist.drain(..b.hist.len() - keep);
                }
            }
            PhaseTimes::record(PhaseTimes {
                graphs: built - started,
                network: decoded - built,
                stepping: decoded.elapsed(),
                steps: 1,
                edges,
            });
            tick += k as u64;
        }
        Ok(branches.into_iter().map(|b| (b.out, b.guards)).collect())
    }
}

/// Where forecasts' time went, and how many edges the network saw, summed over the
/// learned steps of every forecast this thread asked for since its last
/// [`PhaseTimes::take`]: what `bench predict` breaks its figure into.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// Pushes, waking and building the step's graphs (contacts, features, normalization).
    pub graphs: Duration,
    /// The network's forward pass and its outputs' scaling back.
    pub network: Duration,
    /// Integrating the step's ticks: pushes, the static hold, joints and sleep.
    pub stepping: Duration,
    /// Learned steps (of every branch at once, for a batch of forecasts).
    pub steps: usize,
    /// Edges the network computed, over those steps.
    pub edges: usize,
}

thread_local! {
    static PHASES: Cell<PhaseTimes> = Cell::new(PhaseTimes::default());
}

impl PhaseTimes {
    /// Adds `more` to this thread's sums.
    fn record(more: PhaseTimes) {
        PHASES.with(|p| {
            let t = p.get();
            p.set(PhaseTimes {
                graphs: t.graphs + more.graphs,
                network: t.network + more.network,
                stepping: t.stepping + more.stepping,
                steps: t.steps + more.steps,
                edges: t.edges + more.edges,
            })
        });
    }

    /// This thread's sums since the last call, set back to zero.
    pub fn take() -> PhaseTimes {
        PHASES.with(|p| p.take())
    }
}

pub use crate::joints::project_joints;
pub use crate::statics::project_statics;

/// Bodies that have been still for this many ticks stop being computed, as in the simulator.
pub const SLEEP_TICKS: u32 = 30;
const SLEEP_SPEED: f32 = 0.05;
const SLEEP_SPIN: f32 = 0.2;
const WAKE_SPEED: f32 = 0.1;
/// Bodies whose shapes are this close (m) count as touching when waking.
const TOUCH_SLACK: f32 = 0.01;

/// Sleeping, as rapier does it: a body still for [`SLEEP_TICKS`] is frozen and costs
/// nothing until a push or a moving neighbour wakes it. Bodies joined to each other sleep
/// and wake together (an island, as rapier's): a chain sleeps only when every link has
/// been still that long, and one link woken wakes the chain.
#[derive(Clone)]
struct Sleep {
    still: Vec<u32>,
    /// Each body's island: the lowest index among the bodies its joints connect it to.
    island: Vec<usize>,
    /// Bodies woken since the last [`Sleep::wake_near_movers`].
    fresh: Vec<usize>,
}

impl Sleep {
    fn is_still(s: &BodyState) -> bool {
        let v: f32 = s.velocity.iter().map(|x| x * x).sum();
        let w: f32 = s.angular_velocity.iter().map(|x| x * x).sum();
        v < SLEEP_SPEED * SLEEP_SPEED && w < SLEEP_SPIN * SLEEP_SPIN
    }

    fn from_history(ctx: &Context, history: &[Vec<BodyState>]) -> Sleep {
        let n = ctx.len();
        // Union of the bodies each joint joins (a joint to the world joins none).
        let mut island: Vec<usize> = (0..n).collect();
        fn root(island: &mut [usize], mut i: usize) -> usize {
            while island[i] != i {
                island[i] = island[island[i]];
                i = island[i];
            }
            i
        }
        for j in &ctx.joints {
            if let Some(b) = j.b {
                let (ra, rb) = (root(&mut island, j.a), root(&mut island, b));
                island[ra.max(rb)] = ra.min(rb);
            }
        }
        let island = (0..n).map(|i| root(&mut island, i)).collect();
        let still = (0..n)
            .map(|i| {
                history
                    .iter()
                    .rev()
                    .take(SLEEP_TICKS as usize)
                    .take_while(|f| Self::is_still(&f[i]))
                    .count() as u32
            })
            .collect();
        Sleep {
            still,
            island,
            fresh: Vec::new(),
        }
    }

    /// Whether each body is computed this step: its island has a body still for less
    /// than [`SLEEP_TICKS`].
    fn awake(&self) -> Vec<bool> {
        let mut island_awake = vec![false; self.still.len()];
        for (s, r) in self.still.iter().zip(&self.island) {
            if *s < SLEEP_TICKS {
                island_awake[*r] = true;
            }
        }
        self.island.iter().map(|r| island_awake[*r]).collect()
    }

    /// Wakes body `i` (a push lands on it); the next [`Sleep::wake_near_movers`] wakes
    /// what it touches.
    fn wake(&mut self, i: usize) {
        self.still[i] = 0;
        self.fresh.push(i);
    }

    /// Wakes sleeping bodies that a moving body (with this step's push kicks) can reach
    /// within the step, and then, from every body woken since the last call (by a push or
    /// by a mover), its joint island and what touches it, transitively.
    fn wake_near_movers(
        &mut self,
        ctx: &Context,
        state: &[BodyState],
        kicks: &[([f32; 3], [f32; 3])],
        cfg: &FeatureConfig,
    ) {
        let awake = self.awake();
        let mut queue = std::mem::take(&mut self.fresh);
        if awake.iter().all(|a| *a) {
            return;
        }
        let reach = cfg.step_ticks as f32 * ctx.dt;
        let centres: Vec<Vector> = state
            .iter()
            .map(|s| Vector::from_array(s.position))
            .collect();
        // Candidates within each mover's reach: every body's bounding sphere in a
        // [`Neighbours`] (sorted on first need), queried with the mover's reach.
        let mut bodies: Option<Neighbours> = None;
        for j in 0..state.len() {
            let vj: f32 = (0..3)
                .map(|c| (state[j].velocity[c] + kicks[j].0[c]).powi(2))
                .sum::<f32>()
                .sqrt();
            if !awake[j] || vj < WAKE_SPEED {
                continue;
            }
            let near = bodies
                .get_or_insert_with(|| Neighbours::new(&centres, &ctx.radii))
                .near(centres[j], ctx.radii[j] + cfg.radius + vj * reach);
            for i in near {
                if awake[i] || self.still[i] == 0 {
                    continue;
                }
                let d: f32 = (0..3)
                    .map(|c| (state[i].position[c] - state[j].position[c]).powi(2))
                    .sum::<f32>()
                    .sqrt();
                if d - ctx.radii[i] - ctx.radii[j] < cfg.radius + vj * reach {
                    self.still[i] = 0;
                    queue.push(i);
                }
            }
        }
        // As rapier wakes an island whole: a body woken (by a push or a mover) wakes its
        // joint partners and the sleeping bodies whose shapes come within [`TOUCH_SLACK`]
        // of its own, and they theirs. A row of hanging balls struck at one end moves as
        // one this step, not one ball a step later than the last. Partners are passed
        // through even when their island is already awake (a pushed body's partner wakes
        // what it touches too).
        let mut seen = vec![false; state.len()];
        for &i in &queue {
            seen[i] = true;
        }
        while let Some(i) = queue.pop() {
            let near = bodies
                .get_or_insert_with(|| Neighbours::new(&centres, &ctx.radii))
                .near(centres[i], ctx.radii[i] + TOUCH_SLACK);
            let touching = near.into_iter().filter(|&k| {
                !awake[k]
                    && self.still[k] != 0
                    && k != i
                    && ctx
                        .body_contact(i, &state[i], k, &state[k], TOUCH_SLACK)
                        .is_some()
            });
            let partners = (0..state.len()).filter(|&k| self.island[k] == self.island[i]);
            let next: Vec<usize> = touching.chain(partners).collect();
            for k in next {
                if !seen[k] {
                    seen[k] = true;
                    if !awake[k] {
                        self.still[k] = 0;
                    }
                    queue.push(k);
                }
            }
        }
    }

    /// Counts the ticks each body computed this step (`awake`) has been still, up to
    /// [`SLEEP_TICKS`]; a body asleep keeps its count.
    fn update(&mut self, state: &[BodyState], awake: &[bool]) {
        for (i, s) in state.iter().enumerate() {
            if awake[i] {
                self.still[i] = if Self::is_still(s) {
                    (self.still[i] + 1).min(SLEEP_TICKS)
                } else {
                    0
                };
            }
        }
    }
}

//! The graph network in candle, as in GNS: node and edge encoders, rounds of message
//! passing with residual edge and node updates (one batched matmul per MLP layer,
//! messages summed per receiver with `index_add`, LayerNorm after every MLP but the
//! decoder), and two decoders to normalized residual velocities: angular ones per node
//! (zero for nodes that receive no edge) and linear ones per edge, as coefficients of
//! the edge's contact frame summed over the edges a body receives. Parameters are created from a seeded RNG so the
//! same seed always gives the same initial (and so trained) network.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor, Var};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::features::{BASIS, EDGE_FEATURES, FeatureConfig, Graph, NODE_FEATURES, outputs};

/// Per-feature mean and standard deviation used to normalize inputs or outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Means.
    pub mean: Vec<f32>,
    /// Standard deviations (never below a small floor).
    pub std: Vec<f32>,
}

impl Normalizer {
    /// The identity normalization of `n` features.
    pub fn identity(n: usize) -> Normalizer {
        Normalizer {
            mean: vec![0.0; n],
            std: vec![1.0; n],
        }
    }

    /// Statistics of rows of `width` values.
    pub fn fit(rows: &[f32], width: usize) -> Normalizer {
        let n = (rows.len() / width).max(1) as f64;
        let mut mean = vec![0.0f64; width];
        let mut sq = vec![0.0f64; width];
        for row in rows.chunks_exact(width) {
            for (k, x) in row.iter().enumerate() {
                mean[k] += f64::from(*x);
                sq[k] += f64::from(*x) * f64::from(*x);
            }
        }
        let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n - m * m).max(0.0).sqrt() as f32).max(1e-3))
            .collect();
        Normalizer {
            mean: mean.iter().map(|m| *m as f32).collect(),
            std,
        }
    }

    /// Normalizes rows in place.
    pub fn apply(&self, rows: &mut [f32]) {
        let w = self.mean.len();
        for row in rows.chunks_exact_mut(w) {
            for ((x, m), sd) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / sd;
            }
        }
    }

    /// Undoes the normalization of one row.
    pub fn invert(&self, row: &mut [f32]) {
        for k in 0..row.len().min(self.mean.len()) {
            row[k] = row[k] * self.std[k] + self.mean[k];
        }
    }
}

/// Normalization of node inputs, edge inputs and targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Node features.
    pub node: Normalizer,
    /// Edge features.
    pub edge: Normalizer,
    /// Targets (residual linear acceleration, angular acceleration).
    pub target: Normalizer,
}

impl Stats {
    /// Normalizes a graph in place: node and edge features, and every contact-frame vector
    /// but the unit normal (the tangential ones and the in-plane lever; in units of the
    /// linear target scale, so decoded coefficients are of order one).
    pub fn apply(&self, g: &mut Graph) {
        self.node.apply(&mut g.node_features);
        self.edge.apply(&mut g.edge_features);
        let scale = self.target.std.first().copied().unwrap_or(1.0).max(1e-6);
        for frame in g
            .edge_basis
            .chunks_exact_mut(BASIS)
            .chain(g.edge_torque.chunks_exact_mut(BASIS))
        {
            for x in &mut frame[3..] {
                *x /= scale;
            }
        }
    }
}

/// A stack of linear layers with ReLU between them, optionally followed by LayerNorm.
#[derive(Clone)]
struct Mlp {
    layers: Vec<(Var, Var)>,
    norm: Option<(Var, Var)>,
}

/// LayerNorm over the last dimension with learned gain and bias.
fn layer_norm(x: &Tensor, gain: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred
        .broadcast_div(&(var + 1e-5)?.sqrt()?)?
        .broadcast_mul(gain)?
        .broadcast_add(bias)
}

impl Mlp {
    /// Applies the layers after the first one's pre-activation `x` has been computed.
    fn finish(&self, mut x: Tensor) -> candle_core::Result<Tensor> {
        for (w, b) in &self.layers[1..] {
            x = x.relu()?.matmul(&w.t()?)?.broadcast_add(b)?;
        }
        match &self.norm {
            Some((g, b)) => layer_norm(&x, g.as_tensor(), b.as_tensor()),
            None => Ok(x),
        }
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (w, b) = &self.layers[0];
        self.finish(x.matmul(&w.t()?)?.broadcast_add(b)?)
    }
}

/// One MLP of the network: its name, layer sizes and whether LayerNorm follows it.
pub struct MlpPlan {
    /// Parameter name prefix.
    pub name: String,
    /// Input, hidden and output sizes.
    pub sizes: Vec<usize>,
    /// LayerNorm after the last layer.
    pub norm: bool,
}

/// The network's layer plan: node and edge encoders, `passes` rounds of edge and node
/// updates, and a decoder to every tick's residual velocities.
pub fn layer_plan(cfg: &FeatureConfig) -> Vec<MlpPlan> {
    let h = cfg.hidden;
    let plan = |name: String, sizes: Vec<usize>, norm: bool| MlpPlan { name, sizes, norm };
    let mut out = vec![
        plan("enc_node".into(), vec![NODE_FEATURES, h, h], true),
        plan("enc_edge".into(), vec![EDGE_FEATURES, h, h], true),
    ];
    for p in 0..cfg.passes {
        out.push(plan(format!("edge{p}"), vec![3 * h, h, h], true));
        out.push(plan(format!("node{p}"), vec![2 * h, h, h], true));
    }
    // Angular residuals per node; linear residuals per edge, as coefficients of its
    // contact frame (normal, tangential velocity, tangential gravity, and the in-plane lever
    // with `lever_frame`) for every tick, and
    // with `edge_torque` angular ones too, as coefficients of that frame's turn axes.
    let per_edge = cfg.frame_vectors() * if cfg.edge_torque { 2 } else { 1 };
    out.push(plan("dec".into(), vec![h, h, 3 * cfg.step_ticks], false));
    out.push(plan(
        "dec_edge".into(),
        vec![h, h, per_edge * cfg.step_ticks],
        false,
    ));
    out
}

/// Every parameter's name and shape, in a fixed order.
pub fn parameter_shapes(cfg: &FeatureConfig) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for m in layer_plan(cfg) {
        for (k, pair) in m.sizes.windows(2).enumerate() {
            out.push((format!("{}.{k}.w", m.name), vec![pair[1], pair[0]]));
            out.push((format!("{}.{k}.b", m.name), vec![pair[1]]));
        }
        if m.norm {
            let last = m.sizes[m.sizes.len() - 1];
            out.push((format!("{}.norm.g", m.name), vec![last]));
            out.push((format!("{}.norm.b", m.name), vec![last]));
        }
    }
    out
}

/// The graph network. A clone shares the weights (candle variables are shared storage):
/// training reads the network being trained through one.
#[derive(Clone)]
pub struct Net {
    cfg: FeatureConfig,
    mlps: Vec<Mlp>,
    vars: Vec<(String, Var)>,
    device: Device,
}

impl Net {
    /// A freshly initialized network (uniform fan-in scaling, seeded; the decoder's last
    /// layer starts small so a new network predicts nearly no residual).
    pub fn new(cfg: &FeatureConfig, seed: u64) -> candle_core::Result<Net> {
        let device = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut tensors = HashMap::new();
        let dec_last = ["dec.1.w", "dec_edge.1.w"];
        for (name, shape) in parameter_shapes(cfg) {
            let count: usize = shape.iter().product();
            let values: Vec<f32> = if name.ends_with(".norm.g") {
                vec![1.0; count]
            } else if name.ends_with(".b") {
                vec![0.0; count]
            } else {
                let bound = (3.0 / shape[1] as f32).sqrt();
                let scale = if dec_last.contains(&name.as_str()) {
                    0.1
                } else {
                    1.0
                };
                (0..count)
                    .map(|_| rng.random_range(-bound..bound) * scale)
                    .collect()
            };
            tensors.insert(name, Tensor::from_vec(values, shape, &device)?);
        }
        Net::from_tensors(cfg, &tensors)
    }

    /// Builds a network from named tensors (as loaded from safetensors).
    pub fn from_tensors(
        cfg: &FeatureConfig,
        tensors: &HashMap<String, Tensor>,
    ) -> candle_core::Result<Net> {
        let device = Device::Cpu;
        let mut vars = Vec::new();
        let mut get = |key: String| -> candle_core::Result<Var> {
            let t = tensors
                .get(&key)
                .ok_or_else(|| candle_core::Error::Msg(format!("missing tensor {key}")))?;
            let v = Var::from_tensor(&t.to_dtype(DType::F32)?)?;
            vars.push((key, v.clone()));
            Ok(v)
        };
        let mut mlps = Vec::new();
        for m in layer_plan(cfg) {
            let mut layers = Vec::new();
            for k in 0..m.sizes.len() - 1 {
                let w = get(format!("{}.{k}.w", m.name))?;
                let b = get(format!("{}.{k}.b", m.name))?;
                layers.push((w, b));
            }
            let norm = if m.norm {
                Some((
                    get(format!("{}.norm.g", m.name))?,
                    get(format!("{}.norm.b", m.name))?,
                ))
            } else {
                None
            };
            mlps.push(Mlp { layers, norm });
        }
        Ok(Net {
            cfg: *cfg,
            mlps,
            vars,
            device,
        })
    }

    /// Every MLP's layers as (weight `outputs × inputs`, bias) and its LayerNorm (gain,
    /// bias) if it has one, in [`layer_plan`] order.
    #[allow(clippy::type_complexity)]
    pub(crate) fn mlp_tensors(
        &self,
    ) -> impl Iterator<Item = (Vec<(&Tensor, &Tensor)>, Option<(&Tensor, &Tensor)>)> {
        self.mlps.iter().map(|m| {
            (
                m.layers
                    .iter()
                    .map(|(w, b)| (w.as_tensor(), b.as_tensor()))
                    .collect(),
                m.norm.as_ref().map(|(g, b)| (g.as_tensor(), b.as_tensor())),
            )
        })
    }

    /// The trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        self.vars.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Named parameter tensors, for saving.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// The feature configuration.
    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Normalized outputs for a graph whose features are already normalized: a
    /// `nodes × outputs` tensor, zero for every inactive node.
    pub fn forward(&self, g: &Graph) -> candle_core::Result<Tensor> {
        let d = &self.device;
        let out = outputs(&self.cfg);
        if g.edges() == 0 {
            return Tensor::zeros((g.nodes, out), DType::F32, d);
        }
        let hidden = self.cfg.hidden;
        let x = Tensor::from_slice(&g.node_features, (g.nodes, NODE_FEATURES), d)?;
        let e = Tensor::from_slice(&g.edge_features, (g.edges(), EDGE_FEATURES), d)?;
        let send = Tensor::from_slice(&g.senders, g.edges(), d)?;
        let recv = Tensor::from_slice(&g.receivers, g.edges(), d)?;
        let mut h = self.mlps[0].forward(&x)?;
        let mut e = self.mlps[1].forward(&e)?;
        for p in 0..self.cfg.passes {
            let (edge_mlp, node_mlp) = (&self.mlps[2 + 2 * p], &self.mlps[3 + 2 * p]);
            // First edge layer split by input block: W·[e, h_r, h_s] = W_e·e + (W_r·h)[r] + (W_s·h)[s],
            // so per-edge work sees `hidden` inputs instead of 3·hidden.
            let (w0, b0) = &edge_mlp.layers[0];
            let w0 = w0.as_tensor();
            let we = w0.narrow(1, 0, hidden)?;
            let wr = w0.narrow(1, hidden, hidden)?;
            let ws = w0.narrow(1, 2 * hidden, hidden)?;
            let hr = h.matmul(&wr.t()?)?.index_select(&recv, 0)?;
            let hs = h.matmul(&ws.t()?)?.index_select(&send, 0)?;
            let pre = ((e.matmul(&we.t()?)? + hr)? + hs)?.broadcast_add(b0)?;
            e = (&e + edge_mlp.finish(pre)?)?;
            let agg = Tensor::zeros((g.nodes, hidden), DType::F32, d)?.index_add(&recv, &e, 0)?;
            h = (&h + node_mlp.forward(&Tensor::cat(&[&h, &agg], D::Minus1)?)?)?;
        }
        let k = self.cfg.step_ticks;
        let n_mlps = self.mlps.len();
        let active = Tensor::from_slice(&g.active, (g.nodes, 1), d)?;
        let angular = self.mlps[n_mlps - 2]
            .forward(&h)?
            .broadcast_mul(&active)?
            .reshape((g.nodes, k, 3))?;
        let per_edge_outputs = if self.cfg.edge_torque { 2 } else { 1 };
        let m = self.cfg.frame_vectors();
        let coeffs =
            self.mlps[n_mlps - 1]
                .forward(&e)?
                .reshape((g.edges(), per_edge_outputs * k, m))?;
        let frame = |v: &[f32]| -> candle_core::Result<Tensor> {
            Tensor::from_slice(v, (g.edges(), BASIS / 3, 3), d)?
                .narrow(1, 0, m)?
                .contiguous()
        };
        let basis = frame(&g.edge_basis)?;
        let per_edge = coeffs
            .narrow(1, 0, k)?
            .contiguous()?
            .matmul(&basis)?
            .reshape((g.edges(), 3 * k))?;
        let linear = Tensor::zeros((g.nodes, 3 * k), DType::F32, d)?
            .index_add(&recv, &per_edge, 0)?
            .reshape((g.nodes, k, 3))?;
        let angular = if self.cfg.edge_torque {
            let axes = frame(&g.edge_torque)?;
            let turns = coeffs
                .narrow(1, k, k)?
                .contiguous()?
                .matmul(&axes)?
                .reshape((g.edges(), 3 * k))?;
            (angular
                + Tensor::zeros((g.nodes, 3 * k), DType::F32, d)?
                    .index_add(&recv, &turns, 0)?
                    .reshape((g.nodes, k, 3))?)?
        } else {
            angular
        };
        Tensor::cat(&[&linear, &angular], 2)?.reshape((g.nodes, out))
    }
}

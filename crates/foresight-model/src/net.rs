//! The graph network in candle: an encoder per node, message passing over edges (one
//! batched matmul per MLP layer, messages summed per receiver with `index_add`), and a
//! decoder to normalized accelerations. Parameters are created from a seeded RNG so the
//! same seed always gives the same initial (and so trained) network.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor, Var};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::features::{EDGE_FEATURES, FeatureConfig, Graph, NODE_FEATURES, OUTPUTS};

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

/// A stack of linear layers with ReLU between them.
struct Mlp {
    layers: Vec<(Var, Var)>,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for (k, (w, b)) in self.layers.iter().enumerate() {
            x = x.matmul(&w.t()?)?.broadcast_add(b)?;
            if k + 1 < self.layers.len() {
                x = x.relu()?;
            }
        }
        Ok(x)
    }
}

/// The network's layer plan: (name, sizes) per MLP.
pub fn layer_plan(cfg: &FeatureConfig) -> Vec<(String, Vec<usize>)> {
    let h = cfg.hidden;
    let mut plan = vec![("enc".to_string(), vec![NODE_FEATURES, h, h])];
    for p in 0..cfg.passes {
        plan.push((format!("edge{p}"), vec![EDGE_FEATURES + 2 * h, h, h]));
        plan.push((format!("node{p}"), vec![2 * h, h, h]));
    }
    plan.push(("dec".to_string(), vec![h, h, OUTPUTS]));
    plan
}

/// Every parameter's name and shape, in a fixed order.
pub fn parameter_shapes(cfg: &FeatureConfig) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (name, sizes) in layer_plan(cfg) {
        for (k, pair) in sizes.windows(2).enumerate() {
            out.push((format!("{name}.{k}.w"), vec![pair[1], pair[0]]));
            out.push((format!("{name}.{k}.b"), vec![pair[1]]));
        }
    }
    out
}

/// The graph network.
pub struct Net {
    cfg: FeatureConfig,
    enc: Mlp,
    passes: Vec<(Mlp, Mlp)>,
    dec: Mlp,
    vars: Vec<(String, Var)>,
    device: Device,
}

impl Net {
    /// A freshly initialized network (uniform fan-in scaling, seeded).
    pub fn new(cfg: &FeatureConfig, seed: u64) -> candle_core::Result<Net> {
        let device = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut tensors = HashMap::new();
        for (name, shape) in parameter_shapes(cfg) {
            let count: usize = shape.iter().product();
            let values: Vec<f32> = if name.ends_with(".b") {
                vec![0.0; count]
            } else {
                let bound = (3.0 / shape[1] as f32).sqrt();
                let last_layer = name.starts_with("dec") && shape[0] == OUTPUTS;
                let scale = if last_layer { 0.1 } else { 1.0 };
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
        let mlp =
            |name: &str, n: usize, vars: &mut Vec<(String, Var)>| -> candle_core::Result<Mlp> {
                let mut layers = Vec::new();
                for k in 0..n {
                    let get = |suffix: &str| -> candle_core::Result<Var> {
                        let key = format!("{name}.{k}.{suffix}");
                        let t = tensors.get(&key).ok_or_else(|| {
                            candle_core::Error::Msg(format!("missing tensor {key}"))
                        })?;
                        Var::from_tensor(&t.to_dtype(DType::F32)?)
                    };
                    let (w, b) = (get("w")?, get("b")?);
                    vars.push((format!("{name}.{k}.w"), w.clone()));
                    vars.push((format!("{name}.{k}.b"), b.clone()));
                    layers.push((w, b));
                }
                Ok(Mlp { layers })
            };
        let enc = mlp("enc", 2, &mut vars)?;
        let mut passes = Vec::new();
        for p in 0..cfg.passes {
            let e = mlp(&format!("edge{p}"), 2, &mut vars)?;
            let n = mlp(&format!("node{p}"), 2, &mut vars)?;
            passes.push((e, n));
        }
        let dec = mlp("dec", 2, &mut vars)?;
        Ok(Net {
            cfg: *cfg,
            enc,
            passes,
            dec,
            vars,
            device,
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

    /// Normalized outputs for a graph whose features are already normalized:
    /// a `nodes × OUTPUTS` tensor.
    pub fn forward(&self, g: &Graph) -> candle_core::Result<Tensor> {
        let d = &self.device;
        let x = Tensor::from_slice(&g.node_features, (g.nodes, NODE_FEATURES), d)?;
        let mut h = self.enc.forward(&x)?;
        let hidden = self.cfg.hidden;
        if g.edges() > 0 {
            let e = Tensor::from_slice(&g.edge_features, (g.edges(), EDGE_FEATURES), d)?;
            let send = Tensor::from_slice(&g.senders, g.edges(), d)?;
            let recv = Tensor::from_slice(&g.receivers, g.edges(), d)?;
            let ef = EDGE_FEATURES;
            for (edge_mlp, node_mlp) in &self.passes {
                // First edge layer split by input block: W·[e, h_r, h_s] = W_e·e + (W_r·h)[r] + (W_s·h)[s],
                // so the per-edge matmul sees 41 inputs instead of 41 + 2·hidden.
                let (w0, b0) = &edge_mlp.layers[0];
                let w0 = w0.as_tensor();
                let we = w0.narrow(1, 0, ef)?;
                let wr = w0.narrow(1, ef, hidden)?;
                let ws = w0.narrow(1, ef + hidden, hidden)?;
                let hr = h.matmul(&wr.t()?)?.index_select(&recv, 0)?;
                let hs = h.matmul(&ws.t()?)?.index_select(&send, 0)?;
                let mut m = ((e.matmul(&we.t()?)? + hr)? + hs)?.broadcast_add(b0)?;
                for (w, b) in &edge_mlp.layers[1..] {
                    m = m.relu()?.matmul(&w.t()?)?.broadcast_add(b)?;
                }
                let agg =
                    Tensor::zeros((g.nodes, hidden), DType::F32, d)?.index_add(&recv, &m, 0)?;
                h = (&h + node_mlp.forward(&Tensor::cat(&[&h, &agg], D::Minus1)?)?)?;
            }
        } else {
            for (_, node_mlp) in &self.passes {
                let agg = Tensor::zeros((g.nodes, hidden), DType::F32, d)?;
                h = (&h + node_mlp.forward(&Tensor::cat(&[&h, &agg], D::Minus1)?)?)?;
            }
        }
        self.dec.forward(&h)
    }
}

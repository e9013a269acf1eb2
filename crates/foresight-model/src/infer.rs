//! The network's forward pass for forecasting: the same arithmetic as [`Net::forward`]
//! (a test holds the two within float rounding) in plain loops over a few buffers, with
//! `gemm` (the kernel candle itself calls) for the matrix products. On the graphs a
//! forecast sees, candle's per-operation tensors (an allocation, a zeroing and a pass
//! over memory for every add, ReLU and LayerNorm step) cost more than the products
//! themselves. Training keeps candle, which it needs for gradients; this module only
//! reads a snapshot of the weights and does not cover training.

use std::cell::RefCell;

use candle_core::Tensor;

use crate::features::{BASIS, EDGE_FEATURES, FeatureConfig, Graph, NODE_FEATURES, outputs};
use crate::net::Net;

/// One dense layer: `w` is `outputs × inputs`, row-major (as stored).
struct Layer {
    w: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

/// One MLP: ReLU between layers, optional LayerNorm (gain, bias) after the last.
struct Mlp {
    layers: Vec<Layer>,
    norm: Option<(Vec<f32>, Vec<f32>)>,
}

impl Mlp {
    fn width(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// The layers after the first over `rows` rows of `act`: the first layer's output, its
    /// bias added and, when more layers follow, through ReLU. Each finished row (last
    /// bias and LayerNorm applied) is handed to `epilogue` with its index while it is
    /// still in cache; the rows are left in `act` (`tmp` is scratch).
    #[inline(always)]
    fn finish(
        &self,
        act: &mut Vec<f32>,
        tmp: &mut Vec<f32>,
        rows: usize,
        mut epilogue: impl FnMut(usize, &[f32]),
    ) {
        let last = self.layers.len() - 1;
        for (k, l) in self.layers.iter().enumerate().skip(1) {
            let out = sized(tmp, rows * l.outputs);
            matmul_t(out, act, rows, l.inputs, &l.w, l.inputs, 0, l.outputs);
            if k < last {
                add_bias_relu(out, &l.b);
            }
            std::mem::swap(act, tmp);
        }
        let width = self.width();
        for (i, row) in act.chunks_exact_mut(width).take(rows).enumerate() {
            if last > 0 {
                for (v, b) in row.iter_mut().zip(&self.layers[last].b) {
                    *v += b;
                }
            }
            if let Some((g, b)) = &self.norm {
                layer_norm(row, g, b);
            }
            epilogue(i, row);
        }
    }

    /// The MLP over `rows` rows of `x` into `out`, each finished row also handed to
    /// `epilogue` (as [`Mlp::finish`]; `tmp` is scratch).
    #[inline(always)]
    fn forward(
        &self,
        x: &[f32],
        rows: usize,
        out: &mut Vec<f32>,
        tmp: &mut Vec<f32>,
        epilogue: impl FnMut(usize, &[f32]),
    ) {
        let l = &self.layers[0];
        let pre = sized(out, rows * l.outputs);
        matmul_t(pre, x, rows, l.inputs, &l.w, l.inputs, 0, l.outputs);
        if self.layers.len() > 1 {
            add_bias_relu(pre, &l.b);
        } else {
            for row in pre.chunks_exact_mut(l.outputs) {
                for (v, b) in row.iter_mut().zip(&l.b) {
                    *v += b;
                }
            }
        }
        self.finish(out, tmp, rows, epilogue);
    }
}

/// `v` holding exactly `n` values (stale ones kept: every user overwrites them all). A
/// buffer far larger than needed (after a many-candidate plan, say) is let go, so a
/// thread does not keep its largest forecast's memory for good.
fn sized(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.capacity() > 4 * n.max(1 << 16) {
        *v = Vec::new();
    }
    v.resize(n, 0.0);
    v
}

/// Sum in eight lanes, which the compiler turns into vector adds (a plain left-to-right
/// float sum cannot be reordered, and waits on every add).
#[inline(always)]
fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|x| f(*x)).sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += f(*x);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `out = x · W[:, offset..offset + k]ᵀ` for `rows` rows of `x` (row stride `k`) and a
/// row-major `W` of row stride `w_stride`: `out` is `rows × n`.
#[allow(unsafe_code, clippy::too_many_arguments)]
fn matmul_t(
    out: &mut [f32],
    x: &[f32],
    rows: usize,
    k: usize,
    w: &[f32],
    w_stride: usize,
    offset: usize,
    n: usize,
) {
    if rows == 0 || n == 0 {
        return;
    }
    assert!(out.len() >= rows * n, "matmul output too short");
    assert!(x.len() >= rows * k, "matmul input too short");
    assert!(
        offset + k <= w_stride && w.len() >= (n - 1) * w_stride + offset + k,
        "matmul weights too short"
    );
    // SAFETY: the asserts above keep every index gemm touches inside the slices: dst is
    // rows × n with strides (n, 1); lhs is rows × k with strides (k, 1); rhs[kk][j] is
    // w[j·w_stride + offset + kk] for kk < k, j < n. With `read_dst` false gemm only
    // writes dst. The slices do not overlap (one is borrowed mutably).
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr().add(offset),
            w_stride as isize,
            1,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `max(v + b, 0)` for every row of `rows` (bias, then the ReLU before the next layer).
#[inline(always)]
fn add_bias_relu(rows: &mut [f32], b: &[f32]) {
    for row in rows.chunks_exact_mut(b.len()) {
        for (v, b) in row.iter_mut().zip(b) {
            *v = (*v + b).max(0.0);
        }
    }
}

/// LayerNorm of one row in place, as [`crate::net`] computes it (population variance,
/// epsilon 1e-5).
#[inline(always)]
fn layer_norm(row: &mut [f32], gain: &[f32], bias: &[f32]) {
    let n = gain.len();
    let mean = lane_sum(row, |v| v) / n as f32;
    let var = lane_sum(row, |v| (v - mean) * (v - mean)) / n as f32;
    let inv = 1.0 / (var + 1e-5).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gain).zip(bias) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// A snapshot of a [`Net`]'s weights with an allocation-light forward pass.
pub struct FrozenNet {
    cfg: FeatureConfig,
    mlps: Vec<Mlp>,
}

impl FrozenNet {
    /// Copies the weights of `net` (later training of `net` does not reach the copy).
    pub fn from_net(net: &Net) -> candle_core::Result<FrozenNet> {
        let values = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        let mut mlps = Vec::new();
        for (layers, norm) in net.mlp_tensors() {
            let layers = layers
                .into_iter()
                .map(|(w, b)| {
                    let (outputs, inputs) = w.dims2()?;
                    Ok(Layer {
                        w: values(w)?,
                        b: values(b)?,
                        inputs,
                        outputs,
                    })
                })
                .collect::<candle_core::Result<_>>()?;
            let norm = match norm {
                Some((g, b)) => Some((values(g)?, values(b)?)),
                None => None,
            };
            mlps.push(Mlp { layers, norm });
        }
        Ok(FrozenNet {
            cfg: *net.config(),
            mlps,
        })
    }

    /// Normalized outputs for a graph whose features are already normalized:
    /// `nodes × outputs`, row-major, zero for every inactive node (as [`Net::forward`]).
    /// Working buffers are kept per thread and reused from call to call.
    pub fn forward(&self, g: &Graph) -> Vec<f32> {
        Self::with_scratch(|s| {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: this CPU has AVX2, checked just above.
                #[allow(unsafe_code)]
                return unsafe { self.forward_avx2(g, s) };
            }
            self.forward_with(g, s)
        })
    }

    /// [`FrozenNet::forward`] as the portable build compiles it, never the AVX2 one: what
    /// `forward` must equal to the bit on any CPU.
    pub fn forward_portable(&self, g: &Graph) -> Vec<f32> {
        Self::with_scratch(|s| self.forward_with(g, s))
    }

    /// Runs `f` on this thread's working buffers.
    fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
        thread_local! {
            static SCRATCH: RefCell<Scratch> = RefCell::default();
        }
        SCRATCH.with(|s| f(&mut s.borrow_mut()))
    }

    /// [`FrozenNet::forward_with`] compiled for AVX2, for the loops around the matrix
    /// products (bias, ReLU, LayerNorm, gathers and sums; gemm picks its own kernels at
    /// run time): eight floats at a time where the portable build has four. No fused
    /// multiply-add is enabled, so the arithmetic, and the result, is the same.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_avx2(&self, g: &Graph, s: &mut Scratch) -> Vec<f32> {
        self.forward_with(g, s)
    }

    #[inline(always)]
    fn forward_with(&self, g: &Graph, s: &mut Scratch) -> Vec<f32> {
        let out_width = outputs(&self.cfg);
        let (nodes, edges) = (g.nodes, g.edges());
        let mut out = vec![0.0; nodes * out_width];
        if edges == 0 {
            return out;
        }
        debug_assert_eq!(g.node_features.len(), nodes * NODE_FEATURES);
        debug_assert_eq!(g.edge_features.len(), edges * EDGE_FEATURES);
        let hidden = self.cfg.hidden;
        let Scratch {
            h,
            e,
            hr,
            hs,
            agg,
            node_in,
            pre,
            tmp,
        } = s;
        self.mlps[0].forward(&g.node_features, nodes, h, tmp, |_, _| {});
        self.mlps[1].forward(&g.edge_features, edges, e, tmp, |_, _| {});
        let (recv, send) = (&g.receivers, &g.senders);
        for p in 0..self.cfg.passes {
            let (edge_mlp, node_mlp) = (&self.mlps[2 + 2 * p], &self.mlps[3 + 2 * p]);
            // W·[e, h_r, h_s] = W_e·e + (W_r·h)[r] + (W_s·h)[s], as in `Net::forward`.
            let l0 = &edge_mlp.layers[0];
            let (stride, width) = (l0.inputs, l0.outputs);
            let pre_e = sized(pre, edges * width);
            matmul_t(pre_e, e, edges, hidden, &l0.w, stride, 0, width);
            let hr = sized(hr, nodes * width);
            matmul_t(hr, h, nodes, hidden, &l0.w, stride, hidden, width);
            let hs = sized(hs, nodes * width);
            matmul_t(hs, h, nodes, hidden, &l0.w, stride, 2 * hidden, width);
            let relu = if edge_mlp.layers.len() > 1 {
                0.0
            } else {
                f32::NEG_INFINITY
            };
            for (i, row) in pre_e.chunks_exact_mut(width).enumerate() {
                let r = &hr[recv[i] as usize * width..][..width];
                let s = &hs[send[i] as usize * width..][..width];
                for (((v, r), s), b) in row.iter_mut().zip(r).zip(s).zip(&l0.b) {
                    *v = (*v + r + s + b).max(relu);
                }
            }
            // The edge update added to the edge's state, and the new state summed into
            // its receiver's, row by row.
            let agg = sized(agg, nodes * hidden);
            agg.fill(0.0);
            edge_mlp.finish(pre, tmp, edges, |i, u| {
                let row = &mut e[i * hidden..][..hidden];
                let a = &mut agg[recv[i] as usize * hidden..][..hidden];
                for ((v, u), a) in row.iter_mut().zip(u).zip(a.iter_mut()) {
                    *v += u;
                    *a += *v;
                }
            });
            let node_in = sized(node_in, nodes * 2 * hidden);
            for ((dst, hrow), arow) in node_in
                .chunks_exact_mut(2 * hidden)
                .zip(h.chunks_exact(hidden))
                .zip(agg.chunks_exact(hidden))
            {
                dst[..hidden].copy_from_slice(hrow);
                dst[hidden..].copy_from_slice(arow);
            }
            node_mlp.forward(node_in, nodes, pre, tmp, |n, u| {
                for (v, u) in h[n * hidden..][..hidden].iter_mut().zip(u) {
                    *v += u;
                }
            });
        }
        let k = self.cfg.step_ticks;
        let n_mlps = self.mlps.len();
        // Per node: k ticks × (linear 3, angular 3).
        self.mlps[n_mlps - 2].forward(h, nodes, pre, tmp, |n, row| {
            if g.active[n] == 0.0 {
                return;
            }
            let dst = &mut out[n * out_width..][..out_width];
            for t in 0..k {
                for c in 0..3 {
                    dst[t * 6 + 3 + c] = row[t * 3 + c] * g.active[n];
                }
            }
        });
        let vectors = self.cfg.frame_vectors();
        let edge_torque = self.cfg.edge_torque;
        self.mlps[n_mlps - 1].forward(e, edges, pre, tmp, |i, c| {
            let basis = &g.edge_basis[i * BASIS..][..BASIS];
            let dst = &mut out[recv[i] as usize * out_width..][..out_width];
            for t in 0..k {
                for col in 0..3 {
                    dst[t * 6 + col] += (0..vectors)
                        .map(|m| c[t * vectors + m] * basis[m * 3 + col])
                        .sum::<f32>();
                }
            }
            if edge_torque {
                let axes = &g.edge_torque[i * BASIS..][..BASIS];
                for t in 0..k {
                    for col in 0..3 {
                        dst[t * 6 + 3 + col] += (0..vectors)
                            .map(|m| c[(k + t) * vectors + m] * axes[m * 3 + col])
                            .sum::<f32>();
                    }
                }
            }
        });
        out
    }
}

/// The forward pass's working buffers (hidden states of nodes and edges and the
/// intermediate products), reused from call to call.
#[derive(Default)]
struct Scratch {
    h: Vec<f32>,
    e: Vec<f32>,
    hr: Vec<f32>,
    hs: Vec<f32>,
    agg: Vec<f32>,
    node_in: Vec<f32>,
    pre: Vec<f32>,
    tmp: Vec<f32>,
}

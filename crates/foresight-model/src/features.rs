//! The graph a learned step sees: one node per dynamic body (recent velocities, spin,
//! orientation, shape and material, pushes, the two nearest static surfaces, a joint to
//! the world) and one edge per ordered pair of bodies that are close or jointed (relative
//! position and velocity, closest-point gap and normal from parry, the sender's shape,
//! joint anchors). Geometry queries only say where things are; the network learns the
//! response.

use foresight_sim::BodyState;
use rapier3d::math::Vector;
use serde::{Deserialize, Serialize};

use crate::context::{Context, pose_of, rotation_of};

/// Node feature count.
pub const NODE_FEATURES: usize = 76;
/// Edge feature count.
pub const EDGE_FEATURES: usize = 41;
/// Output count: linear and angular acceleration.
pub const OUTPUTS: usize = 6;
/// Velocities in the history a node sees (the current one included).
pub const HISTORY: usize = 5;
const STATIC_SLOTS: usize = 2;
/// Gaps are clipped to this (m) in features.
const GAP_CLIP: f32 = 0.5;

/// How the graph is built and how big the network is; saved with every model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Simulator ticks one learned step spans.
    pub step_ticks: usize,
    /// Connectivity radius: bodies (and statics) closer than this gap, plus the distance
    /// they could close during one learned step at their relative speed, get an edge (m).
    pub radius: f32,
    /// Width of the hidden layers.
    pub hidden: usize,
    /// Message-passing rounds per step.
    pub passes: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            step_ticks: 4,
            radius: 0.1,
            hidden: 48,
            passes: 1,
        }
    }
}

/// One graph (or a batch of graphs, concatenated).
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Node count.
    pub nodes: usize,
    /// `nodes × NODE_FEATURES`, row-major.
    pub node_features: Vec<f32>,
    /// `edges × EDGE_FEATURES`, row-major.
    pub edge_features: Vec<f32>,
    /// Sender node of each edge.
    pub senders: Vec<u32>,
    /// Receiver node of each edge.
    pub receivers: Vec<u32>,
}

impl Graph {
    /// Number of edges.
    pub fn edges(&self) -> usize {
        self.senders.len()
    }

    /// Appends another graph, offsetting its node indices.
    pub fn append(&mut self, other: &Graph) {
        let off = self.nodes as u32;
        self.node_features.extend_from_slice(&other.node_features);
        self.edge_features.extend_from_slice(&other.edge_features);
        self.senders.extend(other.senders.iter().map(|s| s + off));
        self.receivers
            .extend(other.receivers.iter().map(|r| r + off));
        self.nodes += other.nodes;
    }
}

fn put(dst: &mut [f32], at: usize, v: Vector) {
    dst[at..at + 3].copy_from_slice(&v.to_array());
}

fn shape_features(ctx: &Context, i: usize, dst: &mut [f32]) {
    let b = &ctx.bodies[i];
    dst[b.shape.kind_index()] = 1.0;
    dst[4..7].copy_from_slice(&b.shape.half_extents());
    dst[7] = ctx.masses[i].max(1e-6).ln();
    dst[8] = b.friction;
    dst[9] = b.restitution;
}

/// Builds the graph of one state. `past_velocities[k]` is every body's velocity
/// `(k + 1) · step_ticks` ticks ago (fewer than `HISTORY - 1` entries repeat the oldest);
/// `kicks[i]` is the push velocity change body `i` gets during this step. When `awake` is
/// given, only awake bodies receive edges and static queries (sleeping bodies still send).
pub fn build_graph(
    ctx: &Context,
    cfg: &FeatureConfig,
    state: &[BodyState],
    past_velocities: &[Vec<[f32; 3]>],
    kicks: &[([f32; 3], [f32; 3])],
    awake: Option<&[bool]>,
) -> Graph {
    let n = state.len();
    let r = GAP_CLIP;
    let reach = cfg.step_ticks as f32 * ctx.dt;
    let is_awake = |i: usize| awake.is_none_or(|a| a[i]);
    let mut nodes = vec![0.0f32; n * NODE_FEATURES];
    for i in 0..n {
        let f = &mut nodes[i * NODE_FEATURES..(i + 1) * NODE_FEATURES];
        let s = &state[i];
        f[0..3].copy_from_slice(&s.velocity);
        for k in 1..HISTORY {
            let v = past_velocities
                .get(k - 1)
                .or(past_velocities.last())
                .map_or(s.velocity, |p| p[i]);
            f[3 * k..3 * k + 3].copy_from_slice(&v);
        }
        f[15..18].copy_from_slice(&s.angular_velocity);
        let rot = rotation_of(s);
        put(f, 18, rot * Vector::X);
        put(f, 21, rot * Vector::Y);
        shape_features(ctx, i, &mut f[24..34]);
        f[34..37].copy_from_slice(&kicks[i].0);
        f[37..40].copy_from_slice(&kicks[i].1);
        // The nearest static surfaces.
        let prediction = cfg.radius + Vector::from_array(s.velocity).length() * reach;
        let mut near: Vec<(f32, Vector, Vector, usize)> = if is_awake(i) {
            (0..ctx.statics.len())
                .filter_map(|k| {
                    ctx.static_contact(i, s, k, prediction)
                        .map(|(gap, nrm, p)| (gap, nrm, p, k))
                })
                .collect()
        } else {
            Vec::new()
        };
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        let x = Vector::from_array(s.position);
        for slot in 0..STATIC_SLOTS {
            let o = 40 + slot * 10;
            match near.get(slot) {
                Some(&(gap, nrm, p, k)) => {
                    f[o] = 1.0;
                    f[o + 1] = gap.clamp(-cfg.radius, r);
                    put(f, o + 2, nrm);
                    put(f, o + 5, p - x);
                    f[o + 8] = ctx.statics[k].friction;
                    f[o + 9] = ctx.statics[k].restitution;
                }
                None => f[o + 1] = r,
            }
        }
        f[73..76].copy_from_slice(&ctx.gravity);
    }
    // World joints.
    for j in ctx.joints.iter().filter(|j| j.b.is_none()) {
        let f = &mut nodes[j.a * NODE_FEATURES..(j.a + 1) * NODE_FEATURES];
        if f[60] != 0.0 {
            continue;
        }
        let pa = pose_of(&state[j.a]);
        let anchor_a = pa.transform_point(j.anchor_a);
        f[60] = 1.0;
        put(f, 61, anchor_a - pa.translation);
        put(f, 64, j.anchor_b - anchor_a);
        put(f, 67, pa.rotation * j.axis_a);
        // Velocity of the anchor point on the body: zero when the joint holds.
        let s = &state[j.a];
        let r = anchor_a - pa.translation;
        put(
            f,
            70,
            Vector::from_array(s.velocity) + Vector::from_array(s.angular_velocity).cross(r),
        );
    }

    // Edges: close pairs both ways, then joints.
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    let mut edges: Vec<f32> = Vec::new();
    for i in 0..n {
        let xi = Vector::from_array(state[i].position);
        let vi = Vector::from_array(state[i].velocity);
        for j in i + 1..n {
            if !is_awake(i) && !is_awake(j) {
                continue;
            }
            let xj = Vector::from_array(state[j].position);
            let prediction =
                cfg.radius + (Vector::from_array(state[j].velocity) - vi).length() * reach;
            if xi.distance(xj) - ctx.radii[i] - ctx.radii[j] > prediction {
                continue;
            }
            if let Some((gap, nrm, pi, pj)) =
                ctx.body_contact(i, &state[i], j, &state[j], prediction)
            {
                if is_awake(i) {
                    push_edge(
                        ctx,
                        state,
                        cfg.radius,
                        i,
                        j,
                        Some((gap, nrm, pi)),
                        &mut edges,
                        &mut senders,
                        &mut receivers,
                    );
                }
                if is_awake(j) {
                    push_edge(
                        ctx,
                        state,
                        cfg.radius,
                        j,
                        i,
                        Some((gap, -nrm, pj)),
                        &mut edges,
                        &mut senders,
                        &mut receivers,
                    );
                }
            }
        }
    }
    for jt in ctx.joints.iter() {
        let Some(b) = jt.b else { continue };
        let (pa, pb) = (pose_of(&state[jt.a]), pose_of(&state[b]));
        let (wa, wb) = (
            pa.transform_point(jt.anchor_a),
            pb.transform_point(jt.anchor_b),
        );
        let anchor_vel = |i: usize, x: Vector, w: Vector| {
            let s = &state[i];
            Vector::from_array(s.velocity) + Vector::from_array(s.angular_velocity).cross(w - x)
        };
        let (va, vb) = (
            anchor_vel(jt.a, pa.translation, wa),
            anchor_vel(b, pb.translation, wb),
        );
        for (recv, send, anchor_recv, anchor_send, x_recv, rel_vel) in [
            (jt.a, b, wa, wb, pa.translation, vb - va),
            (b, jt.a, wb, wa, pb.translation, va - vb),
        ] {
            let existing = (0..receivers.len())
                .find(|&k| receivers[k] as usize == recv && senders[k] as usize == send);
            if !is_awake(recv) {
                continue;
            }
            let k = match existing {
                Some(k) => k,
                None => push_edge(
                    ctx,
                    state,
                    cfg.radius,
                    recv,
                    send,
                    None,
                    &mut edges,
                    &mut senders,
                    &mut receivers,
                ),
            };
            let e = &mut edges[k * EDGE_FEATURES..(k + 1) * EDGE_FEATURES];
            e[28] = 1.0;
            put(e, 29, anchor_recv - x_recv);
            put(e, 32, anchor_send - anchor_recv);
            e[35 + jt.kind] = 1.0;
            put(e, 38, rel_vel);
        }
    }
    Graph {
        nodes: n,
        node_features: nodes,
        edge_features: edges,
        senders,
        receivers,
    }
}

#[allow(clippy::too_many_arguments)]
fn push_edge(
    ctx: &Context,
    state: &[BodyState],
    radius: f32,
    recv: usize,
    send: usize,
    contact: Option<(f32, Vector, Vector)>,
    edges: &mut Vec<f32>,
    senders: &mut Vec<u32>,
    receivers: &mut Vec<u32>,
) -> usize {
    let (si, sj) = (&state[recv], &state[send]);
    let mut e = [0.0f32; EDGE_FEATURES];
    let xi = Vector::from_array(si.position);
    let d = Vector::from_array(sj.position) - xi;
    put(&mut e, 0, d);
    e[3] = d.length();
    put(
        &mut e,
        4,
        Vector::from_array(sj.velocity) - Vector::from_array(si.velocity),
    );
    put(
        &mut e,
        7,
        Vector::from_array(sj.angular_velocity) - Vector::from_array(si.angular_velocity),
    );
    match contact {
        Some((gap, nrm, p)) => {
            e[10] = 1.0;
            e[11] = gap.clamp(-radius, GAP_CLIP);
            put(&mut e, 12, nrm);
            put(&mut e, 15, p - xi);
        }
        None => e[11] = GAP_CLIP,
    }
    shape_features(ctx, send, &mut e[18..28]);
    senders.push(send as u32);
    receivers.push(recv as u32);
    edges.extend_from_slice(&e);
    senders.len() - 1
}

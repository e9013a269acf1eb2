//! The graph a learned step sees. One node per dynamic body (recent velocities, spin,
//! orientation, shape and material, the push it gets this step, gravity, a joint to the
//! world) and one edge per contact candidate: both directions of every pair of bodies
//! that are close or jointed, and one edge from every static surface in range to the
//! body (a self-loop marked static). Edges carry contact-frame features from parry
//! (gap, normal, lever arm, normal and tangential velocity at the contact point, the gap
//! projected to the end of the step) and joint anchors. A body that receives no edge is
//! marked inactive: the network's output for it is zero, so with nothing near a body
//! flies exactly ballistic by construction. Geometry queries only say where things are;
//! the network learns the response.
//!
//! Feature vectors are read and written through the named ranges in [`node`] and [`edge`];
//! [`layout_fingerprint`] hashes them (with the output layout) into the model sidecar, so
//! a model file made for another layout is refused instead of misread.

use foresight_sim::BodyState;
use rapier3d::math::Vector;
use serde::{Deserialize, Serialize};

use crate::context::{Context, pose_of, rotation_of};
use crate::learned::fnv1a;
use crate::neighbours::Neighbours;

/// Velocities in the history a node sees (the current one included).
pub const HISTORY: usize = 5;
/// Gaps are clipped to this (m) in features.
const GAP_CLIP: f32 = 0.5;
/// A static surface farther than this now and at the step's end cannot touch a body
/// jointed to the world within the step (m).
const HELD_REACH: f32 = 0.02;
/// A static contact closer to a world joint's axis (or pivot) than this share of the
/// body's bounding radius turns it about nothing the joint lets it turn about.
const HELD_LEVER: f32 = 0.15;
/// Deepest penetration a gap feature shows (m).
const GAP_FLOOR: f32 = -0.1;

/// Node feature layout: named ranges into a node's feature row.
pub mod node {
    use std::ops::Range;
    /// Current velocity (finite difference), m/s.
    pub const VELOCITY: Range<usize> = 0..3;
    /// Earlier velocities, one learned step apart, most recent first.
    pub const PAST_VELOCITIES: Range<usize> = 3..15;
    /// Angular velocity, rad/s.
    pub const SPIN: Range<usize> = 15..18;
    /// The body's local x axis in world coordinates.
    pub const AXIS_X: Range<usize> = 18..21;
    /// The body's local y axis in world coordinates.
    pub const AXIS_Y: Range<usize> = 21..24;
    /// Shape and material (see [`super::SHAPE_FEATURES`]).
    pub const SHAPE: Range<usize> = 24..34;
    /// Velocity change pushes give during this step.
    pub const KICK_VELOCITY: Range<usize> = 34..37;
    /// Spin change pushes give during this step.
    pub const KICK_SPIN: Range<usize> = 37..40;
    /// Gravity, m/s².
    pub const GRAVITY: Range<usize> = 40..43;
    /// 1 when the body is jointed to the world.
    pub const WORLD_JOINT: Range<usize> = 43..44;
    /// The joint anchor on the body, from its centre.
    pub const ANCHOR_OFFSET: Range<usize> = 44..47;
    /// World anchor minus the body's anchor (zero when the joint holds).
    pub const ANCHOR_ERROR: Range<usize> = 47..50;
    /// Hinge axis in world coordinates (zero for other kinds).
    pub const HINGE_AXIS: Range<usize> = 50..53;
    /// Velocity of the anchor point on the body.
    pub const ANCHOR_VELOCITY: Range<usize> = 53..56;
    /// Node feature count.
    pub const COUNT: usize = 56;
    /// Every range by name, in order.
    pub const LAYOUT: &[(&str, Range<usize>)] = &[
        ("velocity", VELOCITY),
        ("past_velocities", PAST_VELOCITIES),
        ("spin", SPIN),
        ("axis_x", AXIS_X),
        ("axis_y", AXIS_Y),
        ("shape", SHAPE),
        ("kick_velocity", KICK_VELOCITY),
        ("kick_spin", KICK_SPIN),
        ("gravity", GRAVITY),
        ("world_joint", WORLD_JOINT),
        ("anchor_offset", ANCHOR_OFFSET),
        ("anchor_error", ANCHOR_ERROR),
        ("hinge_axis", HINGE_AXIS),
        ("anchor_velocity", ANCHOR_VELOCITY),
    ];
}

/// Edge feature layout: named ranges into an edge's feature row. The receiver is the body
/// the edge acts on; the sender is the other body, or the receiver itself for a static.
pub mod edge {
    use std::ops::Range;
    /// 1 for a static surface.
    pub const STATIC: Range<usize> = 0..1;
    /// Closest-point gap (m), clipped; the clip value when only a joint links the pair.
    pub const GAP: Range<usize> = 1..2;
    /// Contact normal from the receiver towards the other object.
    pub const NORMAL: Range<usize> = 2..5;
    /// Contact point on the receiver, from its centre.
    pub const LEVER: Range<usize> = 5..8;
    /// Relative velocity of the other object at the contact point along the normal
    /// (negative: closing), m/s.
    pub const NORMAL_SPEED: Range<usize> = 8..9;
    /// Tangential part of that relative velocity, m/s.
    pub const TANGENT_VELOCITY: Range<usize> = 9..12;
    /// The gap one learned step later if both moved ballistically (m), clipped.
    pub const GAP_END: Range<usize> = 12..13;
    /// Combined friction (mean of the two, as rapier combines by default).
    pub const FRICTION: Range<usize> = 13..14;
    /// Combined restitution (mean of the two).
    pub const RESTITUTION: Range<usize> = 14..15;
    /// Share of a relative velocity change the receiver takes: m_other / (m_recv + m_other)
    /// (1 against a static).
    pub const MASS_SHARE: Range<usize> = 15..16;
    /// Sender centre minus receiver centre (zero for a static).
    pub const OFFSET: Range<usize> = 16..19;
    /// Length of [`OFFSET`].
    pub const DISTANCE: Range<usize> = 19..20;
    /// 1 when a joint links the pair.
    pub const JOINT: Range<usize> = 20..21;
    /// The joint anchor on the receiver, from its centre.
    pub const JOINT_ANCHOR: Range<usize> = 21..24;
    /// The sender's anchor minus the receiver's anchor.
    pub const JOINT_ERROR: Range<usize> = 24..27;
    /// Joint kind, one-hot (fixed, revolute, spherical).
    pub const JOINT_KIND: Range<usize> = 27..30;
    /// Sender's anchor velocity minus the receiver's.
    pub const JOINT_VELOCITY: Range<usize> = 30..33;
    /// The sender's shape and material (zero for a static).
    pub const SENDER_SHAPE: Range<usize> = 33..43;
    /// Edge feature count.
    pub const COUNT: usize = 43;
    /// Every range by name, in order.
    pub const LAYOUT: &[(&str, Range<usize>)] = &[
        ("static", STATIC),
        ("gap", GAP),
        ("normal", NORMAL),
        ("lever", LEVER),
        ("normal_speed", NORMAL_SPEED),
        ("tangent_velocity", TANGENT_VELOCITY),
        ("gap_end", GAP_END),
        ("friction", FRICTION),
        ("restitution", RESTITUTION),
        ("mass_share", MASS_SHARE),
        ("offset", OFFSET),
        ("distance", DISTANCE),
        ("joint", JOINT),
        ("joint_anchor", JOINT_ANCHOR),
        ("joint_error", JOINT_ERROR),
        ("joint_kind", JOINT_KIND),
        ("joint_velocity", JOINT_VELOCITY),
        ("sender_shape", SENDER_SHAPE),
    ];
}

/// Node feature count.
pub const NODE_FEATURES: usize = node::COUNT;
/// Edge feature count.
pub const EDGE_FEATURES: usize = edge::COUNT;
/// Shape and material features: kind one-hot (4), half extents (3), ln mass, friction,
/// restitution.
pub const SHAPE_FEATURES: usize = 10;
/// Outputs per body per tick of a learned step: linear and angular residual velocity.
pub const OUTPUTS_PER_TICK: usize = 6;

/// Outputs per body for one learned step of `step_ticks` ticks.
pub fn outputs(cfg: &FeatureConfig) -> usize {
    OUTPUTS_PER_TICK * cfg.step_ticks
}

/// A hash of the feature and output layout (names and ranges) and of the step rule: a
/// model whose sidecar holds another fingerprint was made for other features.
pub fn layout_fingerprint() -> String {
    let text = format!(
        "node {:?}; edge {:?}; outputs per tick {OUTPUTS_PER_TICK}; step rule: residual velocity per tick over ballistic, inactive without edges; linear residual decoded per edge in the frame (normal, tangential velocity, tangential gravity); world joints as static self-loop edges",
        node::LAYOUT,
        edge::LAYOUT
    );
    format!("{:016x}", fnv1a(text.as_bytes()))
}

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
    /// Spin residuals also decoded per edge, as coefficients of the turns its contact
    /// frame's pushes would give at the contact's lever arm (`r × n`, `r × t1`, `r × t2`,
    /// and `r × l` with [`FeatureConfig::lever_frame`], which is parallel to `r × n`),
    /// beside the per-node term. Off in models saved before it existed.
    #[serde(default)]
    pub edge_torque: bool,
    /// Contact frames also carry the lever arm's part in the contact plane (from the
    /// receiver's centre to the contact point): on a flat floor neither the tangential
    /// velocity (zero at a pivot that does not slip) nor tangential gravity (zero) gives
    /// a direction for the static friction that holds a toppling box's edge in place.
    /// Unlike those two it is not zero for a box resting on a corner or an edge, so a
    /// model with it no longer has "no sideways push at rest" by construction (it must
    /// learn it). Off in models saved before it existed.
    #[serde(default)]
    pub lever_frame: bool,
}

impl FeatureConfig {
    /// Vectors of [`Graph::edge_basis`] the model decodes coefficients of: `(n, t1, t2)`,
    /// and the lever arm in the contact plane with [`FeatureConfig::lever_frame`].
    pub fn frame_vectors(&self) -> usize {
        if self.lever_frame { 4 } else { 3 }
    }
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            step_ticks: 4,
            radius: 0.1,
            hidden: 64,
            passes: 2,
            edge_torque: false,
            lever_frame: false,
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
    /// 1 for a node that receives at least one edge, else 0 (its output is forced to zero).
    pub active: Vec<f32>,
    /// 1 for a node that receives a contact edge from a body it is not jointed to or from
    /// a static surface that can move it (for a body jointed to the world: within reach
    /// in the step, and away from its joint's axis; none for a body fixed to it), else 0:
    /// such a node (only its joint partners near) is held by its joints alone
    /// ([`crate::learned::Rules::joints_alone`]).
    pub touching: Vec<f32>,
    /// `edges × BASIS`: the contact frame each edge's linear response is decoded in, as
    /// vectors `(n, t1, t2, l)` in world coordinates: the normal, the tangential relative
    /// velocity, tangential gravity, and the lever arm's part in the contact plane (used
    /// by models with [`FeatureConfig::lever_frame`]).
    pub edge_basis: Vec<f32>,
    /// `edges × BASIS`: the turn axes each edge's spin response is decoded in: the lever arm
    /// from the receiver's centre to the contact crossed with each [`Graph::edge_basis`]
    /// vector (pseudovectors, like spins, so mirrored scenes stay exact).
    pub edge_torque: Vec<f32>,
}

/// Width of an edge's contact frame in [`Graph::edge_basis`]: four vectors.
pub const BASIS: usize = 12;

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
        self.active.extend_from_slice(&other.active);
        self.touching.extend_from_slice(&other.touching);
        self.edge_basis.extend_from_slice(&other.edge_basis);
        self.edge_torque.extend_from_slice(&other.edge_torque);
        self.nodes += other.nodes;
    }
}

fn put(dst: &mut [f32], at: std::ops::Range<usize>, v: Vector) {
    dst[at].copy_from_slice(&v.to_array());
}

fn shape_features(ctx: &Context, i: usize, dst: &mut [f32]) {
    let b = &ctx.bodies[i];
    dst[b.shape.kind_index()] = 1.0;
    dst[4..7].copy_from_slice(&b.shape.half_extents());
    dst[7] = ctx.masses[i].max(1e-6).ln();
    dst[8] = b.friction;
    dst[9] = b.restitution;
}

/// Appends an edge's contact frame: the unit normal, the tangential relative velocity at
/// the contact (m/s), the tangential part of gravity over one learned step (m/s), and the
/// lever arm's part in the contact plane (m; decoded only by models with
/// [`FeatureConfig::lever_frame`]). A body resting on a level floor has the second and
/// third zero, so a model without the lever frame can only push it along the normal: no
/// sideways drift from a vertical landing, by construction. With it, the turn axes of
/// those four pushes at `lever` (contact point minus the receiver's centre), for
/// [`Graph::edge_torque`].
fn push_basis(
    g: &mut Graph,
    n: Vector,
    tangent_velocity: Vector,
    gravity: Vector,
    reach: f32,
    lever: Vector,
) {
    let t2 = (gravity - n * gravity.dot(n)) * reach;
    let lever_in_plane = lever - n * lever.dot(n);
    for b in [n, tangent_velocity, t2, lever_in_plane] {
        g.edge_basis.extend_from_slice(&b.to_array());
        g.edge_torque.extend_from_slice(&lever.cross(b).to_array());
    }
}

/// Velocity of a body's material point at world point `p`.
fn point_velocity(s: &BodyState, v: Vector, p: Vector) -> Vector {
    v + Vector::from_array(s.angular_velocity).cross(p - Vector::from_array(s.position))
}

/// Builds the graph of one state. `past_velocities[k]` is every body's velocity
/// `(k + 1) · step_ticks` ticks ago (fewer than `HISTORY - 1` entries repeat the oldest);
/// `kicks[i]` is the push velocity change body `i` gets during this step (edges see the
/// velocities with it). When `awake` is given, only awake bodies receive edges
/// (sleeping bodies still send).
pub fn build_graph(
    ctx: &Context,
    cfg: &FeatureConfig,
    state: &[BodyState],
    past_velocities: &[Vec<[f32; 3]>],
    kicks: &[([f32; 3], [f32; 3])],
    awake: Option<&[bool]>,
) -> Graph {
    let n = state.len();
    let reach = cfg.step_ticks as f32 * ctx.dt;
    let is_awake = |i: usize| awake.is_none_or(|a| a[i]);
    let gravity = Vector::from_array(ctx.gravity);
    // Velocities after this step's kicks: what contacts will see.
    let vel: Vec<Vector> = (0..n)
        .map(|i| Vector::from_array(state[i].velocity) + Vector::from_array(kicks[i].0))
        .collect();
    let mut nodes = vec![0.0f32; n * NODE_FEATURES];
    for i in 0..n {
        let f = &mut nodes[i * NODE_FEATURES..(i + 1) * NODE_FEATURES];
        let s = &state[i];
        f[node::VELOCITY].copy_from_slice(&s.velocity);
        let past = &mut f[node::PAST_VELOCITIES];
        for k in 1..HISTORY {
            let v = past_velocities
                .get(k - 1)
                .or(past_velocities.last())
                .map_or(s.velocity, |p| p[i]);
            past[3 * (k - 1)..3 * k].copy_from_slice(&v);
        }
        f[node::SPIN].copy_from_slice(&s.angular_velocity);
        let rot = rotation_of(s);
        put(f, node::AXIS_X, rot * Vector::X);
        put(f, node::AXIS_Y, rot * Vector::Y);
        shape_features(ctx, i, &mut f[node::SHAPE]);
        f[node::KICK_VELOCITY].copy_from_slice(&kicks[i].0);
        f[node::KICK_SPIN].copy_from_slice(&kicks[i].1);
        f[node::GRAVITY].copy_from_slice(&ctx.gravity);
    }
    // World joints.
    for j in ctx.joints.iter().filter(|j| j.b.is_none()) {
        let f = &mut nodes[j.a * NODE_FEATURES..(j.a + 1) * NODE_FEATURES];
        if f[node::WORLD_JOINT.start] != 0.0 {
            continue;
        }
        let s = &state[j.a];
        let pa = pose_of(s);
        let anchor_a = pa.transform_point(j.anchor_a);
        f[node::WORLD_JOINT.start] = 1.0;
        put(f, node::ANCHOR_OFFSET, anchor_a - pa.translation);
        put(f, node::ANCHOR_ERROR, j.anchor_b - anchor_a);
        put(f, node::HINGE_AXIS, pa.rotation * j.axis_a);
        put(
            f,
            node::ANCHOR_VELOCITY,
            point_velocity(s, vel[j.a], anchor_a),
        );
    }

    let mut g = Graph {
        nodes: n,
        node_features: nodes,
        active: vec![0.0; n],
        touching: vec![0.0; n],
        ..Default::default()
    };
    // A body hinged to the world is never free: a static joint edge (a self-loop, like a
    // static surface) lets the network correct it.
    for j in ctx.joints.iter().filter(|j| j.b.is_none()) {
        if !is_awake(j.a) || g.receivers.contains(&(j.a as u32)) {
            continue;
        }
        let s = &state[j.a];
        let pa = pose_of(s);
        let anchor = pa.transform_point(j.anchor_a);
        let x = pa.translation;
        // Velocity of the world's anchor relative to the body's.
        let rel = -point_velocity(s, vel[j.a], anchor);
        let mut e = [0.0f32; EDGE_FEATURES];
        e[edge::STATIC.start] = 1.0;
        e[edge::GAP.start] = GAP_CLIP;
        e[edge::GAP_END.start] = GAP_CLIP;
        e[edge::MASS_SHARE.start] = 1.0;
        e[edge::JOINT.start] = 1.0;
        put(&mut e, edge::JOINT_ANCHOR, anchor - x);
        put(&mut e, edge::JOINT_ERROR, j.anchor_b - anchor);
        e[edge::JOINT_KIND.start + j.kind] = 1.0;
        put(&mut e, edge::JOINT_VELOCITY, rel);
        g.edge_features.extend_from_slice(&e);
        let nrm = (anchor - x).normalize_or(Vector::Y);
        push_basis(
            &mut g,
            nrm,
            rel - nrm * rel.dot(nrm),
            gravity,
            reach,
            anchor - x,
        );
        g.senders.push(j.a as u32);
        g.receivers.push(j.a as u32);
        g.active[j.a] = 1.0;
    }
    // Each body's joint partners, so a contact edge asks its pair once, not every joint.
    let mut partners: Vec<Vec<usize>> = vec![Vec::new(); n];
    for j in &ctx.joints {
        if let Some(b) = j.b {
            partners[j.a].push(b);
            partners[b].push(j.a);
        }
    }
    let jointed = |a: usize, b: usize| partners[a].contains(&b);
    // Each body's joint to the world, if any: (kind, world anchor, world axis).
    let mut pivots: Vec<Option<(usize, Vector, Vector)>> = vec![None; n];
    for j in ctx.joints.iter().filter(|j| j.b.is_none()) {
        pivots[j.a].get_or_insert((j.kind, j.anchor_b, j.axis_b.normalize_or_zero()));
    }
    // Whether a static surface can move body `i` through a contact at `p` whose gap is
    // `gap` now and `end` at the step's end: not if it is out of reach, nor, for a body
    // jointed to the world, if the contact sits at the joint (a force there turns the
    // body about nothing the joint lets it turn about: the joint takes it).
    let static_can_move = |i: usize, p: Vector, gap: f32, end: f32| {
        if gap.min(end) > HELD_REACH {
            return pivots[i].is_none();
        }
        let lever = match pivots[i] {
            None => return true,
            Some((0, ..)) => 0.0,
            Some((1, anchor, axis)) => {
                let d = p - anchor;
                (d - axis * d.dot(axis)).length()
            }
            Some((_, anchor, _)) => p.distance(anchor),
        };
        lever > HELD_LEVER * ctx.radii[i]
    };
    let contact_edge = |g: &mut Graph,
                        recv: usize,
                        send: Option<usize>,
                        gap: f32,
                        nrm: Vector,
                        p_recv: Vector,
                        friction: f32,
                        restitution: f32| {
        let sr = &state[recv];
        let ur = point_velocity(sr, vel[recv], p_recv);
        let us = send.map_or(Vector::ZERO, |s| point_velocity(&state[s], vel[s], p_recv));
        let rel = us - ur;
        let vn = rel.dot(nrm);
        // Ballistic displacement over the step; gravity cancels between two bodies.
        let fall = if send.is_none() {
            -gravity.dot(nrm) * 0.5 * reach * reach
        } else {
            0.0
        };
        let mut e = [0.0f32; EDGE_FEATURES];
        e[edge::STATIC.start] = if send.is_none() { 1.0 } else { 0.0 };
        e[edge::GAP.start] = gap.clamp(GAP_FLOOR, GAP_CLIP);
        put(&mut e, edge::NORMAL, nrm);
        put(
            &mut e,
            edge::LEVER,
            p_recv - Vector::from_array(sr.position),
        );
        e[edge::NORMAL_SPEED.start] = vn;
        put(&mut e, edge::TANGENT_VELOCITY, rel - nrm * vn);
        let gap_end = gap + vn * reach + fall;
        e[edge::GAP_END.start] = gap_end.clamp(-GAP_CLIP, GAP_CLIP);
        e[edge::FRICTION.start] = 0.5 * (ctx.bodies[recv].friction + friction);
        e[edge::RESTITUTION.start] = 0.5 * (ctx.bodies[recv].restitution + restitution);
        match send {
            None => e[edge::MASS_SHARE.start] = 1.0,
            Some(s) => {
                let (mr, ms) = (ctx.masses[recv], ctx.masses[s]);
                e[edge::MASS_SHARE.start] = ms / (mr + ms).max(1e-9);
                let d = Vector::from_array(state[s].position) - Vector::from_array(sr.position);
                put(&mut e, edge::OFFSET, d);
                e[edge::DISTANCE.start] = d.length();
                shape_features(ctx, s, &mut e[edge::SENDER_SHAPE]);
            }
        }
        g.edge_features.extend_from_slice(&e);
        push_basis(
            g,
            nrm,
            rel - nrm * vn,
            gravity,
            reach,
            p_recv - Vector::from_array(sr.position),
        );
        g.senders.push(send.unwrap_or(recv) as u32);
        g.receivers.push(recv as u32);
        g.active[recv] = 1.0;
        let moves = match send {
            Some(s) => !jointed(recv, s),
            None => static_can_move(recv, p_recv, gap, gap_end),
        };
        if moves {
            g.touching[recv] = 1.0;
        }
        g.senders.len() - 1
    };

    // Close pairs of bodies (below), found first so the edges' room is made once: at most
    // two edges a pair, and a few static surfaces and joints a body.
    let centres: Vec<Vector> = state
        .iter()
        .map(|s| Vector::from_array(s.position))
        .collect();
    let half_widths: Vec<f32> = (0..n)
        .map(|i| ctx.radii[i] + 0.5 * cfg.radius + vel[i].length() * reach)
        .collect();
    let pairs = Neighbours::new(&centres, &half_widths).pairs();
    let room = 2 * pairs.len() + 2 * n + 2 * ctx.joints.len();
    g.edge_features.reserve(room * EDGE_FEATURES);
    g.edge_basis.reserve(room * BASIS);
    g.edge_torque.reserve(room * BASIS);
    g.senders.reserve(room);
    g.receivers.reserve(room);
    // Static surfaces in range: one edge each.
    for i in (0..n).filter(|&i| is_awake(i)) {
        let prediction =
            cfg.radius + vel[i].length() * reach + 0.5 * gravity.length() * reach * reach;
        for k in 0..ctx.statics.len() {
            if let Some((gap, nrm, p)) = ctx.static_contact(i, &state[i], k, prediction) {
                let st = &ctx.statics[k];
                contact_edge(&mut g, i, None, gap, nrm, p, st.friction, st.restitution);
            }
        }
    }
    // Close pairs of bodies, both ways. Candidates from [`Neighbours`]: a pair the test
    // below keeps has its centres within `r_i + r_j + radius + |v_j − v_i|·reach`, which is
    // at most the sum of the two half-widths given above.
    for (i, j) in pairs {
        if !is_awake(i) && !is_awake(j) {
            continue;
        }
        let (xi, xj) = (centres[i], centres[j]);
        let prediction = cfg.radius + (vel[j] - vel[i]).length() * reach;
        if xi.distance(xj) - ctx.radii[i] - ctx.radii[j] > prediction {
            continue;
        }
        if let Some((gap, nrm, pi, pj)) = ctx.body_contact(i, &state[i], j, &state[j], prediction) {
            let (bi, bj) = (&ctx.bodies[i], &ctx.bodies[j]);
            if is_awake(i) {
                contact_edge(
                    &mut g,
                    i,
                    Some(j),
                    gap,
                    nrm,
                    pi,
                    bj.friction,
                    bj.restitution,
                );
            }
            if is_awake(j) {
                contact_edge(
                    &mut g,
                    j,
                    Some(i),
                    gap,
                    -nrm,
                    pj,
                    bi.friction,
                    bi.restitution,
                );
            }
        }
    }
    // Joints between bodies: on the contact edge if there is one, else a new edge.
    for jt in ctx.joints.iter() {
        let Some(b) = jt.b else { continue };
        let (pa, pb) = (pose_of(&state[jt.a]), pose_of(&state[b]));
        let (wa, wb) = (
            pa.transform_point(jt.anchor_a),
            pb.transform_point(jt.anchor_b),
        );
        let (va, vb) = (
            point_velocity(&state[jt.a], vel[jt.a], wa),
            point_velocity(&state[b], vel[b], wb),
        );
        for (recv, send, anchor_recv, anchor_send, x_recv, rel_vel) in [
            (jt.a, b, wa, wb, pa.translation, vb - va),
            (b, jt.a, wb, wa, pb.translation, va - vb),
        ] {
            if !is_awake(recv) {
                continue;
            }
            let existing = (0..g.receivers.len())
                .find(|&k| g.receivers[k] as usize == recv && g.senders[k] as usize == send);
            let k = match existing {
                Some(k) => k,
                None => {
                    let mut e = [0.0f32; EDGE_FEATURES];
                    e[edge::GAP.start] = GAP_CLIP;
                    e[edge::GAP_END.start] = GAP_CLIP;
                    let (mr, ms) = (ctx.masses[recv], ctx.masses[send]);
                    e[edge::MASS_SHARE.start] = ms / (mr + ms).max(1e-9);
                    let d = Vector::from_array(state[send].position) - x_recv;
                    put(&mut e, edge::OFFSET, d);
                    e[edge::DISTANCE.start] = d.length();
                    shape_features(ctx, send, &mut e[edge::SENDER_SHAPE]);
                    g.edge_features.extend_from_slice(&e);
                    let n = (anchor_send - anchor_recv).normalize_or(d.normalize_or_zero());
                    push_basis(
                        &mut g,
                        n,
                        rel_vel - n * rel_vel.dot(n),
                        gravity,
                        reach,
                        anchor_recv - x_recv,
                    );
                    g.senders.push(send as u32);
                    g.receivers.push(recv as u32);
                    g.active[recv] = 1.0;
                    g.senders.len() - 1
                }
            };
            let e = &mut g.edge_features[k * EDGE_FEATURES..(k + 1) * EDGE_FEATURES];
            e[edge::JOINT.start] = 1.0;
            put(e, edge::JOINT_ANCHOR, anchor_recv - x_recv);
            put(e, edge::JOINT_ERROR, anchor_send - anchor_recv);
            e[edge::JOINT_KIND.start + jt.kind] = 1.0;
            put(e, edge::JOINT_VELOCITY, rel_vel);
        }
    }
    g
}

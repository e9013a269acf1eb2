//! Static colliders held after every forecast tick. The scene's static geometry is known,
//! so a forecast does not let a body sink through it: a body deeper than [`SLOP`] into a
//! static collider is moved back out along the contact normal to [`SLOP`] depth. The
//! network still owns every contact response (bounce, friction, rest); this only catches
//! the ticks where its response comes late. The rapier truth itself sinks up to about
//! 0.1 m into the floor on a fast impact (a tick's travel), so the slop leaves the
//! ordinary contact regime, which the network learned from that truth, untouched.
//!
//! A free body is translated out, its rotation kept (the deepest contact is one corner of
//! a face that may lie flat: turning about it would tilt the face). A jointed body is
//! moved the way a position-level contact correction moves it, split between translation
//! and rotation by its mass and inertia, so a hinged plank turns up about its hinge; the
//! joint projection that follows holds the joint, and wins where the two disagree (a
//! jointed body can stay a little deeper than the slop).
//!
//! A body that crosses the middle of a thin static in one tick (a 6-cm cup wall: a ball
//! whose centre gets past it, at more than about 8 m/s) is moved out through the far
//! side, the static's nearest way out: as rapier without continuous collision detection
//! lets such a body through. Holding only bodies still moving in would avoid that, but
//! leaves bodies the network moves out slowly deeper than the slop (tried: the shipped
//! model's deepest forecast went from 0.033 to 0.053 m, planning unchanged).
//!
//! Velocity and spin are kept: a body at the surface still moving in is what the network
//! saw at every impact of its training data, and it answers with the bounce or the stop
//! the truth made there. (A network that never answered would let that speed grow, until
//! the speed guard, which the evaluation counts, stopped it. Capping the speed into the
//! collider at the previous tick's was tried: no better on any figure.)
//!
//! Training does not hold its forecasts (see [`crate::learned`]): the projection is a
//! guard of forecasts, which an evaluation reports ([`crate::predictor::Guards`]).

use foresight_sim::BodyState;
use rapier3d::math::{Rotation, Vector};

use crate::context::{Context, rotation_of};
use crate::joints::inverse_mass;
use crate::predictor::Guards;

/// Depth (m) a body may sink into a static collider before it is moved back out.
pub const SLOP: f32 = 0.02;

/// Corrections per body and tick, each of the deepest contact left: a body in a corner
/// touches two or three statics.
const PASSES: usize = 4;

/// A contact deeper than the slop: `(gap, normal from the body into the static, point
/// on the body)`.
type Contact = (f32, Vector, Vector);

/// Moves every awake body that sinks deeper than [`SLOP`] into a static collider back
/// out to [`SLOP`] depth, correcting its deepest contact up to [`PASSES`] times. Reports
/// the bodies it moved and the deepest it found one.
pub fn project_statics(ctx: &Context, state: &mut [BodyState], awake: &[bool]) -> Guards {
    let mut guards = Guards::default();
    for (i, (s, &awake)) in state.iter_mut().zip(awake).enumerate() {
        if !awake {
            continue;
        }
        // The forecast's own depth, against every static before anything moves.
        let sunk = |s: &BodyState| -> Vec<Contact> {
            (0..ctx.statics.len())
                .filter(|&k| ctx.static_depth_bound(i, s, k) > SLOP)
                .filter_map(|k| ctx.static_contact(i, s, k, 0.0))
                .filter(|c| c.0 < -SLOP)
                .collect()
        };
        let deepest_of = |cs: &[Contact]| cs.iter().copied().min_by(|x, y| x.0.total_cmp(&y.0));
        let Some(mut deepest) = deepest_of(&sunk(s)) else {
            continue;
        };
        guards.held_body_ticks += 1;
        guards.deepest_held_m = guards.deepest_held_m.max(-deepest.0);
        let jointed = ctx.joints.iter().any(|j| j.a == i || j.b == Some(i));
        // One contact per pass, the deepest, measured afresh: two statics sharing a
        // normal (a plate on the floor) would otherwise push the body out twice.
        for _ in 0..PASSES {
            let (gap, n, p) = deepest;
            push_out(ctx, i, s, n, p, -(gap + SLOP), jointed);
            match deepest_of(&sunk(s)) {
                Some(c) => deepest = c,
                None => break,
            }
        }
    }
    guards
}

/// Moves body `i` so that its point `p` goes `depth` back along `n` (`n` from the body
/// into the static): with `turn`, split between translation and rotation by the body's
/// mass and inertia (a position-level contact correction); without, a plain translation.
fn push_out(
    ctx: &Context,
    i: usize,
    s: &mut BodyState,
    n: Vector,
    p: Vector,
    depth: f32,
    turn: bool,
) {
    let x = Vector::from_array(s.position);
    if !turn {
        s.position = (x - n * depth).to_array();
        return;
    }
    let (inv_m, inv_i) = inverse_mass(ctx, i, s);
    let rn = (p - x).cross(n);
    let spin = inv_i * rn;
    let w = inv_m + rn.dot(spin);
    if w <= 0.0 || !w.is_finite() {
        return;
    }
    let lambda = depth / w;
    s.position = (x - n * (inv_m * lambda)).to_array();
    let q = (Rotation::from_scaled_axis(-spin * lambda) * rotation_of(s)).normalize();
    s.rotation = [q.x, q.y, q.z, q.w];
}

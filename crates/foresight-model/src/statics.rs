//! Static colliders held after every forecast tick. The scene's static geometry is known,
//! so the forecast does not let a body sink through it: a body deeper than [`SLOP`] into
//! a static collider is moved back out along the contact normal to [`SLOP`] depth. The
//! network still owns every contact response (bounce, friction, rest); this only catches
//! the ticks where its response comes late. The rapier truth itself sinks up to about
//! 0.1 m into the floor on a fast impact (a tick's travel), so the slop leaves the
//! ordinary contact regime, which the network learned from that truth, untouched.
//!
//! The body's velocity into the collider is kept: a body at the surface still moving in
//! is what the network saw at every impact of its training data, and it answers with the
//! bounce or the stop that the truth made there.

use foresight_sim::BodyState;
use rapier3d::math::{Rotation, Vector};

use crate::context::{Context, rotation_of};
use crate::joints::inverse_mass;
use crate::predictor::Guards;

/// Depth (m) a body may sink into a static collider before it is moved back out.
pub const SLOP: f32 = 0.02;

/// Passes over the statics per tick: a body in a corner touches two or three of them.
const PASSES: usize = 4;

/// Moves every awake body that sinks deeper than [`SLOP`] into a static collider back
/// out along the contact normal (to [`SLOP`] depth): [`PASSES`] passes over the statics,
/// turning and translating as a contact correction does, the last one translating only.
/// Reports the bodies it moved and the deepest it found one.
pub fn project_statics(ctx: &Context, state: &mut [BodyState], awake: &[bool]) -> Guards {
    let mut guards = Guards::default();
    for (i, s) in state.iter_mut().enumerate() {
        if !awake[i] {
            continue;
        }
        for pass in 0..PASSES {
            // The last pass only translates: a turn can lower another corner, a
            // translation along the normal cannot.
            let turn = pass + 1 < PASSES;
            let mut moved = false;
            for k in 0..ctx.statics.len() {
                let Some((gap, n, p)) = ctx.static_contact(i, s, k, 0.0) else {
                    continue;
                };
                if gap < -SLOP {
                    // The forecast's own state is what the first pass sees.
                    if pass == 0 {
                        if !moved {
                            guards.held_body_ticks += 1;
                        }
                        guards.deepest_held_m = guards.deepest_held_m.max(-gap);
                    }
                    push_out(ctx, i, s, n, p, -(gap + SLOP), turn);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }
    guards
}

/// Moves body `i` so that its point `p` goes `depth` back along `n` (`n` from the body
/// into the static). With `turn`, the mass-weighted split between translation and
/// rotation a position-level contact correction makes, so a box corner that digs in tilts
/// back, and a hinged plank turns about its hinge instead of fighting it; without, a plain
/// translation.
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
    let turn = inv_i * rn;
    let w = inv_m + rn.dot(turn);
    if w <= 0.0 || !w.is_finite() {
        return;
    }
    let lambda = depth / w;
    s.position = (x - n * (inv_m * lambda)).to_array();
    let q = (Rotation::from_scaled_axis(-turn * lambda) * rotation_of(s)).normalize();
    s.rotation = [q.x, q.y, q.z, q.w];
}

//! The learned step rule, written once for training targets and for rollouts. A learned
//! step spans `k` simulator ticks. For every body and every tick `j = 1..=k` of the step
//! the network gives a residual `u_j` (linear and angular velocity) over the known
//! motion, and the velocity at tick `j` is
//!
//! `v_j = v_0 + g·j·dt + K_j + u_j`, `ω_j = ω_0 + Kω_j + uω_j`,
//!
//! where `K_j` sums the velocity changes of the pushes that land before tick `j` (impulse
//! over mass, and the spin from its offset, computed with the body's rotation at the
//! start of the step). Positions and rotations follow by semi-implicit Euler
//! (`x_j = x_{j-1} + v_j·dt`, `q_j = exp(ω_j·dt)·q_{j-1}`), the same rule that makes
//! finite-difference velocities exact. So a zero residual is exactly ballistic, and the
//! residuals [`targets`] derives from a recorded trajectory integrate back onto it,
//! position *and* velocity, at every tick of the step.

use foresight_sim::{BodyState, Push};
use rapier3d::math::{Rotation, Vector};

use crate::context::{Context, rotation_of};
use crate::features::OUTPUTS_PER_TICK;
use crate::predictor::{clamp_len, rotation_delta};

/// Per body, per tick of a step: the accumulated push velocity change `(Δv, Δω)` that has
/// landed before that tick.
pub type StepKicks = Vec<Vec<([f32; 3], [f32; 3])>>;

/// The pushes landing during a step of `k` ticks whose first tick is `first` (push ticks
/// count in the same clock), accumulated per tick, with kicks computed from `start`.
pub fn step_kicks(
    ctx: &Context,
    start: &[BodyState],
    actions: &[Push],
    first: u64,
    k: usize,
) -> StepKicks {
    let mut out = vec![vec![([0.0f32; 3], [0.0f32; 3]); k]; start.len()];
    for p in actions
        .iter()
        .filter(|p| p.tick >= first && p.tick < first + k as u64 && p.body < start.len())
    {
        let (dv, dw) = ctx.kick(p, &start[p.body]);
        for acc in out[p.body].iter_mut().skip((p.tick - first) as usize) {
            for c in 0..3 {
                acc.0[c] += dv[c];
                acc.1[c] += dw[c];
            }
        }
    }
    out
}

/// The total push velocity change of each body during the step (what the network sees).
pub fn total_kicks(kicks: &StepKicks) -> Vec<([f32; 3], [f32; 3])> {
    kicks
        .iter()
        .map(|k| k.last().copied().unwrap_or(([0.0; 3], [0.0; 3])))
        .collect()
}

/// Advances body state `prev` (at tick `j - 1` of a step) by tick `j` (0-based `j`):
/// the velocity grows by gravity, by the push change landing before this tick and by the
/// growth of the residual; `kicks` and `residual` are the whole step's. Speeds are capped
/// at the context's `max_speed` ([`crate::predictor::MAX_SPEED`] on the scene's own
/// clock; spins at ten times that number in rad/s, which for a scene forecast at the
/// model's size, `s` times smaller, is `10 · MAX_SPEED / s` in the scene's), a guard the
/// evaluation counts.
pub fn advance(
    ctx: &Context,
    prev: &BodyState,
    j: usize,
    kicks: &[([f32; 3], [f32; 3])],
    residual: &[f32],
) -> BodyState {
    let dt = ctx.dt;
    let at = |j: usize| {
        let (kv, kw) = kicks[j];
        let u = &residual[j * OUTPUTS_PER_TICK..(j + 1) * OUTPUTS_PER_TICK];
        (
            Vector::from_array(kv) + Vector::new(u[0], u[1], u[2]),
            Vector::from_array(kw) + Vector::new(u[3], u[4], u[5]),
        )
    };
    let (lin, ang) = at(j);
    let (lin0, ang0) = if j == 0 {
        (Vector::ZERO, Vector::ZERO)
    } else {
        at(j - 1)
    };
    let v = Vector::from_array(prev.velocity) + Vector::from_array(ctx.gravity) * dt + lin - lin0;
    let w = Vector::from_array(prev.angular_velocity) + ang - ang0;
    let v = clamp_len(v, ctx.max_speed);
    let w = clamp_len(w, 10.0 * ctx.max_speed);
    let x = Vector::from_array(prev.position) + v * dt;
    let q = (Rotation::from_scaled_axis(w * dt) * rotation_of(prev)).normalize();
    BodyState {
        position: x.to_array(),
        rotation: [q.x, q.y, q.z, q.w],
        velocity: v.to_array(),
        angular_velocity: w.to_array(),
    }
}

/// Integrates one whole step of a body from `start` with [`advance`]; returns the `k`
/// states.
pub fn integrate_body(
    ctx: &Context,
    start: &BodyState,
    kicks: &[([f32; 3], [f32; 3])],
    residual: &[f32],
) -> Vec<BodyState> {
    let mut s = *start;
    (0..kicks.len())
        .map(|j| {
            s = advance(ctx, &s, j, kicks, residual);
            s
        })
        .collect()
}

/// The residuals that make [`integrate_body`] from `start` land exactly on `truth` (the
/// `k` recorded states after it, velocities as finite differences): `k ×`
/// [`OUTPUTS_PER_TICK`] values. When `start` is off the truth (training noise, a
/// forecast), the whole correction lands in the first tick; [`settling_targets`] spreads it.
pub fn targets(
    ctx: &Context,
    start: &BodyState,
    kicks: &[([f32; 3], [f32; 3])],
    truth: &[&BodyState],
) -> Vec<f32> {
    residuals_along(ctx, start, kicks, truth)
}

/// Like [`targets`] for a `start` that is off `truth_start` (the recorded state at the
/// same tick): the path the residuals follow is the truth shifted by the start's offset
/// (position, and rotation), the offset shrinking linearly to zero over the first
/// `settle` ticks and zero from then on. So the step still ends on the truth, position
/// and velocity, when `settle < k`, but the velocity spike of a correction is `settle`
/// times smaller than when it all lands in one tick (`settle = 1`, which is [`targets`]
/// exactly).
pub fn settling_targets(
    ctx: &Context,
    start: &BodyState,
    truth_start: &BodyState,
    kicks: &[([f32; 3], [f32; 3])],
    truth: &[&BodyState],
    settle: usize,
) -> Vec<f32> {
    let settle = settle.max(1);
    let offset = Vector::from_array(start.position) - Vector::from_array(truth_start.position);
    let turn = rotation_delta(truth_start, start);
    let path: Vec<BodyState> = truth
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let left = 1.0 - (j + 1) as f32 / settle as f32;
            if left <= 0.0 {
                return **s;
            }
            let q = (Rotation::from_scaled_axis(turn * left) * rotation_of(s)).normalize();
            BodyState {
                position: (Vector::from_array(s.position) + offset * left).to_array(),
                rotation: [q.x, q.y, q.z, q.w],
                ..**s
            }
        })
        .collect();
    residuals_along(ctx, start, kicks, &path.iter().collect::<Vec<_>>())
}

/// The residuals that make [`integrate_body`] from `start` follow `path` tick by tick.
fn residuals_along(
    ctx: &Context,
    start: &BodyState,
    kicks: &[([f32; 3], [f32; 3])],
    path: &[&BodyState],
) -> Vec<f32> {
    let dt = ctx.dt;
    let g = Vector::from_array(ctx.gravity);
    let (v0, w0) = (
        Vector::from_array(start.velocity),
        Vector::from_array(start.angular_velocity),
    );
    let mut out = Vec::with_capacity(path.len() * OUTPUTS_PER_TICK);
    let mut prev = *start;
    for (j, (s, (kv, kw))) in path.iter().zip(kicks).enumerate() {
        let t = (j + 1) as f32 * dt;
        let v = (Vector::from_array(s.position) - Vector::from_array(prev.position)) / dt;
        let w = rotation_delta(&prev, s) / dt;
        let u = v - v0 - g * t - Vector::from_array(*kv);
        let uw = w - w0 - Vector::from_array(*kw);
        out.extend_from_slice(&u.to_array());
        out.extend_from_slice(&uw.to_array());
        prev = **s;
    }
    out
}

//! The scene's joints held exactly after every forecast tick. Joints are known
//! constraints, so the forecast enforces them rather than asking the network to
//! rediscover them: all joints at once, as one linear system (a mass-weighted projection,
//! the way a direct constraint solver does it), so a chain of light links ending in a
//! heavy bob holds together in one solve where pairwise corrections need hundreds of
//! sweeps. Positions and rotations are projected first (a few Newton steps on the joint
//! errors), then velocities and spins (onto the motions the joints allow). What the
//! joints do not fix (the swing, and everything contacts do) stays the network's.
//!
//! Rows per joint: the anchor points meet (3), plus for a hinge the two directions across
//! its axis (2), for a fixed joint all three directions of relative rotation (3). A joint
//! to the world is a joint to an immovable body.

use foresight_sim::BodyState;
use nalgebra::{DMatrix, DVector};
use rapier3d::math::{Matrix, Rotation, Vector};

use crate::context::{Context, LocalJoint, rotation_of};

/// Newton steps on positions and rotations per tick.
const POSITION_ITERATIONS: usize = 3;

/// One constraint row: its Jacobian on body `a` (linear, angular) and on body `b`.
struct Row {
    a: usize,
    b: Option<usize>,
    lin_a: Vector,
    ang_a: Vector,
    lin_b: Vector,
    ang_b: Vector,
    /// The row's position error (what the correction must remove).
    error: f32,
}

/// Inverse mass and world inverse inertia of body `i` in state `s`.
pub(crate) fn inverse_mass(ctx: &Context, i: usize, s: &BodyState) -> (f32, Matrix) {
    let m = ctx.masses[i];
    let inv_m = if m > 0.0 { 1.0 / m } else { 0.0 };
    let r = Matrix::from_quat(rotation_of(s));
    let d = Matrix::from_diagonal(Vector::from_array(ctx.inv_inertia[i]));
    (inv_m, r * d * r.transpose())
}

/// Two unit vectors across `n` (`n` unit).
fn across(n: Vector) -> (Vector, Vector) {
    let t1 = n.any_orthonormal_vector();
    (t1, n.cross(t1))
}

/// The constraint rows of joint `j` in `state`.
fn rows_of(j: &LocalJoint, state: &[BodyState], out: &mut Vec<Row>) {
    let sa = &state[j.a];
    let qa = rotation_of(sa);
    let xa = Vector::from_array(sa.position);
    let ra = qa * j.anchor_a;
    let (xb, qb, rb) = match j.b {
        Some(b) => {
            let sb = &state[b];
            let qb = rotation_of(sb);
            (Vector::from_array(sb.position), qb, qb * j.anchor_b)
        }
        None => (j.anchor_b, Rotation::IDENTITY, Vector::ZERO),
    };
    // Anchor points meet: C = (x_b + r_b) − (x_a + r_a); Ċ = v_b + ω_b × r_b − v_a − ω_a × r_a.
    let gap = (xb + rb) - (xa + ra);
    for axis in [Vector::X, Vector::Y, Vector::Z] {
        out.push(Row {
            a: j.a,
            b: j.b,
            lin_a: -axis,
            ang_a: -ra.cross(axis),
            lin_b: axis,
            ang_b: rb.cross(axis),
            error: gap.dot(axis),
        });
    }
    // Relative rotation: rows t · (ω_b − ω_a) with error t · e, e the small rotation of b
    // away from where the joint holds it.
    let mut turn = |t: Vector, e: Vector| {
        out.push(Row {
            a: j.a,
            b: j.b,
            lin_a: Vector::ZERO,
            ang_a: -t,
            lin_b: Vector::ZERO,
            ang_b: t,
            error: t.dot(e),
        });
    };
    match j.kind {
        0 => {
            // Fixed: b keeps its starting rotation relative to a.
            // The shortest way round (q and -q are the same rotation).
            let mut q = (qb * (qa * j.rest).inverse()).normalize();
            if q.w < 0.0 {
                q = -q;
            }
            let e = q.to_scaled_axis();
            for t in [Vector::X, Vector::Y, Vector::Z] {
                turn(t, e);
            }
        }
        1 => {
            // Hinge: b's copy of the axis stays on a's.
            let na = (qa * j.axis_a).normalize_or_zero();
            let nb = (qb * j.axis_b).normalize_or_zero();
            if na != Vector::ZERO && nb != Vector::ZERO {
                let e = na.cross(nb);
                let (t1, t2) = across(na);
                turn(t1, e);
                turn(t2, e);
            }
        }
        _ => {}
    }
}

/// Solves `(J M⁻¹ Jᵀ) λ = rhs` and returns the per-body changes `−M⁻¹ Jᵀ λ` (linear,
/// angular), or `None` when the system cannot be solved.
fn project(
    ctx: &Context,
    state: &[BodyState],
    rows: &[Row],
    rhs: &DVector<f32>,
) -> Option<Vec<(Vector, Vector)>> {
    let n = rows.len();
    let inv: Vec<(f32, Matrix)> = (0..state.len())
        .map(|i| inverse_mass(ctx, i, &state[i]))
        .collect();
    // M⁻¹ Jᵀ, per row: the change of each of its bodies per unit multiplier.
    let wa: Vec<(Vector, Vector)> = rows
        .iter()
        .map(|r| (r.lin_a * inv[r.a].0, inv[r.a].1 * r.ang_a))
        .collect();
    let wb: Vec<(Vector, Vector)> = rows
        .iter()
        .map(|r| match r.b {
            Some(b) => (r.lin_b * inv[b].0, inv[b].1 * r.ang_b),
            None => (Vector::ZERO, Vector::ZERO),
        })
        .collect();
    let mut k = DMatrix::<f32>::zeros(n, n);
    for p in 0..n {
        for q in 0..n {
            let (rp, rq) = (&rows[p], &rows[q]);
            let mut v = 0.0;
            if rp.a == rq.a {
                v += rp.lin_a.dot(wa[q].0) + rp.ang_a.dot(wa[q].1);
            }
            if Some(rp.a) == rq.b {
                v += rp.lin_a.dot(wb[q].0) + rp.ang_a.dot(wb[q].1);
            }
            if let Some(b) = rp.b {
                if b == rq.a {
                    v += rp.lin_b.dot(wa[q].0) + rp.ang_b.dot(wa[q].1);
                }
                if Some(b) == rq.b {
                    v += rp.lin_b.dot(wb[q].0) + rp.ang_b.dot(wb[q].1);
                }
            }
            k[(p, q)] = v;
        }
    }
    // A little softness keeps redundant rows (a closed loop) solvable.
    let scale = (0..n).map(|i| k[(i, i)]).fold(0.0f32, f32::max).max(1e-9);
    for i in 0..n {
        k[(i, i)] += 1e-6 * scale;
    }
    let lambda = k.lu().solve(rhs)?;
    if lambda.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let mut out = vec![(Vector::ZERO, Vector::ZERO); state.len()];
    for (p, r) in rows.iter().enumerate() {
        let l = lambda[p];
        out[r.a].0 -= wa[p].0 * l;
        out[r.a].1 -= wa[p].1 * l;
        if let Some(b) = r.b {
            out[b].0 -= wb[p].0 * l;
            out[b].1 -= wb[p].1 * l;
        }
    }
    Some(out)
}

/// Holds jointed bodies to their joints after a tick: positions and rotations onto the
/// joints, then velocities and spins onto the motions they allow.
pub fn project_joints(ctx: &Context, state: &mut [BodyState]) {
    if ctx.joints.is_empty() {
        return;
    }
    let mut rows = Vec::new();
    for _ in 0..POSITION_ITERATIONS {
        rows.clear();
        for j in &ctx.joints {
            rows_of(j, state, &mut rows);
        }
        let worst = rows.iter().map(|r| r.error.abs()).fold(0.0f32, f32::max);
        if worst < 1e-5 {
            break;
        }
        let rhs = DVector::from_iterator(rows.len(), rows.iter().map(|r| r.error));
        let Some(d) = project(ctx, state, &rows, &rhs) else {
            return;
        };
        for (s, (dx, dw)) in state.iter_mut().zip(d) {
            let x = Vector::from_array(s.position) + dx;
            let q = (Rotation::from_scaled_axis(dw) * rotation_of(s)).normalize();
            s.position = x.to_array();
            s.rotation = [q.x, q.y, q.z, q.w];
        }
    }
    rows.clear();
    for j in &ctx.joints {
        rows_of(j, state, &mut rows);
    }
    let speeds = DVector::from_iterator(
        rows.len(),
        rows.iter().map(|r| {
            let va = Vector::from_array(state[r.a].velocity);
            let wa = Vector::from_array(state[r.a].angular_velocity);
            let mut c = r.lin_a.dot(va) + r.ang_a.dot(wa);
            if let Some(b) = r.b {
                c += r.lin_b.dot(Vector::from_array(state[b].velocity))
                    + r.ang_b.dot(Vector::from_array(state[b].angular_velocity));
            }
            c
        }),
    );
    if let Some(d) = project(ctx, state, &rows, &speeds) {
        for (s, (dv, dw)) in state.iter_mut().zip(d) {
            s.velocity = (Vector::from_array(s.velocity) + dv).to_array();
            s.angular_velocity = (Vector::from_array(s.angular_velocity) + dw).to_array();
        }
    }
}

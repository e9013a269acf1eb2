//! The [`Predictor`] trait every forecaster implements, the tick integrator they share,
//! and the baselines: constant velocity and ballistic (gravity, no contacts).

use foresight_sim::{BodyState, Push, SUBSTEPS};
use rapier3d::math::{Rotation, Vector};

use crate::context::{Context, rotation_of};
use crate::error::ModelError;

/// A forecast: `states[k]` is every body's state `k + 1` ticks after the last history frame.
pub type Forecast = Vec<Vec<BodyState>>;

/// What a forecast's guards did: they keep a forecast physical where the predictor
/// itself would not, so an evaluation reports them beside the forecast's own figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Guards {
    /// Body-ticks at which the static projection ([`crate::statics`]) moved a body back
    /// out of a static collider.
    pub held_body_ticks: usize,
    /// The deepest a body had sunk into a static collider when the projection moved it
    /// back out, m: the predictor's own penetration.
    pub deepest_held_m: f32,
}

impl Guards {
    /// Adds `o`'s counts and keeps the deeper depth.
    pub fn merge(&mut self, o: &Guards) {
        self.held_body_ticks += o.held_body_ticks;
        self.deepest_held_m = self.deepest_held_m.max(o.deepest_held_m);
    }
}

/// Largest speed and acceleration a forecast may produce (m/s, m/s²): a guard so a model
/// out of its depth cannot send bodies to infinity.
pub const MAX_SPEED: f32 = 60.0;
/// See [`MAX_SPEED`].
pub const MAX_ACCEL: f32 = 200.0;

/// Forecasts every body's motion from the recent history, the scene and the actions.
pub trait Predictor: Send + Sync {
    /// A short name for tables and legends.
    fn name(&self) -> &str;

    /// Forecasts `horizon` ticks. `history` holds consecutive ticks ending now (at least
    /// one) with the simulator's recorded velocities (a trajectory's frames, not finite
    /// differences already: see [`finite_difference_history`]); `actions` are pushes whose
    /// `tick` counts from now (0: before the first step).
    fn rollout(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<Forecast, ModelError>;

    /// [`Predictor::rollout`], with what the forecast's guards did. Predictors without
    /// guards report none.
    fn rollout_guarded(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<(Forecast, Guards), ModelError> {
        Ok((
            self.rollout(ctx, history, actions, horizon)?,
            Guards::default(),
        ))
    }

    /// Forecasts the same history under several action sets (one forecast each), e.g.
    /// the candidates of a planner. Predictors that can batch their work override this.
    fn rollout_batch(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        action_sets: &[Vec<Push>],
        horizon: usize,
    ) -> Result<Vec<Forecast>, ModelError> {
        action_sets
            .iter()
            .map(|a| self.rollout(ctx, history, a, horizon))
            .collect()
    }
}

/// Checks that a request fits the context.
pub fn check_request(
    ctx: &Context,
    history: &[Vec<BodyState>],
    actions: &[Push],
) -> Result<(), ModelError> {
    let Some(last) = history.last() else {
        return Err(ModelError::Request(
            "history is empty; give at least the current state".into(),
        ));
    };
    if let Some(f) = history.iter().find(|f| f.len() != ctx.len()) {
        return Err(ModelError::Request(format!(
            "a history frame has {} bodies, the scene has {}",
            f.len(),
            ctx.len()
        )));
    }
    let bad_rotation = |s: &BodyState| {
        let n: f32 = s.rotation.iter().map(|x| x * x).sum();
        !n.is_finite() || n < 1e-6
    };
    if last.iter().any(|s| {
        s.position
            .iter()
            .chain(&s.velocity)
            .chain(&s.angular_velocity)
            .any(|x| !x.is_finite())
            || bad_rotation(s)
    }) {
        return Err(ModelError::Request(
            "the current state is not finite or has a zero rotation".into(),
        ));
    }
    if let Some(p) = actions.iter().find(|p| p.body >= ctx.len()) {
        return Err(ModelError::Request(format!(
            "a push names body {}, the scene has {}",
            p.body,
            ctx.len()
        )));
    }
    Ok(())
}

/// `v` shortened to length `max` if longer; zero if not finite (the speed guard).
pub(crate) fn clamp_len(v: Vector, max: f32) -> Vector {
    let l = v.length();
    if !l.is_finite() {
        Vector::ZERO
    } else if l > max {
        v * (max / l)
    } else {
        v
    }
}

/// Advances one body by one tick with constant linear and angular acceleration
/// (semi-implicit Euler). Velocities here are finite differences of positions (see
/// [`finite_difference_history`]), so `x' = x + v'·dt` holds exactly.
pub fn integrate_tick(s: &BodyState, lin_acc: [f32; 3], ang_acc: [f32; 3], dt: f32) -> BodyState {
    let a = clamp_len(Vector::from_array(lin_acc), MAX_ACCEL);
    let alpha = clamp_len(Vector::from_array(ang_acc), 10.0 * MAX_ACCEL);
    let v_new = clamp_len(Vector::from_array(s.velocity) + a * dt, MAX_SPEED);
    let w_new = clamp_len(
        Vector::from_array(s.angular_velocity) + alpha * dt,
        10.0 * MAX_SPEED,
    );
    let x = Vector::from_array(s.position) + v_new * dt;
    let q = (Rotation::from_scaled_axis(w_new * dt) * rotation_of(s)).normalize();
    BodyState {
        position: x.to_array(),
        rotation: [q.x, q.y, q.z, q.w],
        velocity: v_new.to_array(),
        angular_velocity: w_new.to_array(),
    }
}

/// Applies the pushes scheduled for `tick` to `state` (instantaneous velocity changes).
pub fn apply_kicks(ctx: &Context, state: &mut [BodyState], actions: &[Push], tick: u64) {
    for p in actions.iter().filter(|p| p.tick == tick) {
        let (dv, dw) = ctx.kick(p, &state[p.body]);
        let s = &mut state[p.body];
        for k in 0..3 {
            s.velocity[k] += dv[k];
            s.angular_velocity[k] += dw[k];
        }
    }
}

/// The rotation vector taking `from` to `to` (world frame), shortest way round.
pub fn rotation_delta(from: &BodyState, to: &BodyState) -> Vector {
    let mut q = rotation_of(to) * rotation_of(from).inverse();
    if q.w < 0.0 {
        q = -q;
    }
    q.to_scaled_axis()
}

/// The finite-difference velocity of a body at a frame with no frame before it (a
/// scene's first frame), from its recorded velocity `v`: rapier integrates every tick in
/// [`SUBSTEPS`] substeps `s`, so a body in free flight moves `v·dt + (s + 1)/(2s)·g·dt²`
/// over its next tick, and the finite difference that continues into that by the step
/// rule (`v' = v + g·dt`, `x' = x + v'·dt`) is `v - (s - 1)/(2s)·g·dt`. With it, a
/// forecast from a scene's first frame flies exactly as the simulator does instead of
/// running ahead by `(s - 1)/(2s)·g·dt²` every tick (6 cm a second at 60 Hz).
pub fn first_frame_velocity(velocity: [f32; 3], gravity: [f32; 3], dt: f32) -> [f32; 3] {
    let s = SUBSTEPS as f32;
    let lag = (s - 1.0) / (2.0 * s) * dt;
    [0, 1, 2].map(|c| velocity[c] - gravity[c] * lag)
}

/// The history with every velocity replaced by the finite difference of positions and
/// rotations from the frame before, and the first frame's recorded velocities read as
/// [`first_frame_velocity`] does. Rapier's reported velocity of a body resting on a
/// surface is not zero (it carries the contact solver's bias), while its position does
/// not move; predictors work with what the positions actually do. The history's frames
/// carry the simulator's recorded velocities (a trajectory's frames), not finite
/// differences already.
pub fn finite_difference_history(
    history: &[Vec<BodyState>],
    dt: f32,
    gravity: [f32; 3],
) -> Vec<Vec<BodyState>> {
    let mut out = history.to_vec();
    if let Some(first) = out.first_mut() {
        for s in first.iter_mut() {
            s.velocity = first_frame_velocity(s.velocity, gravity, dt);
        }
    }
    for t in 1..history.len() {
        for (i, s) in out[t].iter_mut().enumerate() {
            let (a, b) = (&history[t - 1][i], &history[t][i]);
            s.velocity = [0, 1, 2].map(|c| (b.position[c] - a.position[c]) / dt);
            s.angular_velocity = (rotation_delta(a, b) / dt).to_array();
        }
    }
    out
}

/// The last frame of a history with velocities as the finite difference from the frame
/// before ([`first_frame_velocity`] when there is only one frame).
pub fn current_state(ctx: &Context, history: &[Vec<BodyState>]) -> Vec<BodyState> {
    let start = history.len().saturating_sub(2);
    finite_difference_history(&history[start..], ctx.dt, ctx.gravity)
        .pop()
        .unwrap_or_default()
}

/// Straight lines at the current velocity; pushes change the velocity when they land.
pub struct ConstantVelocity;

/// Free flight under gravity, as if there were nothing to hit; pushes change the velocity.
pub struct Ballistic;

fn simple_rollout(
    ctx: &Context,
    history: &[Vec<BodyState>],
    actions: &[Push],
    horizon: usize,
    gravity: bool,
) -> Result<Forecast, ModelError> {
    check_request(ctx, history, actions)?;
    let g = if gravity { ctx.gravity } else { [0.0; 3] };
    let mut state = current_state(ctx, history);
    let mut out = Vec::with_capacity(horizon);
    for tick in 0..horizon as u64 {
        apply_kicks(ctx, &mut state, actions, tick);
        state = state
            .iter()
            .map(|s| integrate_tick(s, g, [0.0; 3], ctx.dt))
            .collect();
        out.push(state.clone());
    }
    Ok(out)
}

impl Predictor for ConstantVelocity {
    fn name(&self) -> &str {
        "constant-velocity"
    }

    fn rollout(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<Forecast, ModelError> {
        simple_rollout(ctx, history, actions, horizon, false)
    }
}

impl Predictor for Ballistic {
    fn name(&self) -> &str {
        "ballistic"
    }

    fn rollout(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<Forecast, ModelError> {
        simple_rollout(ctx, history, actions, horizon, true)
    }
}

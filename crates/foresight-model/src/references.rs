//! References that bracket a learned model, neither of which learns anything or needs
//! weights: ballistic flight that stops at static surfaces (a simple physics prior a model
//! must clear), and the simulator itself rerun from a slightly perturbed state (the chaos
//! floor: how predictable a scene is at all). Constant velocity and plain ballistic flight
//! live in `predictor`; the evaluation that uses all of them lives in `eval`.

use foresight_sim::{BodyState, Push, SceneInstance, World};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rapier3d::math::Vector;

use crate::context::Context;
use crate::error::ModelError;
use crate::predictor::{
    Forecast, Predictor, apply_kicks, check_request, current_state, integrate_tick,
};

/// Ballistic flight under gravity, except that a body stops dead (velocity and spin zeroed,
/// left where it was the tick before) at the first tick whose step would sink it deeper
/// into a static collider, and stays stopped until a push sets it moving again. Bodies
/// pass through each other and joints are ignored: the simplest prior that knows the
/// ground is solid.
pub struct BallisticStop;

/// The deepest any static collider holds body `i` at state `s`, m (0 when clear of all).
pub fn deepest_static_penetration(ctx: &Context, i: usize, s: &BodyState) -> f32 {
    (0..ctx.statics.len())
        .map(|k| ctx.static_penetration(i, s, k))
        .fold(0.0, f32::max)
}

/// Whether moving body `i` from `from` to `to` sinks it deeper into a static collider than
/// it is at `from` (more than 0.1 mm). Points along the way are checked, spaced at most
/// half the body's smallest half extent apart (up to 16), so a fast body cannot step
/// through a thin wall.
pub fn sinks_into_static(ctx: &Context, i: usize, from: &BodyState, to: &BodyState) -> bool {
    let now = deepest_static_penetration(ctx, i, from);
    let (a, b) = (
        Vector::from_array(from.position),
        Vector::from_array(to.position),
    );
    let half = ctx.bodies[i]
        .shape
        .half_extents()
        .into_iter()
        .fold(f32::INFINITY, f32::min)
        .max(1e-3);
    let samples = ((b - a).length() / (0.5 * half)).ceil().clamp(1.0, 16.0) as usize;
    (1..=samples).any(|k| {
        let p = a.lerp(b, k as f32 / samples as f32);
        let s = BodyState {
            position: p.to_array(),
            ..*to
        };
        deepest_static_penetration(ctx, i, &s) > now + 1e-4
    })
}

impl Predictor for BallisticStop {
    fn name(&self) -> &str {
        "ballistic-stop"
    }

    fn rollout(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<Forecast, ModelError> {
        check_request(ctx, history, actions)?;
        let mut state = current_state(ctx, history);
        let mut stopped = vec![false; ctx.len()];
        let mut out = Vec::with_capacity(horizon);
        for tick in 0..horizon as u64 {
            apply_kicks(ctx, &mut state, actions, tick);
            for p in actions.iter().filter(|p| p.tick == tick) {
                stopped[p.body] = false;
            }
            for (i, s) in state.iter_mut().enumerate() {
                if stopped[i] {
                    continue;
                }
                let next = integrate_tick(s, ctx.gravity, [0.0; 3], ctx.dt);
                if sinks_into_static(ctx, i, s, &next) {
                    stopped[i] = true;
                    s.velocity = [0.0; 3];
                    s.angular_velocity = [0.0; 3];
                } else {
                    *s = next;
                }
            }
            out.push(state.clone());
        }
        Ok(out)
    }
}

/// The simulator rerun from the last history state with every body moved by
/// [`position_noise`](Self::position_noise) and its velocity changed by
/// [`velocity_noise`](Self::velocity_noise), each in a random direction, with the actions
/// applied at their ticks. Its error is the chaos floor: what even a perfect model of the
/// physics gets wrong from a state known to a millimetre. The draw is seeded by
/// [`seed`](Self::seed) and a hash of the request, so the same request gives the same
/// forecast. The history's last velocities are used as given (rapier's own, in recorded
/// trajectories).
#[derive(Debug, Clone, Copy)]
pub struct RapierPerturbed {
    /// Distance each body is moved, m.
    pub position_noise: f32,
    /// Size of the velocity change of each body, m/s.
    pub velocity_noise: f32,
    /// Seed mixed with the hash of each request.
    pub seed: u64,
}

impl RapierPerturbed {
    /// The chaos floor of the evaluation: a millimetre and a centimetre per second.
    pub const DEFAULT: RapierPerturbed = RapierPerturbed {
        position_noise: 0.001,
        velocity_noise: 0.01,
        seed: 0x5eed_f100_2c0f_fee5,
    };
}

impl Default for RapierPerturbed {
    fn default() -> Self {
        RapierPerturbed::DEFAULT
    }
}

/// FNV-1a over the bits of a state and actions: a hash that is the same on every platform
/// and Rust version.
fn request_hash(state: &[BodyState], actions: &[Push]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for s in state {
        for x in s
            .position
            .iter()
            .chain(&s.rotation)
            .chain(&s.velocity)
            .chain(&s.angular_velocity)
        {
            eat(u64::from(x.to_bits()));
        }
    }
    for p in actions {
        eat(p.body as u64);
        eat(p.tick);
        for x in p.impulse.iter().chain(&p.offset) {
            eat(u64::from(x.to_bits()));
        }
    }
    h
}

/// A uniformly random direction.
fn random_direction(rng: &mut ChaCha8Rng) -> Vector {
    loop {
        let v = Vector::new(
            rng.random_range(-1.0..1.0f32),
            rng.random_range(-1.0..1.0f32),
            rng.random_range(-1.0..1.0f32),
        );
        let l = v.length();
        if l > 1e-3 && l <= 1.0 {
            return v / l;
        }
    }
}

/// The scene instance a context describes, with the bodies at their starting poses (so
/// joints are built as in the scene) and `actions` as its pushes.
pub fn instance_of(ctx: &Context, actions: &[Push]) -> SceneInstance {
    let mut pushes = actions.to_vec();
    pushes.sort_by_key(|p| p.tick);
    SceneInstance {
        name: "context".into(),
        description: "rebuilt from a predictor context".into(),
        seed: 0,
        gravity: ctx.gravity,
        dt: ctx.dt,
        steps: 0,
        statics: ctx.statics.clone(),
        bodies: ctx.bodies.clone(),
        joints: ctx.scene_joints.clone(),
        pushes,
        question: None,
        goal: None,
        actions: None,
    }
}

impl RapierPerturbed {
    /// The last history state with the perturbation this predictor applies to it.
    pub fn perturb(&self, state: &[BodyState], actions: &[Push]) -> Vec<BodyState> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ request_hash(state, actions));
        state
            .iter()
            .map(|s| {
                let dx = random_direction(&mut rng) * self.position_noise;
                let dv = random_direction(&mut rng) * self.velocity_noise;
                BodyState {
                    position: (Vector::from_array(s.position) + dx).to_array(),
                    velocity: (Vector::from_array(s.velocity) + dv).to_array(),
                    ..*s
                }
            })
            .collect()
    }
}

/// Rapier itself rebuilt at the current state: the oracle imagination of a planner (what
/// a perfect world model would foresee). From a scene's first tick it reproduces the
/// simulation exactly; later, only positions and velocities carry over (not the solver's
/// warm-start state), so it is very close but not bit-identical.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rapier;

impl Predictor for Rapier {
    fn name(&self) -> &str {
        "rapier"
    }

    fn rollout(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<Forecast, ModelError> {
        check_request(ctx, history, actions)?;
        let last = history.last().map(Vec::as_slice).unwrap_or_default();
        simulate_from(ctx, last, actions, horizon)
    }
}

/// Rapier run for `horizon` ticks from `state` with `actions` (ticks from now).
fn simulate_from(
    ctx: &Context,
    state: &[BodyState],
    actions: &[Push],
    horizon: usize,
) -> Result<Forecast, ModelError> {
    let mut world = World::new(&instance_of(ctx, actions));
    world.set_states(state)?;
    let mut out = Vec::with_capacity(horizon);
    for _ in 0..horizon {
        world.step();
        out.push(world.states());
    }
    Ok(out)
}

impl Predictor for RapierPerturbed {
    fn name(&self) -> &str {
        "rapier-perturbed"
    }

    fn rollout(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<Forecast, ModelError> {
        check_request(ctx, history, actions)?;
        let last = history.last().map(Vec::as_slice).unwrap_or_default();
        simulate_from(ctx, &self.perturb(last, actions), actions, horizon)
    }
}

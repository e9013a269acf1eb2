//! Forecasts of a scene whose clock is not the model's. A model learns its steps at the
//! tick and under the gravity of its data (every training scene steps at 1/60 s under
//! 9.81 m/s²), and its outputs are velocity changes per tick: run at another tick they
//! mean something else, and under other gravity every contact it learned (a body resting,
//! bouncing, sliding) happens at another pace or in another direction. Three
//! conversions:
//!
//! - A scene with another `time_step` is forecast on the model's tick and read back on
//!   the scene's: the history is resampled onto the model's tick, each push moves to the
//!   model tick nearest its moment, and the forecast is interpolated at the scene's ticks
//!   (positions and velocities linearly, rotations along the shortest arc).
//! - Rigid bodies under gravity `g` move as they would under `g₀` with time running
//!   `√(g/g₀)` times as fast (lengths, masses, friction and restitution have no time in
//!   them): a scene under gravity of another strength is forecast under the model's, on a
//!   clock that runs that much faster or slower, with velocities and push velocity
//!   changes scaled by the same factor, and read back in the scene's seconds.
//! - A scene whose gravity points elsewhere than the model's (training turns scenes only
//!   about the vertical) is turned whole, statics, bodies, joints, pushes and gravity,
//!   until its gravity points the model's way, forecast so and turned back.
//! - A scene whose bodies are larger (or smaller) than the training scenes' ones is
//!   forecast at a size the model knows: rigid bodies under gravity move the same with
//!   every length divided by `s` and time running `√s` times as fast, so lengths are
//!   divided by `s` (shapes, places, anchors; masses follow the shapes), and the time
//!   conversion is the one for gravity `g / s`. A scene is measured by its bodies' mean
//!   half-extent; one outside [`MODEL_SIZES`] is brought to their geometric middle.

use foresight_sim::{BodyDesc, BodyState, Joint, JointKind, Pose, Push, StaticBody};
use rapier3d::math::{Rotation, Vector};

use crate::context::{Context, Turn, rotation_of};
use crate::predictor::{Forecast, Guards, MAX_SPEED};

/// The tick every shipped dataset steps at, and so every shipped model learned at, s
/// (a model file from before the sidecar recorded its tick reads as this).
pub const MODEL_TICK: f32 = 1.0 / 60.0;

/// The gravity of every shipped dataset, m/s² (likewise for older model files).
pub const MODEL_GRAVITY: [f32; 3] = [0.0, -9.81, 0.0];

/// The sizes of the shipped training scenes, m: each scene's [`scene_size`] lies between
/// 0.10 (billiards' balls) and 0.32 (the seesaw with its plank), and the range is widened
/// by a tenth either way ([`trained_sizes`]), so no shipped scene sits on its edge. What
/// a model file from before models recorded their sizes learned on.
pub const MODEL_SIZES: (f32, f32) = (0.09, 0.35);

/// The sizes a model trained on scenes of these bodies learned on: the smallest and the
/// largest [`scene_size`], widened by a tenth either way ([`MODEL_SIZES`] when there is
/// no scene with bodies).
pub fn trained_sizes<'a>(scenes: impl Iterator<Item = &'a [BodyDesc]>) -> (f32, f32) {
    let (lo, hi) = scenes
        .map(scene_size)
        .filter(|s| s.is_finite() && *s > 0.0)
        .fold((f32::MAX, 0.0f32), |(lo, hi), s| (lo.min(s), hi.max(s)));
    if hi == 0.0 {
        MODEL_SIZES
    } else {
        (lo / 1.1, hi * 1.1)
    }
}

/// A scene's size: the mean over its bodies of each body's mean half-extent, m (0 for a
/// scene without bodies).
pub fn scene_size(bodies: &[BodyDesc]) -> f32 {
    if bodies.is_empty() {
        return 0.0;
    }
    let total: f32 = bodies
        .iter()
        .map(|b| b.shape.half_extents().iter().sum::<f32>() / 3.0)
        .sum();
    total / bodies.len() as f32
}

/// Scene lengths per model length for a scene of `size`: 1 within `sizes`, else what
/// brings it to their geometric middle, not to the nearer end, which is the edge of what
/// the model knows. A scene just outside `sizes` is
/// scaled by almost their spread's square root at once: the forecast of a scene grown
/// past the edge jumps there.
pub fn size_scale(size: f32, sizes: (f32, f32)) -> f32 {
    if !(size.is_finite() && size > 0.0) || (sizes.0..=sizes.1).contains(&size) {
        return 1.0;
    }
    size / (sizes.0 * sizes.1).sqrt()
}

/// How a scene's clock maps onto the model's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// The scene's tick in model time, s.
    from: f32,
    /// The model's tick, s.
    to: f32,
    /// Model seconds per scene second: `√(|g| / |g₀|)`, 1 when the scene has no gravity.
    pace: f32,
    /// The turn that points the scene's gravity the model's way, when it points elsewhere.
    turn: Option<Turn>,
    /// Scene metres per model metre (1 for a scene of the model's sizes).
    scale: f32,
}

impl Clock {
    /// The clock of a scene stepping at `dt` under `gravity`, for a model that learned at
    /// `tick` under `model_gravity`.
    pub fn new(dt: f32, gravity: [f32; 3], tick: f32, model_gravity: [f32; 3]) -> Clock {
        Clock::scaled(dt, gravity, tick, model_gravity, 1.0)
    }

    /// The clock of a scene stepping at `dt` under `gravity` whose bodies are `bodies`,
    /// for a model that learned at `tick` under `model_gravity` on scenes of `sizes`
    /// ([`size_scale`]).
    pub fn for_scene(
        dt: f32,
        gravity: [f32; 3],
        bodies: &[BodyDesc],
        tick: f32,
        model_gravity: [f32; 3],
        sizes: (f32, f32),
    ) -> Clock {
        let scale = size_scale(scene_size(bodies), sizes);
        Clock::scaled(dt, gravity, tick, model_gravity, scale)
    }

    /// [`Clock::new`] for a scene `scale` times the model's size: under gravity `g` it
    /// moves as the model's size does under `g / scale`.
    fn scaled(dt: f32, gravity: [f32; 3], tick: f32, model_gravity: [f32; 3], scale: f32) -> Clock {
        let g = Vector::from_array(gravity).length() / scale;
        let g0 = Vector::from_array(model_gravity).length();
        // Gravity beyond 25 times weaker or stronger than the model's is brought that far
        // and no further: the model's clock would otherwise take a scene second in a
        // tick or two, or in hundreds.
        let pace = if g > 0.0 && g0 > 0.0 && !same_tick(g, g0) {
            (g / g0)
                .clamp(1.0 / MAX_GRAVITY_RATIO, MAX_GRAVITY_RATIO)
                .sqrt()
        } else {
            1.0
        };
        let (down, model_down) = (
            Vector::from_array(gravity).normalize_or_zero(),
            Vector::from_array(model_gravity).normalize_or_zero(),
        );
        // More than about 0.08° apart (a default scene's gravity is the model's exactly).
        let turn = (down != Vector::ZERO
            && model_down != Vector::ZERO
            && down.dot(model_down) < 1.0 - 1e-6)
            .then(|| Turn {
                rotation: Rotation::from_rotation_arc(down, model_down),
                mirror: false,
            });
        Clock {
            from: dt * pace,
            to: tick,
            pace,
            turn,
            scale,
        }
    }

    /// One line for people: what a scene at `dt` under `gravity` is converted from, for a
    /// model of `tick` and `model_gravity`; `None` when the scene runs on the model's
    /// clock.
    pub fn describe(
        dt: f32,
        gravity: [f32; 3],
        bodies: &[BodyDesc],
        tick: f32,
        model_gravity: [f32; 3],
        sizes: (f32, f32),
    ) -> Option<String> {
        let clock = Clock::for_scene(dt, gravity, bodies, tick, model_gravity, sizes);
        if clock.is_model_time() {
            return None;
        }
        let g = Vector::from_array(gravity);
        let g0 = Vector::from_array(model_gravity);
        let mut parts = Vec::new();
        if !same_tick(dt, tick) {
            parts.push(format!("steps at {dt:.4} s"));
        }
        if clock.scale != 1.0 {
            parts.push(format!(
                "has bodies {:.2} m across on average (the model's are {:.2}–{:.2} m)",
                2.0 * scene_size(bodies),
                2.0 * sizes.0,
                2.0 * sizes.1
            ));
        }
        if !same_tick(g.length(), g0.length()) && g.length() > 0.0 {
            parts.push(format!("falls at {:.2} m/s²", g.length()));
        }
        if clock.turn.is_some() {
            let angle = g.angle_between(g0).to_degrees();
            parts.push(format!("has gravity {angle:.0}° off the model's"));
        }
        Some(format!(
            "This scene {}: the learned model forecasts it on its own clock ({:.4} s, {:.2} m/s² down{}) and reads the forecast back.",
            parts.join(" and "),
            tick,
            g0.length(),
            if clock.scale > 1.0 {
                format!(", {:.2}× smaller", clock.scale)
            } else if clock.scale < 1.0 {
                format!(", {:.2}× larger", 1.0 / clock.scale)
            } else {
                String::new()
            }
        ))
    }

    /// Whether the scene already runs on the model's clock (nothing to convert).
    pub fn is_model_time(&self) -> bool {
        self.pace == 1.0
            && self.turn.is_none()
            && self.scale == 1.0
            && same_tick(self.from, self.to)
    }

    /// The scene's context on the model's clock: turned (when its gravity points
    /// elsewhere), the model's tick, gravity and speed cap.
    pub fn context(&self, ctx: &Context) -> Context {
        let mut out = match (&self.turn, self.scale) {
            (None, 1.0) => ctx.clone(),
            (turn, scale) => {
                let turned = turn.unwrap_or(Turn::NONE);
                let (statics, bodies, joints) =
                    turned.parts(&ctx.statics, &ctx.bodies, &ctx.scene_joints);
                let k = 1.0 / scale;
                let statics: Vec<StaticBody> = statics
                    .into_iter()
                    .map(|s| StaticBody {
                        shape: s.shape.scaled(k),
                        pose: scaled_pose(&s.pose, k),
                        ..s
                    })
                    .collect();
                // (A body's starting velocity is left as written: forecasts start from the
                // history, which `Clock::history` converts.)
                let bodies: Vec<BodyDesc> = bodies
                    .into_iter()
                    .map(|b| BodyDesc {
                        shape: b.shape.scaled(k),
                        pose: scaled_pose(&b.pose, k),
                        ..b
                    })
                    .collect();
                let joints: Vec<Joint> = joints
                    .into_iter()
                    .map(|j| Joint {
                        kind: match j.kind {
                            JointKind::Fixed => JointKind::Fixed,
                            JointKind::Revolute { anchor, axis } => JointKind::Revolute {
                                anchor: anchor.map(|v| v * k),
                                axis,
                            },
                            JointKind::Spherical { anchor } => JointKind::Spherical {
                                anchor: anchor.map(|v| v * k),
                            },
                        },
                        ..j
                    })
                    .collect();
                Context::from_parts(ctx.dt, ctx.gravity, &statics, &bodies, &joints)
            }
        };
        out.dt = self.to;
        out.gravity = self.gravity(ctx.gravity);
        out.max_speed = self.max_speed();
        out
    }

    /// The same turn the other way.
    fn turned_back(&self) -> Option<Turn> {
        self.turn.map(|t| Turn {
            rotation: t.rotation.inverse(),
            mirror: false,
        })
    }

    /// The speed cap on the model's clock that is [`MAX_SPEED`] in the scene's seconds.
    pub fn max_speed(&self) -> f32 {
        MAX_SPEED / (self.pace * self.scale)
    }

    /// The scene's gravity on the model's clock: the model's strength (within
    /// [`MAX_GRAVITY_RATIO`] of it), pointing the model's way.
    pub fn gravity(&self, gravity: [f32; 3]) -> [f32; 3] {
        let g = self.turn.map_or(gravity, |t| t.vector(gravity));
        g.map(|g| g / (self.pace * self.pace * self.scale))
    }

    /// A recorded history on the model's clock: [`resample_history`] with velocities in
    /// model time.
    pub fn history(&self, history: &[Vec<BodyState>], frames: usize) -> Vec<Vec<BodyState>> {
        let mut out = resample_history(history, self.from, self.to, frames);
        scale_states(&mut out, 1.0 / self.scale, 1.0 / self.pace);
        turn_states(&mut out, self.turn);
        out
    }

    /// Pushes on the model's clock: at the model tick nearest their moment, with the
    /// velocity change they make in model time.
    pub fn pushes(&self, actions: &[Push]) -> Vec<Push> {
        pushes_on(actions, self.from, self.to)
            .into_iter()
            .map(|p| {
                // Δv scales as length over time, the mass as length cubed.
                let s = self.scale;
                let p = Push {
                    impulse: p.impulse.map(|j| j / (self.pace * s * s * s * s)),
                    offset: p.offset.map(|o| o / s),
                    ..p
                };
                self.turn.map_or(p, |t| t.push(&p))
            })
            .collect()
    }

    /// Scene frames that reach back over `model_frames` frames of the model's clock (the
    /// history a forecast on the model's clock needs): `model_frames` on its own clock.
    pub fn scene_frames(&self, model_frames: usize) -> usize {
        let back =
            model_frames.saturating_sub(1) as f64 * f64::from(self.to) / f64::from(self.from);
        snap(back).ceil() as usize + 1
    }

    /// Model ticks that cover `horizon` scene ticks.
    pub fn ticks_to_cover(&self, horizon: usize) -> usize {
        ticks_to_cover(horizon, self.from, self.to)
    }

    /// What the guards of a forecast on the model's clock did, counted in scene ticks (a
    /// model tick is `to / from` of them), at most every body at every one of the
    /// `body_ticks` the forecast has (the model's last tick may reach past it).
    pub fn guards(&self, g: Guards, body_ticks: usize) -> Guards {
        let held = g.held_body_ticks as f64 * f64::from(self.to) / f64::from(self.from);
        Guards {
            held_body_ticks: (held.round() as usize).min(body_ticks),
            deepest_held_m: g.deepest_held_m * self.scale,
        }
    }

    /// A forecast on the model's clock (`now` at time 0, then a frame per model tick) at
    /// `horizon` scene ticks, velocities in scene seconds.
    pub fn read(&self, now: &[BodyState], frames: &[Vec<BodyState>], horizon: usize) -> Forecast {
        let mut out = read_at(now, frames, self.from, self.to, horizon);
        scale_states(&mut out, self.scale, self.pace);
        turn_states(&mut out, self.turned_back());
        out
    }
}

/// Every state of `frames` turned by `turn`, when there is one.
fn turn_states(frames: &mut [Vec<BodyState>], turn: Option<Turn>) {
    if let Some(t) = turn {
        for s in frames.iter_mut().flatten() {
            *s = t.state(s);
        }
    }
}

/// `frames` with lengths times `length` and time running `1 / time` as fast: places
/// times `length`, velocities times `length · time`, spins times `time` (nothing when
/// both are 1).
fn scale_states(frames: &mut [Vec<BodyState>], length: f32, time: f32) {
    if length == 1.0 && time == 1.0 {
        return;
    }
    for s in frames.iter_mut().flatten() {
        if length != 1.0 {
            s.position = s.position.map(|v| v * length);
        }
        s.velocity = s.velocity.map(|v| v * length * time);
        s.angular_velocity = s.angular_velocity.map(|v| v * time);
    }
}

/// `pose` with its place times `k`.
fn scaled_pose(pose: &Pose, k: f32) -> Pose {
    Pose {
        position: pose.position.map(|v| v * k),
        ..*pose
    }
}

/// How far gravity may be from the model's, as a ratio either way, and still be
/// carried onto the model's clock in full.
pub const MAX_GRAVITY_RATIO: f32 = 25.0;

/// Whether two ticks (or two strengths of gravity) are the same, to 1e-4 of either: a
/// scene file's `time_step: 0.0166667` is the model's 1/60 s.
pub fn same_tick(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs())
}

/// `t` rounded to the nearest integer when it is that close to one (ratios of ticks
/// that are whole, such as 2 scene ticks of 1/120 s per tick of 1/60 s, stay whole).
fn snap(t: f64) -> f64 {
    if (t - t.round()).abs() < 1e-6 {
        t.round()
    } else {
        t
    }
}

/// `a` and `b` blended by `w` in `[0, 1]` (`a` itself at 0, `b` itself at 1).
pub fn blend(a: &BodyState, b: &BodyState, w: f32) -> BodyState {
    if w <= 0.0 {
        return *a;
    }
    if w >= 1.0 {
        return *b;
    }
    let lerp = |x: [f32; 3], y: [f32; 3]| [0, 1, 2].map(|c| x[c] + (y[c] - x[c]) * w);
    let q = rotation_of(a).slerp(rotation_of(b), w).normalize();
    BodyState {
        position: lerp(a.position, b.position),
        rotation: [q.x, q.y, q.z, q.w],
        velocity: lerp(a.velocity, b.velocity),
        angular_velocity: lerp(a.angular_velocity, b.angular_velocity),
    }
}

/// The frame of `frames` (frame `f` at time `f` in their own ticks) at time `t` ticks,
/// `0 ≤ t ≤ frames.len() - 1`.
fn frame_at(frames: &[&Vec<BodyState>], t: f64) -> Vec<BodyState> {
    let t = snap(t).clamp(0.0, (frames.len() - 1) as f64);
    let lo = t.floor() as usize;
    let w = (t - lo as f64) as f32;
    if w == 0.0 || lo + 1 >= frames.len() {
        return frames[lo].clone();
    }
    frames[lo]
        .iter()
        .zip(frames[lo + 1].iter())
        .map(|(a, b)| blend(a, b, w))
        .collect()
}

/// `history` (consecutive frames `from` seconds apart, the last one now) at times
/// `−j·to` seconds, oldest first, for as many `j` (at most `frames`) as the history
/// reaches back. Velocities are interpolated as recorded; the caller differences them.
pub fn resample_history(
    history: &[Vec<BodyState>],
    from: f32,
    to: f32,
    frames: usize,
) -> Vec<Vec<BodyState>> {
    if history.is_empty() {
        return Vec::new();
    }
    let (from, to) = (f64::from(from), f64::from(to));
    let last = (history.len() - 1) as f64;
    let reach = snap(last * from / to).floor() as usize;
    let refs: Vec<&Vec<BodyState>> = history.iter().collect();
    (0..=reach.min(frames.saturating_sub(1)))
        .rev()
        .map(|j| frame_at(&refs, last - j as f64 * to / from))
        .collect()
}

/// `actions` (ticks of `from` seconds, counted from now) moved to the tick of `to`
/// seconds nearest each one's time.
pub fn pushes_on(actions: &[Push], from: f32, to: f32) -> Vec<Push> {
    let ratio = f64::from(from) / f64::from(to);
    actions
        .iter()
        .map(|p| Push {
            tick: (p.tick as f64 * ratio).round() as u64,
            ..*p
        })
        .collect()
}

/// Ticks of `to` seconds that cover `horizon` ticks of `from` seconds.
pub fn ticks_to_cover(horizon: usize, from: f32, to: f32) -> usize {
    snap(horizon as f64 * f64::from(from) / f64::from(to)).ceil() as usize
}

/// A forecast made on ticks of `to` seconds (`frames[f]` at time `(f + 1)·to`, `now` at
/// time 0) read at `horizon` ticks of `from` seconds.
pub fn read_at(
    now: &[BodyState],
    frames: &[Vec<BodyState>],
    from: f32,
    to: f32,
    horizon: usize,
) -> Forecast {
    let now = now.to_vec();
    let refs: Vec<&Vec<BodyState>> = std::iter::once(&now).chain(frames.iter()).collect();
    let ratio = f64::from(from) / f64::from(to);
    (1..=horizon)
        .map(|i| frame_at(&refs, i as f64 * ratio))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use foresight_sim::Shape;

    fn at(x: f32, v: f32) -> Vec<BodyState> {
        vec![BodyState {
            position: [x, 0.0, 0.0],
            rotation: [0.0, 0.0, 0.0, 1.0],
            velocity: [v, 0.0, 0.0],
            angular_velocity: [0.0; 3],
        }]
    }

    /// Scenes of the training scenes' sizes are not scaled (the shipped ones all lie
    /// within [`MODEL_SIZES`]); larger or smaller ones are brought to the middle, and a
    /// scene without bodies, or with sizes that are not numbers, is left alone. The
    /// app's note says so.
    #[test]
    fn only_scenes_outside_the_models_sizes_are_scaled() {
        let (lo, hi) = MODEL_SIZES;
        let mid = (lo * hi).sqrt();
        for size in [lo, 0.2, hi, 0.0, f32::NAN, f32::INFINITY] {
            assert_eq!(size_scale(size, MODEL_SIZES), 1.0, "{size}");
        }
        assert!((size_scale(0.9, MODEL_SIZES) - 0.9 / mid).abs() < 1e-6);
        assert!((size_scale(0.02, MODEL_SIZES) - 0.02 / mid).abs() < 1e-6);
        let g = MODEL_GRAVITY;
        let body = |radius: f32| BodyDesc {
            name: None,
            shape: Shape::Sphere { radius },
            pose: Pose {
                position: [0.0; 3],
                rotation: [0.0, 0.0, 0.0, 1.0],
            },
            velocity: [0.0; 3],
            angular_velocity: [0.0; 3],
            density: 1000.0,
            friction: 0.5,
            restitution: 0.2,
            colour: [1.0; 3],
            role: None,
        };
        assert_eq!(scene_size(&[body(0.1), body(0.3)]), 0.2);
        let sizes = MODEL_SIZES;
        assert!(
            Clock::for_scene(MODEL_TICK, g, &[body(0.2)], MODEL_TICK, g, sizes).is_model_time()
        );
        let big = Clock::for_scene(MODEL_TICK, g, &[body(1.0)], MODEL_TICK, g, sizes);
        assert!(!big.is_model_time());
        // About 5.6 times the middle's size: time on the model's clock runs √5.6 as fast.
        let k = 1.0 / mid;
        assert!((big.to / big.from - k.sqrt()).abs() < 1e-4, "{big:?}");
        let note = Clock::describe(MODEL_TICK, g, &[body(1.0)], MODEL_TICK, g, sizes).unwrap();
        assert!(note.contains("2.00 m across"), "{note}");
        assert!(note.contains("× smaller"), "{note}");
        assert!(!note.contains("falls at"), "{note}");
        let note = Clock::describe(MODEL_TICK, g, &[body(0.01)], MODEL_TICK, g, sizes).unwrap();
        assert!(note.contains("× larger"), "{note}");
        // A model's own sizes: the scenes it learned on, widened by a tenth.
        let (a, b) = ([body(0.1)], [body(0.3), body(0.5)]);
        let (lo, hi) = trained_sizes([&a[..], &b[..]].into_iter());
        assert!(
            (lo - 0.1 / 1.1).abs() < 1e-6 && (hi - 0.44).abs() < 1e-6,
            "{lo} {hi}"
        );
        assert_eq!(trained_sizes(std::iter::empty()), MODEL_SIZES);
    }

    /// A history of 1/120-s frames read at 1/60 s keeps every second frame exactly and
    /// reaches back no further than the history does.
    #[test]
    fn resampling_keeps_frames_that_fall_on_the_new_ticks() {
        let from = 1.0 / 120.0;
        let history: Vec<_> = (0..7).map(|i| at(i as f32 * 0.1, 1.0)).collect();
        let out = resample_history(&history, from, 2.0 * from, 10);
        assert_eq!(out.len(), 4);
        for (j, f) in out.iter().enumerate() {
            assert_eq!(f, &history[2 * j]);
        }
        let fewer = resample_history(&history, from, 2.0 * from, 2);
        assert_eq!(fewer, vec![history[4].clone(), history[6].clone()]);
    }

    /// 1/60-s frames read at 0.01 s: between frames, a blend; at a whole frame, the frame.
    #[test]
    fn reading_between_ticks_interpolates() {
        let to = 1.0 / 60.0;
        let now = at(0.0, 0.0);
        let frames: Vec<_> = (1..=6).map(|f| at(f as f32, f as f32)).collect();
        let out = read_at(&now, &frames, 0.01, to, 10);
        assert_eq!(out.len(), 10);
        // 0.01 s is 0.6 of a model tick; 0.05 s is 3 ticks exactly.
        assert!((out[0][0].position[0] - 0.6).abs() < 1e-5);
        assert_eq!(out[4], frames[2]);
        assert!((out[9][0].velocity[0] - 6.0).abs() < 1e-4);
        assert_eq!(ticks_to_cover(10, 0.01, to), 6);
        let p = Push {
            body: 0,
            tick: 10,
            impulse: [1.0, 0.0, 0.0],
            offset: [0.0; 3],
        };
        assert_eq!(pushes_on(&[p], 0.01, to)[0].tick, 6);
    }

    /// A clock's conversions: none on the model's own clock; on another tick, guards
    /// counted in scene ticks (six model ticks of 1/60 s are ten of 0.01 s); under
    /// gravity a quarter as strong, time at half pace, velocities and pushes doubled on
    /// the way in and gravity made the model's.
    #[test]
    fn clocks_convert_ticks_guards_gravity_and_pushes() {
        let g = [0.0, -9.81, 0.0];
        assert!(Clock::new(1.0 / 60.0, g, 1.0 / 60.0, g).is_model_time());
        let fast = Clock::new(0.01, g, 1.0 / 60.0, g);
        assert!(!fast.is_model_time());
        let held = Guards {
            held_body_ticks: 6,
            deepest_held_m: 0.01,
        };
        assert_eq!(fast.guards(held, 100).held_body_ticks, 10);
        assert_eq!(fast.scene_frames(32), 53);
        assert_eq!(
            Clock::new(1.0 / 60.0, g, 1.0 / 60.0, g).scene_frames(32),
            32
        );
        assert_eq!(fast.guards(held, 8).held_body_ticks, 8);
        let slow = Clock::new(1.0 / 30.0, [0.0, -9.81 / 4.0, 0.0], 1.0 / 60.0, g);
        assert!(!slow.is_model_time());
        assert_eq!(slow.gravity([0.0, -9.81 / 4.0, 0.0]), g);
        assert_eq!(slow.max_speed(), 2.0 * MAX_SPEED);
        // A hundred times weaker is carried as 25 times weaker: pace 1/5.
        let faint = Clock::new(1.0 / 60.0, [0.0, -0.0981, 0.0], 1.0 / 60.0, g);
        assert!((faint.max_speed() - 5.0 * MAX_SPEED).abs() < 1e-3);
        // No gravity at all, or the model's to 1e-4: nothing to carry.
        assert!(Clock::new(1.0 / 60.0, [0.0; 3], 1.0 / 60.0, g).is_model_time());
        assert!(Clock::new(0.0166667, [0.0, -9.8105, 0.0], 1.0 / 60.0, g).is_model_time());
        assert_eq!(
            Clock::describe(1.0 / 60.0, g, &[], 1.0 / 60.0, g, MODEL_SIZES),
            None
        );
        let said =
            Clock::describe(0.01, [0.0, 0.0, -1.62], &[], 1.0 / 60.0, g, MODEL_SIZES).unwrap();
        assert!(
            said.contains("steps at 0.0100 s")
                && said.contains("falls at 1.62 m/s²")
                && said.contains("90° off"),
            "{said}"
        );
        // Gravity pointing up: turned half round; a state goes in and comes back out.
        let up = Clock::new(1.0 / 60.0, [0.0, 9.81, 0.0], 1.0 / 60.0, g);
        assert!(!up.is_model_time());
        let turned = up.gravity([0.0, 9.81, 0.0]);
        assert!(
            (0..3).all(|c| (turned[c] - g[c]).abs() < 1e-5),
            "{turned:?}"
        );
        let s = BodyState {
            position: [0.3, 1.2, -0.7],
            rotation: [0.0, 0.38268343, 0.0, 0.9238795],
            velocity: [1.0, -2.0, 0.5],
            angular_velocity: [0.0, 0.0, 3.0],
        };
        let inside = up.history(&[vec![s]], 1);
        assert!((inside[0][0].position[1] + 1.2).abs() < 1e-5, "{inside:?}");
        let back = up.read(&inside[0], &inside, 1);
        for (a, b) in [
            (back[0][0].position, s.position),
            (back[0][0].velocity, s.velocity),
            (back[0][0].angular_velocity, s.angular_velocity),
        ] {
            assert!(
                (0..3).all(|c| (a[c] - b[c]).abs() < 1e-5),
                "{a:?} against {b:?}"
            );
        }
        let q = Push {
            body: 0,
            tick: 0,
            impulse: [0.0, 1.0, 0.0],
            offset: [0.0, 0.5, 0.0],
        };
        let q = up.pushes(&[q])[0];
        assert!((q.impulse[1] + 1.0).abs() < 1e-5 && (q.offset[1] + 0.5).abs() < 1e-5);
        let p = Push {
            body: 0,
            tick: 3,
            impulse: [1.0, 0.0, -2.0],
            offset: [0.0; 3],
        };
        let q = slow.pushes(&[p])[0];
        assert_eq!((q.tick, q.impulse), (3, [2.0, 0.0, -4.0]));
        assert_eq!(slow.history(&[at(0.5, 1.0)], 5), vec![at(0.5, 2.0)]);
        let out = slow.read(&at(0.0, 2.0), &[at(1.0, 2.0)], 1);
        assert_eq!(out, vec![at(1.0, 1.0)]);
    }
}

//! How far a future is from a goal: a smooth cost a planner can rank candidates by, and
//! the plain verdict (reached or not). Imagined futures and the truth are scored by this
//! one rule, with the same touch distance as the outcome questions.

use foresight_model::Context;
use foresight_model::context::rotation_of;
use foresight_model::eval::{FORECAST_TOUCH, object_distance};
use foresight_sim::{BodyState, GoalKind};
use rapier3d::math::Vector;
use serde::{Deserialize, Serialize};

/// Tilt of a body's up axis past which it counts as toppled, radians (45°).
pub const TOPPLE_ANGLE: f32 = std::f32::consts::FRAC_PI_4;
/// An avoiding body is asked to keep this clear of what it avoids, m: the cost falls to
/// zero only with this margin, so a plan does not graze the limit.
pub const AVOID_MARGIN: f32 = 0.25;
/// A toppling body is aimed this far over (radians, about 69°), past [`TOPPLE_ANGLE`].
const TOPPLE_AIM: f32 = 1.2;

/// A future judged against a goal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Whether the goal is met within its time limit.
    pub reached: bool,
    /// Smooth cost, lower is better (zero or below: met with margin).
    pub cost: f32,
    /// The goal's own measure: the closest approach in metres (touch, avoid: between the
    /// two objects; reach: from the body's centre to the point) or the largest tilt in
    /// degrees (topple).
    pub measure: f32,
    /// First tick (counted like the states, 1 = the first) at which the goal was met
    /// (touch, reach, topple) or broken (avoid).
    pub tick: Option<usize>,
}

/// Scores `states` (`states[k]` is `k + 1` ticks from now) against `goal`, over the first
/// `within` of them.
///
/// States beyond `within` count only for an avoid goal, and only in its cost: a future
/// that breaks the goal just after the deadline is a fragile plan (a planner imagines
/// past the deadline for this reason, see [`imagined_ticks`]).
pub fn score(ctx: &Context, goal: &GoalKind, states: &[Vec<BodyState>], within: usize) -> Score {
    let all = states;
    let states = &states[..within.min(states.len())];
    let n = states.len().max(1) as f32;
    match *goal {
        GoalKind::Touch { a, b } | GoalKind::Avoid { a, b } => {
            let a = foresight_sim::ObjectRef::Body(a);
            let mut closest = f32::INFINITY;
            let mut first = None;
            for (k, s) in states.iter().enumerate() {
                let d = object_distance(ctx, s, a, b);
                closest = closest.min(d);
                if first.is_none() && d <= FORECAST_TOUCH {
                    first = Some(k + 1);
                }
            }
            if matches!(goal, GoalKind::Touch { .. }) {
                // Closer is better; among touches, an earlier touch is a more decisive one.
                let lateness = first.map_or(1.0, |t| t as f32 / n);
                Score {
                    reached: first.is_some(),
                    cost: closest + 0.05 * lateness,
                    measure: closest,
                    tick: first,
                }
            } else {
                let late = all[states.len()..]
                    .iter()
                    .map(|s| object_distance(ctx, s, a, b))
                    .fold(f32::INFINITY, f32::min);
                let broken = |hit: bool, w: f32| if hit { w } else { 0.0 };
                Score {
                    reached: first.is_none(),
                    cost: (AVOID_MARGIN - closest.min(late)).max(0.0)
                        + broken(first.is_some(), 1.0)
                        + broken(late <= FORECAST_TOUCH, 0.5),
                    measure: closest,
                    tick: first,
                }
            }
        }
        GoalKind::Reach {
            body,
            point,
            radius,
        } => {
            let p = Vector::from_array(point);
            let mut closest = f32::INFINITY;
            let mut first = None;
            for (k, s) in states.iter().enumerate() {
                let d = (Vector::from_array(s[body].position) - p).length();
                closest = closest.min(d);
                if first.is_none() && d <= radius {
                    first = Some(k + 1);
                }
            }
            Score {
                reached: first.is_some(),
                cost: closest,
                measure: closest,
                tick: first,
            }
        }
        GoalKind::Topple { body } => {
            let mut most = 0.0f32;
            let mut first = None;
            for (k, s) in states.iter().enumerate() {
                let t = tilt(&s[body]);
                most = most.max(t);
                if first.is_none() && t >= TOPPLE_ANGLE {
                    first = Some(k + 1);
                }
            }
            Score {
                reached: first.is_some(),
                cost: (TOPPLE_AIM - most).max(0.0),
                measure: most.to_degrees(),
                tick: first,
            }
        }
    }
}

/// Ticks a planner imagines for a goal whose deadline is `within` ticks away: half as
/// long again for an avoid goal (see [`score`]), exactly `within` for the others.
pub fn imagined_ticks(goal: &GoalKind, within: usize) -> usize {
    match goal {
        GoalKind::Avoid { .. } => within + within / 2,
        _ => within,
    }
}

/// Angle between a body's up axis and the world's, radians.
pub fn tilt(s: &BodyState) -> f32 {
    let up = rotation_of(s) * Vector::Y;
    up.y.clamp(-1.0, 1.0).acos()
}

/// One line saying what a score means for this goal, e.g. "reached at 1.25 s (closest 0.00 m)".
pub fn describe(goal: &GoalKind, s: &Score, dt: f32) -> String {
    let when =
        |t: Option<usize>| t.map_or(String::new(), |t| format!(" at {:.2} s", t as f32 * dt));
    let measure = match goal {
        GoalKind::Topple { .. } => format!("largest tilt {:.0}°", s.measure),
        GoalKind::Reach { .. } => format!("closest {:.2} m from the point", s.measure),
        _ => format!("closest {:.2} m", s.measure),
    };
    match (goal, s.reached) {
        (GoalKind::Avoid { .. }, true) => format!("reached: kept clear ({measure})"),
        (GoalKind::Avoid { .. }, false) => format!("missed: touched{} ({measure})", when(s.tick)),
        (_, true) => format!("reached{} ({measure})", when(s.tick)),
        (_, false) => format!("missed ({measure})"),
    }
}

//! The app's Plan feature without bevy: the request sent to a background task, and the
//! plan on screen as the truth plays it out (the chosen push applied at its tick, the
//! real outcome scored at the goal's deadline, the moment imagination and truth part).

use std::sync::Arc;

use foresight_model::Context;
use foresight_plan::{Plan, PlanSpec, Problem, Score, describe, score};
use foresight_sim::{ActionSpace, BodyState, Goal, GoalKind, ObjectRef, Push};

use crate::session::{PredictorKind, Session, body_errors};

/// Imagined and true positions further apart than this (m) count as parted.
pub const PART_DISTANCE: f32 = 0.1;

/// A plan to make in the background (a task on bevy's async compute pool).
pub struct PlanRequest {
    /// The imagination.
    pub kind: PredictorKind,
    /// Session generation it belongs to.
    pub generation: u64,
    /// Tick planned from.
    pub start: u64,
    /// The scene.
    pub ctx: Arc<Context>,
    /// Recent truth ending at `start`.
    pub history: Vec<Vec<BodyState>>,
    /// Pushes already scheduled, ticks from `start`.
    pub scheduled: Vec<Push>,
    /// The goal.
    pub goal: Goal,
    /// The allowed pushes.
    pub space: ActionSpace,
    /// Planner settings.
    pub spec: PlanSpec,
}

impl PlanRequest {
    /// The planner's view of this request.
    pub fn problem(&self) -> Problem<'_> {
        Problem {
            ctx: &self.ctx,
            history: &self.history,
            now: self.start,
            scheduled: &self.scheduled,
            goal: &self.goal,
            space: &self.space,
        }
    }
}

/// A finished plan from its background task.
pub struct PlanAnswer {
    /// Session generation it belongs to.
    pub generation: u64,
    /// Tick planned from.
    pub start: u64,
    /// The plan (push ticks relative to `start`).
    pub plan: Plan,
}

/// The request for planning from the session's current tick with `kind` as imagination.
pub fn plan_request(
    session: &Session,
    kind: PredictorKind,
    spec: PlanSpec,
) -> Result<PlanRequest, String> {
    let (Some(goal), Some(space)) = (session.instance.goal, session.instance.actions.clone())
    else {
        return Err(format!(
            "{}: this scene has no goal to plan for; add `goal:` and `actions:` to it (see assets/plan-scenes)",
            session.path.display()
        ));
    };
    let start = session.tick();
    if start >= goal.within_ticks {
        return Err(format!(
            "the goal's time limit ({:.2} s) has passed; restart (R) to plan again",
            goal.within_ticks as f32 * session.instance.dt
        ));
    }
    // The goal counts from the start of the run: it may already be decided.
    if start > 0 {
        let so_far = score(
            &session.ctx,
            &goal.kind,
            &session.frames[1..],
            goal.within_ticks as usize,
        );
        let when = so_far.tick.map_or(String::new(), |t| {
            format!(" at t = {:.2} s", t as f32 * session.instance.dt)
        });
        let avoid = matches!(goal.kind, GoalKind::Avoid { .. });
        if avoid && !so_far.reached {
            return Err(format!(
                "the goal is already lost (they touched{when}); restart (R) to plan again"
            ));
        }
        if !avoid && so_far.reached {
            return Err(format!(
                "the goal is already reached{when}; restart (R) to plan again"
            ));
        }
    }
    Ok(PlanRequest {
        kind,
        generation: session.generation,
        start,
        ctx: session.ctx.clone(),
        history: session.history(start).to_vec(),
        scheduled: session.actions_from(start),
        goal,
        space,
        spec,
    })
}

/// What a goal-setting click hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClickTarget {
    /// A body.
    Body(usize),
    /// A point in the world (where the click meets the mover's height).
    Point([f32; 3]),
}

/// How close a clicked point counts as reached, m.
pub const CLICK_RADIUS: f32 = 0.3;
/// Time a clicked goal gives, s.
pub const CLICK_SECONDS: f32 = 3.0;

/// The body a clicked goal is about: the current goal's, else the first the actions may
/// push, else body 0.
pub fn mover(session: &Session) -> usize {
    match session.instance.goal.map(|g| g.kind) {
        Some(GoalKind::Touch { a, .. } | GoalKind::Avoid { a, .. }) => a,
        Some(GoalKind::Reach { body, .. } | GoalKind::Topple { body }) => body,
        None => session
            .instance
            .actions
            .as_ref()
            .and_then(|a| a.bodies.first().copied())
            .unwrap_or(0),
    }
}

/// Sets the session's goal from a click (Shift+click in the app): another body means
/// "the mover touches it", the mover itself "topple it", a point "the mover's centre
/// comes within [`CLICK_RADIUS`] of it"; [`CLICK_SECONDS`] from now. The pushes allowed
/// are the scene's (from now on), or the mover alone at up to 8 m/s. Returns the goal in
/// words.
pub fn goal_from_click(session: &mut Session, target: ClickTarget) -> Result<String, String> {
    let n = session.instance.bodies.len();
    if let ClickTarget::Body(i) = target
        && i >= n
    {
        return Err(format!("no body {i}"));
    }
    if let ClickTarget::Point(p) = target
        && p.iter().any(|x| !x.is_finite())
    {
        return Err("the clicked point is not finite".into());
    }
    let m = mover(session);
    let now = session.tick();
    let kind = match target {
        ClickTarget::Body(i) if i == m => GoalKind::Topple { body: m },
        ClickTarget::Body(i) => GoalKind::Touch {
            a: m,
            b: ObjectRef::Body(i),
        },
        ClickTarget::Point(point) => GoalKind::Reach {
            body: m,
            point,
            radius: CLICK_RADIUS,
        },
    };
    let dt = session.instance.dt;
    session.instance.goal = Some(Goal {
        kind,
        within_ticks: now + (CLICK_SECONDS / dt).round() as u64,
    });
    let mass = session.ctx.masses.get(m).copied().unwrap_or(1.0);
    let actions = session.instance.actions.clone().unwrap_or(ActionSpace {
        bodies: vec![m],
        max_impulse: 8.0 * mass,
        max_elevation: 45f32.to_radians(),
        ticks: vec![],
    });
    session.instance.actions = Some(ActionSpace {
        ticks: vec![now],
        ..actions
    });
    goal_text(session).ok_or_else(|| "no goal".to_string())
}

/// The goal of the session's scene in words.
pub fn goal_text(session: &Session) -> Option<String> {
    let g = session.instance.goal?;
    let name = |o: ObjectRef| session.object_name(o);
    let secs = g.within_ticks as f32 * session.instance.dt;
    Some(match g.kind {
        GoalKind::Touch { a, b } => format!(
            "Goal: make {} touch {} within {secs:.2} s",
            name(ObjectRef::Body(a)),
            name(b)
        ),
        GoalKind::Avoid { a, b } => format!(
            "Goal: keep {} from touching {} for {secs:.2} s",
            name(ObjectRef::Body(a)),
            name(b)
        ),
        GoalKind::Reach {
            body,
            point,
            radius,
        } => format!(
            "Goal: bring {} within {radius:.2} m of ({:.2}, {:.2}, {:.2}) within {secs:.2} s",
            name(ObjectRef::Body(body)),
            point[0],
            point[1],
            point[2]
        ),
        GoalKind::Topple { body } => format!(
            "Goal: topple {} within {secs:.2} s",
            name(ObjectRef::Body(body))
        ),
    })
}

/// A plan on screen while the truth plays it out.
pub struct PlanView {
    /// Session generation it belongs to.
    pub generation: u64,
    /// Tick planned from.
    pub start: u64,
    /// The plan (push ticks relative to `start`).
    pub plan: Plan,
    /// The goal planned for.
    pub goal: Goal,
    /// Whether the chosen push has gone to the simulator.
    pub applied: bool,
    /// The truth's score, once the deadline has passed.
    pub real: Option<Score>,
    /// First tick at which the chosen push's imagined future and the truth part by more
    /// than [`PART_DISTANCE`] (any body).
    pub parted_at: Option<u64>,
    checked_to: u64,
}

impl PlanView {
    /// A plan as answered.
    pub fn new(answer: PlanAnswer, goal: Goal) -> PlanView {
        PlanView {
            generation: answer.generation,
            start: answer.start,
            plan: answer.plan,
            goal,
            applied: false,
            real: None,
            parted_at: None,
            checked_to: answer.start,
        }
    }

    /// The chosen push with its absolute tick.
    pub fn push(&self) -> Push {
        let p = self.plan.best.push;
        Push {
            tick: self.start + p.tick,
            ..p
        }
    }

    /// Applies the chosen push when its tick has come (before that tick is stepped).
    /// True when it was applied now.
    pub fn apply_if_due(&mut self, session: &mut Session) -> Result<bool, String> {
        let p = self.push();
        if self.applied || session.tick() != p.tick || session.generation != self.generation {
            return Ok(false);
        }
        let centre = session.current()[p.body].position;
        let point = [0, 1, 2].map(|c| centre[c] + p.offset[c]);
        session.push(p.body, p.impulse, point)?;
        self.applied = true;
        Ok(true)
    }

    /// Compares the truth so far with the imagined future: where they part, and the real
    /// score once the goal's deadline has passed.
    pub fn update(&mut self, session: &Session) {
        if session.generation != self.generation {
            return;
        }
        let tick = session.tick();
        let imagined = &self.plan.imagined;
        while self.checked_to < tick && self.parted_at.is_none() {
            self.checked_to += 1;
            let k = (self.checked_to - self.start) as usize;
            let (Some(f), Some(t)) = (
                imagined.get(k - 1),
                session.frames.get(self.checked_to as usize),
            ) else {
                break;
            };
            let apart = body_errors(f, t).iter().any(|e| *e > PART_DISTANCE);
            if apart {
                self.parted_at = Some(self.checked_to);
            }
        }
        if self.real.is_none() && tick >= self.goal.within_ticks {
            // Judged over the whole run, as the goal is written (ticks from the start).
            let end = self.goal.within_ticks as usize;
            self.real = Some(score(
                &session.ctx,
                &self.goal.kind,
                &session.frames[1..=end],
                end,
            ));
        }
    }

    /// Lines for the panel: the push, the imagined and the real outcome, the parting.
    pub fn lines(&self, session: &Session) -> Vec<String> {
        let dt = session.instance.dt;
        let p = self.push();
        let j = p.impulse;
        let size = (j[0] * j[0] + j[1] * j[1] + j[2] * j[2]).sqrt();
        // The planner counts ticks from the moment it planned; the panel from the start.
        let mut imagined = self.plan.best.score;
        imagined.tick = imagined.tick.map(|t| t + self.start as usize);
        let mut out = vec![
            format!(
                "push {} with {size:.1} N·s at t = {:.2} s (planned with {} in {:.2} s, {} futures)",
                session.object_name(ObjectRef::Body(p.body)),
                p.tick as f32 * dt,
                self.plan.imagination,
                self.plan.seconds,
                self.plan.rollouts
            ),
            format!("imagined: {}", describe(&self.goal.kind, &imagined, dt)),
        ];
        out.push(match &self.real {
            Some(r) => format!("real: {}", describe(&self.goal.kind, r, dt)),
            None => format!(
                "real: watch until t = {:.2} s",
                self.goal.within_ticks as f32 * dt
            ),
        });
        if let Some(t) = self.parted_at {
            out.push(format!(
                "imagination and truth part at t = {:.2} s (> {PART_DISTANCE} m)",
                t as f32 * dt
            ));
        }
        out
    }
}

//! The planner: the cross-entropy method over single pushes. Each round draws a
//! population of candidate pushes (which body, when, which way, how hard), imagines every
//! candidate's future with a [`Predictor`] in one batched call, scores the futures by the
//! goal's smooth cost, and refits the sampling distribution to the best few. The best
//! candidate seen is the plan.

use std::time::Instant;

use foresight_model::train::normal;
use foresight_model::{Context, Forecast, ModelError, Predictor};
use foresight_sim::{ActionSpace, BodyState, Goal, Push};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::goal::{Score, imagined_ticks, score};

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The goal's time limit has passed.
    #[error(
        "the goal's time limit (tick {within}) has passed (now tick {now}); restart the scene to plan again"
    )]
    TooLate {
        /// Now.
        now: u64,
        /// The goal's limit.
        within: u64,
    },
    /// No allowed push tick is left.
    #[error(
        "no push tick allowed by the scene's actions is left (now tick {now}, allowed {ticks:?}); restart the scene or add later ticks to `actions.ticks`"
    )]
    NoTickLeft {
        /// Now.
        now: u64,
        /// Allowed ticks.
        ticks: Vec<u64>,
    },
    /// The action space or the settings are unusable.
    #[error("{0}")]
    Bad(String),
    /// The imagination failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl PlanError {
    /// The error of planning for the scene in `file`: named in it, unless it is the model's.
    pub fn in_file(self, file: &std::path::Path) -> PlanError {
        match self {
            PlanError::Model(m) => PlanError::Model(m),
            other => PlanError::Bad(format!("{}: {other}", file.display())),
        }
    }
}

/// Planner settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlanSpec {
    /// Candidates imagined per round.
    pub candidates: usize,
    /// Rounds.
    pub rounds: usize,
    /// Candidates the distribution is refitted to after each round.
    pub elites: usize,
    /// Imagined futures kept for display (the best ones).
    pub fan: usize,
    /// Seed of the candidate draws.
    pub seed: u64,
}

impl Default for PlanSpec {
    fn default() -> Self {
        PlanSpec {
            candidates: 128,
            rounds: 5,
            elites: 16,
            fan: 8,
            seed: 0,
        }
    }
}

/// Most candidates a round may imagine.
pub const MAX_CANDIDATES: usize = 4096;
/// Most rounds a plan may take.
pub const MAX_ROUNDS: usize = 20;

impl PlanSpec {
    /// Settings of `candidates` per round (at most [`MAX_CANDIDATES`]) over `rounds`
    /// rounds (at most [`MAX_ROUNDS`]), each refitted to its best eighth.
    pub fn checked(candidates: usize, rounds: usize, seed: u64) -> Result<PlanSpec, PlanError> {
        if !(1..=MAX_CANDIDATES).contains(&candidates) || !(1..=MAX_ROUNDS).contains(&rounds) {
            return Err(PlanError::Bad(format!(
                "--candidates must be 1..={MAX_CANDIDATES} and --rounds 1..={MAX_ROUNDS}"
            )));
        }
        Ok(PlanSpec {
            candidates,
            rounds,
            elites: (candidates / 8).max(1),
            seed,
            ..Default::default()
        })
    }
}

/// What to plan for: the current situation, the goal and the allowed pushes.
#[derive(Clone, Copy)]
pub struct Problem<'a> {
    /// The scene.
    pub ctx: &'a Context,
    /// Recent truth, consecutive ticks ending now.
    pub history: &'a [Vec<BodyState>],
    /// The tick of the last history frame, counted from the start of the run.
    pub now: u64,
    /// Pushes already scheduled (scripted), ticks counted from now.
    pub scheduled: &'a [Push],
    /// The goal (its time limit counts from the start of the run).
    pub goal: &'a Goal,
    /// The pushes allowed (ticks counted from the start of the run).
    pub space: &'a ActionSpace,
}

/// A candidate push and its imagined future's score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The push, its tick counted from now.
    pub push: Push,
    /// The imagined future's score.
    pub score: Score,
}

/// The outcome of planning.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The chosen push and its imagined score.
    pub best: Candidate,
    /// The chosen push's imagined future.
    pub imagined: Forecast,
    /// The best few candidates with their imagined futures, best first (includes the chosen one).
    pub fan: Vec<(Candidate, Forecast)>,
    /// Futures imagined.
    pub rollouts: usize,
    /// Wall time, s.
    pub seconds: f64,
    /// Name of the imagination.
    pub imagination: String,
}

/// A push's free parameters.
#[derive(Debug, Clone, Copy)]
struct Params {
    body: usize,
    tick: usize,
    azimuth: f32,
    elevation: f32,
    strength: f32,
}

/// The sampling distribution of the cross-entropy method.
struct Dist {
    body: Vec<f64>,
    tick: Vec<f64>,
    azimuth: (f32, f32),
    elevation: (f32, f32),
    strength: (f32, f32),
    uniform: bool,
}

fn categorical(rng: &mut ChaCha8Rng, p: &[f64]) -> usize {
    let total: f64 = p.iter().sum();
    let mut x = rng.random_range(0.0..1.0) * total;
    for (i, w) in p.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    p.len() - 1
}

/// The weakest push a candidate may have, as a fraction of the largest.
const MIN_STRENGTH: f32 = 0.02;

impl Dist {
    fn uniform(bodies: usize, ticks: usize) -> Dist {
        Dist {
            body: vec![1.0; bodies],
            tick: vec![1.0; ticks],
            azimuth: (0.0, 0.0),
            elevation: (0.0, 0.0),
            strength: (0.0, 0.0),
            uniform: true,
        }
    }

    fn sample(&self, rng: &mut ChaCha8Rng, max_elevation: f32) -> Params {
        let body = categorical(rng, &self.body);
        let tick = categorical(rng, &self.tick);
        if self.uniform {
            return Params {
                body,
                tick,
                azimuth: rng.random_range(-std::f32::consts::PI..std::f32::consts::PI),
                elevation: if max_elevation > 0.0 {
                    rng.random_range(0.0..max_elevation)
                } else {
                    0.0
                },
                strength: rng.random_range(MIN_STRENGTH..1.0),
            };
        }
        let draw = |rng: &mut ChaCha8Rng, (m, s): (f32, f32)| m + s * normal(rng);
        Params {
            body,
            tick,
            azimuth: draw(rng, self.azimuth),
            elevation: draw(rng, self.elevation).clamp(0.0, max_elevation),
            strength: draw(rng, self.strength).clamp(MIN_STRENGTH, 1.0),
        }
    }

    fn refit(&mut self, elites: &[Params], max_elevation: f32) {
        let n = elites.len().max(1) as f64;
        let smooth = |counts: Vec<f64>| -> Vec<f64> {
            let k = counts.len() as f64;
            counts.iter().map(|c| 0.8 * c / n + 0.2 / k).collect()
        };
        let mut body = vec![0.0; self.body.len()];
        let mut tick = vec![0.0; self.tick.len()];
        for e in elites {
            body[e.body] += 1.0;
            tick[e.tick] += 1.0;
        }
        self.body = smooth(body);
        self.tick = smooth(tick);
        let nf = elites.len().max(1) as f32;
        // Directions are angles: their mean is circular, their spread from the mean length.
        let (s, c) = elites.iter().fold((0.0f32, 0.0f32), |(s, c), e| {
            (s + e.azimuth.sin(), c + e.azimuth.cos())
        });
        let r = ((s / nf).powi(2) + (c / nf).powi(2))
            .sqrt()
            .clamp(1e-6, 1.0);
        self.azimuth = (s.atan2(c), (-2.0 * r.ln()).sqrt().clamp(0.03, 1.5));
        let fit = |v: Vec<f32>, floor: f32| {
            let m = v.iter().sum::<f32>() / nf;
            let var = v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / nf;
            (m, var.sqrt().max(floor))
        };
        self.elevation = fit(
            elites.iter().map(|e| e.elevation).collect(),
            0.02 * max_elevation,
        );
        self.strength = fit(elites.iter().map(|e| e.strength).collect(), 0.02);
        self.uniform = false;
    }
}

/// The allowed push ticks still ahead, counted from now, and the ticks left to the goal's
/// time limit.
fn ticks_ahead(p: &Problem) -> Result<(Vec<u64>, usize), PlanError> {
    if p.goal.within_ticks <= p.now {
        return Err(PlanError::TooLate {
            now: p.now,
            within: p.goal.within_ticks,
        });
    }
    let horizon = (p.goal.within_ticks - p.now) as usize;
    let mut ticks: Vec<u64> = p
        .space
        .ticks
        .iter()
        .filter(|t| **t >= p.now && **t < p.goal.within_ticks)
        .map(|t| t - p.now)
        .collect();
    ticks.sort_unstable();
    ticks.dedup();
    if ticks.is_empty() {
        return Err(PlanError::NoTickLeft {
            now: p.now,
            ticks: p.space.ticks.clone(),
        });
    }
    Ok((ticks, horizon))
}

fn check(p: &Problem, spec: &PlanSpec) -> Result<(), PlanError> {
    let s = p.space;
    if s.bodies.is_empty() {
        return Err(PlanError::Bad(
            "the scene's actions name no body; list at least one in `actions.bodies`".into(),
        ));
    }
    if let Some(b) = s.bodies.iter().find(|b| **b >= p.ctx.len()) {
        return Err(PlanError::Bad(format!(
            "actions name body {b}, the scene has {}",
            p.ctx.len()
        )));
    }
    if !(s.max_impulse.is_finite() && s.max_impulse > 0.0) {
        return Err(PlanError::Bad(format!(
            "the largest push must be a positive number of N·s (got {})",
            s.max_impulse
        )));
    }
    if !(s.max_elevation.is_finite()
        && (0.0..=std::f32::consts::FRAC_PI_2).contains(&s.max_elevation))
    {
        return Err(PlanError::Bad(format!(
            "the largest push elevation must be between 0 and 90° (got {}°)",
            s.max_elevation.to_degrees()
        )));
    }
    if spec.candidates == 0 || spec.rounds == 0 || spec.elites == 0 {
        return Err(PlanError::Bad(
            "candidates, rounds and elites must each be at least 1".into(),
        ));
    }
    // A round keeps every candidate's imagined future until it is scored.
    let ticks = imagined_ticks(
        &p.goal.kind,
        p.goal.within_ticks.saturating_sub(p.now) as usize,
    );
    let bytes = spec.candidates as f64
        * ticks as f64
        * p.ctx.len() as f64
        * std::mem::size_of::<BodyState>() as f64;
    if bytes > MAX_ROUND_BYTES {
        return Err(PlanError::Bad(format!(
            "a round would imagine {:.1} GB of states ({} candidates × {ticks} ticks × {} bodies); lower the candidates or the goal's time limit",
            bytes / 1e9,
            spec.candidates,
            p.ctx.len()
        )));
    }
    Ok(())
}

/// Largest memory one planning round may fill with imagined states, bytes.
const MAX_ROUND_BYTES: f64 = 2.0e9;

fn push_of(p: &Problem, ticks: &[u64], x: &Params) -> Push {
    let j = x.strength * p.space.max_impulse;
    let (ce, se) = (x.elevation.cos(), x.elevation.sin());
    Push {
        body: p.space.bodies[x.body],
        tick: ticks[x.tick],
        impulse: [j * ce * x.azimuth.cos(), j * se, j * ce * x.azimuth.sin()],
        offset: [0.0; 3],
    }
}

/// Plans one push for `problem`, imagining candidates with `imagination`.
pub fn plan(
    imagination: &dyn Predictor,
    problem: &Problem,
    spec: &PlanSpec,
) -> Result<Plan, PlanError> {
    check(problem, spec)?;
    let (ticks, horizon) = ticks_ahead(problem)?;
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut dist = Dist::uniform(problem.space.bodies.len(), ticks.len());
    let mut kept: Vec<(Candidate, Forecast)> = Vec::new();
    let mut rollouts = 0;
    for _ in 0..spec.rounds {
        let params: Vec<Params> = (0..spec.candidates)
            .map(|_| dist.sample(&mut rng, problem.space.max_elevation))
            .collect();
        let pushes: Vec<Push> = params.iter().map(|x| push_of(problem, &ticks, x)).collect();
        let action_sets: Vec<Vec<Push>> = pushes
            .iter()
            .map(|c| {
                let mut a = problem.scheduled.to_vec();
                a.push(*c);
                a
            })
            .collect();
        let ticks_imagined = imagined_ticks(&problem.goal.kind, horizon);
        let futures = imagination.rollout_batch(
            problem.ctx,
            problem.history,
            &action_sets,
            ticks_imagined,
        )?;
        rollouts += futures.len();
        let mut scored: Vec<(usize, Candidate)> = pushes
            .iter()
            .zip(&futures)
            .enumerate()
            .map(|(i, (push, f))| {
                let s = score(problem.ctx, &problem.goal.kind, f, horizon);
                (
                    i,
                    Candidate {
                        push: *push,
                        score: s,
                    },
                )
            })
            .collect();
        scored.sort_by(|a, b| a.1.score.cost.total_cmp(&b.1.score.cost));
        let elites: Vec<Params> = scored
            .iter()
            .take(spec.elites.min(scored.len()))
            .map(|(i, _)| params[*i])
            .collect();
        dist.refit(&elites, problem.space.max_elevation);
        let mut futures: Vec<Option<Forecast>> = futures.into_iter().map(Some).collect();
        for (i, c) in scored.into_iter().take(spec.fan.max(1)) {
            if let Some(f) = futures[i].take() {
                kept.push((c, f));
            }
        }
        kept.sort_by(|a, b| a.0.score.cost.total_cmp(&b.0.score.cost));
        kept.truncate(spec.fan.max(1));
    }
    let (best, imagined) = kept
        .first()
        .cloned()
        .ok_or_else(|| PlanError::Bad("no candidate was imagined".into()))?;
    Ok(Plan {
        best,
        imagined,
        fan: kept,
        rollouts,
        seconds: start.elapsed().as_secs_f64(),
        imagination: imagination.name().to_string(),
    })
}

/// A push drawn uniformly from the allowed ones (the no-imagination baseline), its tick
/// counted from now.
pub fn random_push(problem: &Problem, rng: &mut ChaCha8Rng) -> Result<Push, PlanError> {
    check(problem, &PlanSpec::default())?;
    let (ticks, _) = ticks_ahead(problem)?;
    let dist = Dist::uniform(problem.space.bodies.len(), ticks.len());
    Ok(push_of(
        problem,
        &ticks,
        &dist.sample(rng, problem.space.max_elevation),
    ))
}

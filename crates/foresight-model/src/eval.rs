//! Evaluation on held-out seeds: every predictor on every scene, forecasts started every
//! half second, errors at fixed horizons (position RMSE, rotation error, final
//! displacement), outcome-question accuracy, and whether 5-second rollouts stay finite.

use std::collections::BTreeMap;
use std::path::PathBuf;

use foresight_sim::{BodyState, ObjectRef, Push, Scene, Trajectory, World};
use rayon::prelude::*;
use serde::Serialize;

use crate::context::{Context, rotation_of};
use crate::dataset::EVAL_SEED_BASE;
use crate::error::ModelError;
use crate::predictor::{Forecast, Predictor};

/// Horizons reported, in ticks.
pub const HORIZONS: [usize; 4] = [15, 30, 60, 120];
/// The horizon of the headline ratio (1 s at 60 Hz).
pub const HEADLINE_HORIZON: usize = 60;
/// Ticks between forecast starts.
pub const START_EVERY: usize = 30;
/// A forecast says two objects touch when closer than this (m).
pub const FORECAST_TOUCH: f32 = 0.02;

/// Errors at one horizon.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HorizonMetrics {
    /// Root mean squared position error over bodies and starts, m.
    pub position_rmse: f64,
    /// Mean rotation error, degrees.
    pub rotation_deg: f64,
    /// Mean final displacement error (distance at the horizon), m.
    pub fde: f64,
    /// Forecasts measured.
    pub forecasts: usize,
}

/// One predictor on one scene.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PredictorReport {
    /// Errors keyed by horizon (ticks).
    pub horizons: BTreeMap<String, HorizonMetrics>,
    /// Outcome questions the forecast answered like the truth.
    pub outcome_correct: usize,
    /// Outcome questions asked.
    pub outcome_total: usize,
    /// Whether every 5-second rollout stayed finite and near the scene.
    pub rollout_5s_ok: bool,
}

/// One scene.
#[derive(Debug, Clone, Serialize)]
pub struct SceneReport {
    /// Dynamic bodies.
    pub bodies: usize,
    /// Seeds evaluated.
    pub seeds: Vec<u64>,
    /// Per predictor.
    pub predictors: BTreeMap<String, PredictorReport>,
    /// Learned RMSE at 1 s over the best baseline's (absent without a learned model).
    pub ratio_1s: Option<f64>,
    /// Which baseline was best at 1 s.
    pub best_baseline_1s: String,
}

/// Headline numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Mean over scenes of the learned/best-baseline RMSE ratio at 60 ticks.
    pub ratio_1s_mean: Option<f64>,
    /// Largest per-scene ratio.
    pub ratio_1s_worst: Option<f64>,
    /// Scene with the largest ratio.
    pub worst_scene: Option<String>,
    /// Learned-model outcome accuracy over scenes with a question.
    pub outcome_accuracy: Option<f64>,
    /// Questions asked.
    pub outcome_questions: usize,
    /// Whether every learned 5-second rollout stayed finite and bounded.
    pub rollout_5s_ok: bool,
    /// Scenes where the learned model beats constant velocity at 1 s.
    pub scenes_beating_constant_velocity: usize,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Model file evaluated.
    pub model: String,
    /// The command that produced this report.
    pub command: String,
    /// Horizons, ticks.
    pub horizons: Vec<usize>,
    /// Per scene.
    pub scenes: BTreeMap<String, SceneReport>,
    /// Headline numbers.
    pub summary: Summary,
}

/// Seeds used for evaluation: never used by any dataset.
pub fn eval_seeds(n: usize) -> Vec<u64> {
    (0..n as u64).map(|k| EVAL_SEED_BASE + k).collect()
}

fn angle_deg(a: &BodyState, b: &BodyState) -> f64 {
    let q = rotation_of(a).inverse() * rotation_of(b);
    f64::from(2.0 * q.w.abs().min(1.0).acos()).to_degrees()
}

fn dist(a: &BodyState, b: &BodyState) -> f64 {
    let d: f32 = (0..3)
        .map(|k| (a.position[k] - b.position[k]).powi(2))
        .sum();
    f64::from(d.sqrt())
}

/// Pushes at or after `t0`, with ticks relative to `t0`.
pub fn actions_from(traj: &Trajectory, t0: usize) -> Vec<Push> {
    traj.pushes
        .iter()
        .filter(|p| p.tick as usize >= t0)
        .map(|p| Push {
            tick: p.tick - t0 as u64,
            ..*p
        })
        .collect()
}

/// Whether a forecast says the question's objects touch within its time limit.
pub fn forecast_touches(
    ctx: &Context,
    forecast: &Forecast,
    a: ObjectRef,
    b: ObjectRef,
    within: usize,
) -> bool {
    forecast.iter().take(within).any(|f| {
        let d = match (a, b) {
            (ObjectRef::Body(i), ObjectRef::Body(j)) => ctx.body_distance(i, &f[i], j, &f[j]),
            (ObjectRef::Body(i), ObjectRef::Static(s))
            | (ObjectRef::Static(s), ObjectRef::Body(i)) => ctx.static_distance(i, &f[i], s),
            _ => f32::INFINITY,
        };
        d <= FORECAST_TOUCH
    })
}

#[derive(Default, Clone)]
struct Acc {
    sq: f64,
    rot: f64,
    fde: f64,
    body_samples: usize,
    forecasts: usize,
}

struct SeedResult {
    acc: Vec<Vec<Acc>>,
    outcome: Vec<(usize, usize)>,
    finite: Vec<bool>,
}

fn run_seed(
    scene: &Scene,
    seed: u64,
    predictors: &[&dyn Predictor],
) -> Result<SeedResult, ModelError> {
    let instance = scene.sample(seed)?;
    let steps = (instance.steps as usize)
        .max(HORIZONS[HORIZONS.len() - 1] + 1)
        .max(300);
    let traj = World::new(&instance).record(steps as u64);
    let ctx = Context::from_trajectory(&traj);
    let mut acc = vec![vec![Acc::default(); HORIZONS.len()]; predictors.len()];
    let mut outcome = vec![(0usize, 0usize); predictors.len()];
    let mut finite = vec![true; predictors.len()];
    let last_start = instance.steps as usize;
    for (pi, p) in predictors.iter().enumerate() {
        let mut t0 = 0;
        while t0 + HEADLINE_HORIZON <= last_start {
            let horizon = HORIZONS[HORIZONS.len() - 1].min(steps - t0);
            let forecast =
                p.rollout(&ctx, &traj.frames[..=t0], &actions_from(&traj, t0), horizon)?;
            for (hi, &h) in HORIZONS.iter().enumerate() {
                if h > forecast.len() {
                    continue;
                }
                let (pred, truth) = (&forecast[h - 1], &traj.frames[t0 + h]);
                let a = &mut acc[pi][hi];
                for (x, y) in pred.iter().zip(truth) {
                    let d = dist(x, y);
                    a.sq += d * d;
                    a.fde += d;
                    a.rot += angle_deg(x, y);
                    a.body_samples += 1;
                }
                a.forecasts += 1;
            }
            t0 += START_EVERY;
        }
        // Five seconds from the start: finite and near the scene.
        let long = p.rollout(&ctx, &traj.frames[..=0], &actions_from(&traj, 0), 300)?;
        finite[pi] = long.iter().flatten().all(|s| {
            s.position
                .iter()
                .chain(&s.velocity)
                .chain(&s.rotation)
                .all(|x| x.is_finite() && x.abs() < 1000.0)
        });
        if let Some(o) = traj.outcome {
            let within = o.question.within_ticks as usize;
            let forecast = p.rollout(&ctx, &traj.frames[..=0], &actions_from(&traj, 0), within)?;
            let said = forecast_touches(&ctx, &forecast, o.question.a, o.question.b, within);
            outcome[pi].1 += 1;
            if said == o.answer {
                outcome[pi].0 += 1;
            }
        }
    }
    Ok(SeedResult {
        acc,
        outcome,
        finite,
    })
}

/// Evaluates `predictors` (the learned one, if any, named "learned") on every scene file.
pub fn evaluate(
    scenes: &[PathBuf],
    seeds: &[u64],
    predictors: &[&dyn Predictor],
    model: &str,
    command: &str,
    progress: &(dyn Fn() + Sync),
) -> Result<EvalReport, ModelError> {
    let loaded: Vec<Scene> = scenes.iter().map(Scene::load).collect::<Result<_, _>>()?;
    let jobs: Vec<(usize, u64)> = (0..loaded.len())
        .flat_map(|s| seeds.iter().map(move |&seed| (s, seed)))
        .collect();
    let results: Vec<(usize, SeedResult)> = jobs
        .par_iter()
        .map(|&(s, seed)| {
            let r = run_seed(&loaded[s], seed, predictors)?;
            progress();
            Ok((s, r))
        })
        .collect::<Result<_, ModelError>>()?;

    let mut reports = BTreeMap::new();
    for (si, scene) in loaded.iter().enumerate() {
        let mine: Vec<&SeedResult> = results
            .iter()
            .filter(|(s, _)| *s == si)
            .map(|(_, r)| r)
            .collect();
        let mut preds = BTreeMap::new();
        for (pi, p) in predictors.iter().enumerate() {
            let mut rep = PredictorReport {
                rollout_5s_ok: true,
                ..Default::default()
            };
            for (hi, h) in HORIZONS.iter().enumerate() {
                let mut a = Acc::default();
                for r in &mine {
                    let x = &r.acc[pi][hi];
                    a.sq += x.sq;
                    a.rot += x.rot;
                    a.fde += x.fde;
                    a.body_samples += x.body_samples;
                    a.forecasts += x.forecasts;
                }
                if a.body_samples > 0 {
                    let n = a.body_samples as f64;
                    rep.horizons.insert(
                        h.to_string(),
                        HorizonMetrics {
                            position_rmse: (a.sq / n).sqrt(),
                            rotation_deg: a.rot / n,
                            fde: a.fde / n,
                            forecasts: a.forecasts,
                        },
                    );
                }
            }
            for r in &mine {
                rep.outcome_correct += r.outcome[pi].0;
                rep.outcome_total += r.outcome[pi].1;
                rep.rollout_5s_ok &= r.finite[pi];
            }
            preds.insert(p.name().to_string(), rep);
        }
        let rmse = |name: &str| {
            preds
                .get(name)
                .and_then(|r: &PredictorReport| r.horizons.get(&HEADLINE_HORIZON.to_string()))
                .map(|m| m.position_rmse)
        };
        let (best_name, best) = predictors
            .iter()
            .map(|p| p.name())
            .filter(|n| *n != "learned")
            .filter_map(|n| rmse(n).map(|r| (n.to_string(), r)))
            .fold((String::new(), f64::INFINITY), |acc, x| {
                if x.1 < acc.1 { x } else { acc }
            });
        let ratio = rmse("learned")
            .filter(|_| best.is_finite())
            .map(|l| l / best.max(1e-4));
        reports.insert(
            scene.name.clone(),
            SceneReport {
                bodies: scene.body_count() as usize,
                seeds: seeds.to_vec(),
                predictors: preds,
                ratio_1s: ratio,
                best_baseline_1s: best_name,
            },
        );
    }
    let ratios: Vec<(String, f64)> = reports
        .iter()
        .filter_map(|(n, r)| r.ratio_1s.map(|x| (n.clone(), x)))
        .collect();
    let worst = ratios
        .iter()
        .cloned()
        .fold(None, |acc: Option<(String, f64)>, x| match acc {
            Some(a) if a.1 >= x.1 => Some(a),
            _ => Some(x),
        });
    let (mut correct, mut total, mut ok, mut beats) = (0, 0, true, 0);
    for r in reports.values() {
        if let Some(l) = r.predictors.get("learned") {
            correct += l.outcome_correct;
            total += l.outcome_total;
            ok &= l.rollout_5s_ok;
            let lr = l.horizons.get("60").map(|m| m.position_rmse);
            let cv = r
                .predictors
                .get("constant-velocity")
                .and_then(|c| c.horizons.get("60"))
                .map(|m| m.position_rmse);
            if let (Some(a), Some(b)) = (lr, cv)
                && a < b
            {
                beats += 1;
            }
        }
    }
    let has_learned = predictors.iter().any(|p| p.name() == "learned");
    let summary = Summary {
        ratio_1s_mean: (!ratios.is_empty())
            .then(|| ratios.iter().map(|r| r.1).sum::<f64>() / ratios.len() as f64),
        ratio_1s_worst: worst.as_ref().map(|w| w.1),
        worst_scene: worst.map(|w| w.0),
        outcome_accuracy: (has_learned && total > 0).then(|| correct as f64 / total as f64),
        outcome_questions: total,
        rollout_5s_ok: ok,
        scenes_beating_constant_velocity: beats,
    };
    Ok(EvalReport {
        model: model.to_string(),
        command: command.to_string(),
        horizons: HORIZONS.to_vec(),
        scenes: reports,
        summary,
    })
}

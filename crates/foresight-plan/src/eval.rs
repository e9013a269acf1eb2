//! Planning measured: every planning scene on held-out seeds, planned with each
//! imagination, the chosen push then played on the true simulator; a random push as the
//! floor. Also the planning benchmark (imagination time against rapier's).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use foresight_model::{Context, Predictor, Rapier};
use foresight_sim::{BodyState, Goal, Push, Scene, SceneInstance, World};
use plotters::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::goal::{Score, score};
use crate::planner::{PlanError, PlanSpec, Problem, plan, random_push};

/// The scene's truth from its start with `push` (tick counted from the start) added to
/// its scripted pushes: the context (with the simulator's masses) and `steps` states
/// after the start.
pub fn truth_with(
    instance: &SceneInstance,
    push: Option<Push>,
    steps: usize,
) -> (Context, Vec<Vec<BodyState>>) {
    let mut inst = instance.clone();
    inst.pushes.extend(push);
    inst.pushes.sort_by_key(|p| p.tick);
    let mut world = World::new(&inst);
    let mut ctx = Context::from_instance(&inst);
    ctx.masses = world.masses();
    let states = (0..steps)
        .map(|_| {
            world.step();
            world.states()
        })
        .collect();
    (ctx, states)
}

/// The planning problem of a scene instance at its start, or why it has none.
pub fn start_problem<'a>(
    instance: &'a SceneInstance,
    ctx: &'a Context,
    history: &'a [Vec<BodyState>],
) -> Result<Problem<'a>, PlanError> {
    let (Some(goal), Some(space)) = (&instance.goal, &instance.actions) else {
        return Err(PlanError::Bad(format!(
            "scene {:?} has no goal and actions to plan for; add `goal:` and `actions:` to it",
            instance.name
        )));
    };
    Ok(Problem {
        ctx,
        history,
        now: 0,
        scheduled: &instance.pushes,
        goal,
        space,
    })
}

/// One planned (or random) push played on the truth.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRun {
    /// Scene name.
    pub scene: String,
    /// Instance seed.
    pub seed: u64,
    /// Imagination used (`random` for the random push).
    pub imagination: String,
    /// The push played (tick from the start).
    pub push: Push,
    /// The imagined score of that push (none for the random push).
    pub imagined: Option<Score>,
    /// The true score.
    pub real: Score,
    /// Planning wall time, s.
    pub seconds: f64,
}

/// Headline figures of a planning evaluation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Fraction of learned-model plans that reached the goal in truth.
    pub success_learned: Option<f64>,
    /// Fraction of rapier (oracle) plans that reached the goal.
    pub success_rapier: Option<f64>,
    /// Fraction of random pushes that reached the goal.
    pub success_random: f64,
    /// Success of every imagination by name (random included).
    pub success: BTreeMap<String, f64>,
    /// Learned success over rapier's.
    pub learned_over_rapier: Option<f64>,
    /// Learned success over random's.
    pub learned_over_random: Option<f64>,
    /// Median planning time with the learned model, s.
    pub plan_seconds_median: Option<f64>,
    /// Median planning time by imagination, s.
    pub plan_seconds: BTreeMap<String, f64>,
    /// How often the imagined verdict (reached or not) of the chosen push matched the truth, by imagination.
    pub imagination_agreement: BTreeMap<String, f64>,
}

/// A whole planning evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanEvalReport {
    /// Instance seeds.
    pub seeds: Vec<u64>,
    /// Planner settings.
    pub spec: PlanSpec,
    /// Random pushes drawn per scene and seed.
    pub random_draws: usize,
    /// Success by scene, then by imagination.
    pub scenes: BTreeMap<String, BTreeMap<String, f64>>,
    /// Every run.
    pub runs: Vec<PlanRun>,
    /// Headline figures.
    pub summary: PlanSummary,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn fraction<'a>(runs: impl Iterator<Item = &'a PlanRun>) -> Option<f64> {
    let (mut n, mut ok) = (0usize, 0usize);
    for r in runs {
        n += 1;
        ok += usize::from(r.real.reached);
    }
    (n > 0).then(|| ok as f64 / n as f64)
}

/// Plans every goal scene in `scenes` on every seed with each imagination (plus
/// `random_draws` random pushes), plays each chosen push on the truth and scores it.
/// `progress` hears one line per scene and seed.
pub fn plan_eval(
    scenes: &[Scene],
    seeds: &[u64],
    imaginations: &[&dyn Predictor],
    spec: &PlanSpec,
    random_draws: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<PlanEvalReport, PlanError> {
    let mut runs = Vec::new();
    for scene in scenes {
        for &seed in seeds {
            let instance = scene
                .sample(seed)
                .map_err(foresight_model::ModelError::from)?;
            let Some(goal) = instance.goal else { continue };
            let within = goal.within_ticks as usize;
            let (ctx, _) = truth_with(&instance, None, 0);
            let history = vec![World::new(&instance).states()];
            let problem = start_problem(&instance, &ctx, &history)?;
            for imagination in imaginations {
                let spec = PlanSpec {
                    seed: spec.seed ^ seed,
                    ..*spec
                };
                let p = plan(*imagination, &problem, &spec)?;
                let (tctx, truth) = truth_with(&instance, Some(p.best.push), within);
                runs.push(PlanRun {
                    scene: scene.name.clone(),
                    seed,
                    imagination: p.imagination.clone(),
                    push: p.best.push,
                    imagined: Some(p.best.score),
                    real: score(&tctx, &goal.kind, &truth, within),
                    seconds: p.seconds,
                });
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
            for _ in 0..random_draws {
                let push = random_push(&problem, &mut rng)?;
                let (tctx, truth) = truth_with(&instance, Some(push), within);
                runs.push(PlanRun {
                    scene: scene.name.clone(),
                    seed,
                    imagination: "random".into(),
                    push,
                    imagined: None,
                    real: score(&tctx, &goal.kind, &truth, within),
                    seconds: 0.0,
                });
            }
            let line: Vec<String> = runs
                .iter()
                .filter(|r| r.scene == scene.name && r.seed == seed && r.imagination != "random")
                .map(|r| {
                    format!(
                        "{} {}",
                        r.imagination,
                        if r.real.reached { "reached" } else { "missed" }
                    )
                })
                .collect();
            progress(&format!("{} seed {seed}: {}", scene.name, line.join(", ")));
        }
    }
    Ok(report(seeds, spec, random_draws, runs))
}

fn report(
    seeds: &[u64],
    spec: &PlanSpec,
    random_draws: usize,
    runs: Vec<PlanRun>,
) -> PlanEvalReport {
    let names: std::collections::BTreeSet<String> =
        runs.iter().map(|r| r.imagination.clone()).collect();
    let mut scenes: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for r in &runs {
        scenes.entry(r.scene.clone()).or_default();
    }
    for (scene, row) in scenes.iter_mut() {
        for name in &names {
            if let Some(f) = fraction(
                runs.iter()
                    .filter(|r| &r.scene == scene && &r.imagination == name),
            ) {
                row.insert(name.clone(), f);
            }
        }
    }
    let mut s = PlanSummary::default();
    for name in &names {
        let of = || runs.iter().filter(|r| &r.imagination == name);
        if let Some(f) = fraction(of()) {
            s.success.insert(name.clone(), f);
        }
        if name != "random" {
            if let Some(m) = median(of().map(|r| r.seconds).collect()) {
                s.plan_seconds.insert(name.clone(), m);
            }
            let agree: Vec<f64> = of()
                .filter_map(|r| {
                    r.imagined
                        .map(|i| f64::from(u8::from(i.reached == r.real.reached)))
                })
                .collect();
            if !agree.is_empty() {
                s.imagination_agreement
                    .insert(name.clone(), agree.iter().sum::<f64>() / agree.len() as f64);
            }
        }
    }
    s.success_learned = s.success.get("learned").copied();
    s.success_rapier = s.success.get("rapier").copied();
    s.success_random = s.success.get("random").copied().unwrap_or(0.0);
    s.plan_seconds_median = s.plan_seconds.get("learned").copied();
    s.learned_over_rapier = match (s.success_learned, s.success_rapier) {
        (Some(l), Some(r)) if r > 0.0 => Some(l / r),
        _ => None,
    };
    s.learned_over_random = match s.success_learned {
        Some(l) if s.success_random > 0.0 => Some(l / s.success_random),
        _ => None,
    };
    PlanEvalReport {
        seeds: seeds.to_vec(),
        spec: *spec,
        random_draws,
        scenes,
        runs,
        summary: s,
    }
}

impl fmt::Display for PlanEvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&String> = self.summary.success.keys().collect();
        write!(f, "{:<12}", "scene")?;
        for n in &names {
            write!(f, " {n:>10}")?;
        }
        writeln!(f)?;
        for (scene, row) in &self.scenes {
            write!(f, "{scene:<12}")?;
            for n in &names {
                match row.get(*n) {
                    Some(v) => write!(f, " {:>10.2}", v)?,
                    None => write!(f, " {:>10}", "-")?,
                }
            }
            writeln!(f)?;
        }
        write!(f, "{:<12}", "all")?;
        for n in &names {
            write!(f, " {:>10.2}", self.summary.success[*n])?;
        }
        writeln!(f)?;
        for (n, s) in &self.summary.plan_seconds {
            writeln!(f, "median plan time with {n}: {s:.3} s")?;
        }
        for (n, a) in &self.summary.imagination_agreement {
            writeln!(f, "imagined verdict matched the truth ({n}): {a:.2}")?;
        }
        let ratios: Vec<String> = [
            ("learned/rapier", self.summary.learned_over_rapier),
            ("learned/random", self.summary.learned_over_random),
        ]
        .iter()
        .filter_map(|(n, r)| r.map(|r| format!("{n} success: {r:.2}")))
        .collect();
        write!(f, "{}", ratios.join("; "))
    }
}

/// Writes a bar chart of success by scene and imagination.
pub fn plot(report: &PlanEvalReport, path: &Path) -> Result<(), foresight_model::ModelError> {
    use foresight_model::plot::{ensure_font, plot_err};
    ensure_font();
    let names: Vec<&String> = report.summary.success.keys().collect();
    let mut rows: Vec<(&str, &BTreeMap<String, f64>)> =
        report.scenes.iter().map(|(s, r)| (s.as_str(), r)).collect();
    rows.push(("all", &report.summary.success));
    let root = BitMapBackend::new(path, (960, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let groups = rows.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Planning: fraction of runs that reached the goal",
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..groups, 0.0..1.05)
        .map_err(|e| plot_err(path, e))?;
    let labels: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(rows.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.26 && i < labels.len() {
                labels[i].clone()
            } else {
                String::new()
            }
        })
        .y_desc("success")
        .draw()
        .map_err(|e| plot_err(path, e))?;
    const COLOURS: [RGBColor; 5] = [
        RGBColor(40, 110, 200),
        RGBColor(60, 160, 80),
        RGBColor(150, 150, 150),
        RGBColor(220, 60, 50),
        RGBColor(140, 80, 180),
    ];
    let width = 0.8 / names.len().max(1) as f64;
    for (k, name) in names.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(g, (_, row))| {
                let v = *row.get(*name)?;
                let x0 = g as f64 + 0.1 + k as f64 * width;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.9, v)],
                    colour.filled(),
                ))
            }))
            .map_err(|e| plot_err(path, e))?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))
}

/// Result of [`plan_vs_rapier`].
#[derive(Debug, Clone)]
pub struct PlanBench {
    /// Bodies in the scene.
    pub bodies: usize,
    /// Candidates per plan.
    pub candidates: usize,
    /// Ticks imagined per candidate.
    pub horizon: usize,
    /// Median plan time with the predictor.
    pub predictor: Duration,
    /// Median plan time with rapier as the imagination.
    pub rapier: Duration,
}

impl PlanBench {
    /// Predictor time over rapier time.
    pub fn ratio(&self) -> f64 {
        self.predictor.as_secs_f64() / self.rapier.as_secs_f64().max(1e-12)
    }
}

/// Times one planning round of `candidates` pushes imagined `seconds` ahead on the scene's
/// seed-0 variant with `predictor`, and the same round with rapier; alternating, `repeats`
/// times each (after one untimed run of each).
pub fn plan_vs_rapier(
    predictor: &dyn Predictor,
    scene: &Scene,
    candidates: usize,
    seconds: f32,
    repeats: usize,
) -> Result<PlanBench, PlanError> {
    let instance = scene.sample(0).map_err(foresight_model::ModelError::from)?;
    let (ctx, _) = truth_with(&instance, None, 0);
    let history = vec![World::new(&instance).states()];
    let mut problem = start_problem(&instance, &ctx, &history)?;
    let horizon = ((seconds / instance.dt).round() as u64).max(1);
    let goal = Goal {
        within_ticks: horizon,
        ..*problem.goal
    };
    problem.goal = &goal;
    let spec = PlanSpec {
        candidates,
        rounds: 1,
        ..PlanSpec::default()
    };
    let time = |p: &dyn Predictor| -> Result<Duration, PlanError> {
        let t = Instant::now();
        std::hint::black_box(plan(p, &problem, &spec)?);
        Ok(t.elapsed())
    };
    time(predictor)?;
    time(&Rapier)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..repeats.max(1) {
        a.push(time(predictor)?);
        b.push(time(&Rapier)?);
    }
    a.sort();
    b.sort();
    Ok(PlanBench {
        bodies: instance.bodies.len(),
        candidates,
        horizon: horizon as usize,
        predictor: a[a.len() / 2],
        rapier: b[b.len() / 2],
    })
}

//! Planning measured: every planning scene on held-out seeds, planned with each
//! imagination, the chosen push then played on the true simulator; a random push as the
//! floor. Also the planning benchmark (imagination time against rapier's).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use foresight_model::{Context, ModelError, Predictor, Rapier};
use foresight_sim::stats::median;
use foresight_sim::{BodyState, Goal, ObjectRef, Push, Scene, SceneInstance, World, scene_files};
use plotters::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::goal::{Score, describe, score};
use crate::planner::{MAX_CANDIDATES, Plan, PlanError, PlanSpec, Problem, plan, random_push};

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

/// A scene instance at its start: the context (with the simulator's masses) and the
/// one-frame history a plan from the start imagines from.
struct Start {
    ctx: Context,
    history: Vec<Vec<BodyState>>,
}

impl Start {
    fn new(instance: &SceneInstance) -> Start {
        let (ctx, _) = truth_with(instance, None, 0);
        Start {
            ctx,
            history: vec![World::new(instance).states()],
        }
    }

    fn problem<'a>(&'a self, instance: &'a SceneInstance) -> Result<Problem<'a>, PlanError> {
        start_problem(instance, &self.ctx, &self.history)
    }
}

/// A plan made at a scene instance's start, and its push played on the truth. Displays
/// as the plan, the push, the imagined and the real outcome, and a surprise line when
/// the two disagree on whether the goal was reached.
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    /// Scene name.
    pub scene: String,
    /// Instance seed.
    pub seed: u64,
    /// The pushed body's name (`body 3` when it has none).
    pub body: String,
    /// The scene's time step, s.
    pub dt: f32,
    /// The goal planned for.
    pub goal: Goal,
    /// The plan.
    pub plan: Plan,
    /// The true score of the chosen push.
    pub real: Score,
}

impl fmt::Display for PlanOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.plan;
        writeln!(
            f,
            "{} seed {}: planned with {} in {:.2} s ({} imagined futures)",
            self.scene, self.seed, p.imagination, p.seconds, p.rollouts
        )?;
        let push = p.best.push;
        let j = push.impulse;
        let size = (j[0] * j[0] + j[1] * j[1] + j[2] * j[2]).sqrt();
        writeln!(
            f,
            "push: {}, impulse ({:.2}, {:.2}, {:.2}) N·s ({size:.2} N·s) at t = {:.2} s",
            self.body,
            j[0],
            j[1],
            j[2],
            push.tick as f32 * self.dt
        )?;
        let kind = &self.goal.kind;
        writeln!(f, "imagined: {}", describe(kind, &p.best.score, self.dt))?;
        write!(f, "real:     {}", describe(kind, &self.real, self.dt))?;
        if p.best.score.reached != self.real.reached {
            write!(f, "\nsurprise: the imagination was wrong about this push")?;
        }
        Ok(())
    }
}

/// Plans a push for the instance's goal from its start with `imagination`, then plays the
/// push on the truth and scores it.
pub fn plan_and_play(
    imagination: &dyn Predictor,
    instance: &SceneInstance,
    spec: &PlanSpec,
) -> Result<PlanOutcome, PlanError> {
    let start = Start::new(instance);
    let problem = start.problem(instance)?;
    let goal = *problem.goal;
    let p = plan(imagination, &problem, spec)?;
    let within = goal.within_ticks as usize;
    let (tctx, truth) = truth_with(instance, Some(p.best.push), within);
    Ok(PlanOutcome {
        scene: instance.name.clone(),
        seed: instance.seed,
        body: instance.object_name(ObjectRef::Body(p.best.push.body)),
        dt: instance.dt,
        real: score(&tctx, &goal.kind, &truth, within),
        goal,
        plan: p,
    })
}

/// The scenes of `dir` that have a goal; an error when none has.
pub fn goal_scenes(dir: &Path) -> Result<Vec<Scene>, PlanError> {
    let mut scenes = Vec::new();
    for f in scene_files(dir).map_err(ModelError::from)? {
        let s = Scene::load(&f).map_err(ModelError::from)?;
        if s.goal.is_some() {
            scenes.push(s);
        }
    }
    if scenes.is_empty() {
        return Err(PlanError::Bad(format!(
            "{}: no scene here has a goal; add `goal:` and `actions:` to one",
            dir.display()
        )));
    }
    Ok(scenes)
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
            let instance = scene.sample(seed).map_err(ModelError::from)?;
            let Some(goal) = instance.goal else { continue };
            let within = goal.within_ticks as usize;
            let start = Start::new(&instance);
            let problem = start.problem(&instance)?;
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
            let seconds: Vec<f64> = of().map(|r| r.seconds).collect();
            if let Some(m) = median(&seconds) {
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
pub fn plot(report: &PlanEvalReport, path: &Path) -> Result<(), ModelError> {
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
    /// Scene name.
    pub scene: String,
    /// The predictor's name.
    pub imagination: String,
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

    /// Checks the settings of a benchmark round: 1 to [`MAX_CANDIDATES`] candidates
    /// imagining more than 0 and at most 60 seconds.
    pub fn check(candidates: usize, seconds: f32) -> Result<(), PlanError> {
        let seconds_ok = seconds.is_finite() && seconds > 0.0 && seconds <= 60.0;
        if !(1..=MAX_CANDIDATES).contains(&candidates) || !seconds_ok {
            return Err(PlanError::Bad(format!(
                "--candidates must be 1..={MAX_CANDIDATES} and --seconds in (0, 60]"
            )));
        }
        Ok(())
    }
}

impl fmt::Display for PlanBench {
    /// The scene, the round and both times in one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} bodies, {} candidates × {} ticks: {name} {:.3} s, rapier {:.3} s, {name}/rapier = {:.3}",
            self.scene,
            self.bodies,
            self.candidates,
            self.horizon,
            self.predictor.as_secs_f64(),
            self.rapier.as_secs_f64(),
            self.ratio(),
            name = self.imagination,
        )
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
    let instance = scene.sample(0).map_err(ModelError::from)?;
    let start = Start::new(&instance);
    let mut problem = start.problem(&instance)?;
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
    Ok(PlanBench {
        scene: scene.name.clone(),
        imagination: predictor.name().to_string(),
        bodies: instance.bodies.len(),
        candidates,
        horizon: horizon as usize,
        predictor: median(&a).unwrap_or_default(),
        rapier: median(&b).unwrap_or_default(),
    })
}

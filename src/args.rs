//! The command line: one `Args` struct per subcommand (clap derive), and what the
//! arguments mean to the libraries (the settings they turn into).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use foresight_model::dataset::DatasetSpec;
use foresight_model::{LearnedModel, ModelError, Predictor};
use foresight_sim::{Encoding, SceneError, SceneInstance, scene_files};

/// A path under `assets/`: from the working directory when run from the repository,
/// else from the source tree this binary was built from.
pub fn asset(rel: &str) -> PathBuf {
    let local = Path::new("assets").join(rel);
    if local.exists() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(rel)
    }
}

/// The model file given, else the shipped one.
pub fn model_path(model: Option<&Path>) -> PathBuf {
    model.map_or_else(|| asset("models/foresight.safetensors"), Path::to_path_buf)
}

/// `model`, without the static projection when `no_static_hold`.
pub fn held(model: LearnedModel, no_static_hold: bool) -> LearnedModel {
    if no_static_hold {
        model.without_static_hold()
    } else {
        model
    }
}

/// The command line as typed, recorded in datasets and models.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("foresight {}", args.join(" "))
}

/// Parses the command line (no command: `view`). Help and version print and exit 0 (help
/// for a missing subcommand exits 2); any other error is one line on stderr and exit 2.
pub fn parse() -> Result<Command, ExitCode> {
    use clap::error::ErrorKind;
    let cli = Cli::try_parse().map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            eprintln!("foresight: {first} (see `foresight --help`)");
            ExitCode::from(2)
        }
    })?;
    Ok(cli.command.unwrap_or(Command::View(ViewArgs::default())))
}

/// Most body states one `simulate` may record (about 1 GB in memory).
const MAX_RECORDED_STATES: u64 = 20_000_000;

#[derive(Parser)]
#[command(
    name = "foresight",
    version,
    about = "A watchable world model of rigid-body physics"
)]
pub struct Cli {
    /// Without a command: `view`, the demo app.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// The demo app: the truth and the forecast together (the default command).
    View(ViewArgs),
    /// List the scene files in a directory: file, name, bodies, description.
    Scenes(ScenesArgs),
    /// Validate scene files; prints `ok` or the error for each.
    Check(CheckArgs),
    /// Run a scene variant and write its trajectory.
    Simulate(SimulateArgs),
    /// Generate a dataset: seeded variants of every scene, with random pushes.
    Dataset(DatasetArgs),
    /// Train the learned model on a dataset.
    Train(TrainArgs),
    /// Evaluate the learned model, the baselines and the references on held-out seeds.
    Eval(EvalArgs),
    /// Plan a push that reaches the scene's goal by imagining candidate pushes with a
    /// world model; prints the push, the imagined outcome and the real one.
    Plan(PlanArgs),
    /// Plan every goal scene on held-out seeds with each imagination and with random
    /// pushes; writes success rates and planning times (JSON, optional PNG chart).
    PlanEval(PlanEvalArgs),
    /// Measure the simulator or the model.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
pub struct ViewArgs {
    /// Scene file to open.
    #[arg(long)]
    pub scene: Option<PathBuf>,
    /// Model weights (default: the shipped model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Seed of the first variant.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save a screenshot of the window after --frames frames, then exit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Frames to run before the screenshot.
    #[arg(long, default_value_t = 120)]
    pub frames: u32,
    /// Plan a push for the scene's goal at the start (as the P key does); with
    /// --screenshot, the frames are counted once the plan has arrived.
    #[arg(long)]
    pub plan: bool,
    /// Record an animated GIF of --frames frames (one every 4 ticks) headless, then exit.
    #[arg(long, conflicts_with = "screenshot")]
    pub record: Option<PathBuf>,
    /// A second model file, shown as "learned (model 2)" in the line-up.
    #[arg(long)]
    pub model2: Option<PathBuf>,
    /// The predictors forecasting at once, the lead first (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "learned",
          value_parser = ["learned", "learned2", "constant-velocity", "ballistic", "ballistic-stop"])]
    pub lineup: Vec<String>,
    /// Light rendering: no shadows and no MSAA (for machines without a GPU).
    #[arg(long)]
    pub light: bool,
}

impl Default for ViewArgs {
    /// What `foresight` with no command runs: the same as `foresight view`.
    fn default() -> Self {
        ViewArgs {
            scene: None,
            model: None,
            seed: 0,
            screenshot: None,
            frames: 120,
            plan: false,
            record: None,
            model2: None,
            lineup: vec!["learned".into()],
            light: false,
        }
    }
}

impl ViewArgs {
    /// The viewer's settings.
    pub fn config(self) -> foresight_viewer::ViewerConfig {
        let dir = asset("scenes");
        let scene = self.scene.unwrap_or_else(|| dir.join("tower.ron"));
        foresight_viewer::ViewerConfig {
            scenes_dir: scene
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or(dir, Path::to_path_buf),
            scene,
            model: model_path(self.model.as_deref()),
            seed: self.seed,
            screenshot: self.screenshot,
            frames: self.frames,
            plan: self.plan,
            record: self.record,
            model2: self.model2,
            lineup: self
                .lineup
                .iter()
                .filter_map(|n| foresight_viewer::session::PredictorKind::from_name(n))
                .collect(),
            light: self.light,
        }
    }
}

#[derive(clap::Args)]
pub struct ScenesArgs {
    /// Directory of `.ron` scene files.
    #[arg(long, default_value = "assets/scenes")]
    pub dir: PathBuf,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Scene files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The scene file.
    #[arg(long)]
    pub scene: PathBuf,
    /// Seed of the variant (ranges in the scene are drawn with it).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Steps to run (default: the scene's duration).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Output format (default: from the file extension, `.bin` for binary, else JSON).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Json,
    Bin,
}

impl SimulateArgs {
    /// The steps asked for, else the instance's own; at most ten million.
    pub fn steps(&self, instance: &SceneInstance) -> Result<u64, String> {
        // A recording keeps every state: bound its size, not only its length.
        let bodies = instance.bodies.len().max(1) as u64;
        match self.steps.unwrap_or(instance.steps) {
            0 => Err("--steps must be at least 1".into()),
            s if s > 10_000_000 => Err(format!(
                "--steps {s} is more than 10000000; record shorter runs"
            )),
            s if s.saturating_mul(bodies) > MAX_RECORDED_STATES => Err(format!(
                "--steps {s} for {bodies} bodies would record {} states, more than {MAX_RECORDED_STATES}; record fewer steps",
                s.saturating_mul(bodies)
            )),
            s => Ok(s),
        }
    }

    /// The encoding asked for, else the one the output file's name asks for.
    pub fn encoding(&self) -> Encoding {
        match self.format {
            Some(Format::Json) => Encoding::Json,
            Some(Format::Bin) => Encoding::Binary,
            None => Encoding::of_path(&self.out),
        }
    }
}

#[derive(clap::Args)]
pub struct DatasetArgs {
    /// Directories of scene files (repeat the flag for several).
    #[arg(long, default_value = "assets/scenes")]
    pub scenes: Vec<PathBuf>,
    /// Leave out scenes with this name (repeat the flag for several): for testing on
    /// scene families the model never saw.
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Episodes per scene.
    #[arg(long)]
    pub episodes: usize,
    /// Steps per episode (default: each scene's duration).
    #[arg(long, default_value_t = 0)]
    pub steps: u64,
    /// Base seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Share of episodes (0 to 1) whose bodies get other sizes, shapes and materials and
    /// whose statics other materials than the scene file allows, so the model learns
    /// more than the scenes' own shapes and materials.
    #[arg(long, default_value_t = 0.0)]
    pub vary: f32,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

impl DatasetArgs {
    /// The dataset to generate: at least one episode of each scene left after `--exclude`.
    pub fn spec(&self) -> Result<DatasetSpec, ModelError> {
        if self.episodes == 0 {
            return Err(ModelError::Spec("--episodes must be at least 1".into()));
        }
        Ok(DatasetSpec {
            scenes: foresight_model::dataset::select_scenes(&self.scenes, &self.exclude)?,
            episodes: self.episodes,
            steps: self.steps,
            seed: self.seed,
            vary: self.vary,
            command: command_line(),
        })
    }
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Dataset directory (from `foresight dataset`).
    #[arg(long)]
    pub data: PathBuf,
    /// Weights file to write (`.safetensors`); the sidecar `.json` and `-loss.png` go beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed for initialization, sampling and noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop after this many minutes (wall clock; not reproducible, use --epochs for that).
    #[arg(long, conflicts_with = "epochs")]
    pub minutes: Option<f64>,
    /// Passes over the training samples.
    #[arg(long)]
    pub epochs: Option<f64>,
    /// Hidden width.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Message-passing rounds.
    #[arg(long, default_value_t = 2)]
    pub passes: usize,
    /// Simulator ticks per learned step.
    #[arg(long, default_value_t = 4)]
    pub step_ticks: usize,
    /// Scale of the training noise on positions, velocities and spins (1 = the default
    /// 2 mm, 0.02 m/s, 0.05 rad/s).
    #[arg(long, default_value_t = 1.0)]
    pub noise: f32,
    /// Share of training draws that pick their tick by how much contact forces change
    /// there (impacts, topples) instead of uniformly (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub focus: f32,
    /// Probability that a training sample starts from the network's own one-step forecast
    /// instead of the recorded state (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub pushforward: f32,
    /// Share of training over which the pushforward probability rises from 0 to
    /// `--pushforward` (0..=1; 0: full strength from the start).
    #[arg(long, default_value_t = 0.0)]
    pub pushforward_warmup: f32,
    /// Ticks over which the training targets bring a start that is off the truth (noise,
    /// a pushforward forecast) back onto it (1 to one less than --step-ticks; 1: all in
    /// the first tick).
    #[arg(long, default_value_t = 1)]
    pub settle_ticks: usize,
    /// Errors beyond this many times the residuals' pooled scale count linearly instead
    /// of squared in the loss (Huber; 0: squared error everywhere).
    #[arg(long, default_value_t = 0.0)]
    pub huber: f32,
    /// Also decode spin changes per edge, along the turn axes of its contact frame's
    /// pushes at the contact's lever arm.
    #[arg(long)]
    pub edge_torque: bool,
    /// Also decode a linear change per edge along the lever arm's part in the contact plane
    /// (static friction at a pivot that does not slip, as a toppling box's edge on a flat
    /// floor; its turn axis adds no new spin direction).
    #[arg(long)]
    pub lever_frame: bool,
    /// Leave bodies that only their joints hold (no contact candidate near) out of the
    /// loss: forecasts move them by gravity, pushes and their joints alone.
    #[arg(long)]
    pub joints_alone: bool,
    /// Write the exponential moving average of the weights, with this decay per step,
    /// instead of the last step's weights (0: off; 0.999 averages about the last 1000
    /// steps).
    #[arg(long, default_value_t = 0.0)]
    pub ema: f64,
    /// Share of draws from a scene's first ticks (0..=1), the first 5 × --step-ticks:
    /// forecasts from a scene's first frame.
    #[arg(long, default_value_t = 0.0)]
    pub early: f32,
}

impl TrainArgs {
    /// The training settings (one epoch when neither minutes nor epochs are given).
    pub fn spec(&self) -> foresight_model::train::TrainSpec {
        foresight_model::train::TrainSpec {
            features: foresight_model::FeatureConfig {
                step_ticks: self.step_ticks,
                hidden: self.hidden,
                passes: self.passes,
                edge_torque: self.edge_torque,
                lever_frame: self.lever_frame,
                ..Default::default()
            },
            seed: self.seed,
            epochs: match (self.minutes, self.epochs) {
                (None, None) => Some(1.0),
                _ => self.epochs,
            },
            minutes: self.minutes,
            focus: self.focus,
            pushforward: self.pushforward,
            pushforward_warmup: self.pushforward_warmup,
            settle_ticks: self.settle_ticks,
            huber: self.huber,
            joints_alone: self.joints_alone,
            ema: self.ema,
            early: self.early,
            command: command_line(),
            ..foresight_model::train::TrainSpec::default().with_noise(self.noise)
        }
    }
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Model weights (default: the shipped model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Evaluate only the baselines and references, without a learned model.
    #[arg(long, conflicts_with = "model")]
    pub no_model: bool,
    /// Directory of scene files.
    #[arg(long, default_value = "assets/scenes")]
    pub scenes: PathBuf,
    /// Evaluate only the scenes with this name (repeat the flag for several), e.g. the
    /// families a model was trained without.
    #[arg(long)]
    pub only: Vec<String>,
    /// Held-out seeds per scene.
    #[arg(long, default_value_t = 8)]
    pub seeds: usize,
    /// JSON report to write.
    #[arg(long)]
    pub out: PathBuf,
    /// PNG plot of error against horizon.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Forecast without the static projection (what the network alone does), to measure
    /// what the projection changes and costs.
    #[arg(long, conflicts_with = "no_model")]
    pub no_static_hold: bool,
    /// Use the network's output also on bodies that only their joints hold (a swinging
    /// chain with nothing else near), as forecasts did before those bodies were left to
    /// gravity and their joints.
    #[arg(long, conflicts_with = "no_model")]
    pub network_on_joints: bool,
}

impl EvalArgs {
    /// The learned model unless `--no-model`, and the name the report gives it.
    pub fn learned(&self) -> Result<(Option<LearnedModel>, String), ModelError> {
        if self.no_model {
            return Ok((None, "none".into()));
        }
        let path = model_path(self.model.as_deref());
        let mut model = held(LearnedModel::load(&path)?, self.no_static_hold);
        if self.network_on_joints {
            model = model.with_network_on_joints();
        }
        Ok((Some(model), path.display().to_string()))
    }
}

/// What imagines the candidates' futures.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Imagine {
    /// The learned world model.
    Learned,
    /// Rapier itself: the oracle, what a perfect world model would achieve.
    Rapier,
    /// Constant velocity (no forces at all).
    ConstantVelocity,
    /// Gravity only.
    Ballistic,
    /// Gravity, stopping at the first static surface.
    BallisticStop,
}

impl Imagine {
    /// The predictor this imagination is (`None` for the learned one when not loaded).
    pub fn predictor(self, learned: Option<&LearnedModel>) -> Option<&dyn Predictor> {
        Some(match self {
            Imagine::Learned => learned? as &dyn Predictor,
            Imagine::Rapier => &foresight_model::Rapier,
            Imagine::ConstantVelocity => &foresight_model::ConstantVelocity,
            Imagine::Ballistic => &foresight_model::Ballistic,
            Imagine::BallisticStop => &foresight_model::BallisticStop,
        })
    }
}

/// The predictors of `imaginations` (the learned one only when loaded).
pub fn predictors<'a>(
    imaginations: &[Imagine],
    learned: Option<&'a LearnedModel>,
) -> Vec<&'a dyn Predictor> {
    imaginations
        .iter()
        .filter_map(|w| w.predictor(learned))
        .collect()
}

#[derive(clap::Args)]
pub struct PlannerArgs {
    /// Model weights for `--imagine learned` (default: the shipped model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Candidate pushes imagined per round.
    #[arg(long, default_value_t = 128)]
    pub candidates: usize,
    /// Rounds of the cross-entropy method.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

impl PlannerArgs {
    /// The planner's settings with `seed`, checked.
    pub fn spec(&self, seed: u64) -> Result<foresight_plan::PlanSpec, foresight_plan::PlanError> {
        foresight_plan::PlanSpec::checked(self.candidates, self.rounds, seed)
    }

    /// The learned model, when one of `imaginations` is it.
    pub fn learned(&self, imaginations: &[Imagine]) -> Result<Option<LearnedModel>, ModelError> {
        let path = model_path(self.model.as_deref());
        let wanted = imaginations.contains(&Imagine::Learned);
        wanted.then(|| LearnedModel::load(&path)).transpose()
    }
}

#[derive(clap::Args)]
pub struct PlanArgs {
    /// Scene file with a `goal` and `actions`.
    #[arg(long)]
    pub scene: PathBuf,
    /// Seed of the variant.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// What imagines the futures.
    #[arg(long, value_enum, default_value_t = Imagine::Learned)]
    pub imagine: Imagine,
    #[command(flatten)]
    pub planner: PlannerArgs,
}

#[derive(clap::Args)]
pub struct PlanEvalArgs {
    /// Directory of scene files (those with a goal are planned).
    #[arg(long, default_value = "assets/plan-scenes")]
    pub scenes: PathBuf,
    /// Held-out seeds per scene.
    #[arg(long, default_value_t = 8)]
    pub seeds: usize,
    /// Imaginations to plan with (repeat the flag; default: learned and rapier).
    #[arg(long, value_enum)]
    pub imagine: Vec<Imagine>,
    /// Random pushes tried per scene and seed (the no-imagination floor).
    #[arg(long, default_value_t = 16)]
    pub random: usize,
    /// JSON report to write.
    #[arg(long)]
    pub out: PathBuf,
    /// PNG chart of success by scene.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub planner: PlannerArgs,
}

impl PlanEvalArgs {
    /// The imaginations asked for, else the learned model and rapier.
    pub fn imaginations(&self) -> Vec<Imagine> {
        if self.imagine.is_empty() {
            vec![Imagine::Learned, Imagine::Rapier]
        } else {
            self.imagine.clone()
        }
    }
}

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand)]
pub enum BenchWhat {
    /// One planning round (candidates × seconds imagined) with the learned model against
    /// the same round with rapier as the imagination.
    Plan(BenchPlanArgs),
    /// Recording overhead over bare rapier stepping, and steps per second, per scene.
    Sim(BenchSimArgs),
    /// Learned forecast time against rapier's time for the same horizon.
    Predict(BenchPredictArgs),
}

#[derive(clap::Args)]
pub struct BenchPlanArgs {
    /// A scene file with a goal.
    #[arg(long, default_value = "assets/plan-scenes/pot.ron")]
    pub scene: PathBuf,
    /// Model weights (default: the shipped model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Candidates in the round.
    #[arg(long, default_value_t = 64)]
    pub candidates: usize,
    /// Seconds imagined per candidate.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f32,
    /// Runs of each kind; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Forecast without the static projection (what the network alone does), to measure
    /// what the projection changes and costs.
    #[arg(long)]
    pub no_static_hold: bool,
}

#[derive(clap::Args)]
pub struct BenchSimArgs {
    /// One scene file (default: every scene in assets/scenes).
    #[arg(long)]
    pub scene: Option<PathBuf>,
    /// Steps per run.
    #[arg(long, default_value_t = 300)]
    pub steps: u64,
    /// Runs of each kind; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
}

impl BenchSimArgs {
    /// The scene file given, else every scene in assets/scenes.
    pub fn files(&self) -> Result<Vec<PathBuf>, SceneError> {
        match &self.scene {
            Some(s) => Ok(vec![s.clone()]),
            None => scene_files(&asset("scenes")),
        }
    }
}

#[derive(clap::Args)]
pub struct BenchPredictArgs {
    /// Scene file (default: the 216-body pile).
    #[arg(long, default_value = "assets/scenes/pile.ron")]
    pub scene: PathBuf,
    /// Ticks to forecast.
    #[arg(long, default_value_t = 60)]
    pub horizon: usize,
    /// Tick the forecast starts from.
    #[arg(long, default_value_t = 60)]
    pub start: usize,
    /// Model weights (default: the shipped model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Runs of each kind; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Forecast without the static projection (what the network alone does), to measure
    /// what the projection changes and costs.
    #[arg(long)]
    pub no_static_hold: bool,
}

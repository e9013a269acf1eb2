//! The `foresight` command: list and check scene files, simulate them to trajectory
//! files, build datasets, train and evaluate the world model, and benchmark both. Every failure is one line on stderr and an exit
//! code: 0 success, 2 bad input or usage, 1 anything else.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use foresight_sim::{Encoding, Progress, Scene, World, bench};
use indicatif::{ProgressBar, ProgressStyle};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "foresight",
    version,
    about = "A watchable world model of rigid-body physics"
)]
struct Cli {
    /// Without a command: `view`, the demo app.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The demo app: the truth and the forecast together (the default command).
    View(ViewArgs),
    /// List the scene files in a directory: file, name, bodies, description.
    Scenes {
        /// Directory of `.ron` scene files.
        #[arg(long, default_value = "assets/scenes")]
        dir: PathBuf,
    },
    /// Validate scene files; prints `ok` or the error for each.
    Check {
        /// Scene files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a scene variant and write its trajectory.
    Simulate {
        /// The scene file.
        #[arg(long)]
        scene: PathBuf,
        /// Seed of the variant (ranges in the scene are drawn with it).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Steps to run (default: the scene's duration).
        #[arg(long)]
        steps: Option<u64>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Output format (default: from the file extension, `.bin` for binary, else JSON).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Generate a dataset: seeded variants of every scene, with random pushes.
    Dataset {
        /// Directories of scene files (repeat the flag for several).
        #[arg(long, default_value = "assets/scenes")]
        scenes: Vec<PathBuf>,
        /// Leave out scenes with this name (repeat the flag for several): for testing on
        /// scene families the model never saw.
        #[arg(long)]
        exclude: Vec<String>,
        /// Episodes per scene.
        #[arg(long)]
        episodes: usize,
        /// Steps per episode (default: each scene's duration).
        #[arg(long, default_value_t = 0)]
        steps: u64,
        /// Base seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Train the learned model on a dataset.
    Train {
        /// Dataset directory (from `foresight dataset`).
        #[arg(long)]
        data: PathBuf,
        /// Weights file to write (`.safetensors`); the sidecar `.json` and `-loss.png` go beside it.
        #[arg(long)]
        out: PathBuf,
        /// Seed for initialization, sampling and noise.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Stop after this many minutes (wall clock; not reproducible, use --epochs for that).
        #[arg(long, conflicts_with = "epochs")]
        minutes: Option<f64>,
        /// Passes over the training samples.
        #[arg(long)]
        epochs: Option<f64>,
        /// Hidden width.
        #[arg(long, default_value_t = 64)]
        hidden: usize,
        /// Message-passing rounds.
        #[arg(long, default_value_t = 2)]
        passes: usize,
        /// Simulator ticks per learned step.
        #[arg(long, default_value_t = 4)]
        step_ticks: usize,
    },
    /// Evaluate the learned model, the baselines and the references on held-out seeds.
    Eval(EvalArgs),
    /// Plan a push that reaches the scene's goal by imagining candidate pushes with a
    /// world model; prints the push, the imagined outcome and the real one.
    Plan(PlanArgs),
    /// Plan every goal scene on held-out seeds with each imagination and with random
    /// pushes; writes success rates and planning times (JSON, optional PNG chart).
    PlanEval(PlanEvalArgs),
    /// Measure the simulator or the model.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Model weights (default: the shipped model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Evaluate only the baselines and references, without a learned model.
    #[arg(long, conflicts_with = "model")]
    no_model: bool,
    /// Directory of scene files.
    #[arg(long, default_value = "assets/scenes")]
    scenes: PathBuf,
    /// Evaluate only the scenes with this name (repeat the flag for several), e.g. the
    /// families a model was trained without.
    #[arg(long)]
    only: Vec<String>,
    /// Held-out seeds per scene.
    #[arg(long, default_value_t = 8)]
    seeds: usize,
    /// JSON report to write.
    #[arg(long)]
    out: PathBuf,
    /// PNG plot of error against horizon.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// What imagines the candidates' futures.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Imagine {
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

#[derive(clap::Args)]
struct PlannerArgs {
    /// Model weights for `--imagine learned` (default: the shipped model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Candidate pushes imagined per round.
    #[arg(long, default_value_t = 128)]
    candidates: usize,
    /// Rounds of the cross-entropy method.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

#[derive(clap::Args)]
struct PlanArgs {
    /// Scene file with a `goal` and `actions`.
    #[arg(long)]
    scene: PathBuf,
    /// Seed of the variant.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// What imagines the futures.
    #[arg(long, value_enum, default_value_t = Imagine::Learned)]
    imagine: Imagine,
    #[command(flatten)]
    planner: PlannerArgs,
}

#[derive(clap::Args)]
struct PlanEvalArgs {
    /// Directory of scene files (those with a goal are planned).
    #[arg(long, default_value = "assets/plan-scenes")]
    scenes: PathBuf,
    /// Held-out seeds per scene.
    #[arg(long, default_value_t = 8)]
    seeds: usize,
    /// Imaginations to plan with (repeat the flag; default: learned and rapier).
    #[arg(long, value_enum)]
    imagine: Vec<Imagine>,
    /// Random pushes tried per scene and seed (the no-imagination floor).
    #[arg(long, default_value_t = 16)]
    random: usize,
    /// JSON report to write.
    #[arg(long)]
    out: PathBuf,
    /// PNG chart of success by scene.
    #[arg(long)]
    plot: Option<PathBuf>,
    #[command(flatten)]
    planner: PlannerArgs,
}

#[derive(clap::Args)]
struct ViewArgs {
    /// Scene file to open.
    #[arg(long)]
    scene: Option<PathBuf>,
    /// Model weights (default: the shipped model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Seed of the first variant.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Save a screenshot of the window after --frames frames, then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Frames to run before the screenshot.
    #[arg(long, default_value_t = 120)]
    frames: u32,
    /// Plan a push for the scene's goal at the start (as the P key does); with
    /// --screenshot, the frames are counted once the plan has arrived.
    #[arg(long)]
    plan: bool,
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
        }
    }
}

#[derive(Subcommand)]
enum BenchWhat {
    /// One planning round (candidates × seconds imagined) with the learned model against
    /// the same round with rapier as the imagination.
    Plan {
        /// A scene file with a goal.
        #[arg(long, default_value = "assets/plan-scenes/pot.ron")]
        scene: PathBuf,
        /// Model weights (default: the shipped model).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Candidates in the round.
        #[arg(long, default_value_t = 64)]
        candidates: usize,
        /// Seconds imagined per candidate.
        #[arg(long, default_value_t = 2.0)]
        seconds: f32,
        /// Runs of each kind; the median is reported.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Recording overhead over bare rapier stepping, and steps per second, per scene.
    Sim {
        /// One scene file (default: every scene in assets/scenes).
        #[arg(long)]
        scene: Option<PathBuf>,
        /// Steps per run.
        #[arg(long, default_value_t = 300)]
        steps: u64,
        /// Runs of each kind; the median is reported.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Learned forecast time against rapier's time for the same horizon.
    Predict {
        /// Scene file (default: the 200-body pile).
        #[arg(long, default_value = "assets/scenes/pile.ron")]
        scene: PathBuf,
        /// Ticks to forecast.
        #[arg(long, default_value_t = 60)]
        horizon: usize,
        /// Tick the forecast starts from.
        #[arg(long, default_value_t = 60)]
        start: usize,
        /// Model weights (default: the shipped model).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Runs of each kind; the median is reported.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Bin,
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

fn bad_input(e: impl std::fmt::Display) -> Failure {
    Failure {
        code: 2,
        message: e.to_string(),
    }
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: e.to_string(),
    }
}

/// Candle runs element-wise ops on a pool of spinning worker threads sized to the cores.
/// Our tensors are small: on two cores those workers spent more than half of training
/// time waiting at barriers (measured with `perf`), so candle gets one thread unless the
/// user sets `CANDLE_NUM_THREADS`; data preparation runs in parallel on rayon instead.
#[allow(unsafe_code)]
fn single_threaded_candle() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: called first thing in `main`, before any thread exists, so nothing can
        // read the environment concurrently.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

fn main() -> ExitCode {
    single_threaded_candle();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("foresight: {first} (see `foresight --help`)");
            return ExitCode::from(2);
        }
    };
    match run(cli.command.unwrap_or(Command::View(ViewArgs::default()))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("foresight: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::View(args) => view(args),
        Command::Scenes { dir } => scenes(&dir),
        Command::Check { files } => check(&files),
        Command::Simulate {
            scene,
            seed,
            steps,
            out,
            format,
        } => simulate(&scene, seed, steps, &out, format),
        Command::Dataset {
            scenes,
            exclude,
            episodes,
            steps,
            seed,
            out,
        } => dataset(&scenes, &exclude, episodes, steps, seed, &out),
        Command::Train {
            data,
            out,
            seed,
            minutes,
            epochs,
            hidden,
            passes,
            step_ticks,
        } => train(
            &data, &out, seed, minutes, epochs, hidden, passes, step_ticks,
        ),
        Command::Eval(args) => eval(&args),
        Command::Plan(args) => plan(&args),
        Command::PlanEval(args) => plan_eval(&args),
        Command::Bench {
            what:
                BenchWhat::Plan {
                    scene,
                    model,
                    candidates,
                    seconds,
                    repeats,
                },
        } => bench_plan(&scene, model.as_deref(), candidates, seconds, repeats),
        Command::Bench {
            what:
                BenchWhat::Predict {
                    scene,
                    horizon,
                    start,
                    model,
                    repeats,
                },
        } => bench_predict(&scene, horizon, start, model.as_deref(), repeats),
        Command::Bench {
            what:
                BenchWhat::Sim {
                    scene,
                    steps,
                    repeats,
                },
        } => bench_sim(scene.as_deref(), steps, repeats),
    }
}

/// The `.ron` files of a directory, sorted by name.
fn scene_files(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| bad_input(format!("{}: cannot list scenes: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(bad_input(format!(
            "{}: no .ron scene files here",
            dir.display()
        )));
    }
    Ok(files)
}

fn scenes(dir: &Path) -> Result<(), Failure> {
    let files = scene_files(dir)?;
    let mut rows = Vec::new();
    let mut bad = 0;
    for f in &files {
        match Scene::load(f) {
            Ok(s) => rows.push((
                f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                s.name.clone(),
                s.body_count().to_string(),
                s.description.clone(),
            )),
            Err(e) => {
                eprintln!("{e}");
                bad += 1;
            }
        }
    }
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(4);
    println!(
        "{:w0$}  {:w1$}  {:>6}  description",
        "file", "name", "bodies"
    );
    for (file, name, bodies, desc) in &rows {
        println!("{file:w0$}  {name:w1$}  {bodies:>6}  {desc}");
    }
    if bad > 0 {
        return Err(bad_input(format!(
            "{bad} of {} scene files in {} are invalid (errors above)",
            files.len(),
            dir.display()
        )));
    }
    Ok(())
}

/// Loads, samples (seed 0) and builds a scene, and checks that nothing starts inside anything else.
fn check_one(path: &Path) -> Result<(), String> {
    let scene = Scene::load(path).map_err(|e| e.to_string())?;
    let instance = scene
        .sample(0)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let world = World::new(&instance);
    if let Some((a, b, depth)) = world.overlaps(0.01).first() {
        return Err(format!(
            "{}: {} and {} start {depth:.3} m inside each other (seed 0); move them apart",
            path.display(),
            describe(&instance, *a),
            describe(&instance, *b)
        ));
    }
    Ok(())
}

fn describe(instance: &foresight_sim::SceneInstance, o: foresight_sim::ObjectRef) -> String {
    match o {
        foresight_sim::ObjectRef::Body(i) => match &instance.bodies[i].name {
            Some(n) => format!("body {i} ({n})"),
            None => format!("body {i}"),
        },
        foresight_sim::ObjectRef::Static(i) => match &instance.statics[i].name {
            Some(n) => format!("statics[{i}] ({n})"),
            None => format!("statics[{i}]"),
        },
    }
}

fn check(files: &[PathBuf]) -> Result<(), Failure> {
    let mut bad = 0;
    for f in files {
        match check_one(f) {
            Ok(()) => println!("{}: ok", f.display()),
            Err(e) => {
                eprintln!("{e}");
                bad += 1;
            }
        }
    }
    match bad {
        0 => Ok(()),
        // The file's own error line is the whole message.
        _ if files.len() == 1 => Err(bad_input("")),
        _ => Err(bad_input(format!(
            "{bad} of {} files failed the check",
            files.len()
        ))),
    }
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn tick(&mut self, done: u64) {
        if done.is_multiple_of(16) {
            self.0.set_position(done);
        }
    }
}

fn simulate(
    scene_path: &Path,
    seed: u64,
    steps: Option<u64>,
    out: &Path,
    format: Option<Format>,
) -> Result<(), Failure> {
    let scene = Scene::load(scene_path).map_err(bad_input)?;
    let instance = scene
        .sample(seed)
        .map_err(|e| bad_input(format!("{}: {e}", scene_path.display())))?;
    let steps = steps.unwrap_or(instance.steps);
    if steps > 10_000_000 {
        return Err(bad_input(format!(
            "--steps {steps} is more than 10000000; record shorter runs"
        )));
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(bad_input(format!(
            "{}: directory {} does not exist; create it first",
            out.display(),
            parent.display()
        )));
    }
    let encoding = match format {
        Some(Format::Json) => Encoding::Json,
        Some(Format::Bin) => Encoding::Binary,
        None if out.extension().is_some_and(|x| x == "bin") => Encoding::Binary,
        None => Encoding::Json,
    };
    let mut world = World::new(&instance);
    let show =
        std::io::stderr().is_terminal() && steps as usize * instance.bodies.len().max(1) > 100_000;
    let bar = if show {
        let b = ProgressBar::new(steps);
        b.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} steps, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_message(format!("simulating {}", instance.name));
        b
    } else {
        ProgressBar::hidden()
    };
    let mut progress = Bar(bar);
    let trajectory = world.record_with(steps, &mut progress);
    progress.0.finish_and_clear();
    trajectory.write(out, encoding).map_err(failed)?;
    let outcome = match &trajectory.outcome {
        Some(o) => match o.first_touch_tick {
            Some(t) => format!(
                "; outcome: touched at tick {t}, answer {}",
                if o.answer { "yes" } else { "no" }
            ),
            None => "; outcome: no touch, answer no".to_string(),
        },
        None => String::new(),
    };
    println!(
        "{}: {} steps of {} ({} bodies, seed {seed}){outcome}",
        out.display(),
        steps,
        instance.name,
        instance.bodies.len()
    );
    Ok(())
}

/// A path under `assets/`: from the working directory when run from the repository,
/// else from the source tree this binary was built from.
fn asset(rel: &str) -> PathBuf {
    let local = Path::new("assets").join(rel);
    if local.exists() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(rel)
    }
}

fn default_scene_dir() -> PathBuf {
    asset("scenes")
}

fn bench_sim(scene: Option<&Path>, steps: u64, repeats: usize) -> Result<(), Failure> {
    let files = match scene {
        Some(s) => vec![s.to_path_buf()],
        None => scene_files(&default_scene_dir())?,
    };
    if cfg!(debug_assertions) {
        eprintln!(
            "foresight: note: this is a debug build; run `cargo run --release -- bench sim` for real figures"
        );
    }
    println!(
        "{:24} {:>6} {:>6} {:>12} {:>12} {:>14} {:>16}",
        "scene", "bodies", "steps", "bare ms", "record ms", "record/bare", "bare steps/s"
    );
    let mut log_sum = 0.0;
    for f in &files {
        let s = Scene::load(f).map_err(bad_input)?;
        let instance = s
            .sample(0)
            .map_err(|e| bad_input(format!("{}: {e}", f.display())))?;
        let b = bench::recording_overhead(&instance, steps, repeats);
        log_sum += b.ratio().ln();
        println!(
            "{:24} {:>6} {:>6} {:>12.2} {:>12.2} {:>14.3} {:>16.0}",
            b.scene,
            b.bodies,
            b.steps,
            b.bare.as_secs_f64() * 1e3,
            b.record.as_secs_f64() * 1e3,
            b.ratio(),
            b.steps_per_second()
        );
    }
    println!(
        "geometric mean record/bare over {} scenes: {:.3} (target <= 1.10)",
        files.len(),
        (log_sum / files.len() as f64).exp()
    );
    Ok(())
}

/// The command line as typed, recorded in datasets and models.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("foresight {}", args.join(" "))
}

fn bar(len: Option<u64>, message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    b.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {elapsed} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b.set_message(message.to_string());
    b
}

fn model_failure(e: foresight_model::ModelError) -> Failure {
    use foresight_model::ModelError as E;
    match e {
        E::Tensor(_) | E::Io { .. } => failed(e),
        _ => bad_input(e),
    }
}

fn dataset(
    scenes: &[PathBuf],
    exclude: &[String],
    episodes: usize,
    steps: u64,
    seed: u64,
    out: &Path,
) -> Result<(), Failure> {
    if episodes == 0 {
        return Err(bad_input("--episodes must be at least 1"));
    }
    let mut files = Vec::new();
    for dir in scenes {
        for f in scene_files(dir)? {
            let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned());
            if !stem.is_some_and(|s| exclude.contains(&s)) {
                files.push(f);
            }
        }
    }
    if files.is_empty() {
        return Err(bad_input(
            "no scene files left to simulate; check --scenes and --exclude",
        ));
    }
    let spec = foresight_model::dataset::DatasetSpec {
        scenes: files.clone(),
        episodes,
        steps,
        seed,
        command: command_line(),
    };
    let b = bar(Some((files.len() * episodes) as u64), "simulating episodes");
    let t = std::time::Instant::now();
    let m = foresight_model::dataset::generate(&spec, out, &|| b.inc(1)).map_err(model_failure)?;
    b.finish_and_clear();
    let val = m
        .episodes
        .iter()
        .filter(|e| foresight_model::dataset::is_validation(e.seed))
        .count();
    println!(
        "{}: {} episodes from {} scenes ({} for validation) in {:.1} s",
        out.display(),
        m.episodes.len(),
        files.len(),
        val,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn train(
    data: &Path,
    out: &Path,
    seed: u64,
    minutes: Option<f64>,
    epochs: Option<f64>,
    hidden: usize,
    passes: usize,
    step_ticks: usize,
) -> Result<(), Failure> {
    if !(1..=1024).contains(&hidden) || passes > 8 || !(1..=30).contains(&step_ticks) {
        return Err(bad_input(
            "--hidden must be 1..=1024, --passes 0..=8, --step-ticks 1..=30",
        ));
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if minutes.is_some_and(|m| !positive(m)) || epochs.is_some_and(|e| !positive(e)) {
        return Err(bad_input("--minutes and --epochs must be positive"));
    }
    if out.extension().is_none_or(|x| x != "safetensors") {
        return Err(bad_input(format!(
            "{}: the model file must end in .safetensors",
            out.display()
        )));
    }
    out_dir_exists(out)?;
    let (train_eps, val_eps) = foresight_model::train::load_split(data).map_err(model_failure)?;
    let spec = foresight_model::train::TrainSpec {
        features: foresight_model::FeatureConfig {
            step_ticks,
            hidden,
            passes,
            ..Default::default()
        },
        seed,
        epochs: if minutes.is_none() && epochs.is_none() {
            Some(1.0)
        } else {
            epochs
        },
        minutes,
        command: command_line(),
        ..Default::default()
    };
    let b = bar(None, "training");
    let mut on_event = |e: foresight_model::train::TrainEvent| match e {
        foresight_model::train::TrainEvent::Start { iterations } => {
            if let Some(n) = iterations {
                b.set_length(n as u64);
            }
        }
        foresight_model::train::TrainEvent::Step(i) => b.set_position(i as u64),
        foresight_model::train::TrainEvent::Point(p) => {
            b.set_message(format!("training: loss {:.4} val {:.4}", p.train, p.val))
        }
    };
    let mut trained = foresight_model::train::train(
        &train_eps,
        &val_eps,
        &spec,
        &data.display().to_string(),
        &mut on_event,
    )
    .map_err(model_failure)?;
    b.finish_and_clear();
    trained.model.save(out).map_err(model_failure)?;
    let png = out.with_file_name(format!(
        "{}-loss.png",
        out.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    foresight_model::plot::loss_curve(&png, &trained.curve).map_err(model_failure)?;
    let info = &trained.model.sidecar.train;
    println!(
        "{}: {} steps in {:.0} s, train loss {:.4}, validation loss {:.4} ({} train / {} validation episodes); loss curve {}",
        out.display(),
        info.iterations,
        info.seconds,
        info.train_loss,
        info.val_loss,
        info.train_episodes,
        info.val_episodes,
        png.display()
    );
    Ok(())
}

fn default_model() -> PathBuf {
    asset("models/foresight.safetensors")
}

fn eval(args: &EvalArgs) -> Result<(), Failure> {
    use foresight_model::Predictor;
    if args.seeds == 0 {
        return Err(bad_input("--seeds must be at least 1"));
    }
    out_dir_exists(&args.out)?;
    let path = args.model.clone().unwrap_or_else(default_model);
    let learned = if args.no_model {
        None
    } else {
        Some(foresight_model::LearnedModel::load(&path).map_err(model_failure)?)
    };
    let mut files = scene_files(&args.scenes)?;
    if !args.only.is_empty() {
        files.retain(|f| {
            f.file_stem()
                .is_some_and(|s| args.only.iter().any(|o| s.to_string_lossy() == *o))
        });
        if files.is_empty() {
            return Err(bad_input(format!(
                "{}: no scene files named {} here",
                args.scenes.display(),
                args.only.join(", ")
            )));
        }
    }
    let references: [&dyn Predictor; 4] = [
        &foresight_model::ConstantVelocity,
        &foresight_model::Ballistic,
        &foresight_model::BallisticStop,
        &foresight_model::RapierPerturbed::default(),
    ];
    let predictors: Vec<&dyn Predictor> = learned
        .as_ref()
        .map(|l| l as &dyn Predictor)
        .into_iter()
        .chain(references)
        .collect();
    let seeds = foresight_model::eval::eval_seeds(args.seeds);
    let b = bar(Some((files.len() * seeds.len()) as u64), "evaluating");
    let model = if learned.is_some() {
        path.display().to_string()
    } else {
        "none".to_string()
    };
    let report = foresight_model::eval::evaluate(
        &files,
        &seeds,
        &predictors,
        &model,
        &command_line(),
        &|| b.inc(1),
    )
    .map_err(model_failure)?;
    b.finish_and_clear();
    let json = serde_json::to_string_pretty(&report).map_err(failed)?;
    std::fs::write(&args.out, json + "\n")
        .map_err(|e| failed(format!("{}: cannot write: {e}", args.out.display())))?;
    if let Some(p) = &args.plot {
        foresight_model::plot::error_vs_horizon(p, &report).map_err(model_failure)?;
    }
    println!("{report}");
    Ok(())
}

fn bench_predict(
    scene: &Path,
    horizon: usize,
    start: usize,
    model: Option<&Path>,
    repeats: usize,
) -> Result<(), Failure> {
    if horizon == 0 {
        return Err(bad_input("--horizon must be at least 1"));
    }
    let path = model.map_or_else(default_model, Path::to_path_buf);
    let learned = foresight_model::LearnedModel::load(&path).map_err(model_failure)?;
    let s = Scene::load(scene).map_err(bad_input)?;
    if cfg!(debug_assertions) {
        eprintln!(
            "foresight: note: this is a debug build; run `cargo run --release -- bench predict` for real figures"
        );
    }
    let r = foresight_model::bench::forecast_vs_simulate(&learned, &s, start, horizon, repeats)
        .map_err(model_failure)?;
    println!(
        "{}: {} bodies, {} ticks from tick {}: forecast {:.2} ms, simulate {:.2} ms, forecast/simulate = {:.3}",
        s.name,
        r.bodies,
        r.horizon,
        r.start,
        r.forecast.as_secs_f64() * 1e3,
        r.simulate.as_secs_f64() * 1e3,
        r.ratio()
    );
    Ok(())
}

fn view(args: ViewArgs) -> Result<(), Failure> {
    let dir = default_scene_dir();
    let scene = args.scene.unwrap_or_else(|| dir.join("tower.ron"));
    if args.frames == 0 {
        return Err(bad_input("--frames must be at least 1"));
    }
    if std::env::var_os("DISPLAY").is_none() {
        return Err(bad_input(
            "no display: set DISPLAY (for example run `Xvfb :99 &` and `DISPLAY=:99 foresight view ...`)",
        ));
    }
    if let Some(shot) = &args.screenshot
        && shot.extension().is_none_or(|x| x != "png")
    {
        return Err(bad_input(format!(
            "{}: the screenshot must be a .png file",
            shot.display()
        )));
    }
    let config = foresight_viewer::ViewerConfig {
        scenes_dir: scene
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or(dir, Path::to_path_buf),
        scene,
        model: args.model.unwrap_or_else(default_model),
        seed: args.seed,
        screenshot: args.screenshot,
        frames: args.frames,
        plan: args.plan,
    };
    foresight_viewer::run(config).map_err(bad_input)
}

fn plan_failure(e: foresight_plan::PlanError) -> Failure {
    match e {
        foresight_plan::PlanError::Model(m) => model_failure(m),
        other => bad_input(other),
    }
}

impl PlannerArgs {
    fn spec(&self, seed: u64) -> Result<foresight_plan::PlanSpec, Failure> {
        if !(1..=4096).contains(&self.candidates) || !(1..=20).contains(&self.rounds) {
            return Err(bad_input(
                "--candidates must be 1..=4096 and --rounds 1..=20",
            ));
        }
        Ok(foresight_plan::PlanSpec {
            candidates: self.candidates,
            rounds: self.rounds,
            elites: (self.candidates / 8).max(1),
            seed,
            ..Default::default()
        })
    }

    fn learned(&self) -> Result<foresight_model::LearnedModel, Failure> {
        let path = self.model.clone().unwrap_or_else(default_model);
        foresight_model::LearnedModel::load(&path).map_err(model_failure)
    }
}

fn predictor(
    which: Imagine,
    learned: Option<&foresight_model::LearnedModel>,
) -> Option<&dyn foresight_model::Predictor> {
    Some(match which {
        Imagine::Learned => learned? as &dyn foresight_model::Predictor,
        Imagine::Rapier => &foresight_model::Rapier,
        Imagine::ConstantVelocity => &foresight_model::ConstantVelocity,
        Imagine::Ballistic => &foresight_model::Ballistic,
        Imagine::BallisticStop => &foresight_model::BallisticStop,
    })
}

fn plan(args: &PlanArgs) -> Result<(), Failure> {
    use foresight_plan::eval::{start_problem, truth_with};
    let scene = Scene::load(&args.scene).map_err(bad_input)?;
    let spec = args.planner.spec(args.seed)?;
    let learned = if args.imagine == Imagine::Learned {
        Some(args.planner.learned()?)
    } else {
        None
    };
    let imagination = predictor(args.imagine, learned.as_ref())
        .ok_or_else(|| failed("the learned model was not loaded"))?;
    let instance = scene.sample(args.seed).map_err(bad_input)?;
    let (ctx, _) = truth_with(&instance, None, 0);
    let history = vec![World::new(&instance).states()];
    let problem = start_problem(&instance, &ctx, &history)
        .map_err(|e| bad_input(format!("{}: {e}", args.scene.display())))?;
    let goal = *problem.goal;
    let p = foresight_plan::plan(imagination, &problem, &spec).map_err(plan_failure)?;
    let within = goal.within_ticks as usize;
    let (tctx, truth) = truth_with(&instance, Some(p.best.push), within);
    let real = foresight_plan::score(&tctx, &goal.kind, &truth, within);
    let push = p.best.push;
    let j = push.impulse;
    let size = (j[0] * j[0] + j[1] * j[1] + j[2] * j[2]).sqrt();
    let name = instance.bodies[push.body]
        .name
        .clone()
        .unwrap_or_else(|| format!("body {}", push.body));
    println!(
        "{} seed {}: planned with {} in {:.2} s ({} imagined futures)",
        scene.name, args.seed, p.imagination, p.seconds, p.rollouts
    );
    println!(
        "push: {name}, impulse ({:.2}, {:.2}, {:.2}) N·s ({size:.2} N·s) at t = {:.2} s",
        j[0],
        j[1],
        j[2],
        push.tick as f32 * instance.dt
    );
    let imagined = foresight_plan::describe(&goal.kind, &p.best.score, instance.dt);
    let real_text = foresight_plan::describe(&goal.kind, &real, instance.dt);
    println!("imagined: {imagined}");
    println!("real:     {real_text}");
    if p.best.score.reached != real.reached {
        println!("surprise: the imagination was wrong about this push");
    }
    Ok(())
}

fn plan_eval(args: &PlanEvalArgs) -> Result<(), Failure> {
    if args.seeds == 0 {
        return Err(bad_input("--seeds must be at least 1"));
    }
    let which = if args.imagine.is_empty() {
        vec![Imagine::Learned, Imagine::Rapier]
    } else {
        args.imagine.clone()
    };
    let spec = args.planner.spec(0)?;
    out_dir_exists(&args.out)?;
    if let Some(p) = &args.plot {
        out_dir_exists(p)?;
    }
    let learned = if which.contains(&Imagine::Learned) {
        Some(args.planner.learned()?)
    } else {
        None
    };
    let preds: Vec<&dyn foresight_model::Predictor> = which
        .iter()
        .filter_map(|w| predictor(*w, learned.as_ref()))
        .collect();
    let mut scenes = Vec::new();
    for f in scene_files(&args.scenes)? {
        let s = Scene::load(&f).map_err(bad_input)?;
        if s.goal.is_some() {
            scenes.push(s);
        }
    }
    if scenes.is_empty() {
        return Err(bad_input(format!(
            "{}: no scene here has a goal; add `goal:` and `actions:` to one",
            args.scenes.display()
        )));
    }
    let seeds = foresight_model::eval::eval_seeds(args.seeds);
    let b = bar(Some((scenes.len() * seeds.len()) as u64), "planning");
    let report =
        foresight_plan::eval::plan_eval(&scenes, &seeds, &preds, &spec, args.random, &mut |line| {
            b.inc(1);
            b.println(line);
        })
        .map_err(plan_failure)?;
    b.finish_and_clear();
    let json = serde_json::to_string_pretty(&report).map_err(failed)?;
    write_atomic(&args.out, (json + "\n").as_bytes())?;
    if let Some(p) = &args.plot {
        foresight_plan::eval::plot(&report, p).map_err(model_failure)?;
    }
    println!("{report}");
    Ok(())
}

/// Fails before any work when an output file's directory does not exist.
fn out_dir_exists(out: &Path) -> Result<(), Failure> {
    match out.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) if !parent.is_dir() => Err(bad_input(format!(
            "{}: directory {} does not exist; create it first",
            out.display(),
            parent.display()
        ))),
        _ => Ok(()),
    }
}

/// Writes a file whole or not at all (a temporary file beside it, then a rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let io = |e: std::io::Error| failed(format!("{}: cannot write: {e}", path.display()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

fn bench_plan(
    scene: &Path,
    model: Option<&Path>,
    candidates: usize,
    seconds: f32,
    repeats: usize,
) -> Result<(), Failure> {
    let seconds_ok = seconds.is_finite() && seconds > 0.0 && seconds <= 60.0;
    if !(1..=4096).contains(&candidates) || !seconds_ok {
        return Err(bad_input(
            "--candidates must be 1..=4096 and --seconds in (0, 60]",
        ));
    }
    let path = model.map_or_else(default_model, Path::to_path_buf);
    let learned = foresight_model::LearnedModel::load(&path).map_err(model_failure)?;
    let s = Scene::load(scene).map_err(bad_input)?;
    if cfg!(debug_assertions) {
        eprintln!(
            "foresight: note: this is a debug build; run `cargo run --release -- bench plan` for real figures"
        );
    }
    let r = foresight_plan::eval::plan_vs_rapier(&learned, &s, candidates, seconds, repeats)
        .map_err(|e| match e {
            foresight_plan::PlanError::Model(m) => model_failure(m),
            other => bad_input(format!("{}: {other}", scene.display())),
        })?;
    println!(
        "{}: {} bodies, {} candidates × {} ticks: learned {:.3} s, rapier {:.3} s, learned/rapier = {:.3}",
        s.name,
        r.bodies,
        r.candidates,
        r.horizon,
        r.predictor.as_secs_f64(),
        r.rapier.as_secs_f64(),
        r.ratio()
    );
    Ok(())
}

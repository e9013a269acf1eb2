//! The `foresight` command: list and check scene files, simulate them to trajectory
//! files, and benchmark the simulator. Every failure is one line on stderr and an exit
//! code: 0 success, 2 bad input or usage, 1 anything else.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use foresight_sim::{Encoding, Progress, Scene, World, bench};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "foresight",
    version,
    about = "A watchable world model of rigid-body physics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Measure the simulator.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
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

fn main() -> ExitCode {
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
    match run(cli.command) {
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
        Command::Scenes { dir } => scenes(&dir),
        Command::Check { files } => check(&files),
        Command::Simulate {
            scene,
            seed,
            steps,
            out,
            format,
        } => simulate(&scene, seed, steps, &out, format),
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

fn default_scene_dir() -> PathBuf {
    let local = PathBuf::from("assets/scenes");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes")
    }
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

//! The `foresight` command: parses ([`args`]), runs the libraries and prints their
//! reports. Every failure is one line on stderr and an exit code: 0 success, 2 bad input
//! or usage, 1 anything else.

mod args;

use std::fmt::Display;
use std::io::IsTerminal;
use std::iter::once;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use args::*;
use foresight_model::learned::sidecar_path;
use foresight_model::{LearnedModel, ModelError, eval, train};
use foresight_plan::PlanError;
use foresight_sim::{FileError, Scene, SceneError, SceneInstance, TrajectoryError, World};
use foresight_sim::{check_out_dirs, write_json};
use indicatif::{ProgressBar, ProgressStyle};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A failure: its exit code (2 for bad input, 1 for anything else) and its message.
struct Failure(u8, String);

/// What a command ends with.
type Done = Result<(), Failure>;

fn bad_input(e: impl Display) -> Failure {
    Failure(2, e.to_string())
}

/// The libraries' errors as failures: bad input where the user can fix it.
macro_rules! failure_from {
    ($($error:ty => |$e:ident| $bad_input:expr;)*) => {$(
        impl From<$error> for Failure {
            fn from($e: $error) -> Failure {
                Failure(if $bad_input { 2 } else { 1 }, $e.to_string())
            }
        }
    )*};
}

failure_from! {
    SceneError => |e| true;
    FileError => |e| matches!(e, FileError::NoDir { .. });
    TrajectoryError => |e| false;
    ModelError => |e| !matches!(e, ModelError::Tensor(_) | ModelError::Io { .. });
    PlanError => |e| !matches!(e, PlanError::Model(ModelError::Tensor(_) | ModelError::Io { .. }));
}

/// Thread setup, done first thing in `main`. Our tensors are small: on two cores candle's
/// workers spent more than half of training time handing work between threads (measured
/// with `perf`), so candle runs on the calling thread and data preparation runs in
/// parallel on rayon instead. Candle's element-wise ops read `CANDLE_NUM_THREADS`; its
/// matmul reads `RAYON_NUM_THREADS` and, when that is unset, counts the physical cores by
/// reading `/proc/cpuinfo` on every call (6 % of training time). So both are set to one
/// and rayon's global pool is built with the threads the user asked for in
/// `RAYON_NUM_THREADS` (default: one per core). `foresight train` took 1.4–1.6× more
/// steps per minute this way (`train --minutes 1`, same data and flags).
#[allow(unsafe_code)]
fn configure_threads() {
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    // SAFETY: called first thing in `main`, before any thread exists, so nothing can
    // read the environment concurrently.
    unsafe {
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    // Explicit thread counts take precedence over the environment variable.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
}

/// mimalloc's `mi_option_purge_delay`: its index in `mi_option_e` (the same in the v2 and
/// v3 sources libmimalloc-sys bundles, which name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory stays with the allocator for reuse instead of going back to the system
/// after mimalloc's purge delay. Every learned step allocates and frees the same tensors
/// again; returned memory came back as fresh pages the kernel zeroes on first touch
/// (`clear_page_erms`, ~9 % of training time in `perf`), and `train --minutes 1` took
/// 10–15 % more steps without the purge. Peak memory is unchanged: it is only not
/// returned.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: a plain option store, done before any thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn main() -> ExitCode {
    keep_freed_memory();
    configure_threads();
    match args::parse().map(run) {
        Err(code) => code,
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(Failure(code, message))) => {
            if !message.is_empty() {
                eprintln!("foresight: {message}");
            }
            ExitCode::from(code)
        }
    }
}

fn run(command: Command) -> Done {
    use foresight_sim::check::{SceneList, check_files};
    match command {
        Command::View(a) => foresight_viewer::run(a.config()).map_err(bad_input),
        Command::Scenes(a) => {
            let list = SceneList::load(&a.dir)?;
            print_report(&list.errors, &list, list.problem())
        }
        Command::Check(a) => {
            let report = check_files(&a.files);
            print_report(&report.errors, &report, report.problem())
        }
        Command::Simulate(a) => simulate(&a),
        Command::Dataset(a) => dataset(&a),
        Command::Train(a) => train(&a),
        Command::Eval(a) => evaluate(&a),
        Command::Plan(a) => plan(&a),
        Command::PlanEval(a) => plan_eval(&a),
        Command::Bench(BenchArgs { what }) => match what {
            BenchWhat::Plan(a) => bench_plan(&a),
            BenchWhat::Sim(a) => bench_sim(&a),
            BenchWhat::Predict(a) => bench_predict(&a),
        },
    }
}

/// Prints the errors (stderr), then the report (stdout, when it says anything); fails
/// with `problem`, when there is one.
fn print_report(errors: &[SceneError], r: &impl Display, problem: Option<String>) -> Done {
    for e in errors {
        eprintln!("{e}");
    }
    let text = r.to_string();
    if !text.is_empty() {
        println!("{text}");
    }
    problem.map_or(Ok(()), |p| Err(bad_input(p)))
}

fn simulate(a: &SimulateArgs) -> Done {
    let instance = SceneInstance::load(&a.scene, a.seed)?;
    let steps = a.steps(&instance).map_err(bad_input)?;
    check_out_dirs([&a.out])?;
    let b = match steps as usize * instance.bodies.len().max(1) > 100_000 {
        true => bar(Some(steps), &format!("simulating {}", instance.name)),
        false => ProgressBar::hidden(),
    };
    let mut world = World::new(&instance);
    foresight_sim::check::check_start(&instance, &world, &a.scene.display().to_string())?;
    let trajectory = world.record_with(steps, &mut |done| b.set_position(done));
    b.finish_and_clear();
    trajectory.write(&a.out, a.encoding())?;
    println!("{}", trajectory.summary(&a.out));
    Ok(())
}

fn dataset(a: &DatasetArgs) -> Done {
    use foresight_model::dataset::{DatasetReport, generate};
    let spec = a.spec()?;
    let episodes = (spec.scenes.len() * spec.episodes) as u64;
    let t = std::time::Instant::now();
    let manifest = with_bar(Some(episodes), "simulating episodes", |b| {
        generate(&spec, &a.out, &|| b.inc(1))
    })?;
    let seconds = t.elapsed().as_secs_f64();
    println!("{}", DatasetReport::new(&a.out, &manifest, seconds));
    Ok(())
}

fn train(a: &TrainArgs) -> Done {
    use train::TrainEvent;
    let spec = a.spec();
    spec.check()?;
    train::check_model_path(&a.out)?;
    check_out_dirs([&a.out])?;
    let report = with_bar(None, "training", |b| {
        let mut on_event = |e: TrainEvent| match e {
            TrainEvent::Start {
                iterations: Some(n),
            } => b.set_length(n as u64),
            TrainEvent::Start { iterations: None } => {}
            TrainEvent::Step(i) => b.set_position(i as u64),
            TrainEvent::Point(p) => {
                b.set_message(format!("training: loss {:.4} val {:.4}", p.train, p.val))
            }
        };
        train::train_to_file(&a.data, &a.out, &spec, &mut on_event)
    })?;
    println!("{report}");
    Ok(())
}

/// Whether two paths name the same file (the same existing file, or the same absolute
/// path once `.` parts are dropped).
fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(x), Ok(y)) = (a.canonicalize(), b.canonicalize()) {
        return x == y;
    }
    let abs = |p: &Path| std::path::absolute(p).map(|p| p.components().collect::<PathBuf>());
    matches!((abs(a), abs(b)), (Ok(x), Ok(y)) if x == y)
}

/// Refuses a report or plot path that is one of the model's own files: `eval --model
/// with.safetensors --out with.json` would write the report over the model's sidecar
/// and leave the weights unreadable.
fn spare_model_files(out: &Path, plot: Option<&PathBuf>, model: &Path) -> Done {
    let sidecar = sidecar_path(model);
    let stem = model.file_stem().unwrap_or_default().to_string_lossy();
    let files = once((out, "json")).chain(plot.map(|p| (p.as_path(), "png")));
    for (file, ext) in files {
        if same_file(file, model) || same_file(file, &sidecar) {
            return Err(Failure(
                2,
                format!(
                    "{}: this is a file of the model {} and would be overwritten; \
                     write to another name, e.g. {stem}-eval.{ext}",
                    file.display(),
                    model.display()
                ),
            ));
        }
    }
    Ok(())
}

fn evaluate(a: &EvalArgs) -> Done {
    let seeds = eval::held_out_seeds(a.seeds)?;
    check_out_dirs(once(&a.out).chain(&a.plot))?;
    if !a.no_model {
        spare_model_files(&a.out, a.plot.as_ref(), &model_path(a.model.as_deref()))?;
    }
    let (learned, name) = a.learned()?;
    let files = eval::select_scenes(&a.scenes, &a.only)?;
    let predictors = eval::line_up(learned.as_ref());
    let jobs = (files.len() * seeds.len()) as u64;
    let report = with_bar(Some(jobs), "evaluating", |b| {
        eval::evaluate(&files, &seeds, &predictors, &name, &command_line(), &|| {
            b.inc(1)
        })
    })?;
    write_json(&a.out, &report)?;
    if let Some(p) = &a.plot {
        foresight_model::plot::error_vs_horizon(p, &report)?;
    }
    println!("{report}");
    Ok(())
}

fn plan(a: &PlanArgs) -> Done {
    let scene = Scene::load(&a.scene)?;
    let spec = a.planner.spec(a.seed)?;
    let learned = a.planner.learned(&[a.imagine])?;
    let imagination = (a.imagine.predictor(learned.as_ref()))
        .ok_or_else(|| Failure(1, "the learned model was not loaded".into()))?;
    let instance = scene.sample(a.seed).map_err(bad_input)?;
    let outcome = foresight_plan::eval::plan_and_play(imagination, &instance, &spec)
        .map_err(|e| e.in_file(&a.scene))?;
    println!("{outcome}");
    Ok(())
}

fn plan_eval(a: &PlanEvalArgs) -> Done {
    use foresight_plan::eval::{goal_scenes, plan_eval, plot};
    let seeds = eval::held_out_seeds(a.seeds)?;
    let which = a.imaginations();
    let spec = a.planner.spec(0)?;
    check_out_dirs(once(&a.out).chain(&a.plot))?;
    if which.contains(&Imagine::Learned) {
        spare_model_files(
            &a.out,
            a.plot.as_ref(),
            &model_path(a.planner.model.as_deref()),
        )?;
    }
    let learned = a.planner.learned(&which)?;
    let preds = predictors(&which, learned.as_ref());
    let scenes = goal_scenes(&a.scenes)?;
    let report = with_bar(Some((scenes.len() * seeds.len()) as u64), "planning", |b| {
        plan_eval(&scenes, &seeds, &preds, &spec, a.random, &mut |line| {
            b.inc(1);
            b.println(line);
        })
    })?;
    write_json(&a.out, &report)?;
    if let Some(p) = &a.plot {
        plot(&report, p)?;
    }
    println!("{report}");
    Ok(())
}

fn bench_plan(a: &BenchPlanArgs) -> Done {
    use foresight_plan::eval::{PlanBench, plan_vs_rapier};
    PlanBench::check(a.candidates, a.seconds)?;
    let learned = held(
        LearnedModel::load(&model_path(a.model.as_deref()))?,
        a.no_static_hold,
    );
    let s = Scene::load(&a.scene)?;
    debug_build_note("plan");
    let r = plan_vs_rapier(&learned, &s, a.candidates, a.seconds, a.repeats)
        .map_err(|e| e.in_file(&a.scene))?;
    println!("{r}");
    Ok(())
}

fn bench_sim(a: &BenchSimArgs) -> Done {
    let files = a.files()?;
    debug_build_note("sim");
    let report = with_bar(Some(files.len() as u64), "measuring", |b| {
        foresight_sim::bench::scenes(&files, a.steps, a.repeats, &|| b.inc(1))
    })?;
    println!("{report}");
    Ok(())
}

fn bench_predict(a: &BenchPredictArgs) -> Done {
    use foresight_model::bench::forecast_vs_simulate;
    if a.horizon == 0 {
        return Err(bad_input("--horizon must be at least 1"));
    }
    let learned = held(
        LearnedModel::load(&model_path(a.model.as_deref()))?,
        a.no_static_hold,
    );
    let s = Scene::load(&a.scene)?;
    debug_build_note("predict");
    let r = forecast_vs_simulate(&learned, &s, a.start, a.horizon, a.repeats)?;
    println!("{r}");
    Ok(())
}

/// Benchmarks of a debug build say so, on stderr.
fn debug_build_note(what: &str) {
    if cfg!(debug_assertions) {
        eprintln!(
            "foresight: note: this is a debug build; run `cargo run --release -- bench {what}` for real figures"
        );
    }
}

/// Runs `work` with a progress [`bar`], cleared when the work ends.
fn with_bar<T>(len: Option<u64>, message: &str, work: impl FnOnce(&ProgressBar) -> T) -> T {
    let b = bar(len, message);
    let out = work(&b);
    b.finish_and_clear();
    out
}

/// A progress bar on stderr (of `len` steps, else a spinner); hidden when stderr is not a
/// terminal.
fn bar(len: Option<u64>, message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = len.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
    b.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {elapsed} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b.set_message(message.to_string());
    b
}

#[cfg(test)]
mod tests {
    /// The option index names the purge delay (its value is mimalloc's documented default,
    /// 1000 ms in v3 and 10 ms in v2, or what `MIMALLOC_PURGE_DELAY` set), and
    /// [`super::keep_freed_memory`] turns purging off.
    #[test]
    #[allow(unsafe_code)]
    fn purge_delay_option_index_is_the_purge_delay_and_gets_turned_off() {
        // SAFETY: reads one option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        let v = get();
        match std::env::var("MIMALLOC_PURGE_DELAY") {
            Ok(set) => assert_eq!(Ok(v), set.parse(), "option 15 is not the purge delay"),
            Err(_) => assert!(
                v == 1000 || v == 10,
                "option 15 is {v}, not the purge delay"
            ),
        }
        super::keep_freed_memory();
        assert_eq!(get(), -1);
    }
}

//! A seeded fuzz harness over everything Foresight reads: scene files (the shipped scenes
//! with hostile values put in and their text mutated), trajectory files (valid ones
//! truncated, flipped, spliced, given wrong versions and out-of-range values) and model
//! files (sidecars and weights corrupted, swapped, truncated, given non-finite values).
//!
//! Properties: no input panics; each is handled within a time bound; an error is one line
//! that names the file; what loads is usable (a scene samples and steps to finite states,
//! a trajectory gives a finite forecast, a model gives finite forecasts).
//!
//! `cargo test --test fuzz` runs a fixed number of cases (seeded); a longer run is
//! `FORESIGHT_FUZZ_CASES=200000 FORESIGHT_FUZZ_SEED=1 cargo test --release --test fuzz -- --nocapture`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use foresight_model::learned::{LearnedModel, sidecar_path};
use foresight_model::{ConstantVelocity, Context, Predictor};
use foresight_sim::{BodyState, Encoding, Scene, Trajectory, World};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// Cases per kind of input (scenes, trajectories, model files) unless the environment
/// says otherwise.
const DEFAULT_CASES: [usize; 3] = [7000, 2500, 1000];
/// Longest any one input may take (debug build, shared machine).
const BOUND: Duration = Duration::from_secs(10);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> [usize; 3] {
    match std::env::var("FORESIGHT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        // Split like the default.
        Some(n) => [n * 70 / 105, n * 25 / 105, n * 10 / 105],
        None => DEFAULT_CASES,
    }
}

fn rng(kind: u64) -> ChaCha8Rng {
    let seed = std::env::var("FORESIGHT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(kind))
}

/// Runs `f`, turning a panic into a failure that shows the input, and bounds its time.
fn guarded<T>(what: &str, input: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        panic!(
            "{what} panicked on this input:\n{}",
            &input[..input.len().min(4000)]
        )
    });
    assert!(
        start.elapsed() < BOUND,
        "{what} took {:?} on this input:\n{}",
        start.elapsed(),
        &input[..input.len().min(4000)]
    );
    out
}

fn one_line_naming(e: &str, file: &str, input: &str) {
    assert!(
        !e.contains('\n') && e.contains(file),
        "error is not one line naming {file}: {e}\ninput:\n{}",
        &input[..input.len().min(2000)]
    );
}

fn finite(s: &BodyState) -> bool {
    s.position
        .iter()
        .chain(&s.rotation)
        .chain(&s.velocity)
        .chain(&s.angular_velocity)
        .all(|x| x.is_finite())
}

const HOSTILE: &[&str] = &[
    "0",
    "0.0",
    "-1",
    "-0.0",
    "NaN",
    "inf",
    "-inf",
    "1e30",
    "-1e30",
    "1e-30",
    "1e38",
    "3.4e39",
    "100000",
    "4294967295",
    "4294967296",
    "-5",
    "0.0..0.0",
    "5.0..1.0",
    "-1.0..1.0",
    "1e30..1e31",
    "2",
    "7",
    "0.5",
    "999999999999",
];

/// One mutation of a scene's text: a hostile number, a name that does not exist, a line
/// removed, doubled or swapped, a cut, or a stray character.
fn mutate_scene(text: &str, rng: &mut ChaCha8Rng) -> String {
    let lines: Vec<&str> = text.lines().collect();
    match rng.random_range(0..8) {
        0..=2 => {
            // Replace a number (maybe several) with a hostile value.
            let mut out = text.to_string();
            for _ in 0..rng.random_range(1..4) {
                let spans = number_spans(&out);
                if spans.is_empty() {
                    break;
                }
                let (a, b) = spans[rng.random_range(0..spans.len())];
                let v = HOSTILE[rng.random_range(0..HOSTILE.len())];
                out.replace_range(a..b, v);
            }
            out
        }
        3 => {
            // Point a name at nothing, or at nothing at all.
            let quotes: Vec<usize> = text.match_indices('"').map(|(i, _)| i).collect();
            if quotes.len() < 2 {
                return text.to_string();
            }
            let k = rng.random_range(0..quotes.len() / 2) * 2;
            let (a, b) = (quotes[k], quotes[k + 1]);
            let name = ["ghost", "", "floor", "ball_99", "\\u{0}"][rng.random_range(0..5)];
            format!("{}\"{name}\"{}", &text[..a], &text[b + 1..])
        }
        4 => {
            let i = rng.random_range(0..lines.len().max(1));
            lines
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != i)
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
                .join("\n")
        }
        5 => {
            let i = rng.random_range(0..lines.len().max(1));
            let mut v = lines.clone();
            if let Some(l) = lines.get(i) {
                v.insert(i, l);
            }
            if v.len() > 2 {
                let (a, b) = (rng.random_range(0..v.len()), rng.random_range(0..v.len()));
                if rng.random_range(0..2) == 0 {
                    v.swap(a, b);
                }
            }
            v.join("\n")
        }
        6 => {
            let cut = rng.random_range(0..text.len().max(1));
            let cut = (0..=cut)
                .rev()
                .find(|c| text.is_char_boundary(*c))
                .unwrap_or(0);
            text[..cut].to_string()
        }
        _ => {
            let at = rng.random_range(0..text.len().max(1));
            let at = (0..=at)
                .rev()
                .find(|c| text.is_char_boundary(*c))
                .unwrap_or(0);
            let c = [
                '(', ')', ',', '"', '-', '.', ':', '\u{0}', 'é', '9', '[', ']',
            ][rng.random_range(0..12)];
            format!("{}{c}{}", &text[..at], &text[at..])
        }
    }
}

/// Byte ranges of the numeric literals of a text.
fn number_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if starts {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.' || b[j] == b'e') {
                j += 1;
            }
            // Keep `1..2` ranges as two numbers.
            while j > i && b[j - 1] == b'.' {
                j -= 1;
            }
            let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
            out.push((start, j));
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn shipped_scenes() -> Vec<String> {
    ["assets/scenes", "assets/train-scenes", "assets/plan-scenes"]
        .iter()
        .flat_map(|d| foresight_sim::scene_files(&root().join(d)).unwrap())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Scenes: parse, sample and a few steps of whatever loads.
fn fuzz_scenes(n: usize) -> (usize, usize) {
    let sources = shipped_scenes();
    let mut rng = rng(1);
    let (mut loaded, mut stepped) = (0, 0);
    for case in 0..n {
        let mut text = sources[case % sources.len()].clone();
        for _ in 0..rng.random_range(1..4) {
            text = mutate_scene(&text, &mut rng);
        }
        let seed = rng.random_range(0..4u64);
        guarded("a scene", &text, || match Scene::parse(&text, "fuzz.ron") {
            Err(e) => one_line_naming(&e.to_string(), "fuzz.ron", &text),
            Ok(scene) => match scene.sample(seed) {
                Err(e) => one_line_naming(&e.to_string(), &scene.name, &text),
                Ok(instance) => {
                    loaded += 1;
                    if instance.bodies.len() > 120 {
                        return;
                    }
                    let mut world = World::new(&instance);
                    if foresight_sim::check::check_start(&instance, &world, "fuzz.ron").is_err() {
                        return;
                    }
                    for _ in 0..5 {
                        world.step();
                    }
                    stepped += 1;
                    assert!(
                        world.states().iter().all(finite),
                        "non-finite state after 5 steps of:\n{text}"
                    );
                }
            },
        });
    }
    (loaded, stepped)
}

/// Trajectories: read back whatever a corrupted file holds; what reads must forecast.
fn fuzz_trajectories(n: usize) -> usize {
    let mut sources = Vec::new();
    for (name, seed) in [("drop", 1), ("pendulum", 2), ("billiards", 3)] {
        let inst = Scene::load(root().join(format!("assets/scenes/{name}.ron")))
            .unwrap()
            .sample(seed)
            .unwrap();
        let t = World::new(&inst).record(12);
        sources.push(t.to_bytes(Encoding::Binary).unwrap());
        sources.push(t.to_bytes(Encoding::Json).unwrap());
    }
    let json_numbers = [
        "NaN",
        "1e39",
        "-1",
        "0",
        "4294967296",
        "null",
        "\"x\"",
        "[]",
        "2",
    ];
    let mut rng = rng(2);
    let mut read = 0;
    for case in 0..n {
        let mut bytes = sources[case % sources.len()].clone();
        match rng.random_range(0..5) {
            0 => bytes.truncate(rng.random_range(0..bytes.len())),
            1 => {
                for _ in 0..rng.random_range(1..6) {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] = rng.random_range(0..=255u8);
                }
            }
            2 => {
                // Splice another file's tail on.
                let other = &sources[rng.random_range(0..sources.len())];
                let (a, b) = (
                    rng.random_range(0..bytes.len()),
                    rng.random_range(0..other.len()),
                );
                bytes.truncate(a);
                bytes.extend_from_slice(&other[b..]);
            }
            3 if bytes.first() == Some(&b'{') => {
                // A JSON number becomes something else.
                let text = String::from_utf8(bytes.clone()).unwrap();
                let spans = number_spans(&text);
                if !spans.is_empty() {
                    let (a, b) = spans[rng.random_range(0..spans.len())];
                    let mut t = text;
                    t.replace_range(a..b, json_numbers[rng.random_range(0..json_numbers.len())]);
                    bytes = t.into_bytes();
                }
            }
            _ => {
                // A header with another version.
                if bytes.len() > 12 && bytes.first() != Some(&b'{') {
                    let i = rng.random_range(6..10);
                    bytes[i] = bytes[i].wrapping_add(1);
                }
            }
        }
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(600)]).into_owned();
        guarded("a trajectory", &shown, || {
            match Trajectory::from_bytes(&bytes, "fuzz.bin") {
                Err(e) => one_line_naming(&e.to_string(), "fuzz.bin", &shown),
                Ok(t) => {
                    read += 1;
                    let ctx = Context::from_trajectory(&t);
                    if let Some(first) = t.frames.first() {
                        match ConstantVelocity.rollout(
                            &ctx,
                            std::slice::from_ref(first),
                            &t.pushes,
                            5,
                        ) {
                            Ok(f) => assert!(f.iter().flatten().all(finite), "non-finite forecast"),
                            Err(e) => assert!(!e.to_string().contains('\n')),
                        }
                    }
                }
            }
        });
    }
    read
}

fn write_model(dir: &Path, weights: &[u8], sidecar: &[u8]) -> PathBuf {
    let w = dir.join("m.safetensors");
    std::fs::write(&w, weights).unwrap();
    std::fs::write(sidecar_path(&w), sidecar).unwrap();
    w
}

/// Model files: sidecar and weights corrupted, swapped and truncated, and weights made
/// non-finite with a matching checksum.
fn fuzz_models(n: usize) -> usize {
    let model = root().join("assets/models/foresight.safetensors");
    let weights = std::fs::read(&model).unwrap();
    let sidecar = std::fs::read_to_string(sidecar_path(&model)).unwrap();
    let trajectory = std::fs::read(root().join("assets/models/eval.json")).unwrap();
    let dir = std::env::temp_dir().join(format!("foresight-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inst = Scene::load(root().join("assets/scenes/drop.ron"))
        .unwrap()
        .sample(1)
        .unwrap();
    let t = World::new(&inst).record(3);
    let ctx = Context::from_trajectory(&t);
    let mut rng = rng(3);
    let mut loaded = 0;
    for _ in 0..n {
        let (mut w, mut s) = (weights.clone(), sidecar.clone().into_bytes());
        let kind = rng.random_range(0..7);
        match kind {
            0 => w.truncate(rng.random_range(0..w.len())),
            1 => {
                let i = rng.random_range(0..w.len());
                w[i] ^= 1 << rng.random_range(0..8);
            }
            2 => {
                let text = String::from_utf8(s).unwrap();
                let spans = number_spans(&text);
                let (a, b) = spans[rng.random_range(0..spans.len())];
                let mut t = text;
                t.replace_range(
                    a..b,
                    ["NaN", "1e39", "-1", "0", "99", "3", "null", "[]"][rng.random_range(0..8)],
                );
                s = t.into_bytes();
            }
            3 => s.truncate(rng.random_range(0..s.len())),
            4 => std::mem::swap(&mut w, &mut s),
            5 => w = trajectory.clone(),
            _ => {
                // Non-finite weights, with the sidecar's size and checksum made to match.
                let header = u64::from_le_bytes(w[..8].try_into().unwrap()) as usize;
                let body = 8 + header;
                let k = body + 4 * rng.random_range(0..(w.len() - body) / 4);
                let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.random_range(0..3)];
                w[k..k + 4].copy_from_slice(&bad.to_le_bytes());
                let mut side: serde_json::Value = serde_json::from_str(&sidecar).unwrap();
                side["weights_checksum"] =
                    format!("{:016x}", foresight_model::learned::fnv1a(&w)).into();
                s = serde_json::to_vec(&side).unwrap();
            }
        }
        let path = write_model(&dir, &w, &s);
        let shown = String::from_utf8_lossy(&s[..s.len().min(300)]).into_owned();
        guarded("a model file", &shown, || match LearnedModel::load(&path) {
            Err(e) => one_line_naming(&e.to_string(), "m.", &shown),
            Ok(m) => {
                assert!(kind != 6, "a model with non-finite weights loaded");
                loaded += 1;
                let f = m.rollout(&ctx, &t.frames, &[], 8).unwrap();
                assert!(
                    f.iter().flatten().all(finite),
                    "a loaded model forecast non-finite states"
                );
            }
        });
    }
    let _ = std::fs::remove_dir_all(dir);
    loaded
}

#[test]
fn hostile_inputs_never_panic_hang_or_leak_non_finite_values() {
    let [scenes, trajectories, models] = cases();
    let started = Instant::now();
    let (loaded, stepped) = fuzz_scenes(scenes);
    let read = fuzz_trajectories(trajectories);
    let usable = fuzz_models(models);
    let total = scenes + trajectories + models;
    println!(
        "fuzz: {total} inputs in {:.1} s: {scenes} scenes ({loaded} sampled, {stepped} stepped), {trajectories} trajectories ({read} read), {models} model files ({usable} loaded)",
        started.elapsed().as_secs_f64()
    );
    assert!(total >= 10_000 || std::env::var("FORESIGHT_FUZZ_CASES").is_ok());
    // The harness reaches the code behind the parsers, not only their error paths.
    assert!(
        loaded > scenes / 20 && stepped > 0 && read > 0,
        "{loaded} {stepped} {read}"
    );
}

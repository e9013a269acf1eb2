//! Datasets: seeded variants of every scene in a directory, run in the simulator with
//! random pushes added, written as binary trajectories plus a `manifest.json`; and
//! reading them back for training. Episodes are generated in parallel (rayon); the same
//! seed gives byte-identical files.

use std::fmt;
use std::path::{Path, PathBuf};

use foresight_sim::check::START_OVERLAP;
use foresight_sim::instance::{ObjectRef, SceneInstance, Shape};
use foresight_sim::{Encoding, Push, Scene, Trajectory, World, scene_files, stem_in};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Version of the dataset layout.
pub const DATASET_FORMAT_VERSION: u32 = 1;

/// One episode file in a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeEntry {
    /// File name inside the dataset directory.
    pub file: String,
    /// Scene name.
    pub scene: String,
    /// Seed of the scene variant.
    pub seed: u64,
    /// Random pushes added on top of the scene's own.
    pub random_pushes: usize,
    /// Whether the scene variant was varied beyond its file ([`vary_instance`]).
    #[serde(default)]
    pub varied: bool,
}

/// `manifest.json` of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`DATASET_FORMAT_VERSION`].
    pub format_version: u32,
    /// The command that made it.
    pub command: String,
    /// Base seed.
    pub seed: u64,
    /// Steps per episode.
    pub steps: u64,
    /// Episodes per scene.
    pub episodes_per_scene: usize,
    /// Share of episodes varied beyond their scene files (`dataset --vary`; absent in
    /// manifests written before it, which had none).
    #[serde(default)]
    pub vary: f32,
    /// Every episode.
    pub episodes: Vec<EpisodeEntry>,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    /// Scene files.
    pub scenes: Vec<PathBuf>,
    /// Episodes per scene.
    pub episodes: usize,
    /// Steps per episode (0: each scene's own duration).
    pub steps: u64,
    /// Base seed.
    pub seed: u64,
    /// Share of episodes whose bodies and statics are varied beyond what the scene file
    /// allows ([`vary_instance`]), 0 to 1.
    pub vary: f32,
    /// The command line, recorded in the manifest.
    pub command: String,
}

/// Seed of episode `e` of scene `s` for base seed `seed`: dataset seeds stay below 2^40,
/// evaluation seeds ([`EVAL_SEED_BASE`] and up) above, so they never meet.
pub fn episode_seed(seed: u64, scene: usize, episode: usize) -> u64 {
    (seed
        .wrapping_mul(1_000_003)
        .wrapping_add((scene as u64) << 20)
        .wrapping_add(episode as u64))
        & ((1 << 40) - 1)
}

/// First seed used by evaluation; no dataset episode uses a seed this large.
pub const EVAL_SEED_BASE: u64 = 1 << 41;

/// Whether an episode seed belongs to the validation split (about one in eight).
pub fn is_validation(seed: u64) -> bool {
    crate::learned::fnv1a(&seed.to_le_bytes()).is_multiple_of(8)
}

/// Random pushes for an episode: none in a quarter of episodes, else one to three pushes on
/// random bodies. Two in three are nudges (a velocity change of 0.5–3 m/s, mostly
/// horizontal); one in three is a launch like the planner's (2–8 m/s, up to 75° above
/// level), so a world model that plans has seen the actions it imagines.
pub fn random_pushes(rng: &mut ChaCha8Rng, masses: &[f32], steps: u64) -> Vec<Push> {
    let count = match rng.random_range(0..4u32) {
        0 => 0,
        k => k as usize,
    };
    let mut pushes = Vec::with_capacity(count);
    for _ in 0..count {
        let body = rng.random_range(0..masses.len());
        let tick = rng.random_range(0..steps.max(2) * 3 / 4);
        let angle = rng.random_range(0.0..std::f32::consts::TAU);
        let (speed, up) = if rng.random_range(0..3u32) == 0 {
            let elevation = rng.random_range(0.0..75f32).to_radians();
            (rng.random_range(2.0..8.0f32), elevation.tan())
        } else {
            (rng.random_range(0.5..3.0f32), rng.random_range(0.0..0.5f32))
        };
        // `speed` is the whole velocity change; `up` its vertical part per unit of horizontal.
        let m = masses[body];
        let horizontal = speed / (1.0 + up * up).sqrt();
        pushes.push(Push {
            body,
            tick,
            impulse: [
                m * horizontal * angle.cos(),
                m * horizontal * up,
                m * horizontal * angle.sin(),
            ],
            offset: [
                rng.random_range(-0.05..0.05),
                rng.random_range(-0.05..0.05),
                rng.random_range(-0.05..0.05),
            ],
        });
    }
    pushes
}

/// Largest factor [`vary_instance`] scales a body by.
pub const VARY_GROW: f32 = 1.25;
/// Smallest factor [`vary_instance`] scales a body by.
pub const VARY_SHRINK: f32 = 0.8;
/// Largest factor [`vary_instance`] multiplies or divides a body's density by.
pub const VARY_DENSITY: f32 = 3.0;

/// The instance with its bodies and statics varied beyond what the scene file allows, so
/// the model sees the shapes, sizes and materials of scenes people write, not only of the
/// templates: each body in turn (seeded by `rng`, in body order) is scaled by
/// [`VARY_SHRINK`]–[`VARY_GROW`], in one case of five given a kind drawn from all four
/// (sphere, box, cylinder, capsule; so a new kind in 3 of 20) that fits its scaled
/// bounding box, its density multiplied or divided by up to [`VARY_DENSITY`], and in one
/// case of two each its friction (0.05–1) and restitution (0–0.9) drawn anew; every
/// static's friction and restitution likewise. A capsule is remade with a radius of at
/// most 0.6 of its half height, so a stubby one comes out slimmer with a longer straight
/// part. Positions, velocities, joints and pushes stay as drawn. A body whose new shape
/// would start inside another object (more than the scenes' [`START_OVERLAP`]) keeps its
/// old one, so the result starts as cleanly as the scene does; bodies resting on
/// something therefore mostly shrink or stay as they were.
pub fn vary_instance(instance: &SceneInstance, rng: &mut ChaCha8Rng) -> SceneInstance {
    let mut out = instance.clone();
    let material = |friction: &mut f32, restitution: &mut f32, rng: &mut ChaCha8Rng| {
        if rng.random::<bool>() {
            *friction = rng.random_range(0.05..1.0);
        }
        if rng.random::<bool>() {
            *restitution = rng.random_range(0.0..0.9);
        }
    };
    for b in &mut out.bodies {
        let scale = rng.random_range(VARY_SHRINK..VARY_GROW);
        let kind = if rng.random_range(0..5u32) == 0 {
            rng.random_range(0..4usize)
        } else {
            b.shape.kind_index()
        };
        b.shape = reshaped(&b.shape, kind, scale);
        b.density *= VARY_DENSITY.powf(rng.random_range(-1.0..1.0f32));
        material(&mut b.friction, &mut b.restitution, rng);
    }
    for s in &mut out.statics {
        material(&mut s.friction, &mut s.restitution, rng);
    }
    // Give back their old shapes to bodies that start inside something, until none does.
    // Each round restores at least one body, and the scene's own shapes start clean.
    loop {
        let changed =
            |i: usize, out: &SceneInstance| out.bodies[i].shape != instance.bodies[i].shape;
        let stuck: Vec<usize> = World::new(&out)
            .overlaps(START_OVERLAP)
            .into_iter()
            .flat_map(|(a, b, _)| [a, b])
            .filter_map(|o| match o {
                ObjectRef::Body(i) if changed(i, &out) => Some(i),
                _ => None,
            })
            .collect();
        if stuck.is_empty() {
            return out;
        }
        for i in stuck {
            out.bodies[i].shape = instance.bodies[i].shape;
        }
    }
}

/// `shape` scaled by `scale` and made into shape kind `kind` (see [`Shape::kind_index`])
/// within the scaled shape's bounding box.
fn reshaped(shape: &Shape, kind: usize, scale: f32) -> Shape {
    let [x, y, z] = shape.half_extents().map(|h| h * scale);
    let r = x.min(z);
    match kind {
        0 => Shape::Sphere { radius: r.min(y) },
        1 => Shape::Cuboid {
            size: [2.0 * x, 2.0 * y, 2.0 * z],
        },
        2 => Shape::Cylinder {
            radius: r,
            height: 2.0 * y,
        },
        // A straight part of at least 0.8 of the half height: a capsule of no length is
        // a degenerate segment to the contact queries.
        _ => {
            let radius = r.min(0.6 * y);
            Shape::Capsule {
                radius,
                length: 2.0 * (y - radius),
            }
        }
    }
}

/// One simulated episode of a dataset.
pub struct EpisodeRun {
    /// What the simulator recorded.
    pub trajectory: Trajectory,
    /// Random pushes added on top of the scene's own.
    pub random_pushes: usize,
    /// Whether the scene variant was varied beyond its file.
    pub varied: bool,
}

/// Runs one episode: the scene variant for `seed` (varied by [`vary_instance`] with
/// probability `vary`) plus random pushes.
pub fn run_episode(
    scene: &Scene,
    seed: u64,
    steps: u64,
    vary: f32,
) -> Result<EpisodeRun, ModelError> {
    let mut instance = scene.sample(seed)?;
    let steps = if steps == 0 { instance.steps } else { steps };
    let mut start = World::new(&instance);
    foresight_sim::check::check_start(&instance, &start, &format!("scene {}", scene.name))?;
    // Drawn apart from the pushes, so a dataset without variation is what it was.
    let mut vary_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7a41_e5ca_1e00);
    let varied = vary > 0.0 && vary_rng.random::<f32>() < vary;
    if varied {
        instance = vary_instance(&instance, &mut vary_rng);
        start = World::new(&instance);
    }
    let masses = start.masses();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005e_ed0f_9005);
    let extra = random_pushes(&mut rng, &masses, steps);
    let n = extra.len();
    instance.pushes.extend(extra);
    instance.pushes.sort_by_key(|p| p.tick);
    let mut world = World::new(&instance);
    Ok(EpisodeRun {
        trajectory: world.record(steps),
        random_pushes: n,
        varied,
    })
}

/// The scene files of every directory in `dirs`, leaving out those named in `exclude`
/// (file names without `.ron`).
pub fn select_scenes(dirs: &[PathBuf], exclude: &[String]) -> Result<Vec<PathBuf>, ModelError> {
    let mut files = Vec::new();
    for dir in dirs {
        files.extend(
            scene_files(dir)?
                .into_iter()
                .filter(|f| !stem_in(f, exclude)),
        );
    }
    if files.is_empty() {
        return Err(ModelError::Spec(
            "no scene files left to simulate; check --scenes and --exclude".into(),
        ));
    }
    Ok(files)
}

/// What `foresight dataset` says of a generated dataset.
#[derive(Debug, Clone)]
pub struct DatasetReport {
    /// The dataset directory.
    pub dir: PathBuf,
    /// Episodes written.
    pub episodes: usize,
    /// Scenes they came from.
    pub scenes: usize,
    /// Episodes in the validation split.
    pub validation: usize,
    /// Episodes varied beyond their scene files.
    pub varied: usize,
    /// Wall time, s.
    pub seconds: f64,
}

impl DatasetReport {
    /// The report of `manifest`, written to `dir` in `seconds`.
    pub fn new(dir: &Path, manifest: &Manifest, seconds: f64) -> DatasetReport {
        DatasetReport {
            dir: dir.to_path_buf(),
            episodes: manifest.episodes.len(),
            scenes: manifest.episodes.len() / manifest.episodes_per_scene.max(1),
            validation: manifest
                .episodes
                .iter()
                .filter(|e| is_validation(e.seed))
                .count(),
            varied: manifest.episodes.iter().filter(|e| e.varied).count(),
            seconds,
        }
    }
}

impl fmt::Display for DatasetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} episodes from {} scenes ({} for validation",
            self.dir.display(),
            self.episodes,
            self.scenes,
            self.validation,
        )?;
        if self.varied > 0 {
            write!(f, ", {} varied", self.varied)?;
        }
        write!(f, ") in {:.1} s", self.seconds)
    }
}

/// Generates a dataset into `out` (created if needed); `progress` is called once per
/// finished episode, from worker threads.
pub fn generate(
    spec: &DatasetSpec,
    out: &Path,
    progress: &(dyn Fn() + Sync),
) -> Result<Manifest, ModelError> {
    if !(0.0..=1.0).contains(&spec.vary) {
        return Err(ModelError::Spec(format!(
            "--vary {} is not a share: give 0 to 1",
            spec.vary
        )));
    }
    let dir = out.display().to_string();
    std::fs::create_dir_all(out).map_err(|e| ModelError::Dataset {
        dir: dir.clone(),
        reason: format!("cannot create: {e}"),
    })?;
    let scenes: Vec<Scene> = spec
        .scenes
        .iter()
        .map(Scene::load)
        .collect::<Result<_, _>>()?;
    let jobs: Vec<(usize, usize)> = (0..scenes.len())
        .flat_map(|s| (0..spec.episodes).map(move |e| (s, e)))
        .collect();
    let entries: Vec<EpisodeEntry> = jobs
        .par_iter()
        .map(|&(s, e)| {
            let seed = episode_seed(spec.seed, s, e);
            let episode = run_episode(&scenes[s], seed, spec.steps, spec.vary)?;
            let file = format!("{}_{e:04}.bin", scenes[s].name);
            episode
                .trajectory
                .write(out.join(&file), Encoding::Binary)?;
            progress();
            Ok(EpisodeEntry {
                file,
                scene: scenes[s].name.clone(),
                seed,
                random_pushes: episode.random_pushes,
                varied: episode.varied,
            })
        })
        .collect::<Result<_, ModelError>>()?;
    let manifest = Manifest {
        format_version: DATASET_FORMAT_VERSION,
        command: spec.command.clone(),
        seed: spec.seed,
        steps: spec.steps,
        episodes_per_scene: spec.episodes,
        vary: spec.vary,
        episodes: entries,
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| ModelError::Dataset {
        dir: dir.clone(),
        reason: e.to_string(),
    })?;
    std::fs::write(out.join("manifest.json"), json + "\n").map_err(|e| ModelError::Dataset {
        dir,
        reason: format!("cannot write manifest: {e}"),
    })?;
    Ok(manifest)
}

/// Reads a dataset's manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest, ModelError> {
    let path = dir.join("manifest.json");
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Dataset {
        dir: name.clone(),
        reason: format!("cannot read ({e}); make a dataset with `foresight dataset`"),
    })?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| ModelError::Dataset {
        dir: name.clone(),
        reason: format!("not a dataset manifest ({e})"),
    })?;
    if m.format_version != DATASET_FORMAT_VERSION {
        return Err(ModelError::Dataset {
            dir: name,
            reason: format!(
                "dataset format {}, this build reads {DATASET_FORMAT_VERSION}; make it again",
                m.format_version
            ),
        });
    }
    if m.episodes.is_empty() {
        return Err(ModelError::Dataset {
            dir: name,
            reason: "has no episodes".into(),
        });
    }
    Ok(m)
}

/// Reads every episode of a dataset, in manifest order.
pub fn load_episodes(
    dir: &Path,
    manifest: &Manifest,
) -> Result<Vec<(EpisodeEntry, Trajectory)>, ModelError> {
    manifest
        .episodes
        .par_iter()
        .map(|e| Ok((e.clone(), Trajectory::read(dir.join(&e.file))?)))
        .collect()
}

//! Measurements of the simulation core, reported as ratios within one run: the cost of
//! recording a trajectory over bare rapier stepping of the same scene, and raw steps per
//! second. No wall-clock limits are asserted anywhere.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::SceneError;
use crate::instance::SceneInstance;
use crate::stats::median;
use crate::world::World;

/// Result of [`recording_overhead`].
#[derive(Debug, Clone)]
pub struct SimBench {
    /// Scene name.
    pub scene: String,
    /// Dynamic bodies.
    pub bodies: usize,
    /// Steps per run.
    pub steps: u64,
    /// Runs of each kind.
    pub repeats: usize,
    /// Median time of a bare run: rapier steps plus the scene's scripted pushes (so both
    /// runs simulate the same events), with no state reads and no recording.
    pub bare: Duration,
    /// Median time of a recorded run (`World::record`).
    pub record: Duration,
}

impl SimBench {
    /// Recorded over bare time (target ≤ 1.10).
    pub fn ratio(&self) -> f64 {
        self.record.as_secs_f64() / self.bare.as_secs_f64().max(1e-12)
    }

    /// Bare rapier steps per second.
    pub fn steps_per_second(&self) -> f64 {
        self.steps as f64 / self.bare.as_secs_f64().max(1e-12)
    }
}

/// Runs `steps` ticks of the instance `repeats` times each way, alternating bare and
/// recorded runs from the same starting state so both see the same machine noise.
pub fn recording_overhead(instance: &SceneInstance, steps: u64, repeats: usize) -> SimBench {
    let repeats = repeats.max(1);
    let mut world = World::new(instance);
    let (mut bare, mut record) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        world.reset();
        let t = Instant::now();
        for _ in 0..steps {
            world.step();
        }
        bare.push(t.elapsed());

        world.reset();
        let t = Instant::now();
        let traj = world.record(steps);
        record.push(t.elapsed());
        std::hint::black_box(traj);
    }
    SimBench {
        scene: instance.name.clone(),
        bodies: instance.bodies.len(),
        steps,
        repeats,
        bare: median(&bare).unwrap_or_default(),
        record: median(&record).unwrap_or_default(),
    }
}

/// [`recording_overhead`] of seed 0 of every scene file, in order; `progress` is called
/// after each scene.
pub fn scenes(
    files: &[PathBuf],
    steps: u64,
    repeats: usize,
    progress: &dyn Fn(),
) -> Result<SimBenchReport, SceneError> {
    let mut rows = Vec::with_capacity(files.len());
    for f in files {
        let instance = SceneInstance::load(f, 0)?;
        rows.push(recording_overhead(&instance, steps, repeats));
        progress();
    }
    Ok(SimBenchReport { rows })
}

/// The measurements of several scenes: a table and their geometric mean.
#[derive(Debug, Clone)]
pub struct SimBenchReport {
    /// One measurement per scene.
    pub rows: Vec<SimBench>,
}

impl SimBenchReport {
    /// Geometric mean of record over bare time (target ≤ 1.10).
    pub fn ratio_geomean(&self) -> f64 {
        let log_sum: f64 = self.rows.iter().map(|b| b.ratio().ln()).sum();
        (log_sum / self.rows.len() as f64).exp()
    }
}

impl fmt::Display for SimBench {
    /// One row of the table of [`SimBenchReport`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:24} {:>6} {:>6} {:>12.2} {:>12.2} {:>14.3} {:>16.0}",
            self.scene,
            self.bodies,
            self.steps,
            self.bare.as_secs_f64() * 1e3,
            self.record.as_secs_f64() * 1e3,
            self.ratio(),
            self.steps_per_second()
        )
    }
}

impl fmt::Display for SimBenchReport {
    /// A header, a row per scene and the geometric mean.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:24} {:>6} {:>6} {:>12} {:>12} {:>14} {:>16}",
            "scene", "bodies", "steps", "bare ms", "record ms", "record/bare", "bare steps/s"
        )?;
        for row in &self.rows {
            writeln!(f, "{row}")?;
        }
        write!(
            f,
            "geometric mean record/bare over {} scenes: {:.3} (target <= 1.10)",
            self.rows.len(),
            self.ratio_geomean()
        )
    }
}

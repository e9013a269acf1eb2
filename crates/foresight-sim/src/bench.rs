//! Measurements of the simulation core, reported as ratios within one run: the cost of
//! recording a trajectory over bare rapier stepping of the same scene, and raw steps per
//! second. No wall-clock limits are asserted anywhere.

use std::time::{Duration, Instant};

use crate::instance::SceneInstance;
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
        bare: median(bare),
        record: median(record),
    }
}

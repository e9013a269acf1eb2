//! How long a forecast takes against the simulator it learned from, for the same scene
//! state and horizon, measured in one run and reported as a ratio.

use std::fmt;
use std::time::{Duration, Instant};

use foresight_sim::stats::median;
use foresight_sim::{Scene, World};

use crate::context::Context;
use crate::error::ModelError;
use crate::eval::actions_from;
use crate::learned::PhaseTimes;
use crate::predictor::Predictor;

/// Result of [`forecast_vs_simulate`].
#[derive(Debug, Clone)]
pub struct PredictBench {
    /// Scene name.
    pub scene: String,
    /// Bodies in the scene.
    pub bodies: usize,
    /// Tick the forecast starts from.
    pub start: usize,
    /// Ticks forecast.
    pub horizon: usize,
    /// Median forecast time.
    pub forecast: Duration,
    /// Median time rapier takes for the same ticks from the same state.
    pub simulate: Duration,
    /// The median time of each part of the learned model's steps over the repeats, and
    /// the steps and edges of one forecast (all zero for a predictor that is not the
    /// learned model).
    pub phases: PhaseTimes,
}

impl PredictBench {
    /// Forecast time over simulation time.
    pub fn ratio(&self) -> f64 {
        self.forecast.as_secs_f64() / self.simulate.as_secs_f64().max(1e-12)
    }
}

impl fmt::Display for PredictBench {
    /// The scene, the horizon and both times in one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} bodies, {} ticks from tick {}: forecast {:.2} ms, simulate {:.2} ms, forecast/simulate = {:.3}",
            self.scene,
            self.bodies,
            self.horizon,
            self.start,
            self.forecast.as_secs_f64() * 1e3,
            self.simulate.as_secs_f64() * 1e3,
            self.ratio()
        )?;
        let p = &self.phases;
        if p.graphs + p.network + p.stepping > Duration::ZERO {
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            write!(
                f,
                " (medians: graphs {:.2} ms, network {:.2} ms, stepping {:.2} ms; {} learned steps of {:.0} edges on average)",
                ms(p.graphs),
                ms(p.network),
                ms(p.stepping),
                p.steps,
                p.edges as f64 / p.steps.max(1) as f64
            )?;
        }
        Ok(())
    }
}

/// Times `predictor` forecasting `horizon` ticks from tick `start` of the scene's seed-0
/// variant, and rapier simulating the same ticks from a snapshot of the same state;
/// alternating, `repeats` times each.
pub fn forecast_vs_simulate(
    predictor: &dyn Predictor,
    scene: &Scene,
    start: usize,
    horizon: usize,
    repeats: usize,
) -> Result<PredictBench, ModelError> {
    let instance = scene.sample(0)?;
    let mut world = World::new(&instance);
    let traj = world.record(start as u64);
    let snap = world.snapshot();
    let ctx = Context::from_trajectory(&traj);
    let history = &traj.frames[..=start];
    let actions = actions_from(&traj, start);
    let (mut f, mut s, mut phases) = (Vec::new(), Vec::new(), Vec::new());
    // One untimed run of each first: thread pools, allocator arenas and caches warm up.
    std::hint::black_box(predictor.rollout(&ctx, history, &actions, horizon)?);
    world.restore(&snap)?;
    for _ in 0..horizon {
        world.step();
    }
    for _ in 0..repeats.max(1) {
        PhaseTimes::take();
        let t = Instant::now();
        let out = predictor.rollout(&ctx, history, &actions, horizon)?;
        f.push(t.elapsed());
        phases.push(PhaseTimes::take());
        std::hint::black_box(out);
        world.restore(&snap)?;
        let t = Instant::now();
        for _ in 0..horizon {
            world.step();
        }
        s.push(t.elapsed());
    }
    let phase = |part: fn(&PhaseTimes) -> Duration| {
        median(&phases.iter().map(part).collect::<Vec<_>>()).unwrap_or_default()
    };
    Ok(PredictBench {
        scene: scene.name.clone(),
        bodies: instance.bodies.len(),
        start,
        horizon,
        forecast: median(&f).unwrap_or_default(),
        simulate: median(&s).unwrap_or_default(),
        phases: PhaseTimes {
            graphs: phase(|p| p.graphs),
            network: phase(|p| p.network),
            stepping: phase(|p| p.stepping),
            ..phases.last().copied().unwrap_or_default()
        },
    })
}

//! Loads the shipped world model, forecasts a scene from its first frame and prints the
//! forecast beside the simulator's truth for one body:
//! `cargo run --release --example forecast_vs_truth -- assets/scenes/collide.ron heavy`.

use foresight_model::{Context, LearnedModel, Predictor};
use foresight_sim::{Scene, World};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "assets/scenes/collide.ron".to_string());
    let body_name = args.next();

    let model = LearnedModel::load(std::path::Path::new("assets/models/foresight.safetensors"))?;
    let instance = Scene::load(&path)?.sample(1 << 41)?; // a seed no dataset uses
    let body = match &body_name {
        Some(n) => instance
            .body_index(n)
            .ok_or_else(|| anyhow::anyhow!("{path}: no body named {n:?}"))?,
        None => 0,
    };
    let horizon = 120;
    let truth = World::new(&instance).record(horizon as u64);
    let ctx = Context::from_trajectory(&truth);
    let forecast = model.rollout(&ctx, &truth.frames[..1], &truth.pushes, horizon)?;

    println!(
        "{}: body {body} ({}), forecast from tick 0",
        instance.name,
        instance.bodies[body].name.as_deref().unwrap_or("unnamed")
    );
    println!(
        "{:>5}  {:>26}  {:>26}  {:>8}",
        "tick", "forecast (x, y, z)", "truth (x, y, z)", "error m"
    );
    for t in (10..=horizon).step_by(10) {
        let (f, r) = (
            forecast[t - 1][body].position,
            truth.frames[t][body].position,
        );
        let err = ((f[0] - r[0]).powi(2) + (f[1] - r[1]).powi(2) + (f[2] - r[2]).powi(2)).sqrt();
        println!(
            "{t:>5}  ({:7.3}, {:7.3}, {:7.3})  ({:7.3}, {:7.3}, {:7.3})  {err:8.3}",
            f[0], f[1], f[2], r[0], r[1], r[2]
        );
    }
    Ok(())
}

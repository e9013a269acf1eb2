//! What the network adds to a jointed scene: forecasts of the pendulum (or the scene
//! given) from a start every half second, by the shipped model as it forecasts (bodies
//! only their joints hold move by gravity and joints alone), by the same model with its
//! output used on those bodies too (the rule before), and with no network at all
//! (gravity, joints, statics and sleep): position RMSE at 0.25 s and 1 s.
//! `cargo run --release --example swing -- assets/scenes/pendulum.ron`

use foresight_model::{Context, LearnedModel, Predictor};
use foresight_sim::{Scene, World, pushes_from};
use foresight_viewer::session::body_errors;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "assets/scenes/pendulum.ron".to_string());
    let shipped = std::path::Path::new("assets/models/foresight.safetensors");
    let models = [
        ("joints alone", LearnedModel::load(shipped)?),
        (
            "network on joints",
            LearnedModel::load(shipped)?.with_network_on_joints(),
        ),
        ("no network", LearnedModel::untrained(0, 0.0, 0.0)?),
    ];
    let scene = Scene::load(&path)?;
    println!(
        "{:>4} {:>5}  {}",
        "seed",
        "start",
        models
            .iter()
            .map(|m| format!("{:>24}", m.0))
            .collect::<Vec<_>>()
            .join("")
    );
    let mut sums = [[0.0f32; 2]; 3];
    let mut count = 0;
    for seed in 0..3u64 {
        let instance = scene.sample((1 << 41) + seed)?; // seeds no dataset uses
        let truth = World::new(&instance).record(300);
        let ctx = Context::from_trajectory(&truth);
        for start in (0..=210).step_by(30) {
            let actions = pushes_from(&truth.pushes, start as u64);
            let mut line = format!("{seed:>4} {start:>5}");
            for (k, (_, model)) in models.iter().enumerate() {
                let f = model.rollout(&ctx, &truth.frames[..=start], &actions, 60)?;
                let rmse = |h: usize| {
                    let errors = body_errors(&f[h - 1], &truth.frames[start + h]);
                    (errors.iter().map(|e| e * e).sum::<f32>() / errors.len() as f32).sqrt()
                };
                let (a, b) = (rmse(15), rmse(60));
                sums[k][0] += a;
                sums[k][1] += b;
                line += &format!("  {a:>10.3} {b:>10.3}  ");
            }
            println!("{line}");
            count += 1;
        }
    }
    let mean =
        sums.map(|[a, b]| format!("  {:>10.3} {:>10.3}  ", a / count as f32, b / count as f32));
    println!("{:>10}  {}", "mean", mean.join(""));
    Ok(())
}

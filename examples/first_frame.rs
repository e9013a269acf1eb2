//! Forecasts from each scene's first frame, what the app shows when a scene loads: the
//! 1-s position RMSE per scene over 8 held-out seeds and its geometric mean, and how far
//! the tower's top block has risen or sunk a quarter of a second in (before the wrecking ball
//! arrives; in the truth the stack settles by about a centimetre):
//! `cargo run --release --example first_frame -- [MODEL.safetensors] [SCENE_DIR]`.

use foresight_model::{Context, LearnedModel, Predictor};
use foresight_sim::{Scene, World};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let model_path = args
        .next()
        .unwrap_or_else(|| "assets/models/foresight.safetensors".to_string());
    let dir = args.next().unwrap_or_else(|| "assets/scenes".to_string());
    let model = LearnedModel::load(std::path::Path::new(&model_path))?;
    let mut logs = Vec::new();
    println!("{:12} {:>9}", "scene", "1-s RMSE");
    for path in foresight_sim::scene_files(std::path::Path::new(&dir))? {
        let scene = Scene::load(&path)?;
        let mut sum = 0.0;
        let mut rise = Vec::new();
        for seed in 0..8u64 {
            let instance = scene.sample((1 << 41) + seed)?; // seeds no dataset uses
            let horizon = (1.0 / instance.dt).round() as usize;
            let truth = World::new(&instance).record(horizon as u64);
            let ctx = Context::from_trajectory(&truth);
            let forecast = model.rollout(&ctx, &truth.frames[..1], &truth.pushes, horizon)?;
            let (f, t) = (&forecast[horizon - 1], &truth.frames[horizon]);
            let se: f32 = f
                .iter()
                .zip(t)
                .map(|(a, b)| {
                    (0..3)
                        .map(|c| (a.position[c] - b.position[c]).powi(2))
                        .sum::<f32>()
                })
                .sum();
            sum += (se / f.len() as f32).sqrt();
            if let Some(top) = instance.body_index("block_7") {
                let quarter = horizon / 4;
                let y0 = truth.frames[0][top].position[1];
                rise.push((
                    forecast[quarter - 1][top].position[1] - y0,
                    truth.frames[quarter][top].position[1] - y0,
                ));
            }
        }
        let mean = sum / 8.0;
        logs.push(mean.ln());
        println!("{:12} {mean:>9.3}", scene.name);
        if !rise.is_empty() {
            let n = rise.len() as f32;
            println!(
                "{:12} top block at 0.25 s: forecast {:+.3} m, truth {:+.3} m (mean of the seeds)",
                "",
                rise.iter().map(|r| r.0).sum::<f32>() / n,
                rise.iter().map(|r| r.1).sum::<f32>() / n
            );
        }
    }
    let geomean = (logs.iter().sum::<f32>() / logs.len().max(1) as f32).exp();
    println!("geometric mean {geomean:.4}");
    Ok(())
}

//! Times the dominoes chain in a forecast against the truth: for each domino, the tick at
//! which it has tipped past 20° and 60°, then where the first domino touches the floor as
//! it topples (in the truth it pivots in place; a forecast that lacks static friction
//! lets it slide back):
//! `cargo run --release --example topple -- [MODEL.safetensors]`.

use foresight_model::{Context, LearnedModel, Predictor};
use foresight_sim::{BodyState, Scene, World};

/// Angle between a body's own vertical axis and the world's, degrees.
fn tilt(s: &BodyState) -> f32 {
    let [x, _, z, _] = s.rotation;
    (1.0 - 2.0 * (x * x + z * z))
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees()
}

fn main() -> anyhow::Result<()> {
    let model_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "assets/models/foresight.safetensors".to_string());
    let model = LearnedModel::load(std::path::Path::new(&model_path))?;
    let instance = Scene::load("assets/scenes/dominoes.ron")?.sample(1 << 41)?; // a seed no dataset uses
    let horizon = 300;
    let truth = World::new(&instance).record(horizon as u64);
    let ctx = Context::from_trajectory(&truth);
    let forecast = model.rollout(&ctx, &truth.frames[..1], &truth.pushes, horizon)?;
    // Forecast entry `t - 1` is the state at tick `t`.
    let at = |t: usize| (&truth.frames[t], &forecast[t - 1]);
    println!("dominoes, forecast from tick 0: tick each domino tips past 20° / 60°");
    println!("{:>8}  {:>14}  {:>14}", "domino", "truth", "forecast");
    let show = |t: Option<usize>| t.map_or("-".to_string(), |t| t.to_string());
    for d in 0.. {
        let Some(i) = instance.body_index(&format!("domino_{d}")) else {
            break;
        };
        let first = |deg: f32, f: &dyn Fn(usize) -> f32| (1..=horizon).find(|&t| f(t) > deg);
        let truth_tilt = |t: usize| tilt(&at(t).0[i]);
        let forecast_tilt = |t: usize| tilt(&at(t).1[i]);
        println!(
            "{d:>8}  {:>6} / {:>5}  {:>6} / {:>5}",
            show(first(20.0, &truth_tilt)),
            show(first(60.0, &truth_tilt)),
            show(first(20.0, &forecast_tilt)),
            show(first(60.0, &forecast_tilt)),
        );
    }
    let first = instance
        .body_index("domino_0")
        .ok_or_else(|| anyhow::anyhow!("dominoes: no body named domino_0"))?;
    // Where it touches the floor (static 0): the deepest point of its contact.
    let on_floor = |s: &BodyState| {
        ctx.static_contact(first, s, 0, 0.05)
            .map_or("      -".to_string(), |(_, _, p)| format!("{:>7.3}", p.x))
    };
    println!("\ndomino_0's contact with the floor, x (m): the truth pivots in place");
    for t in (20..=80).step_by(10) {
        let (r, f) = at(t);
        println!(
            "tick {t:>3}: truth {}  forecast {}",
            on_floor(&r[first]),
            on_floor(&f[first])
        );
    }
    Ok(())
}

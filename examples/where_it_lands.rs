//! Loads a scene, samples a variant, steps it for the scene's duration and prints where
//! each named body ends up: `cargo run --example where_it_lands -- assets/scenes/ramp.ron 3`.

use foresight_sim::{Scene, World};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "assets/scenes/ramp.ron".to_string());
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);

    let scene = Scene::load(&path)?;
    let instance = scene.sample(seed)?;
    let mut world = World::new(&instance);
    for _ in 0..instance.steps {
        world.step();
    }
    println!(
        "{} (seed {seed}) after {:.2} s:",
        instance.name,
        instance.steps as f32 * instance.dt
    );
    for (i, body) in instance.bodies.iter().enumerate() {
        let Some(name) = &body.name else { continue };
        let start = body.pose.position;
        let end = world.body_state(i).map(|s| s.position).unwrap_or(start);
        println!(
            "  {name:12} from ({:6.2}, {:6.2}, {:6.2}) to ({:6.2}, {:6.2}, {:6.2})",
            start[0], start[1], start[2], end[0], end[1], end[2]
        );
    }
    Ok(())
}

//! temp
use foresight_model::features::build_graph;
use foresight_model::learned::past_velocities;
use foresight_model::{Context, LearnedModel};
use foresight_sim::{Scene, World};
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let m = LearnedModel::load(std::path::Path::new(&a[1])).unwrap();
    let s = Scene::load("assets/scenes/pile.ron").unwrap();
    let i = s.sample(0).unwrap();
    let t = World::new(&i).record(120);
    let ctx = Context::from_trajectory(&t);
    let st = &t.frames[60];
    let past = past_velocities(&t.frames[..=60], 3);
    let kicks = vec![([0.0f32; 3], [0.0f32; 3]); st.len()];
    let n = 50;
    let t0 = Instant::now();
    let mut g = None;
    for _ in 0..n { g = Some(build_graph(&ctx, m.config(), st, &past, &kicks, None)); }
    let g = g.unwrap();
    println!("build_graph {:.3} ms, nodes {} edges {}", t0.elapsed().as_secs_f64() * 1e3 / n as f64, g.nodes, g.edges());
    let t0 = Instant::now();
    for _ in 0..n { let _ = m.net().forward(&g).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(); }
    println!("forward {:.3} ms", t0.elapsed().as_secs_f64() * 1e3 / n as f64);
    let t0 = Instant::now();
    for _ in 0..n { let _ = m.accelerations(&ctx, st, &past, &kicks, None).unwrap(); }
    println!("accelerations {:.3} ms", t0.elapsed().as_secs_f64() * 1e3 / n as f64);
}

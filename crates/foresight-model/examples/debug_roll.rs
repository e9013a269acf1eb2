//! temp
use foresight_model::{Context, LearnedModel, Predictor};
use foresight_sim::{Scene, World};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let m = LearnedModel::load(std::path::Path::new(&a[1])).unwrap();
    let s = Scene::load(&a[2]).unwrap();
    let i = s.sample(1 << 41).unwrap();
    let t = World::new(&i).record(120);
    let ctx = Context::from_trajectory(&t);
    let f = m.rollout(&ctx, &t.frames[..=0], &[], 60).unwrap();
    for k in [0usize, 1, 2, 5, 10, 20, 40, 59] {
        let p: Vec<String> = f[k].iter().zip(&t.frames[k + 1]).map(|(x, y)| format!("({:.2},{:.2},{:.2})/({:.2},{:.2},{:.2})", x.position[0], x.position[1], x.position[2], y.position[0], y.position[1], y.position[2])).collect();
        println!("{k}: {}", p.join(" "));
    }
}

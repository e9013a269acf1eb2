//! The evaluation's metrics on cases where they must fail (and where they must not):
//! predictors that sink through the floor, gain energy or run into the speed guard, a
//! predictor that never moves scoring exactly "always no", the moving-bodies RMSE, and
//! the references (rapier-perturbed near the truth, ballistic-stop out of the floor).
//! Only baselines, references and fakes are used: no model weights.

use std::path::{Path, PathBuf};

use foresight_model::eval::{
    self, FLOOR, LEARNED, SceneReport, evaluate, evaluate_scene, geometric_mean, horizon_key,
};
use foresight_model::predictor::{MAX_ACCEL, check_request, integrate_tick};
use foresight_model::{
    Ballistic, BallisticStop, ConstantVelocity, Context, Forecast, ModelError, Predictor,
    RapierPerturbed,
};
use foresight_sim::{BodyState, Push, Scene, World};

fn scene_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../assets/scenes/{name}.ron"))
}

fn shipped(name: &str) -> Scene {
    Scene::load(scene_path(name)).unwrap()
}

/// One ball resting on the floor and one dropped beside it.
const REST_AND_DROP: &str = r#"(
    name: "rest-and-drop",
    description: "One ball rests on the floor while another falls beside it.",
    duration: 2.0,
    statics: [Ground(name: "floor", y: 0.0, size: 20.0)],
    bodies: [
        (name: "resting", shape: Sphere(radius: 0.25), position: (-1.0, 0.25, 0.0)),
        (name: "falling", shape: Sphere(radius: 0.25), position: (1.0, 3.0, 0.0)),
    ],
)"#;

fn one_seed() -> Vec<u64> {
    eval::eval_seeds(1)
}

fn rmse_1s(r: &SceneReport, p: &str) -> f64 {
    r.rmse_1s(p)
        .unwrap_or_else(|| panic!("{p} has no 1 s RMSE"))
}

/// A predictor out of its depth: every body accelerates upwards as hard as the integrator
/// allows, so it gains energy and soon runs into the speed guard.
struct Rocket;

impl Predictor for Rocket {
    fn name(&self) -> &str {
        LEARNED
    }

    fn rollout(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<Forecast, ModelError> {
        check_request(ctx, history, actions)?;
        let mut state = history.last().unwrap().clone();
        let up = [0.0, 2.0 * MAX_ACCEL, 0.0];
        Ok((0..horizon)
            .map(|_| {
                state = state
                    .iter()
                    .map(|s| integrate_tick(s, up, [0.0; 3], ctx.dt))
                    .collect();
                state.clone()
            })
            .collect())
    }
}

/// A predictor that says nothing will ever move.
struct Frozen;

impl Predictor for Frozen {
    fn name(&self) -> &str {
        LEARNED
    }

    fn rollout(
        &self,
        ctx: &Context,
        history: &[Vec<BodyState>],
        actions: &[Push],
        horizon: usize,
    ) -> Result<Forecast, ModelError> {
        check_request(ctx, history, actions)?;
        let still: Vec<BodyState> = history
            .last()
            .unwrap()
            .iter()
            .map(|s| BodyState {
                velocity: [0.0; 3],
                angular_velocity: [0.0; 3],
                ..*s
            })
            .collect();
        Ok(vec![still; horizon])
    }
}

/// Bodies that fall through the floor must show it; ballistic-stop must not.
#[test]
fn penetration_check_catches_forecasts_through_the_floor() {
    let preds: [&dyn Predictor; 3] = [&ConstantVelocity, &Ballistic, &BallisticStop];
    let r = evaluate_scene(&shipped("drop"), &one_seed(), &preds).unwrap();
    for p in ["constant-velocity", "ballistic"] {
        let pen = r.predictors[p].checks.max_penetration_m;
        let truth = r.truth_checks.max_penetration_m;
        assert!(
            pen > 0.5 && pen > 5.0 * truth,
            "{p} went through the floor, yet penetration {pen} m (truth {truth} m)"
        );
    }
    let pen = r.predictors["ballistic-stop"].checks.max_penetration_m;
    assert!(pen < 0.01, "ballistic-stop sank {pen} m into the floor");
    // Drop has no pushes: ballistic flight loses (semi-implicit Euler) but never gains.
    let gain = r.predictors["ballistic"].checks.energy_gain.unwrap();
    assert!(gain < 1e-3, "ballistic gained energy {gain}");
}

/// A forecast that launches bodies gains energy and hits the guard: both checks fail, and
/// the summary says so for the learned slot.
#[test]
fn energy_and_clamp_checks_catch_a_forecast_that_launches_bodies() {
    let preds: [&dyn Predictor; 2] = [&Rocket, &Ballistic];
    let report = evaluate(
        &[scene_path("drop")],
        &one_seed(),
        &preds,
        "fake",
        "test",
        &|| {},
    )
    .unwrap();
    let r = &report.scenes["drop"];
    let rocket = &r.predictors[LEARNED].checks;
    assert!(rocket.energy_gain.unwrap() > 1.0, "{rocket:?}");
    assert!(rocket.clamp_fraction > 0.5, "{rocket:?}");
    assert_eq!(r.predictors["ballistic"].checks.clamp_fraction, 0.0);
    let s = &report.summary;
    assert!(s.clamp_fraction.unwrap() > 0.5);
    assert!(s.max_energy_gain.unwrap() > 1.0);
    assert_eq!(s.scenes_beating_constant_velocity, Some(0));
}

/// The simulator from a state known to a millimetre is the floor: near the truth at 1 s,
/// deterministic, and far better than the baselines on a scene of falling and landing.
#[test]
fn rapier_perturbed_is_a_low_deterministic_floor() {
    let preds: [&dyn Predictor; 2] = [&RapierPerturbed::default(), &Ballistic];
    let r = evaluate_scene(&shipped("drop"), &one_seed(), &preds).unwrap();
    let floor = rmse_1s(&r, FLOOR);
    assert!(floor < 0.05, "rapier-perturbed 1 s RMSE {floor} m");
    assert!(floor < rmse_1s(&r, "ballistic"));
    // Rapier lets a ball landing at 7 m/s sink a few centimetres for a tick; so may its rerun.
    let (pen, truth) = (
        r.predictors[FLOOR].checks.max_penetration_m,
        r.truth_checks.max_penetration_m,
    );
    assert!(
        pen < truth + 0.02,
        "rapier-perturbed {pen} m, truth {truth} m"
    );

    let i = shipped("pendulum").sample(1).unwrap();
    let t = World::new(&i).record(30);
    let ctx = Context::from_trajectory(&t);
    let p = RapierPerturbed::default();
    let a = p.rollout(&ctx, &t.frames, &[], 20).unwrap();
    assert_eq!(a, p.rollout(&ctx, &t.frames, &[], 20).unwrap());
    let moved = p.perturb(&t.frames[30], &[]);
    for (x, y) in moved.iter().zip(&t.frames[30]) {
        let d: f32 = (0..3)
            .map(|k| (x.position[k] - y.position[k]).powi(2))
            .sum::<f32>()
            .sqrt();
        assert!((d - 0.001).abs() < 1e-4, "moved {d} m");
    }
}

/// A predictor that never moves answers every question "no": its accuracy is exactly the
/// "always no" accuracy, and it is listed below the majority wherever "yes" is commoner.
#[test]
fn a_frozen_forecast_scores_exactly_always_no() {
    let preds: [&dyn Predictor; 1] = [&Frozen];
    let report = evaluate(
        &[scene_path("drop"), scene_path("collide")],
        &eval::eval_seeds(2),
        &preds,
        "fake",
        "test",
        &|| {},
    )
    .unwrap();
    let mut below = Vec::new();
    for (name, r) in &report.scenes {
        let o = r.outcome.as_ref().expect("both scenes ask a question");
        let l = &r.predictors[LEARNED];
        assert!(o.questions >= 2, "{name}: questions from several starts");
        assert_eq!(l.outcome_total, o.questions);
        assert_eq!(l.outcome_correct, o.questions - o.truth_yes, "{name}");
        assert!((o.always_yes + o.always_no - 1.0).abs() < 1e-12);
        assert_eq!(o.majority, o.always_yes.max(o.always_no));
        if o.always_no < o.majority {
            below.push(name.clone());
        }
    }
    let s = &report.summary;
    assert_eq!(s.scenes_below_majority.as_ref(), Some(&below));
    let no = 1.0 - s.outcome_always_yes_accuracy.unwrap();
    assert!((s.outcome_accuracy.unwrap() - no).abs() < 1e-12);
    assert!(s.outcome_majority_accuracy.unwrap() >= s.outcome_accuracy.unwrap());
}

/// With a body at rest that every predictor gets right, the error over moving bodies is at
/// least the error over all bodies, and counts only the falling ball.
#[test]
fn moving_rmse_leaves_out_resting_bodies() {
    let scene = Scene::parse(REST_AND_DROP, "rest-and-drop.ron").unwrap();
    let preds: [&dyn Predictor; 2] = [&ConstantVelocity, &BallisticStop];
    let r = evaluate_scene(&scene, &one_seed(), &preds).unwrap();
    for p in ["constant-velocity", "ballistic-stop"] {
        let m = &r.predictors[p].horizons[&horizon_key(1.0)];
        let moving = m.moving_rmse.expect("the falling ball moves");
        assert!(moving >= m.position_rmse, "{p}: {m:?}");
        assert!(m.moving_samples <= m.forecasts, "{p}: {m:?}");
    }
    // Nothing moves at all: no moving RMSE.
    let still = REST_AND_DROP.replace("(1.0, 3.0, 0.0)", "(1.0, 0.25, 0.0)");
    let r = evaluate_scene(
        &Scene::parse(&still, "still.ron").unwrap(),
        &one_seed(),
        &preds,
    )
    .unwrap();
    assert!(
        r.predictors["constant-velocity"].horizons[&horizon_key(1.0)]
            .moving_rmse
            .is_none()
    );
    assert_eq!(r.ratio_1s, None, "no learned model, no ratio");
}

#[test]
fn geometric_mean_of_values() {
    assert_eq!(geometric_mean([]), None);
    assert!((geometric_mean([1.0, 4.0]).unwrap() - 2.0).abs() < 1e-12);
    assert!((geometric_mean([0.1, 0.1, 0.1]).unwrap() - 0.1).abs() < 1e-12);
}

#[test]
fn horizon_keys_are_seconds() {
    let keys: Vec<String> = eval::HORIZONS_S.iter().map(|&s| horizon_key(s)).collect();
    assert_eq!(keys, ["0.25s", "0.5s", "1s", "2s"]);
    assert_eq!(eval::ticks(1.0, 1.0 / 60.0), 60);
    assert_eq!(eval::ticks(0.25, 1.0 / 60.0), 15);
}

/// `bench predict`'s breakdown: a learned forecast's graphs, network and stepping each
/// take time, none longer than the forecast (each repeat's part is within that repeat's
/// forecast, so the medians are too); a predictor that is not the learned model has none.
#[test]
fn the_speed_benchmark_breaks_a_learned_forecast_into_its_parts() {
    use foresight_model::LearnedModel;
    use foresight_model::bench::forecast_vs_simulate;
    let scene = Scene::parse(
        r#"(
    name: "rolling",
    description: "A ball rolls along the floor while another lands on it.",
    duration: 2.0,
    statics: [Ground(name: "floor", y: 0.0, size: 20.0)],
    bodies: [
        (name: "rolling", shape: Sphere(radius: 0.25), position: (0.0, 0.25, 0.0), velocity: (1.0, 0.0, 0.0)),
        (name: "landing", shape: Cuboid(size: (0.3, 0.3, 0.3)), position: (0.6, 0.8, 0.0)),
    ],
)"#,
        "rolling.ron",
    )
    .unwrap();
    let model = LearnedModel::untrained(3, 0.0, 0.01).unwrap();
    let r = forecast_vs_simulate(&model, &scene, 4, 24, 3).unwrap();
    let p = r.phases;
    for (part, d) in [
        ("graphs", p.graphs),
        ("network", p.network),
        ("stepping", p.stepping),
    ] {
        assert!(d > std::time::Duration::ZERO, "{part} took no time");
        assert!(
            d <= r.forecast,
            "{part} {d:?} longer than the forecast {:?}",
            r.forecast
        );
    }
    assert!(r.to_string().contains("network"), "{r}");
    let plain = forecast_vs_simulate(&Ballistic, &scene, 4, 24, 3).unwrap();
    assert_eq!(plain.phases, Default::default());
    assert!(!plain.to_string().contains("network"), "{plain}");
}

//! The planner on cases with a known answer, goals scored as they must be, bad goals
//! refused with one line, plans reproducible from the seed, and batched imagination equal
//! to one-by-one imagination.

use std::path::Path;

use foresight_model::learned::LearnedModel;
use foresight_model::{ConstantVelocity, Predictor, Rapier};
use foresight_plan::eval::{start_problem, truth_with};
use foresight_plan::goal::{TOPPLE_ANGLE, tilt};
use foresight_plan::{PlanError, PlanSpec, plan, random_push, score};
use foresight_sim::{BodyState, GoalKind, ObjectRef, Push, Scene, World};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

/// A ball on a floor; the goal point lies 2 m along +x. `goal` and `actions` are RON.
fn ball_scene(goal: &str, actions: &str) -> String {
    format!(
        r#"(
    name: "aim",
    description: "A ball must be pushed to a point.",
    duration: 2.5,
    statics: [Ground(name: "floor", y: 0.0, size: 20.0, friction: 0.6)],
    bodies: [
        (name: "ball", shape: Sphere(radius: 0.15), position: (0.0, 0.15, 0.0)),
        (name: "post", shape: Cuboid(size: (0.2, 0.6, 0.2)), position: (-3.0, 0.3, 0.0)),
    ],
    goal: {goal},
    actions: {actions},
)"#
    )
}

const REACH_PLUS_X: &str =
    r#"Reach(body: "ball", point: (2.0, 0.15, 0.0), radius: 0.3, within: 2.0)"#;
const PUSH_BALL: &str = r#"(bodies: ["ball"], max_impulse: 60.0)"#;

fn instance(text: &str) -> foresight_sim::SceneInstance {
    Scene::parse(text, "aim.ron").unwrap().sample(1).unwrap()
}

#[test]
fn a_ball_that_must_go_to_plus_x_is_pushed_towards_plus_x() {
    let inst = instance(&ball_scene(REACH_PLUS_X, PUSH_BALL));
    let (ctx, _) = truth_with(&inst, None, 0);
    let history = vec![World::new(&inst).states()];
    let problem = start_problem(&inst, &ctx, &history).unwrap();
    let p = plan(&Rapier, &problem, &PlanSpec::default()).unwrap();
    let j = p.best.push.impulse;
    assert!(
        j[0] > 3.0 * j[2].abs() && j[0] > 0.0,
        "push {j:?} does not point along +x"
    );
    assert!(
        p.best.score.reached,
        "the oracle imagined a miss: {:?}",
        p.best
    );
    let within = inst.goal.unwrap().within_ticks as usize;
    let (tctx, truth) = truth_with(&inst, Some(p.best.push), within);
    let real = score(&tctx, &inst.goal.unwrap().kind, &truth, within);
    assert!(real.reached, "the planned push missed in truth: {real:?}");
    let spec = PlanSpec::default();
    assert_eq!(p.rollouts, spec.rounds * spec.candidates);
    assert!(p.fan.len() > 1 && p.fan[0].0 == p.best);
    assert!(
        p.fan
            .windows(2)
            .all(|w| w[0].0.score.cost <= w[1].0.score.cost)
    );
}

#[test]
fn the_same_seed_gives_the_same_plan_and_another_seed_may_differ() {
    let inst = instance(&ball_scene(REACH_PLUS_X, PUSH_BALL));
    let (ctx, _) = truth_with(&inst, None, 0);
    let history = vec![World::new(&inst).states()];
    let problem = start_problem(&inst, &ctx, &history).unwrap();
    let spec = PlanSpec {
        candidates: 16,
        rounds: 2,
        elites: 4,
        ..Default::default()
    };
    let a = plan(&ConstantVelocity, &problem, &spec).unwrap();
    let b = plan(&ConstantVelocity, &problem, &spec).unwrap();
    assert_eq!(a.best, b.best);
    let c = plan(&ConstantVelocity, &problem, &PlanSpec { seed: 99, ..spec }).unwrap();
    assert_ne!(a.best.push, c.best.push);
}

#[test]
fn a_random_push_stays_inside_the_action_space() {
    let inst = instance(&ball_scene(
        REACH_PLUS_X,
        r#"(bodies: ["ball", "post"], max_impulse: 5.0, max_elevation: 30.0, ticks: [0, 7])"#,
    ));
    let (ctx, _) = truth_with(&inst, None, 0);
    let history = vec![World::new(&inst).states()];
    let problem = start_problem(&inst, &ctx, &history).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut bodies = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let p = random_push(&problem, &mut rng).unwrap();
        let j = p.impulse;
        let size = (j[0] * j[0] + j[1] * j[1] + j[2] * j[2]).sqrt();
        assert!(size <= 5.0 + 1e-4, "{p:?}");
        assert!(
            j[1] >= 0.0 && j[1] <= size * 30f32.to_radians().sin() + 1e-4,
            "{p:?}"
        );
        assert!(p.tick == 0 || p.tick == 7, "{p:?}");
        bodies.insert(p.body);
    }
    assert_eq!(bodies.len(), 2);
}

#[test]
fn goals_are_scored_as_written() {
    let inst = instance(&ball_scene(REACH_PLUS_X, PUSH_BALL));
    let ctx = foresight_model::Context::from_instance(&inst);
    let start = World::new(&inst).states();
    let at = |x: f32, y: f32| {
        let mut s = start.clone();
        s[0].position = [x, y, 0.0];
        s
    };
    // Ball resting on the floor, then moving towards the post.
    let path: Vec<Vec<BodyState>> = vec![at(0.0, 0.15), at(-1.0, 0.5), at(-2.0, 0.5)];
    let floor = ObjectRef::Static(0);
    let touch = score(&ctx, &GoalKind::Touch { a: 0, b: floor }, &path, 3);
    assert!(touch.reached && touch.tick == Some(1));
    let avoid = score(&ctx, &GoalKind::Avoid { a: 0, b: floor }, &path, 3);
    assert!(!avoid.reached && avoid.cost >= 1.0);
    // The same path without its first frame never touches the floor.
    let avoid = score(&ctx, &GoalKind::Avoid { a: 0, b: floor }, &path[1..], 2);
    assert!(avoid.reached, "{avoid:?}");
    let post = ObjectRef::Body(1);
    let near_post = score(&ctx, &GoalKind::Touch { a: 0, b: post }, &path, 3);
    assert!(!near_post.reached && (near_post.measure - (3.0 - 2.0 - 0.15 - 0.1)).abs() < 1e-3);
    // Only the first `within` frames count.
    let reach = GoalKind::Reach {
        body: 0,
        point: [-2.0, 0.5, 0.0],
        radius: 0.1,
    };
    assert!(score(&ctx, &reach, &path, 3).reached);
    assert!(!score(&ctx, &reach, &path, 2).reached);
    // Tilt: a body turned 60° about z is toppled, one turned 30° is not.
    let turned = |deg: f32| {
        let mut s = start.clone();
        let q = rapier3d::math::Rotation::from_rotation_z(deg.to_radians());
        s[1].rotation = [q.x, q.y, q.z, q.w];
        s
    };
    assert!((tilt(&turned(60.0)[1]) - 60f32.to_radians()).abs() < 1e-4);
    let topple = GoalKind::Topple { body: 1 };
    assert!(score(&ctx, &topple, &[turned(30.0), turned(60.0)], 2).reached);
    assert!(!score(&ctx, &topple, &[turned(30.0), turned(44.0)], 2).reached);
    assert!(TOPPLE_ANGLE > 44f32.to_radians());
}

#[test]
fn bad_goals_and_actions_are_one_line_errors_naming_the_place() {
    let cases = [
        (
            ball_scene(
                r#"Reach(body: "ghost", point: (2.0, 0.15, 0.0), radius: 0.3, within: 2.0)"#,
                PUSH_BALL,
            ),
            "goal.body",
        ),
        (
            ball_scene(r#"Touch(a: "ball", b: "nowhere", within: 2.0)"#, PUSH_BALL),
            "goal.b",
        ),
        (
            ball_scene(REACH_PLUS_X, r#"(bodies: [], max_impulse: 5.0)"#),
            "actions.bodies",
        ),
        (
            ball_scene(REACH_PLUS_X, r#"(bodies: ["ball"], max_impulse: NaN)"#),
            "actions.max_impulse",
        ),
        (
            ball_scene(
                REACH_PLUS_X,
                r#"(bodies: ["ball"], max_impulse: 5.0, ticks: [])"#,
            ),
            "actions.ticks",
        ),
        (
            ball_scene(
                r#"Reach(body: "ball", point: (2.0, NaN, 0.0), radius: 0.3, within: 2.0)"#,
                PUSH_BALL,
            ),
            "goal.point",
        ),
        (
            ball_scene(r#"Topple(body: "post", within: -1.0)"#, PUSH_BALL),
            "goal.within",
        ),
        (
            ball_scene(
                REACH_PLUS_X,
                r#"(bodies: ["ball"], max_impulse: 5.0, max_elevation: 120.0)"#,
            ),
            "actions.max_elevation",
        ),
        (
            ball_scene(r#"Touch(a: "ball", b: "ball", within: 2.0)"#, PUSH_BALL),
            "goal.b",
        ),
        (
            ball_scene(r#"Avoid(a: "floor", b: "ball", within: 2.0)"#, PUSH_BALL),
            "goal.a",
        ),
        (
            ball_scene(r#"Avoid(a: "ball", b: "post", within: NaN)"#, PUSH_BALL),
            "goal.within",
        ),
        (
            ball_scene(
                REACH_PLUS_X,
                r#"(bodies: ["ball", "ghost"], max_impulse: 5.0)"#,
            ),
            "actions.bodies[1]",
        ),
        (
            ball_scene(
                REACH_PLUS_X,
                r#"(bodies: ["ball"], max_impulse: 5.0, ticks: [200])"#,
            ),
            "actions.ticks",
        ),
        (
            ball_scene(r#"Topple(body: "post", within: 500.0)"#, PUSH_BALL),
            "goal.within",
        ),
    ];
    for (text, place) in cases {
        let e = Scene::parse(&text, "aim.ron").expect_err(place).to_string();
        assert!(e.contains("aim.ron") && e.contains(place), "{place}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    // A goal without actions.
    let text = ball_scene(REACH_PLUS_X, PUSH_BALL).replace(&format!("actions: {PUSH_BALL},"), "");
    let e = Scene::parse(&text, "aim.ron").unwrap_err().to_string();
    assert!(e.contains("goal") && e.contains("actions"), "{e}");
}

#[test]
fn planning_after_the_deadline_or_the_last_push_tick_is_refused() {
    let inst = instance(&ball_scene(
        REACH_PLUS_X,
        r#"(bodies: ["ball"], max_impulse: 5.0, ticks: [0, 10])"#,
    ));
    let (ctx, _) = truth_with(&inst, None, 0);
    let history = vec![World::new(&inst).states()];
    let mut problem = start_problem(&inst, &ctx, &history).unwrap();
    problem.now = 11;
    let e = plan(&ConstantVelocity, &problem, &PlanSpec::default()).unwrap_err();
    assert!(matches!(e, PlanError::NoTickLeft { .. }), "{e}");
    problem.now = 10_000;
    let e = plan(&ConstantVelocity, &problem, &PlanSpec::default()).unwrap_err();
    assert!(matches!(e, PlanError::TooLate { .. }), "{e}");
    assert_eq!(e.to_string().lines().count(), 1);
}

fn random_model(seed: u64) -> LearnedModel {
    LearnedModel::untrained(seed, 0.1, 0.5).unwrap()
}

/// Batching is how a plan's many candidates stay fast; it must not change any forecast.
#[test]
fn batched_imagination_equals_one_by_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/plan-scenes/knock.ron");
    let inst = Scene::load(path).unwrap().sample(2).unwrap();
    let (ctx, _) = truth_with(&inst, None, 0);
    let history = vec![World::new(&inst).states()];
    let model = random_model(5);
    let sets: Vec<Vec<Push>> = (0..3)
        .map(|k| {
            vec![Push {
                body: 4,
                tick: 3 * k,
                impulse: [20.0 + 10.0 * k as f32, 5.0, 3.0 - 2.0 * k as f32],
                offset: [0.0; 3],
            }]
        })
        .collect();
    let batched = model.rollout_batch(&ctx, &history, &sets, 40).unwrap();
    assert_eq!(batched.len(), 3);
    // The same candidates alone, and in other company and order: no candidate's forecast
    // may depend on which others share its forward passes.
    let others = model
        .rollout_batch(
            &ctx,
            &history,
            &[sets[2].clone(), vec![], sets[0].clone()],
            40,
        )
        .unwrap();
    let pairs = [
        (&sets[0], &batched[0], &others[2]),
        (&sets[1], &batched[1], &batched[1]),
        (&sets[2], &batched[2], &others[0]),
    ];
    for (set, b, c) in pairs {
        let one = model.rollout(&ctx, &history, set, 40).unwrap();
        assert_eq!(one.len(), b.len());
        assert_eq!(b, c);
        for (fa, fb) in one.iter().zip(b) {
            for (sa, sb) in fa.iter().zip(fb) {
                for c in 0..3 {
                    assert!(
                        (sa.position[c] - sb.position[c]).abs() < 1e-4,
                        "{sa:?} vs {sb:?}"
                    );
                }
            }
        }
    }
    // The candidates differ, so their futures do.
    assert_ne!(batched[0].last(), batched[2].last());
}

#[test]
fn a_plan_from_the_start_is_played_on_the_truth_and_reports_itself() {
    use foresight_plan::eval::plan_and_play;
    let inst = instance(&ball_scene(REACH_PLUS_X, PUSH_BALL));
    let spec = PlanSpec::checked(32, 3, 1).unwrap();
    let outcome = plan_and_play(&Rapier, &inst, &spec).unwrap();
    assert_eq!(outcome.body, "ball");
    let text = outcome.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("aim seed 1: planned with rapier in "),
        "{text}"
    );
    assert!(lines[1].starts_with("push: ball, impulse ("), "{text}");
    assert!(lines[2].starts_with("imagined: ") && lines[3].starts_with("real:     "));
    // Rapier imagines the truth itself: no surprise.
    assert_eq!(outcome.plan.best.score.reached, outcome.real.reached);
    assert_eq!(lines.len(), 4, "{text}");

    let no_goal = instance(&ball_scene("None", "None"));
    let e = plan_and_play(&Rapier, &no_goal, &spec).unwrap_err();
    let e = e.in_file(Path::new("aim.ron")).to_string();
    assert!(e.starts_with("aim.ron: scene \"aim\" has no goal"), "{e}");
    assert!(PlanSpec::checked(0, 3, 0).is_err() && PlanSpec::checked(8, 21, 0).is_err());
}

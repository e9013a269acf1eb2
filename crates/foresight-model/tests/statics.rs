//! The static projection: a free body sunk deeper than the slop into a static collider
//! comes back out to the slop as it was turned, keeping its velocity; a hinged plank
//! turns back up about its hinge; bodies clear of the statics and sleeping bodies are
//! left alone; no learned forecast, whatever its weights, sinks a free body further; and
//! the evaluation reports what the projection hid.

use std::path::{Path, PathBuf};

use foresight_model::eval::{LEARNED, eval_seeds, evaluate_scene};
use foresight_model::joints::project_joints;
use foresight_model::references::deepest_static_penetration;
use foresight_model::statics::{SLOP, project_statics};
use foresight_model::{Context, LearnedModel, Predictor};
use foresight_sim::{BodyState, Scene, World};

fn scene(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../assets/scenes/{name}.ron"))
}

fn recording(name: &str, seed: u64, ticks: u64) -> (Context, Vec<Vec<BodyState>>) {
    let inst = Scene::load(scene(name)).unwrap().sample(seed).unwrap();
    let t = World::new(&inst).record(ticks);
    (Context::from_trajectory(&t), t.frames)
}

fn deepest(ctx: &Context, state: &[BodyState]) -> f32 {
    (0..state.len())
        .map(|i| deepest_static_penetration(ctx, i, &state[i]))
        .fold(0.0, f32::max)
}

#[test]
fn sunk_free_bodies_come_back_out_to_the_slop_as_they_were_turned() {
    // Resting boxes and spheres (tower, dominoes, drop), sunk 0.3 m into the floor; half
    // of them also tilted, so a corner digs in deeper than the rest.
    for name in ["tower", "dominoes", "drop"] {
        let (ctx, frames) = recording(name, 1, 90);
        assert!(ctx.joints.is_empty(), "{name}: free bodies only");
        let mut s = frames[90].clone();
        for (i, b) in s.iter_mut().enumerate() {
            b.position[1] -= 0.3;
            if i % 2 == 0 {
                let q = rapier3d::math::Rotation::from_rotation_z(0.3)
                    * foresight_model::context::rotation_of(b);
                b.rotation = [q.x, q.y, q.z, q.w];
            }
        }
        let before = s.clone();
        assert!(
            deepest(&ctx, &before) > 0.25,
            "{name}: the bodies were sunk"
        );
        let guards = project_statics(&ctx, &mut s, &vec![true; ctx.len()]);
        let sunk = (0..ctx.len())
            .filter(|&i| deepest_static_penetration(&ctx, i, &before[i]) > SLOP)
            .count();
        assert!(sunk > 0, "{name}: nothing to hold");
        assert_eq!(guards.held_body_ticks, sunk, "{name}: bodies moved");
        assert!(
            (guards.deepest_held_m - deepest(&ctx, &before)).abs() < 1e-4,
            "{name}: the projection reports {} m deep, the bodies were {} m",
            guards.deepest_held_m,
            deepest(&ctx, &before)
        );
        let after = deepest(&ctx, &s);
        assert!(
            after <= SLOP + 1e-3,
            "{name}: still {after} m deep after the projection"
        );
        for (i, (a, b)) in s.iter().zip(&before).enumerate() {
            // Free bodies are translated: a box lying flat is not tipped onto an edge.
            assert_eq!(a.rotation, b.rotation, "{name}: a free body was turned");
            assert_eq!(a.velocity, b.velocity, "{name}: velocity changed");
            assert_eq!(
                a.angular_velocity, b.angular_velocity,
                "{name}: spin changed"
            );
            // Bodies sunk into the floor rise; those sunk into other bodies (a tower's
            // upper blocks) are the network's business and stay.
            let depth = deepest_static_penetration(&ctx, i, b);
            if depth > SLOP {
                // Straight up, by its depth less the slop.
                let rise = a.position[1] - b.position[1];
                assert!(
                    (rise - (depth - SLOP)).abs() < 1e-3,
                    "{name}: a body {depth} m deep rose {rise} m"
                );
                let sideways = (a.position[0] - b.position[0]).hypot(a.position[2] - b.position[2]);
                assert!(sideways < 1e-5, "{name}: moved {sideways} m sideways");
            } else {
                assert_eq!(a, b, "{name}: a body clear of the statics moved");
            }
        }
    }
}

/// A hinged plank driven into the floor turns back up about its hinge: the projection
/// and the joint projection after it together lift the end without parting the hinge.
#[test]
fn a_hinged_plank_sunk_into_the_floor_turns_back_up() {
    let (ctx, frames) = recording("seesaw", 1, 1);
    let plank = 0;
    let j = ctx.joints[0];
    assert_eq!((j.a, j.b), (plank, None), "the seesaw's plank hinge");
    // Turn the plank about its hinge (z, through its centre) well past where its end
    // meets the floor.
    let mut s = frames[0].clone();
    let q = rapier3d::math::Rotation::from_rotation_z(-0.6);
    let r = q * foresight_model::context::rotation_of(&s[plank]);
    s[plank].rotation = [r.x, r.y, r.z, r.w];
    let sunk = deepest_static_penetration(&ctx, plank, &s[plank]);
    assert!(sunk > 0.2, "the plank's end is {sunk} m in");
    for _ in 0..10 {
        project_statics(&ctx, &mut s, &vec![true; ctx.len()]);
        project_joints(&ctx, &mut s);
    }
    let depth = deepest_static_penetration(&ctx, plank, &s[plank]);
    assert!(depth < SLOP + 0.01, "still {depth} m in after ten ticks");
    let hinge = foresight_model::context::pose_of(&s[plank]).transform_point(j.anchor_a);
    assert!(
        (hinge - j.anchor_b).length() < 1e-3,
        "the hinge parted: {hinge:?} against {:?}",
        j.anchor_b
    );
}

#[test]
fn bodies_clear_of_the_statics_or_asleep_are_left_alone() {
    let (ctx, frames) = recording("tower", 1, 90);
    let mut s = frames[90].clone();
    let before = s.clone();
    // Resting on the floor (within the slop): untouched.
    let guards = project_statics(&ctx, &mut s, &vec![true; ctx.len()]);
    assert_eq!(s, before, "a body resting within the slop was moved");
    assert_eq!(guards.held_body_ticks, 0);
    // Sunk but asleep: untouched.
    for b in s.iter_mut() {
        b.position[1] -= 0.3;
    }
    let sunk = s.clone();
    let guards = project_statics(&ctx, &mut s, &vec![false; ctx.len()]);
    assert_eq!(s, sunk, "a sleeping body was moved");
    assert_eq!(guards.held_body_ticks, 0);
}

/// Thin bodies are held too: a rod 2 cm across, lying flat and sunk 0.1 m into the
/// floor, comes back out (the bounding-box test that spares most contact queries must
/// not take its thickness for its depth).
#[test]
fn a_thin_rod_sunk_into_the_floor_comes_back_out() {
    let scene = Scene::parse(
        r#"(
    name: "rod",
    description: "A thin rod on the floor.",
    statics: [Ground(name: "floor", y: 0.0, size: 10.0)],
    bodies: [(name: "rod", shape: Capsule(radius: 0.01, length: 1.0), position: (0.0, 0.01, 0.0),
              rotation: (0.0, 0.0, 90.0))],
)"#,
        "rod.ron",
    )
    .unwrap();
    let t = World::new(&scene.sample(0).unwrap()).record(1);
    let ctx = Context::from_trajectory(&t);
    let mut s = t.frames[0].clone();
    s[0].position[1] -= 0.1;
    let sunk = deepest_static_penetration(&ctx, 0, &s[0]);
    assert!(sunk > 0.09, "the rod is {sunk} m in");
    let guards = project_statics(&ctx, &mut s, &[true]);
    assert_eq!(guards.held_body_ticks, 1);
    let depth = deepest_static_penetration(&ctx, 0, &s[0]);
    assert!((depth - SLOP).abs() < 1e-3, "still {depth} m in");
}

/// Guards the forecast's use of the projection: an untrained network drives bodies
/// every which way (up to the 60 m/s guard), and none of its free bodies ends a tick
/// deeper than the slop in the 1 m floor. (Thin statics are another matter: a body
/// crossing half a 0.2 m wall in one tick ends up where the wall's nearest way out is
/// into the floor, as in rapier without continuous collision detection.)
#[test]
fn no_forecast_sinks_a_free_body_into_the_statics_whatever_the_weights() {
    for (name, seed) in [("tower", 2u64), ("drop", 3)] {
        let (ctx, frames) = recording(name, seed, 30);
        let jointed: Vec<bool> = (0..ctx.len())
            .map(|i| ctx.joints.iter().any(|j| j.a == i || j.b == Some(i)))
            .collect();
        let model = LearnedModel::untrained(seed, 0.3, 2.0).unwrap();
        let (forecast, guards) = model.rollout_guarded(&ctx, &frames, &[], 60).unwrap();
        assert!(
            guards.held_body_ticks > 0 && guards.deepest_held_m > 0.05,
            "{name}: the network never sank a body ({guards:?}): the test tests nothing"
        );
        let worst = |forecast: &[Vec<BodyState>]| {
            let free = |(i, b): (usize, &BodyState)| {
                (!jointed[i]).then(|| deepest_static_penetration(&ctx, i, b))
            };
            forecast
                .iter()
                .flat_map(|state| state.iter().enumerate().filter_map(free))
                .fold(0.0f32, f32::max)
        };
        let held = worst(&forecast);
        assert!(held <= SLOP + 2e-3, "{name}: a body sank {held} m deep");
        // The same network without the hold sinks them: the projection did the holding.
        let model = model.without_static_hold();
        let (unheld, guards) = model.rollout_guarded(&ctx, &frames, &[], 60).unwrap();
        assert_eq!(guards.held_body_ticks, 0);
        let sank = worst(&unheld);
        assert!(
            sank > 0.1,
            "{name}: unheld, the deepest body is only {sank} m in"
        );
    }
}

/// The evaluation reports what the projection hid: an untrained network sinks bodies
/// into the floor, and although no forecast state shows it (`max_penetration_m` stays at
/// the slop), `held_fraction` and `max_penetration_before_hold_m` do.
#[test]
fn the_evaluation_reports_how_deep_the_network_sank_bodies_before_the_hold() {
    let scene = Scene::load(scene("drop")).unwrap();
    let model = LearnedModel::untrained(3, 0.3, 2.0).unwrap();
    let r = evaluate_scene(&scene, &eval_seeds(1), &[&model]).unwrap();
    let c = &r.predictors[LEARNED].checks;
    assert!(c.max_penetration_m <= f64::from(SLOP) + 2e-3, "{c:?}");
    assert!(c.held_fraction > 0.0 && c.held_body_ticks > 0, "{c:?}");
    assert!(
        c.max_penetration_before_hold_m > c.max_penetration_m + 0.05,
        "{c:?}"
    );
}

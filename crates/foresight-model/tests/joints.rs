//! The joint projection holds every joint of a scene exactly: after free ballistic ticks
//! (which pull a chain apart) each tick's projection brings anchors together, hinge axes
//! into line, fixed joints to their rest rotation, and leaves only velocities the joints
//! allow. A chain with nothing near but its own links swings by gravity and its joints
//! alone, whatever the network says.

use std::path::{Path, PathBuf};

use foresight_model::context::{pose_of, rotation_of};
use foresight_model::joints::project_joints;
use foresight_model::predictor::{finite_difference_history, integrate_tick};
use foresight_model::{Context, LearnedModel, Predictor};
use foresight_sim::{BodyState, Scene, World};
use rapier3d::math::Vector;

fn scene(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../assets/scenes/{name}.ron"))
}

/// Largest anchor gap (m), anchor relative speed (m/s), hinge misalignment and fixed-joint
/// rotation error (rad) over the scene's joints.
fn violations(ctx: &Context, s: &[BodyState]) -> (f32, f32, f32) {
    let (mut gap, mut speed, mut angle) = (0.0f32, 0.0f32, 0.0f32);
    for j in &ctx.joints {
        let pa = pose_of(&s[j.a]);
        let wa = pa.transform_point(j.anchor_a);
        let va = Vector::from_array(s[j.a].velocity)
            + Vector::from_array(s[j.a].angular_velocity).cross(wa - pa.translation);
        let (wb, vb, qb) = match j.b {
            Some(b) => {
                let pb = pose_of(&s[b]);
                let wb = pb.transform_point(j.anchor_b);
                let vb = Vector::from_array(s[b].velocity)
                    + Vector::from_array(s[b].angular_velocity).cross(wb - pb.translation);
                (wb, vb, rotation_of(&s[b]))
            }
            None => (j.anchor_b, Vector::ZERO, rapier3d::math::Rotation::IDENTITY),
        };
        gap = gap.max((wb - wa).length());
        speed = speed.max((vb - va).length());
        let qa = rotation_of(&s[j.a]);
        match j.kind {
            0 => angle = angle.max((qb * (qa * j.rest).inverse()).to_scaled_axis().length()),
            1 => angle = angle.max((qa * j.axis_a).cross(qb * j.axis_b).length()),
            _ => {}
        }
    }
    (gap, speed, angle)
}

#[test]
fn every_joint_holds_after_each_projected_tick() {
    for name in ["pendulum", "seesaw", "cradle"] {
        let inst = Scene::load(scene(name)).unwrap().sample(5).unwrap();
        let t = World::new(&inst).record(40);
        let ctx = Context::from_trajectory(&t);
        assert!(!ctx.joints.is_empty(), "{name} has joints");
        let frames = finite_difference_history(&t.frames, t.dt, t.gravity);
        let mut s = frames[40].clone();
        let mut worst_free = 0.0f32;
        for _ in 0..60 {
            s = s
                .iter()
                .map(|b| integrate_tick(b, ctx.gravity, [0.0; 3], ctx.dt))
                .collect();
            worst_free = worst_free.max(violations(&ctx, &s).0);
            project_joints(&ctx, &mut s);
            let (gap, speed, angle) = violations(&ctx, &s);
            assert!(gap < 1e-3, "{name}: anchors {gap} m apart");
            assert!(speed < 1e-2, "{name}: anchors part at {speed} m/s");
            assert!(angle < 2e-3, "{name}: joint rotation off by {angle} rad");
        }
        // The free ticks did pull the joints apart: the projection had work to do.
        assert!(
            worst_free > 1e-3,
            "{name}: free ticks left the joints at {worst_free} m"
        );
    }
}

#[test]
fn projection_leaves_a_state_that_already_holds_unchanged() {
    let inst = Scene::load(scene("pendulum")).unwrap().sample(2).unwrap();
    let t = World::new(&inst).record(1);
    let ctx = Context::from_trajectory(&t);
    let start = t.frames[0].clone();
    let mut s = start.clone();
    project_joints(&ctx, &mut s);
    for (a, b) in s.iter().zip(&start) {
        for c in 0..3 {
            assert!(
                (a.position[c] - b.position[c]).abs() < 1e-4,
                "{a:?} vs {b:?}"
            );
            assert!(
                (a.velocity[c] - b.velocity[c]).abs() < 1e-3,
                "{a:?} vs {b:?}"
            );
        }
    }
}

/// A chain with nothing near but its own links swings by gravity and its joints alone:
/// whatever the network says (an untrained one with large outputs), the forecast of the
/// chain is the network-free one. With the network's output used on jointed bodies too
/// (the rule before), the same network throws the chain off.
#[test]
fn a_chain_with_nothing_near_swings_by_its_joints_alone() {
    let inst = Scene::load(scene("pendulum")).unwrap().sample(2).unwrap();
    let truth = World::new(&inst).record(1);
    let ctx = Context::from_trajectory(&truth);
    let chain: Vec<usize> = ["link_0", "link_1", "link_2", "link_3", "link_4", "bob"]
        .iter()
        .map(|n| inst.body_index(n).unwrap())
        .collect();
    let noisy = LearnedModel::untrained(3, 0.3, 2.0).unwrap();
    let silent = LearnedModel::untrained(3, 0.0, 0.0).unwrap();
    let ticks = 8;
    let history = &truth.frames[..1];
    let with = noisy.rollout(&ctx, history, &[], ticks).unwrap();
    let without = silent.rollout(&ctx, history, &[], ticks).unwrap();
    let old_rule = noisy
        .with_network_on_joints()
        .rollout(&ctx, history, &[], ticks)
        .unwrap();
    let apart = |a: &[BodyState], b: &[BodyState]| {
        chain
            .iter()
            .map(|&i| Vector::from_array(a[i].position).distance(Vector::from_array(b[i].position)))
            .fold(0.0f32, f32::max)
    };
    for t in 0..ticks {
        assert!(
            apart(&with[t], &without[t]) < 1e-6,
            "tick {t}: the network moved the chain"
        );
    }
    // The chain did swing: its bob fell.
    let bob = chain[5];
    assert!(without[ticks - 1][bob].position[1] < truth.frames[0][bob].position[1] - 0.02);
    assert!(
        apart(&old_rule[ticks - 1], &without[ticks - 1]) > 0.01,
        "the old rule should let the network move the chain"
    );
}

/// A body jointed to the world moves by its joint alone when no static surface counts:
/// the gate of `assets/new-scenes/gate.ron`, pushed open, has the floor 5 cm below (out
/// of reach within a step) and its post 6.7 cm from its hinge's axis (under 15 % of its
/// bounding radius), so whatever the network says, the gate swings as with no network. A lid hinged in mid-air whose far end rests on the floor, 2 m from
/// its hinge, is moved by the network (the floor there can turn it).
#[test]
fn statics_that_cannot_turn_a_hinged_body_leave_it_to_its_joint() {
    let noisy = LearnedModel::untrained(3, 0.3, 2.0).unwrap();
    let silent = LearnedModel::untrained(3, 0.0, 0.0).unwrap();
    let gate_scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/new-scenes/gate.ron");
    let inst = Scene::load(gate_scene).unwrap().sample(1).unwrap();
    let truth = World::new(&inst).record(1);
    let ctx = Context::from_trajectory(&truth);
    let gate = inst.body_index("gate").unwrap();
    let push = foresight_sim::Push {
        body: gate,
        tick: 0,
        impulse: [0.0, 0.0, 40.0],
        offset: [0.5, 0.0, 0.0],
    };
    let ticks = 8;
    let history = &truth.frames[..1];
    let apart = |model: &LearnedModel| {
        let a = model.rollout(&ctx, history, &[push], ticks).unwrap();
        let b = silent.rollout(&ctx, history, &[push], ticks).unwrap();
        (0..ticks)
            .map(|t| {
                Vector::from_array(a[t][gate].position)
                    .distance(Vector::from_array(b[t][gate].position))
            })
            .fold(0.0f32, f32::max)
    };
    assert!(apart(&noisy) < 1e-6, "the network moved the gate");
    let opened = silent.rollout(&ctx, history, &[push], ticks).unwrap();
    assert!(
        Vector::from_array(opened[ticks - 1][gate].position)
            .distance(Vector::from_array(truth.frames[0][gate].position))
            > 0.02,
        "the gate did not swing"
    );
    assert!(
        apart(
            &LearnedModel::untrained(3, 0.3, 2.0)
                .unwrap()
                .with_network_on_joints()
        ) > 0.01,
        "with the network on jointed bodies the gate should move"
    );

    let lid = r#"(name: "lid", description: "A lid hinged in mid-air, its far end on the floor.",
        statics: [Ground(name: "floor", y: 0.0, size: 10.0)],
        bodies: [(name: "lid", shape: Cuboid(size: (2.0, 0.1, 0.4)), position: (0.975, 0.2775, 0.0),
                  rotation: (0.0, 0.0, -12.86))],
        joints: [Revolute(a: "lid", anchor: (0.0, 0.5, 0.0), axis: (0.0, 0.0, 1.0))])"#;
    let inst = Scene::parse(lid, "lid.ron").unwrap().sample(0).unwrap();
    let truth = World::new(&inst).record(1);
    let ctx = Context::from_trajectory(&truth);
    let a = noisy.rollout(&ctx, &truth.frames[..1], &[], ticks).unwrap();
    let b = silent
        .rollout(&ctx, &truth.frames[..1], &[], ticks)
        .unwrap();
    let moved = Vector::from_array(a[ticks - 1][0].position)
        .distance(Vector::from_array(b[ticks - 1][0].position));
    assert!(
        moved > 1e-3,
        "the floor at the lid's far end should let the network act ({moved} m)"
    );
}

/// Jointed bodies sleep as rapier's islands do: a door hinged to the world beside its
/// post, its far end a centimetre from a stop (a static that can turn it), at rest for
/// longer than the sleep time, stays exactly where it is whatever the network says; seen
/// at rest for one frame only, the same network swings it. A push on
/// one of two boxes hinged together wakes both in the same step, and the crate touching
/// the other one.
#[test]
fn jointed_bodies_at_rest_sleep_and_wake_as_an_island() {
    let text = r#"(
        name: "yard",
        description: "A door at rest beside its post, its far end by a stop; two hinged boxes at rest on the floor.",
        statics: [
            Ground(y: 0.0),
            Collider(name: "post", shape: Cylinder(radius: 0.05, height: 1.2), position: (0.0, 0.6, -0.09)),
            Collider(name: "stop", shape: Cylinder(radius: 0.05, height: 1.2), position: (1.0, 0.6, -0.09)),
        ],
        bodies: [
            (name: "door", shape: Cuboid(size: (1.0, 0.8, 0.06)), position: (0.55, 0.45, 0.0)),
            (name: "left", shape: Cuboid(size: (0.4, 0.2, 0.4)), position: (3.0, 0.1, 0.0)),
            (name: "right", shape: Cuboid(size: (0.4, 0.2, 0.4)), position: (3.5, 0.1, 0.0)),
            (name: "crate", shape: Cuboid(size: (0.3, 0.3, 0.3)), position: (3.852, 0.15, 0.0)),
        ],
        joints: [
            Revolute(a: "door", anchor: (0.0, 0.45, 0.0), axis: (0.0, 1.0, 0.0)),
            Revolute(a: "left", b: "right", anchor: (3.25, 0.1, 0.0), axis: (0.0, 0.0, 1.0)),
        ],
    )"#;
    let inst = Scene::parse(text, "yard.ron").unwrap().sample(0).unwrap();
    let truth = World::new(&inst).record(40);
    let ctx = Context::from_trajectory(&truth);
    let door = inst.body_index("door").unwrap();
    let (left, right) = (
        inst.body_index("left").unwrap(),
        inst.body_index("right").unwrap(),
    );
    let crate_ = inst.body_index("crate").unwrap();
    let noisy = LearnedModel::untrained(3, 0.3, 2.0).unwrap();
    let moved = |f: &[Vec<BodyState>], i: usize, start: &[BodyState]| {
        Vector::from_array(f[f.len() - 1][i].position)
            .distance(Vector::from_array(start[i].position))
    };
    let rest = &truth.frames[40];
    let asleep = noisy.rollout(&ctx, &truth.frames[..=40], &[], 30).unwrap();
    for i in [door, left, right, crate_] {
        // (The joint projection still runs on sleeping bodies: float rounding only.)
        assert!(
            moved(&asleep, i, rest) < 1e-4,
            "body {i} moved in its sleep"
        );
    }
    let woken = noisy
        .rollout(&ctx, &truth.frames[40..=40], &[], 30)
        .unwrap();
    assert!(
        moved(&woken, door, rest) > 0.01,
        "the network should swing a door awake"
    );
    // A push on the left box: its partner is computed from the same step on.
    let push = foresight_sim::Push {
        body: left,
        tick: 0,
        impulse: [0.0, 0.0, 2.0],
        offset: [0.0; 3],
    };
    let pushed = noisy
        .rollout(&ctx, &truth.frames[..=40], &[push], 4)
        .unwrap();
    assert!(moved(&pushed, left, rest) > 1e-3);
    assert!(
        moved(&pushed, right, rest) > 1e-3,
        "the partner slept through the push"
    );
    assert!(
        moved(&pushed, crate_, rest) > 1e-3,
        "the partner's neighbour slept on"
    );
    assert!(
        moved(&pushed, door, rest) < 1e-4,
        "the door is in no island with them"
    );
}

/// A sleeping row of touching balls woken at one end wakes whole, as rapier wakes an
/// island: the far ball of the cradle's row is computed in the very step the near one is
/// pushed, not steps later.
#[test]
fn a_touching_row_wakes_whole() {
    let inst = Scene::load(scene("cradle")).unwrap().sample(0).unwrap();
    let truth = World::new(&inst).record(40);
    let ctx = Context::from_trajectory(&truth);
    let (near, far) = (
        inst.body_index("ball_0").unwrap(),
        inst.body_index("ball_3").unwrap(),
    );
    let noisy = LearnedModel::untrained(3, 0.3, 2.0).unwrap();
    let rest = &truth.frames[40];
    let push = foresight_sim::Push {
        body: near,
        tick: 0,
        impulse: [0.0, 0.0, 5.0],
        offset: [0.0; 3],
    };
    let moved = |f: &[Vec<BodyState>]| {
        Vector::from_array(f[3][far].position).distance(Vector::from_array(rest[far].position))
    };
    let quiet = noisy.rollout(&ctx, &truth.frames[..=40], &[], 4).unwrap();
    assert!(moved(&quiet) < 1e-4, "the row should sleep");
    let pushed = noisy
        .rollout(&ctx, &truth.frames[..=40], &[push], 4)
        .unwrap();
    assert!(moved(&pushed) > 1e-3, "the far ball slept on");
}

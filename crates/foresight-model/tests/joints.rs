//! The joint projection holds every joint of a scene exactly: after free ballistic ticks
//! (which pull a chain apart) each tick's projection brings anchors together, hinge axes
//! into line, fixed joints to their rest rotation, and leaves only velocities the joints
//! allow.

use std::path::{Path, PathBuf};

use foresight_model::Context;
use foresight_model::context::{pose_of, rotation_of};
use foresight_model::joints::project_joints;
use foresight_model::predictor::{finite_difference_history, integrate_tick};
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

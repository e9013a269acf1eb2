//! Sampling, the rapier world (stepping, pushes, reset, snapshots, contacts, joints),
//! trajectory files and determinism.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use foresight_sim::{BodyState, Encoding, ObjectRef, Scene, Trajectory, TrajectoryError, World};

fn scene(text: &str) -> Scene {
    Scene::parse(text, "t.ron").unwrap()
}

fn shipped(name: &str) -> Scene {
    Scene::load(format!(
        "{}/../../assets/scenes/{name}.ron",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn shipped_names() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/scenes");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

const BALL: &str = r#"(
    name: "ball", description: "One ball.",
    statics: [Ground(name: "floor", y: 0.0)],
    bodies: [(name: "ball", shape: Sphere(radius: 0.5), position: (0, 10, 0))],
)"#;

fn hash_states(states: &[BodyState]) -> u64 {
    let mut h = DefaultHasher::new();
    for s in states {
        for x in s
            .position
            .iter()
            .chain(&s.rotation)
            .chain(&s.velocity)
            .chain(&s.angular_velocity)
        {
            x.to_bits().hash(&mut h);
        }
    }
    h.finish()
}

#[test]
fn same_seed_same_instance_other_seed_other_variant() {
    let s = shipped("pile");
    let a = s.sample(11).unwrap();
    assert_eq!(a, s.sample(11).unwrap());
    let b = s.sample(12).unwrap();
    assert_ne!(a.bodies[0], b.bodies[0], "ranges should give new variants");
    assert_ne!(
        a.bodies[200].pose, b.bodies[200].pose,
        "random rotations differ"
    );
    // Fixed values stay fixed across seeds.
    assert_eq!(a.statics, b.statics);
    assert_eq!(a.bodies.len(), 216);
}

#[test]
fn repeats_expand_with_spacing_names_and_rings() {
    let s = scene(
        r#"(name: "r", description: "Repeats.", bodies: [
            (name: "row", shape: Cuboid(size: (0.1, 1, 0.5)), position: (0, 0.5, 0), repeat: Row(count: 4, spacing: (0.5, 0, 0))),
            (name: "ring", shape: Sphere(radius: 0.1), position: (0, 3, 0), repeat: Ring(count: 4, radius: 2.0)),
            (shape: Sphere(radius: 0.1), position: (0, 5, 0), repeat: Stack(count: 3, spacing: 0.25)),
        ])"#,
    );
    let i = s.sample(0).unwrap();
    assert_eq!(i.bodies.len(), 11);
    assert_eq!(i.bodies[3].name.as_deref(), Some("row_3"));
    assert!((i.bodies[3].pose.position[0] - 1.5).abs() < 1e-6);
    let ring = &i.bodies[5].pose.position; // ring_1: a quarter turn round
    assert!(
        ring[0].abs() < 1e-5 && (ring[2] - 2.0).abs() < 1e-5,
        "{ring:?}"
    );
    assert!((i.bodies[10].pose.position[1] - 5.5).abs() < 1e-6);
    assert_eq!(i.body_index("ring_3"), Some(7));
}

#[test]
fn free_fall_matches_gravity_and_ball_rests_on_ground() {
    let i = scene(BALL).sample(0).unwrap();
    let mut w = World::new(&i);
    for _ in 0..30 {
        w.step();
    }
    let t = 30.0 * i.dt;
    let y = w.body_state(0).unwrap().position[1];
    // Semi-implicit Euler lands within one step's worth of the analytic fall.
    assert!((y - (10.0 - 0.5 * 9.81 * t * t)).abs() < 0.1, "y = {y}");
    for _ in 0..300 {
        w.step();
    }
    let s = w.body_state(0).unwrap();
    assert!(
        (s.position[1] - 0.5).abs() < 0.02,
        "ball should rest on the ground: {s:?}"
    );
    assert!(w.touching(ObjectRef::Body(0), ObjectRef::Static(0)));
    assert_eq!(
        w.contacts(),
        vec![(ObjectRef::Body(0), ObjectRef::Static(0))]
    );
}

#[test]
fn impulse_changes_velocity_by_impulse_over_mass() {
    let text = BALL
        .replace("position: (0, 10, 0)", "position: (0, 5, 0)")
        .replace(
            "description: \"One ball.\",",
            "description: \"One ball.\", gravity: (0, 0, 0),",
        );
    let i = scene(&text).sample(0).unwrap();
    let mut w = World::new(&i);
    let m = w.masses()[0];
    let expected = 1000.0 * 4.0 / 3.0 * std::f32::consts::PI * 0.125;
    assert!(
        (m - expected).abs() / expected < 1e-3,
        "mass {m} vs {expected}"
    );
    w.apply_impulse(0, [m * 2.0, 0.0, 0.0], None).unwrap();
    w.step();
    let v = w.body_state(0).unwrap().velocity[0];
    assert!((v - 2.0).abs() < 1e-4, "vx = {v}");
    assert!(w.apply_impulse(5, [1.0, 0.0, 0.0], None).is_err());
}

#[test]
fn scripted_push_acts_at_its_tick() {
    let text = BALL.replace(
        "position: (0, 10, 0))]",
        "position: (0, 0.5, 0))], pushes: [(body: \"ball\", tick: 5, impulse: (600, 0, 0))]",
    );
    let i = scene(&text).sample(0).unwrap();
    let mut w = World::new(&i);
    for _ in 0..5 {
        w.step();
    }
    assert!(
        w.body_state(0).unwrap().velocity[0].abs() < 1e-6,
        "no push before tick 5"
    );
    w.step();
    assert!(
        w.body_state(0).unwrap().velocity[0] > 0.5,
        "push applied at tick 5"
    );
}

#[test]
fn reset_and_snapshot_restore_replay_exactly() {
    let i = shipped("tower").sample(3).unwrap();
    let mut w = World::new(&i);
    let start = w.states();
    for _ in 0..40 {
        w.step();
    }
    let snap = w.snapshot();
    for _ in 0..60 {
        w.step();
    }
    let after = w.states();
    w.restore(&snap).unwrap();
    assert_eq!(w.tick(), 40);
    for _ in 0..60 {
        w.step();
    }
    assert_eq!(
        w.states(),
        after,
        "restored world must continue identically"
    );
    w.reset();
    assert_eq!(w.tick(), 0);
    assert_eq!(w.states(), start);
    let other = World::new(&shipped("drop").sample(0).unwrap());
    assert!(w.restore(&other.snapshot()).is_err());
}

#[test]
fn revolute_joint_keeps_pendulum_length() {
    let i = shipped("cradle").sample(0).unwrap();
    let mut w = World::new(&i);
    for _ in 0..120 {
        w.step();
        let p = w.body_state(0).unwrap().position;
        let d = ((p[0] + 0.6).powi(2) + (p[1] - 2.0).powi(2) + p[2].powi(2)).sqrt();
        assert!((d - 1.0).abs() < 0.02, "rod length drifted to {d}");
    }
}

#[test]
fn determinism_state_hash_matches_across_runs() {
    for name in ["pile", "dominoes", "billiards", "pendulum", "seesaw"] {
        let s = shipped(name);
        let run = || {
            let mut w = World::new(&s.sample(5).unwrap());
            for _ in 0..150 {
                w.step();
            }
            hash_states(&w.states())
        };
        assert_eq!(run(), run(), "{name} diverged between two runs");
    }
}

#[test]
fn trajectory_files_are_byte_identical_across_runs() {
    let s = shipped("dominoes");
    let bytes = |enc| {
        let i = s.sample(9).unwrap();
        World::new(&i).record(200).to_bytes(enc).unwrap()
    };
    assert_eq!(bytes(Encoding::Json), bytes(Encoding::Json));
    assert_eq!(bytes(Encoding::Binary), bytes(Encoding::Binary));
}

#[test]
fn trajectories_round_trip_in_both_encodings() {
    let i = shipped("billiards").sample(1).unwrap();
    let t = World::new(&i).record(90);
    assert_eq!(t.frames.len(), 91);
    assert!(t.outcome.is_some());
    let dir = std::env::temp_dir().join(format!("foresight-traj-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (enc, name) in [(Encoding::Json, "t.json"), (Encoding::Binary, "t.bin")] {
        let path = dir.join(name);
        t.write(&path, enc).unwrap();
        assert_eq!(
            Trajectory::read(&path).unwrap(),
            t,
            "{name} did not round-trip"
        );
    }
    let bin = std::fs::metadata(dir.join("t.bin")).unwrap().len();
    let json = std::fs::metadata(dir.join("t.json")).unwrap().len();
    assert!(
        bin * 2 < json,
        "binary ({bin} B) should be far smaller than JSON ({json} B)"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_truncated_and_foreign_trajectories_are_errors() {
    let t = World::new(&shipped("drop").sample(0).unwrap()).record(20);
    let bin = t.to_bytes(Encoding::Binary).unwrap();
    for cut in [0, 5, 12, bin.len() / 2, bin.len() - 1] {
        let e = Trajectory::from_bytes(&bin[..cut], "t.bin").unwrap_err();
        assert!(
            matches!(e, TrajectoryError::Format { .. }),
            "cut at {cut}: {e}"
        );
    }
    let mut wrong = bin.clone();
    wrong[8] = 99;
    assert!(matches!(
        Trajectory::from_bytes(&wrong, "t.bin"),
        Err(TrajectoryError::Version { got: 99, .. })
    ));
    let json = String::from_utf8(t.to_bytes(Encoding::Json).unwrap()).unwrap();
    let e = Trajectory::from_bytes(
        json.replacen("\"format_version\":1", "\"format_version\":7", 1)
            .as_bytes(),
        "t.json",
    )
    .unwrap_err();
    assert!(e.to_string().contains("version 7"), "{e}");
    assert!(
        Trajectory::from_bytes(b"hello", "t.json")
            .unwrap_err()
            .to_string()
            .starts_with("t.json: not a readable trajectory")
    );
}

#[test]
fn outcome_answer_agrees_with_contacts() {
    let i = shipped("collide").sample(0).unwrap();
    let mut w = World::new(&i);
    let t = w.record(i.steps);
    let o = t.outcome.unwrap();
    let tick = o.first_touch_tick.expect("the two balls meet");
    assert_eq!(o.answer, tick <= o.question.within_ticks);
    // Replay: not touching one tick before, touching at that tick.
    let mut w = World::new(&i);
    for _ in 0..tick - 1 {
        w.step();
    }
    assert!(!w.touching(o.question.a, o.question.b));
    w.step();
    assert!(w.touching(o.question.a, o.question.b));
}

/// Shipped scenes must look right: nothing starts inside anything, nothing falls
/// through or off the ground, nothing flies away, over several seeds.
#[test]
fn shipped_scenes_start_clear_and_stay_on_the_ground() {
    let names = shipped_names();
    assert!(names.len() >= 10, "only {} scenes", names.len());
    for name in names {
        let s = shipped(&name);
        for seed in 0..3 {
            let i = s.sample(seed).unwrap();
            let mut w = World::new(&i);
            let overlaps = w.overlaps(0.01);
            assert!(
                overlaps.is_empty(),
                "{name} seed {seed} starts overlapping: {overlaps:?}"
            );
            let t = w.record(i.steps);
            for (b, st) in t.frames.last().unwrap().iter().enumerate() {
                let [x, y, z] = st.position;
                assert!(
                    y > 0.0,
                    "{name} seed {seed}: body {b} ended below the ground (y = {y})"
                );
                assert!(
                    x.abs() < 19.0 && z.abs() < 19.0,
                    "{name} seed {seed}: body {b} left the ground ({x}, {z})"
                );
            }
        }
    }
}

#[test]
fn overlap_check_finds_bodies_inside_each_other() {
    let text = BALL.replace(
        "bodies: [(name: \"ball\", shape: Sphere(radius: 0.5), position: (0, 10, 0))]",
        "bodies: [(shape: Sphere(radius: 0.5), position: (0, 0.3, 0)), (shape: Cuboid(size: (1, 1, 1)), position: (0.6, 0.5, 0))]",
    );
    let w = World::new(&scene(&text).sample(0).unwrap());
    let o: Vec<_> = w
        .overlaps(0.01)
        .into_iter()
        .map(|(a, b, _)| (a, b))
        .collect();
    assert_eq!(
        o,
        vec![
            (ObjectRef::Body(0), ObjectRef::Body(1)),
            (ObjectRef::Body(0), ObjectRef::Static(0))
        ]
    );
}

/// A world rebuilt at the scene's poses and moved to a mid-run state with `set_states`
/// (as the rapier-perturbed reference does) continues like the original, joints included.
#[test]
fn set_states_lets_a_rebuilt_world_continue_the_run() {
    let i = shipped("pendulum").sample(0).unwrap();
    let mut a = World::new(&i);
    for _ in 0..30 {
        a.step();
    }
    let mut b = World::new(&i);
    b.set_states(&a.states()).unwrap();
    for (x, y) in a.states().iter().zip(b.states()) {
        assert_eq!((x.position, x.velocity), (y.position, y.velocity));
        assert!((0..4).all(|k| (x.rotation[k] - y.rotation[k]).abs() < 1e-6));
    }
    for _ in 0..30 {
        a.step();
        b.step();
    }
    for (x, y) in a.states().iter().zip(b.states()) {
        let d: f32 = (0..3)
            .map(|k| (x.position[k] - y.position[k]).powi(2))
            .sum::<f32>()
            .sqrt();
        assert!(d < 0.01, "rebuilt world drifted {d} m: {x:?} vs {y:?}");
    }
    assert!(b.set_states(&a.states()[1..]).is_err());
}

/// Guards "never a non-finite state written to disk": a trajectory holding one is refused
/// by the writer (the reader refuses it too), and no file appears.
#[test]
fn a_trajectory_with_a_non_finite_state_is_never_written() {
    let inst = foresight_sim::Scene::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/scenes/drop.ron"
    ))
    .unwrap()
    .sample(0)
    .unwrap();
    let mut t = foresight_sim::World::new(&inst).record(3);
    t.frames[2][1].velocity[0] = f32::NAN;
    let out = std::env::temp_dir().join(format!("foresight-nan-{}.bin", std::process::id()));
    let e = t
        .write(&out, foresight_sim::Encoding::Binary)
        .unwrap_err()
        .to_string();
    assert!(e.contains("frame 2, body 1") && !e.contains('\n'), "{e}");
    assert!(!out.exists());
    t.frames[2][1].velocity[0] = 0.0;
    t.masses[0] = -1.0;
    assert!(t.to_bytes(foresight_sim::Encoding::Json).is_err());
}

/// Picking is on the exact shape: a ray through a domino's bounding sphere but beside
/// the thin slab misses it; a ray at its face hits at the face, also when it is turned.
#[test]
fn rays_meet_the_exact_shape_not_its_bounding_sphere() {
    use foresight_sim::Shape;
    use foresight_sim::world::ray_hit;
    let domino = Shape::Cuboid {
        size: [0.08, 0.8, 0.4],
    };
    let upright = [0.0, 0.0, 0.0, 1.0];
    let at = [0.0, 0.4, 0.0];
    // Along -x, 0.15 m beside the slab (inside the 0.45-m bounding sphere).
    assert_eq!(
        ray_hit(&domino, at, upright, [5.0, 0.4, 0.35], [-1.0, 0.0, 0.0]),
        None
    );
    let t = ray_hit(&domino, at, upright, [5.0, 0.4, 0.1], [-1.0, 0.0, 0.0]).unwrap();
    assert!((t - 4.96).abs() < 1e-4, "hit at {t}");
    // Turned 90 degrees about y: the 0.4-m side now faces x.
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let turned = [0.0, h, 0.0, h];
    let t = ray_hit(&domino, at, turned, [5.0, 0.4, 0.0], [-1.0, 0.0, 0.0]).unwrap();
    assert!((t - 4.8).abs() < 1e-4, "hit at {t}");
    assert!(ray_hit(&domino, at, upright, [5.0, 0.4, 0.1], [1.0, 0.0, 0.0]).is_none());
}

/// A pin lying tilted on the floor slab (a forecast's pose from the `bowling` new scene):
/// the cylinder–cuboid query (GJK/EPA, then clipping) called it 21 m deep in a 1 m slab.
/// No depth can exceed the overlap of the two bounding boxes along an axis (moving that
/// far along it parts the boxes, so the shapes), and the contact must say so.
#[test]
fn a_contact_is_never_deeper_than_the_bounding_boxes_overlap() {
    use foresight_sim::Shape;
    use foresight_sim::world::{deepest_contact, shared_shape};
    use rapier3d::math::{Pose, Rotation, Vector};
    let floor = shared_shape(&Shape::Cuboid {
        size: [30.0, 1.0, 30.0],
    });
    let floor_pose = Pose::from_translation(Vector::new(0.0, -0.5, 0.0));
    let pin = shared_shape(&Shape::Cylinder {
        radius: 0.08,
        height: 0.5,
    });
    let tilt = Rotation::from_xyzw(0.322_027_15, -0.085_452_27, -0.778_309_76, 0.532_193_96);
    let pin_pose = Pose::from_parts(Vector::new(0.964_384_6, 0.176_875_44, 0.545_813_3), tilt);
    let lowest = pin.compute_aabb(&pin_pose).mins.y;
    let (gap, normal, on_pin, _) =
        deepest_contact(&pin_pose, &*pin, &floor_pose, &*floor, 0.05).expect("the pin touches");
    assert!(
        gap >= lowest.min(0.0) - 1e-3 && gap <= 0.05,
        "gap {gap}: the pin's lowest point is at {lowest}"
    );
    assert!(normal.dot(Vector::NEG_Y) > 0.9, "normal {normal:?}");
    assert!(on_pin.is_finite() && on_pin.y < 0.1, "point {on_pin:?}");
}

#[test]
fn contacts_of_boxes_touching_on_a_corner_or_a_face_are_exact() {
    use foresight_sim::Shape;
    use foresight_sim::world::{deepest_contact, shared_shape};
    use rapier3d::math::{Pose, Rotation, Vector};
    // A 0.25 m cube touching a 40 m floor slab with one corner (a pose from the pile's
    // truth): parry's generic `contact` called it 0.21 m deep.
    let floor = shared_shape(&Shape::Cuboid {
        size: [40.0, 1.0, 40.0],
    });
    let floor_pose = Pose::from_translation(Vector::new(0.0, -0.5, 0.0));
    let cube = shared_shape(&Shape::Cuboid { size: [0.25; 3] });
    let tilt = Rotation::from_xyzw(0.842_836_5, -0.020_749_494, 0.436_615_9, 0.313_946_93);
    let cube_pose = Pose::from_parts(Vector::new(-1.625_281_9, 0.198_576_32, 1.539_273), tilt);
    let exact = rapier3d::parry::query::distance(&cube_pose, &*cube, &floor_pose, &*floor)
        .unwrap()
        .distance;
    let (gap, normal, on_cube, on_floor) =
        deepest_contact(&cube_pose, &*cube, &floor_pose, &*floor, 0.05).unwrap();
    assert!(
        (gap - exact).abs() < 1e-3,
        "gap {gap} against the exact distance {exact}"
    );
    assert!(normal.dot(Vector::NEG_Y) > 0.999, "normal {normal:?}");
    assert!(
        on_cube.distance(on_floor) < 1e-3,
        "points {on_cube:?} {on_floor:?}"
    );
    // Two unit boxes face to face along x: the normal is +x, the gap zero.
    let unit = shared_shape(&Shape::Cuboid { size: [1.0; 3] });
    let (a, b) = (
        Pose::from_translation(Vector::new(0.5, 0.5, 0.5)),
        Pose::from_translation(Vector::new(1.5, 0.5, 0.5)),
    );
    let (gap, normal, ..) = deepest_contact(&a, &*unit, &b, &*unit, 0.05).unwrap();
    assert!(gap.abs() < 1e-4, "gap {gap}");
    assert!(normal.dot(Vector::X) > 0.999, "normal {normal:?}");
    // Apart by more than the prediction distance: no contact.
    let far = Pose::from_translation(Vector::new(1.6, 0.5, 0.5));
    assert!(deepest_contact(&a, &*unit, &far, &*unit, 0.05).is_none());
    // Overlapping by 5 cm: the depth is found.
    let deep = Pose::from_translation(Vector::new(1.45, 0.5, 0.5));
    let (gap, ..) = deepest_contact(&a, &*unit, &deep, &*unit, 0.0).unwrap();
    assert!((gap + 0.05).abs() < 1e-4, "gap {gap}");
}

//! Parsing and validation of scene files: what is accepted, and that every kind of
//! mistake gives an error naming the file, the place and the problem, never a panic.

use foresight_sim::{Num, Scene, SceneError};

const MINIMAL: &str = r#"(
    name: "t",
    description: "A test scene.",
    statics: [Ground()],
    bodies: [(shape: Sphere(radius: 0.5), position: (0, 1, 0))],
)"#;

fn err(text: &str) -> String {
    match Scene::parse(text, "t.ron") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Replaces the single body of MINIMAL with `body`.
fn with_body(body: &str) -> String {
    MINIMAL.replace("(shape: Sphere(radius: 0.5), position: (0, 1, 0))", body)
}

#[test]
fn minimal_scene_gets_documented_defaults() {
    let s = Scene::parse(MINIMAL, "t.ron").unwrap();
    assert_eq!(s.gravity.1, Num::Value(-9.81));
    assert_eq!(s.time_step, Num::Value(1.0 / 60.0));
    assert_eq!(s.duration, Num::Value(5.0));
    assert_eq!(s.bodies[0].density, Num::Value(1000.0));
    assert_eq!(s.body_count(), 1);
}

#[test]
fn ranges_parse_as_uniform() {
    let s = Scene::parse(
        &with_body("(shape: Sphere(radius: 0.1..0.3), position: (-1.5..=1.5, 1, 0))"),
        "t.ron",
    )
    .unwrap();
    match &s.bodies[0].shape {
        foresight_sim::scene::ShapeSpec::Sphere { radius } => {
            assert_eq!(*radius, Num::Uniform { min: 0.1, max: 0.3 })
        }
        other => panic!("wrong shape {other:?}"),
    }
    assert_eq!(
        s.bodies[0].position.0,
        Num::Uniform {
            min: -1.5,
            max: 1.5
        }
    );
}

#[test]
fn readme_example_parses_and_expands() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("```ron\n").expect("README has a ```ron block") + 7;
    let end = start + readme[start..].find("```").unwrap();
    let s = Scene::parse(&readme[start..end], "README.md").unwrap();
    assert!(
        s.body_count() > s.bodies.len() as u64,
        "the README example should show a repeat"
    );
    assert!(!s.joints.is_empty() && !s.pushes.is_empty() && s.question.is_some());
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let e = err("(\n  name: \"t\",\n  description: \"d\"\n  bodies: [],\n)");
    assert!(e.starts_with("t.ron:4:"), "{e}");
}

#[test]
fn unknown_field_is_an_error_not_ignored() {
    let e = err(&with_body(
        "(shape: Sphere(radius: 0.5), position: (0, 1, 0), mass: 3.0)",
    ));
    assert!(e.starts_with("t.ron:") && e.contains("mass"), "{e}");
}

#[test]
fn negative_size_names_the_field_path() {
    let e = err(&with_body(
        "(shape: Sphere(radius: -1.0), position: (0, 1, 0))",
    ));
    assert_eq!(e, "t.ron: bodies[0].shape.radius must be > 0 (got -1)");
}

#[test]
fn nan_and_infinity_are_rejected() {
    let e = err(&with_body(
        "(shape: Sphere(radius: 0.5), position: (0, NaN, 0))",
    ));
    assert!(
        e.contains("bodies[0].position.y must be a finite number"),
        "{e}"
    );
    let e = err(&with_body(
        "(shape: Cuboid(size: (1, inf, 1)), position: (0, 1, 0))",
    ));
    assert!(
        e.contains("bodies[0].shape.size.y must be a finite number"),
        "{e}"
    );
}

#[test]
fn empty_range_is_rejected() {
    let e = err(&with_body(
        "(shape: Sphere(radius: 0.5..0.2), position: (0, 1, 0))",
    ));
    assert!(
        e.contains("bodies[0].shape.radius is an empty range"),
        "{e}"
    );
}

#[test]
fn range_reaching_an_invalid_value_is_rejected() {
    let e = err(&with_body(
        "(shape: Sphere(radius: 0.5), position: (0, 1, 0), restitution: 0.5..1.5)",
    ));
    assert!(
        e.contains("bodies[0].restitution must be between 0 and 1"),
        "{e}"
    );
}

#[test]
fn time_step_outside_sane_range_is_rejected() {
    let e = err(&MINIMAL.replace("name: \"t\",", "name: \"t\", time_step: 0.5,"));
    assert!(e.contains("time_step must be between"), "{e}");
}

#[test]
fn joint_push_and_question_must_name_existing_bodies() {
    let named = with_body("(name: \"ball\", shape: Sphere(radius: 0.5), position: (0, 1, 0))");
    let e = err(&named.replace("bodies: [", "joints: [Fixed(a: \"bal\")], bodies: ["));
    assert!(
        e.contains("joints[0].a names body \"bal\", which does not exist (named bodies: ball)"),
        "{e}"
    );
    let e = err(&named.replace(
        "bodies: [",
        "pushes: [(body: \"nobody\", tick: 3, impulse: (1, 0, 0))], bodies: [",
    ));
    assert!(e.contains("pushes[0].body names body \"nobody\""), "{e}");
    let e = err(&named.replace(
        "bodies: [",
        "question: Touch(a: \"ball\", b: \"goal\", within: 1.0), bodies: [",
    ));
    assert!(
        e.contains("question.b names \"goal\", which is neither a body nor a static"),
        "{e}"
    );
}

#[test]
fn too_many_bodies_after_expansion_is_rejected() {
    let e = err(&with_body(
        "(shape: Sphere(radius: 0.1), position: (0, 1, 0), repeat: Grid(count: (20, 20, 20), spacing: (0.3, 0.3, 0.3)))",
    ));
    assert!(
        e.contains("expand to 8000 bodies, more than the limit of 5000"),
        "{e}"
    );
    // Counts that would overflow a u32 product still give the error, not a panic.
    let e = err(&with_body(
        "(shape: Sphere(radius: 0.1), position: (0, 1, 0), repeat: Grid(count: (4294967295, 4294967295, 4294967295), spacing: (1, 1, 1)))",
    ));
    assert!(e.contains("more than the limit"), "{e}");
}

#[test]
fn duplicate_names_are_rejected() {
    let e = err(&MINIMAL.replace(
        "bodies: [(shape: Sphere(radius: 0.5), position: (0, 1, 0))]",
        "bodies: [(name: \"a_1\", shape: Sphere(radius: 0.5), position: (5, 1, 0)), (name: \"a\", shape: Sphere(radius: 0.1), position: (0, 1, 0), repeat: Row(count: 3, spacing: (1, 0, 0)))]",
    ));
    assert!(e.contains("name \"a_1\" is used twice"), "{e}");
}

#[test]
fn bad_colour_says_the_format() {
    let e = err(&with_body(
        "(shape: Sphere(radius: 0.5), position: (0, 1, 0), colour: \"red\")",
    ));
    assert!(
        e.contains("bodies[0].colour must be a colour written \"#rrggbb\""),
        "{e}"
    );
}

#[test]
fn empty_and_binary_files_are_errors() {
    assert!(matches!(
        Scene::parse("", "e.ron"),
        Err(SceneError::Empty { .. })
    ));
    assert!(matches!(
        Scene::parse("  \n\t", "e.ron"),
        Err(SceneError::Empty { .. })
    ));
    assert!(matches!(
        Scene::parse("(\0\u{1}", "e.ron"),
        Err(SceneError::NotText { .. })
    ));
    let dir = std::env::temp_dir().join(format!("foresight-junk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.ron");
    std::fs::write(&junk, [0xffu8, 0xfe, 0x00, 0x13, 0x80, 0x81]).unwrap();
    let e = Scene::load(&junk).unwrap_err().to_string();
    assert!(e.contains("junk.ron: not a text file"), "{e}");
    let e = Scene::load(dir.join("missing.ron"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.ron: cannot read: no such file"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_body_is_an_error() {
    let e = err(&MINIMAL.replace(
        "bodies: [(shape: Sphere(radius: 0.5), position: (0, 1, 0))]",
        "bodies: []",
    ));
    assert!(e.contains("bodies is empty"), "{e}");
}

#[test]
fn errors_are_one_line() {
    for text in [
        "",
        "(",
        "((((",
        "(name: 3)",
        &with_body("(shape: Sphere(radius: -1), position: (0,1,0))"),
    ] {
        let e = Scene::parse(text, "x.ron").expect_err(text).to_string();
        assert!(!e.contains('\n'), "multi-line error: {e}");
        assert!(e.starts_with("x.ron"), "the error must name the file: {e}");
    }
}

/// Every prefix and many single-byte corruptions of every shipped scene parse or fail
/// cleanly: the parser and validator never panic.
#[test]
fn corrupted_scenes_never_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/scenes");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let bytes = text.as_bytes();
        for cut in (0..bytes.len()).step_by(7) {
            let _ = Scene::parse(&String::from_utf8_lossy(&bytes[..cut]), "cut.ron");
            checked += 1;
        }
        for (i, replacement) in (0..bytes.len()).step_by(11).zip(
            [b'-', b'0', b'(', b')', b',', b'.', b'9', b'"']
                .iter()
                .cycle(),
        ) {
            let mut b = bytes.to_vec();
            b[i] = *replacement;
            if let Ok(s) = Scene::parse(&String::from_utf8_lossy(&b), "flip.ron") {
                // Anything that validates must also sample and build without panicking.
                if s.body_count() <= 300
                    && let Ok(inst) = s.sample(1)
                {
                    let mut w = foresight_sim::World::new(&inst);
                    w.step();
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} variants checked");
}

//! The `foresight` command as a user meets it: exit codes, one-line errors on bad input,
//! and byte-identical output for the same seed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn foresight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_foresight"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run foresight")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("foresight-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn scene_files() -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes"))
            .unwrap()
            .map(|e| format!("assets/scenes/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
    v.sort();
    v
}

/// Asserts exit code 2 and exactly one stderr line that contains each of `needles`.
fn assert_bad_input(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {:?}", lines[0]);
    }
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn check_passes_every_shipped_scene() {
    let files = scene_files();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let o = foresight(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).matches(": ok").count(),
        files.len()
    );
}

#[test]
fn scenes_lists_every_scene() {
    let o = foresight(&["scenes"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("pile.ron") && out.contains("216"), "{out}");
    assert_eq!(out.lines().count(), scene_files().len() + 1);
}

#[test]
fn malformed_files_exit_2_with_one_line_naming_file_and_problem() {
    let dir = temp_dir("bad");
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/drop.ron"),
    )
    .unwrap();
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "syntax.ron",
            good.replacen("position: (-1.5,", "position: (-1.5,,", 1)
                .into_bytes(),
            vec!["syntax.ron:"],
        ),
        (
            "unknown.ron",
            good.replacen("role: Patient,", "role: Patient, mass: 2.0,", 1)
                .into_bytes(),
            vec!["unknown.ron:", "mass"],
        ),
        (
            "negative.ron",
            good.replacen("radius: 0.3", "radius: -1.0", 1).into_bytes(),
            vec![
                "negative.ron",
                "bodies[0].shape.radius must be > 0 (got -1)",
            ],
        ),
        (
            "nan.ron",
            good.replacen("density: 1000", "", 1)
                .replacen("radius: 0.3", "radius: NaN", 1)
                .into_bytes(),
            vec!["nan.ron", "bodies[0].shape.radius", "finite"],
        ),
        (
            "missing_body.ron",
            good.replacen("a: \"ball\"", "a: \"balll\"", 1).into_bytes(),
            vec!["missing_body.ron", "question.a", "\"balll\""],
        ),
        ("empty.ron", Vec::new(), vec!["empty.ron", "empty"]),
        (
            "junk.ron",
            vec![0x7f, 0x45, 0x4c, 0x46, 0xff, 0x00, 0x01, 0x02],
            vec!["junk.ron", "not a text file"],
        ),
    ];
    for (name, bytes, needles) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let p = path.to_string_lossy().into_owned();
        assert_bad_input(&foresight(&["check", &p]), needles);
        let out = dir.join("out.json").to_string_lossy().into_owned();
        assert_bad_input(
            &foresight(&["simulate", "--scene", &p, "--out", &out]),
            needles,
        );
        assert!(
            !dir.join("out.json").exists(),
            "no output may be written for {name}"
        );
    }
    let missing = dir.join("nope.ron").to_string_lossy().into_owned();
    assert_bad_input(
        &foresight(&["simulate", "--scene", &missing, "--out", "x.json"]),
        &["nope.ron", "no such file"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    assert_bad_input(&foresight(&["simulate", "--bogus"]), &["--bogus"]);
    assert_bad_input(&foresight(&["frobnicate"]), &["frobnicate"]);
    assert_bad_input(
        &foresight(&[
            "simulate",
            "--scene",
            "assets/scenes/drop.ron",
            "--seed",
            "-3",
            "--out",
            "x.json",
        ]),
        &["-3"],
    );
    assert_bad_input(
        &foresight(&[
            "simulate",
            "--scene",
            "assets/scenes/drop.ron",
            "--out",
            "/no/such/dir/x.json",
        ]),
        &["/no/such/dir", "does not exist"],
    );
}

#[test]
fn simulate_is_byte_identical_for_the_same_seed_and_differs_for_another() {
    let dir = temp_dir("sim");
    let run = |seed: &str, name: &str, format: &str| {
        let out = dir.join(name);
        let o = foresight(&[
            "simulate",
            "--scene",
            "assets/scenes/tower.ron",
            "--seed",
            seed,
            "--steps",
            "120",
            "--out",
            out.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(out).unwrap()
    };
    assert_eq!(run("4", "a.json", "json"), run("4", "b.json", "json"));
    assert_eq!(run("4", "a.bin", "bin"), run("4", "b.bin", "bin"));
    assert_ne!(run("4", "a.json", "json"), run("5", "c.json", "json"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_passes_every_planning_scene() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plan-scenes");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            format!(
                "assets/plan-scenes/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let o = foresight(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Guards the planning commands end to end with the oracle imagination (no model file):
/// a plan names its push and both outcomes, plan-eval writes the summary fields the README
/// quotes, and bad requests are one-line errors.
#[test]
fn plan_and_plan_eval_report_what_they_promise() {
    let o = foresight(&[
        "plan",
        "--scene",
        "assets/plan-scenes/cup.ron",
        "--seed",
        "4",
        "--imagine",
        "rapier",
        "--candidates",
        "32",
        "--rounds",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("push: ball, impulse"), "{out}");
    assert!(
        out.contains("imagined: reached") && out.contains("real:     reached"),
        "{out}"
    );
    let dir = temp_dir("plan-eval");
    let json = dir.join("plan.json");
    let png = dir.join("plan.png");
    let o = foresight(&[
        "plan-eval",
        "--seeds",
        "1",
        "--imagine",
        "rapier",
        "--imagine",
        "constant-velocity",
        "--random",
        "2",
        "--candidates",
        "16",
        "--rounds",
        "2",
        "--out",
        json.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let summary = &report["summary"];
    for key in ["success_rapier", "success_random", "success"] {
        assert!(!summary[key].is_null(), "summary lacks {key}: {summary}");
    }
    assert!(
        summary["success"]["constant-velocity"].is_number(),
        "{summary}"
    );
    assert_eq!(report["runs"].as_array().unwrap().len(), 4 * (2 + 2));
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);

    assert_bad_input(
        &foresight(&[
            "plan",
            "--scene",
            "assets/scenes/drop.ron",
            "--imagine",
            "rapier",
        ]),
        &["drop.ron", "no goal"],
    );
    assert_bad_input(
        &foresight(&["plan-eval", "--seeds", "0", "--out", json.to_str().unwrap()]),
        &["--seeds"],
    );
    assert_bad_input(
        &foresight(&[
            "plan-eval",
            "--scenes",
            "assets/scenes",
            "--imagine",
            "rapier",
            "--out",
            "/nonexistent-dir/x.json",
            "--seeds",
            "1",
            "--candidates",
            "4",
            "--rounds",
            "1",
            "--random",
            "1",
        ]),
        &["/nonexistent-dir/x.json", "does not exist"],
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Guards the hostile runs: a scene whose bodies start inside each other (a grid with zero
/// spacing: 4913 spheres at one point) used to run `simulate` for over ten minutes and
/// 2.3 GB; now every command that runs a scene refuses it first. Absurd sizes, empty runs
/// and unusable output paths are one-line errors, and a failed run leaves an existing
/// output file as it was.
#[test]
fn hostile_runs_are_refused_before_any_work() {
    let dir = temp_dir("hostile");
    let grid = dir.join("grid.ron");
    std::fs::write(
        &grid,
        r#"(
    name: "grid",
    description: "A grid with zero spacing.",
    statics: [Ground(y: 0.0)],
    bodies: [(shape: Sphere(radius: 0.1), position: (0.0, 1.0, 0.0),
              repeat: Grid(count: (17, 17, 17), spacing: (0.0, 0.0, 0.0)))],
)"#,
    )
    .unwrap();
    let g = grid.to_string_lossy().into_owned();
    let out = dir.join("out.json");
    let o = out.to_string_lossy().into_owned();
    let started = std::time::Instant::now();
    for args in [
        vec!["check", g.as_str()],
        vec!["simulate", "--scene", &g, "--steps", "60", "--out", &o],
    ] {
        assert_bad_input(&foresight(&args), &["grid.ron", "inside each other"]);
    }
    let scenes = dir.join("scenes");
    std::fs::create_dir_all(&scenes).unwrap();
    std::fs::copy(&grid, scenes.join("grid.ron")).unwrap();
    let data = dir.join("data").to_string_lossy().into_owned();
    let s = scenes.to_string_lossy().into_owned();
    assert_bad_input(
        &foresight(&[
            "dataset",
            "--scenes",
            &s,
            "--episodes",
            "2",
            "--seed",
            "1",
            "--out",
            &data,
        ]),
        &["grid", "inside each other"],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "refusing took {:?}",
        started.elapsed()
    );

    let drop = "assets/scenes/drop.ron";
    let pile = "assets/scenes/pile.ron";
    for (args, needles) in [
        (
            vec![
                "simulate", "--scene", drop, "--steps", "10000001", "--out", &o,
            ],
            vec!["--steps"],
        ),
        (
            vec![
                "simulate", "--scene", pile, "--steps", "9000000", "--out", &o,
            ],
            vec!["--steps", "states"],
        ),
        (
            vec!["simulate", "--scene", drop, "--steps", "0", "--out", &o],
            vec!["--steps"],
        ),
        (
            vec![
                "dataset",
                "--scenes",
                "assets/scenes",
                "--episodes",
                "0",
                "--seed",
                "1",
                "--out",
                &data,
            ],
            vec!["--episodes"],
        ),
        (
            vec!["eval", "--no-model", "--seeds", "0", "--out", &o],
            vec!["--seeds"],
        ),
        (
            vec!["simulate", "--scene", drop, "--out", "Cargo.toml/x.json"],
            vec!["Cargo.toml", "does not exist"],
        ),
    ] {
        assert_bad_input(&foresight(&args), &needles);
    }
    for share in ["1.5", "NaN"] {
        let args = [
            "dataset",
            "--scenes",
            "assets/scenes",
            "--episodes",
            "1",
            "--vary",
            share,
            "--out",
            &data,
        ];
        assert_bad_input(&foresight(&args), &["--vary", "0 to 1"]);
    }
    assert!(!out.exists(), "nothing may be written by a refused run");

    // An existing output survives a failed run untouched.
    std::fs::write(&out, "keep me").unwrap();
    assert_bad_input(
        &foresight(&["simulate", "--scene", &g, "--out", &o]),
        &["grid.ron"],
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    // A good run replaces it whole, leaving no temporary file behind.
    let ok = foresight(&["simulate", "--scene", drop, "--steps", "5", "--out", &o]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(std::fs::read_to_string(&out).unwrap().starts_with('{'));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A report written over the model's own sidecar would lose the model (its
/// normalization lives there): `eval` and `plan-eval` refuse before any work.
#[test]
fn a_report_never_overwrites_the_models_own_files() {
    let dir = temp_dir("spare");
    let weights = dir.join("m.safetensors");
    let sidecar = dir.join("m.json");
    std::fs::write(&weights, "weights").unwrap();
    std::fs::write(&sidecar, "sidecar").unwrap();
    let (w, j) = (
        weights.to_string_lossy().into_owned(),
        sidecar.to_string_lossy().into_owned(),
    );
    // The same file by another spelling is caught too.
    let dotted = dir.join(".").join("m.json").to_string_lossy().into_owned();
    for args in [
        vec!["eval", "--model", &w, "--seeds", "1", "--out", &j],
        vec!["eval", "--model", &w, "--seeds", "1", "--out", &dotted],
        vec!["eval", "--model", &w, "--seeds", "1", "--out", &w],
        vec!["plan-eval", "--model", &w, "--seeds", "1", "--out", &j],
    ] {
        assert_bad_input(
            &foresight(&args),
            &["m.safetensors", "would be overwritten", "m-eval.json"],
        );
    }
    // A plot over the sidecar is refused too, with a plot's name suggested.
    let o = dir.join("report.json").to_string_lossy().into_owned();
    assert_bad_input(
        &foresight(&[
            "eval", "--model", &w, "--seeds", "1", "--out", &o, "--plot", &j,
        ]),
        &["m.json", "would be overwritten", "m-eval.png"],
    );
    assert_eq!(std::fs::read_to_string(&sidecar).unwrap(), "sidecar");
    assert_eq!(std::fs::read_to_string(&weights).unwrap(), "weights");
    let _ = std::fs::remove_dir_all(dir);
}

/// Guards "never half-written" when the disk fills: a 64 KB tmpfs (when this machine lets
/// the test mount one; otherwise a target the writer cannot replace) makes `simulate`
/// fail with one line naming the file and exit 1, leaving the old file and no temporary.
#[test]
fn a_full_disk_leaves_the_old_output_and_no_partial_file() {
    let dir = temp_dir("full");
    let tiny = dir.join("tiny");
    std::fs::create_dir_all(&tiny).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&tiny)
        .output()
        .is_ok_and(|o| o.status.success());
    let out = if mounted {
        let out = tiny.join("out.json");
        std::fs::write(&out, "old").unwrap();
        out
    } else {
        // A directory in the way: the temporary file is written, the rename fails.
        let out = tiny.join("out.json");
        std::fs::create_dir_all(out.join("occupied")).unwrap();
        out
    };
    let o = foresight(&[
        "simulate",
        "--scene",
        "assets/scenes/pile.ron",
        "--steps",
        "40",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("out.json"), "{err}");
    if mounted {
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
    } else {
        assert!(out.join("occupied").is_dir());
    }
    let names: Vec<String> = std::fs::read_dir(&tiny)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["out.json".to_string()], "mounted: {mounted}");
    if mounted {
        let _ = Command::new("umount").arg(&tiny).status();
    }
    let _ = std::fs::remove_dir_all(dir);
}

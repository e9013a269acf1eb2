//! What the commands build on: listing scene files, checking them, and writing output
//! files whole or not at all.

use std::path::PathBuf;

use foresight_sim::check::{SceneList, check_file, check_files};
use foresight_sim::{FileError, SceneError, check_out_dirs, scene_files, write_json};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("foresight-sim-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const OVERLAP: &str = r#"(
    name: "overlap", description: "Two balls in one place.",
    statics: [Ground(name: "floor", y: 0.0)],
    bodies: [
        (name: "a", shape: Sphere(radius: 0.5), position: (0.0, 1.0, 0.0)),
        (shape: Sphere(radius: 0.5), position: (0.2, 1.0, 0.0)),
    ],
)"#;

#[test]
fn scene_files_are_the_sorted_ron_files_and_an_empty_directory_is_an_error() {
    let dir = temp_dir("list");
    for name in ["b.ron", "a.ron", "notes.txt"] {
        std::fs::write(dir.join(name), "").unwrap();
    }
    let files = scene_files(&dir).unwrap();
    assert_eq!(files, vec![dir.join("a.ron"), dir.join("b.ron")]);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = scene_files(&empty).unwrap_err().to_string();
    assert!(e.ends_with("empty: no .ron scene files here"), "{e}");
    let e = scene_files(&dir.join("missing")).unwrap_err().to_string();
    assert!(e.contains("missing: cannot list scenes"), "{e}");

    let list = SceneList::load(&dir).unwrap();
    assert!(list.rows.is_empty());
    assert_eq!(list.errors.len(), 2);
    let problem = list.problem().unwrap();
    assert!(problem.starts_with("2 of 2 scene files in "), "{problem}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_shipped_scenes_list_and_check() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/scenes"));
    let list = SceneList::load(&dir).unwrap();
    assert!(list.errors.is_empty() && list.problem().is_none());
    let table = list.to_string();
    assert_eq!(table.lines().count(), list.rows.len() + 1);
    assert!(
        table.starts_with("file") && table.contains("pile.ron"),
        "{table}"
    );
    let report = check_files(&scene_files(&dir).unwrap());
    assert!(report.errors.is_empty() && report.problem().is_none());
    assert_eq!(report.to_string().matches(": ok").count(), list.rows.len());
}

#[test]
fn a_check_names_the_two_objects_that_start_inside_each_other() {
    let dir = temp_dir("overlap");
    let path = dir.join("overlap.ron");
    std::fs::write(&path, OVERLAP).unwrap();
    let e = check_file(&path).unwrap_err();
    assert!(matches!(e, SceneError::Invalid { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("overlap.ron: body 0 (a) and body 1 start ")
            && text.ends_with("m inside each other (seed 0); move them apart"),
        "{text}"
    );
    let report = check_files(std::slice::from_ref(&path));
    assert_eq!(report.problem().as_deref(), Some(""));
    let report = check_files(&[path.clone(), path]);
    assert_eq!(
        report.problem().as_deref(),
        Some("2 of 2 files failed the check")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn outputs_need_their_directory_and_are_written_whole() {
    let dir = temp_dir("write");
    let out = dir.join("report.json");
    check_out_dirs([&out]).unwrap();
    let missing = dir.join("no/such/x.json");
    let e = check_out_dirs([&out, &missing]).unwrap_err();
    assert!(matches!(e, FileError::NoDir { .. }));
    assert!(e.to_string().ends_with("does not exist; create it first"));
    write_json(&out, &vec![1, 2, 3]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "[\n  1,\n  2,\n  3\n]\n"
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file is left behind");
    assert!(matches!(
        write_json(&missing, &1),
        Err(FileError::Write { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

//! What `foresight scenes` and `foresight check` report: the table of a directory's
//! scenes, and whether scene files load, sample and start with nothing inside anything
//! else.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::SceneError;
use crate::files::scene_files;
use crate::instance::{ObjectRef, SceneInstance};
use crate::scene::Scene;
use crate::world::World;

/// Loads, samples (seed 0) and builds a scene, and checks that nothing starts inside
/// anything else; the error is one line naming the file (and the two objects).
pub fn check_file(path: &Path) -> Result<(), SceneError> {
    let instance = SceneInstance::load(path, 0)?;
    check_start(
        &instance,
        &World::new(&instance),
        &path.display().to_string(),
    )
}

/// Deepest overlap (m) two objects may start with: deeper, and the solver would spend
/// its time (and memory) pushing them apart, as a grid with zero spacing does.
pub const START_OVERLAP: f32 = 0.01;

/// Whether an instance (built into `world`) starts with nothing inside anything else.
/// Every command that runs a scene (check, simulate, dataset, the app) asks this first;
/// the error is one line naming `file`, the two objects and the seed.
pub fn check_start(instance: &SceneInstance, world: &World, file: &str) -> Result<(), SceneError> {
    if let Some((a, b, depth)) = world.overlaps(START_OVERLAP).first() {
        return Err(SceneError::Invalid {
            file: file.to_string(),
            path: format!("{} and {}", describe(instance, *a), describe(instance, *b)),
            problem: format!(
                "start {depth:.3} m inside each other (seed {}); move them apart",
                instance.seed
            ),
        });
    }
    Ok(())
}

/// The check of several scene files ([`check_file`]): the files that passed, the errors of
/// those that did not. Displays as a line `FILE: ok` per file that passed.
#[derive(Debug)]
pub struct CheckReport {
    /// The files that passed.
    pub ok: Vec<PathBuf>,
    /// The errors of the files that did not.
    pub errors: Vec<SceneError>,
}

/// Checks every file ([`check_file`]).
pub fn check_files(files: &[PathBuf]) -> CheckReport {
    let mut report = CheckReport {
        ok: Vec::new(),
        errors: Vec::new(),
    };
    for f in files {
        match check_file(f) {
            Ok(()) => report.ok.push(f.clone()),
            Err(e) => report.errors.push(e),
        }
    }
    report
}

impl CheckReport {
    /// What to say after the errors when any file failed: `N of M files failed the
    /// check`, or nothing more (an empty line) when the one file checked failed.
    pub fn problem(&self) -> Option<String> {
        match (self.errors.len(), self.ok.len()) {
            (0, _) => None,
            (1, 0) => Some(String::new()),
            (bad, ok) => Some(format!("{bad} of {} files failed the check", bad + ok)),
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .ok
            .iter()
            .map(|p| format!("{}: ok", p.display()))
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}

/// An object as a scene file places it: `body 3 (ball)`, `statics[0] (table)`.
fn describe(instance: &SceneInstance, o: ObjectRef) -> String {
    let (place, name) = match o {
        ObjectRef::Body(i) => (format!("body {i}"), &instance.bodies[i].name),
        ObjectRef::Static(i) => (format!("statics[{i}]"), &instance.statics[i].name),
    };
    match name {
        Some(n) => format!("{place} ({n})"),
        None => place,
    }
}

/// One scene of a [`SceneList`].
#[derive(Debug, Clone)]
pub struct SceneRow {
    /// File name.
    pub file: String,
    /// Scene name.
    pub name: String,
    /// Bodies, repeats expanded.
    pub bodies: u64,
    /// The scene's one-line description.
    pub description: String,
}

/// The scene files of a directory: a row for each that loads, the error of each that
/// does not. Displays as a table (file, name, bodies, description).
#[derive(Debug)]
pub struct SceneList {
    /// The directory.
    pub dir: PathBuf,
    /// The scenes that load, by file name.
    pub rows: Vec<SceneRow>,
    /// The files that do not load.
    pub errors: Vec<SceneError>,
}

impl SceneList {
    /// Lists and loads the `.ron` files of `dir`; fails only when there are none.
    pub fn load(dir: &Path) -> Result<SceneList, SceneError> {
        let mut list = SceneList {
            dir: dir.to_path_buf(),
            rows: Vec::new(),
            errors: Vec::new(),
        };
        for f in scene_files(dir)? {
            match Scene::load(&f) {
                Ok(s) => list.rows.push(SceneRow {
                    file: f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    name: s.name.clone(),
                    bodies: s.body_count(),
                    description: s.description.clone(),
                }),
                Err(e) => list.errors.push(e),
            }
        }
        Ok(list)
    }

    /// What is wrong with the directory, when some of its files do not load.
    pub fn problem(&self) -> Option<String> {
        (!self.errors.is_empty()).then(|| {
            format!(
                "{} of {} scene files in {} are invalid (errors above)",
                self.errors.len(),
                self.errors.len() + self.rows.len(),
                self.dir.display()
            )
        })
    }
}

impl fmt::Display for SceneList {
    /// A header and a row per scene, columns as wide as their longest entry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = |col: fn(&SceneRow) -> usize| self.rows.iter().map(col).max().unwrap_or(0);
        let w0 = width(|r| r.file.len()).max(4);
        let w1 = width(|r| r.name.len()).max(4);
        write!(
            f,
            "{:w0$}  {:w1$}  {:>6}  description",
            "file", "name", "bodies"
        )?;
        for r in &self.rows {
            write!(
                f,
                "\n{:w0$}  {:w1$}  {:>6}  {}",
                r.file, r.name, r.bodies, r.description
            )?;
        }
        Ok(())
    }
}

//! Files as the commands and the viewer meet them: the scene files of a directory, a
//! scene file's name, and writing a file whole or not at all.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{FileError, SceneError};

/// The `.ron` files of a directory, sorted by name; an error when the directory cannot
/// be listed or holds none.
pub fn scene_files(dir: &Path) -> Result<Vec<PathBuf>, SceneError> {
    let problem = |problem: String| SceneError::Dir {
        dir: dir.display().to_string(),
        problem,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| problem(format!("cannot list scenes: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(problem("no .ron scene files here".into()));
    }
    Ok(files)
}

/// Whether a file's name without its extension (a scene file's name) is one of `names`.
pub fn stem_in(path: &Path, names: &[String]) -> bool {
    path.file_stem()
        .is_some_and(|s| names.iter().any(|n| s.to_string_lossy() == *n))
}

/// Fails before any work when the directory an output file goes in does not exist.
pub fn check_out_dirs<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Result<(), FileError> {
    for path in paths {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(FileError::NoDir {
                file: path.display().to_string(),
                dir: dir.display().to_string(),
            });
        }
    }
    Ok(())
}

/// Writes a file whole or not at all: the bytes go to a temporary file beside it
/// (`.NAME.partial`), are synced, and the temporary file is renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            FileError::Write {
                file: path.display().to_string(),
                reason: e.to_string(),
            }
        })
}

/// Writes `value` as pretty JSON and a newline, whole or not at all ([`write_atomic`]).
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), FileError> {
    let json = serde_json::to_string_pretty(value).map_err(|e| FileError::Write {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    write_atomic(path, (json + "\n").as_bytes())
}

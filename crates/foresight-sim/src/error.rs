//! Errors of the simulation crate. Each message is one line that names the file, the
//! place in it and, where there is one, the fix.

use thiserror::Error;

/// A scene file could not be read, parsed or validated.
#[derive(Debug, Error)]
pub enum SceneError {
    /// The file could not be read (missing, a directory, no permission).
    #[error("{file}: cannot read: {reason}")]
    Io {
        /// The file.
        file: String,
        /// Why, in words.
        reason: String,
    },
    /// The file is empty or only whitespace.
    #[error(
        "{file}: file is empty; a scene starts with `(name: \"...\", description: \"...\", bodies: [...])`"
    )]
    Empty {
        /// The file.
        file: String,
    },
    /// The file is not UTF-8 text (binary junk, a wrong file).
    #[error(
        "{file}: not a text file (invalid or binary byte at offset {offset}); a scene file is RON text"
    )]
    NotText {
        /// The file.
        file: String,
        /// Byte offset of the first bad byte.
        offset: usize,
    },
    /// RON syntax or structure error (unknown field, wrong type, missing field).
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// The file parsed but a value is not acceptable.
    #[error("{file}: {path} {problem}")]
    Invalid {
        /// The file.
        file: String,
        /// Field path, like `bodies[3].shape.radius`.
        path: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A directory of scene files cannot be listed or holds none.
    #[error("{dir}: {problem}")]
    Dir {
        /// The directory.
        dir: String,
        /// What is wrong.
        problem: String,
    },
    /// The scene loaded but a variant of it could not be drawn.
    #[error("{file}: {source}")]
    Sample {
        /// The file.
        file: String,
        /// Why the variant could not be drawn.
        source: SimError,
    },
}

/// A simulation request that cannot be carried out.
#[derive(Debug, Error)]
pub enum SimError {
    /// A body index beyond the scene's bodies.
    #[error("no body {index}: the scene has {count} bodies")]
    NoSuchBody {
        /// The index asked for.
        index: usize,
        /// How many bodies there are.
        count: usize,
    },
    /// A sampled value is unusable (for example a hinge axis that came out as zero).
    #[error("{scene}: {path} {problem}")]
    BadSample {
        /// Scene name.
        scene: String,
        /// Field path.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// A snapshot from a different world was restored.
    #[error(
        "snapshot has {got} bodies but this world has {expected}; restore snapshots into the world that took them"
    )]
    SnapshotMismatch {
        /// Bodies in the world.
        expected: usize,
        /// Bodies in the snapshot.
        got: usize,
    },
    /// A list of body states of another length than the world's bodies.
    #[error("{got} body states given for a world of {expected} bodies; give one state per body")]
    StateMismatch {
        /// Bodies in the world.
        expected: usize,
        /// States given.
        got: usize,
    },
}

/// An output file cannot be written.
#[derive(Debug, Error)]
pub enum FileError {
    /// The directory it goes in does not exist.
    #[error("{file}: directory {dir} does not exist; create it first")]
    NoDir {
        /// The file.
        file: String,
        /// Its directory.
        dir: String,
    },
    /// Writing failed.
    #[error("{file}: cannot write: {reason}")]
    Write {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
}

/// A trajectory file could not be written or read.
#[derive(Debug, Error)]
pub enum TrajectoryError {
    /// Writing the file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// Reading the file (or encoding it) failed.
    #[error("{file}: {reason}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// The file is not a trajectory, or is corrupt or truncated.
    #[error(
        "{file}: not a readable trajectory ({reason}); write it again with `foresight simulate`"
    )]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The file is a trajectory of another format version.
    #[error(
        "{file}: trajectory format version {got}, this build reads version {expected}; simulate it again"
    )]
    Version {
        /// The file.
        file: String,
        /// Version in the file.
        got: u32,
        /// Version this build reads.
        expected: u32,
    },
}

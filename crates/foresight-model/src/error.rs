//! Errors of the model crate; each message is one line naming the file and the fix.

use thiserror::Error;

/// Anything that can go wrong loading, training or running a model.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A model file could not be read or written.
    #[error("{file}: {reason}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// The model sidecar (JSON) is missing, corrupt or of another version.
    #[error("{file}: {reason}; retrain with `foresight train` or restore the file")]
    Sidecar {
        /// The sidecar file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The weights file is corrupt, truncated, or does not match its sidecar.
    #[error(
        "{file}: {reason}; the weights do not belong to this sidecar, retrain with `foresight train`"
    )]
    Weights {
        /// The weights file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A dataset directory is missing, empty or corrupt.
    #[error("{dir}: {reason}")]
    Dataset {
        /// The dataset directory or file.
        dir: String,
        /// What is wrong.
        reason: String,
    },
    /// Settings out of range, or a selection that leaves nothing to do.
    #[error("{0}")]
    Spec(String),
    /// The history or actions given to a predictor do not fit the scene.
    #[error("bad forecast request: {0}")]
    Request(String),
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
    /// A scene could not be loaded.
    #[error(transparent)]
    Scene(#[from] foresight_sim::SceneError),
    /// A scene could not be sampled.
    #[error(transparent)]
    Sim(#[from] foresight_sim::SimError),
    /// A trajectory could not be read or written.
    #[error(transparent)]
    Trajectory(#[from] foresight_sim::TrajectoryError),
}

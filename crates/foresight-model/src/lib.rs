//! Foresight's world model: the [`Predictor`] trait, baselines, the learned graph network
//! (candle), datasets, training, evaluation, plots and benchmarks. Headless: no bevy.

pub mod bench;
pub mod clock;
pub mod context;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod features;
pub mod infer;
pub mod joints;
pub mod learned;
pub mod neighbours;
pub mod net;
pub mod plot;
pub mod predictor;
pub mod references;
pub mod statics;
pub mod step;
pub mod train;

pub use context::Context;
pub use error::ModelError;
pub use features::FeatureConfig;
pub use learned::LearnedModel;
pub use predictor::{Ballistic, ConstantVelocity, Forecast, Predictor};
pub use references::{BallisticStop, Rapier, RapierPerturbed};

//! Foresight's simulation core: scene files (RON), seeded variants, the rapier3d world,
//! and recorded trajectories. It knows nothing of models or rendering.
//!
//! ```no_run
//! use foresight_sim::{Scene, World};
//! let scene = Scene::load("assets/scenes/drop.ron")?;
//! let instance = scene.sample(7)?;
//! let mut world = World::new(&instance);
//! let trajectory = world.record(instance.steps);
//! println!("{:?}", trajectory.frames.last().unwrap()[0].position);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bench;
pub mod check;
pub mod error;
pub mod files;
pub mod instance;
pub mod num;
pub mod scene;
pub mod stats;
pub mod trajectory;
pub mod world;

pub use error::{FileError, SceneError, SimError, TrajectoryError};
pub use files::{check_out_dirs, scene_files, stem_in, write_atomic, write_json};
pub use instance::{
    ActionSpace, BodyDesc, Goal, GoalKind, Joint, JointKind, ObjectRef, Pose, Push, Question,
    SceneInstance, Shape, StaticBody, pushes_from,
};
pub use num::Num;
pub use scene::Scene;
pub use trajectory::{BodyState, Encoding, Outcome, Progress, Trajectory, TrajectorySummary};
pub use world::{SUBSTEPS, World};

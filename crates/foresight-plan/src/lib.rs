//! Acting on the world model: planning a push that reaches a scene's goal by imagining
//! the futures of candidate pushes with any [`foresight_model::Predictor`] (the learned
//! model, a baseline, or rapier itself as the oracle), then checking the chosen push
//! against the true simulator. Headless: no bevy.
//!
//! ```no_run
//! use foresight_plan::{PlanSpec, eval::{start_problem, truth_with}, plan};
//! let scene = foresight_sim::Scene::load("assets/plan-scenes/pot.ron")?;
//! let instance = scene.sample(7)?;
//! let (ctx, _) = truth_with(&instance, None, 0);
//! let history = vec![foresight_sim::World::new(&instance).states()];
//! let problem = start_problem(&instance, &ctx, &history)?;
//! let p = plan(&foresight_model::Rapier, &problem, &PlanSpec::default())?;
//! println!("push {:?}: imagined {:?}", p.best.push, p.best.score);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod eval;
pub mod goal;
pub mod planner;

pub use goal::{Score, describe, score};
pub use planner::{
    Candidate, MAX_CANDIDATES, MAX_ROUNDS, Plan, PlanError, PlanSpec, Problem, plan, random_push,
};

//! Forecasts, plans and model loading off the main thread, as tasks on bevy's
//! [`AsyncComputeTaskPool`], polled once a frame, so the frame rate holds while a forecast
//! or a plan is computed. One forecast per predictor is in flight at a time; a newer
//! request of a kind waits (the newest of each kind) and goes out when that one is
//! answered, so nothing asked for (a push) is lost. Stale answers are dropped by
//! generation by the caller.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bevy::prelude::*;
use bevy::tasks::futures::check_ready;
use bevy::tasks::{AsyncComputeTaskPool, Task, TaskPool};
use foresight_model::{
    Ballistic, BallisticStop, ConstantVelocity, Context, LearnedModel, Predictor,
};
use foresight_sim::{BodyState, Push};

use crate::planning::{PlanAnswer, PlanRequest};
use crate::session::{PredictorKind, Track};

/// One forecast to make.
pub struct Request {
    /// Who forecasts.
    pub kind: PredictorKind,
    /// Session generation it belongs to.
    pub generation: u64,
    /// Tick of the last history frame.
    pub start: u64,
    /// The scene.
    pub ctx: Arc<Context>,
    /// Recent truth, oldest first, ending at `start`.
    pub history: Vec<Vec<BodyState>>,
    /// Pushes from `start` on, relative ticks.
    pub actions: Vec<Push>,
    /// Ticks to forecast.
    pub horizon: usize,
    /// A preview of a push being aimed (see [`Track::preview`]).
    pub preview: bool,
    /// The forecast from tick 0 that answers the outcome question: in flight and queued
    /// apart from the standing forecasts, so a newer standing request cannot replace it.
    pub outcome: bool,
}

type Answer<T> = Result<T, String>;

/// A forecast in flight: its predictor, and whether it is an outcome forecast.
type ForecastKey = (PredictorKind, bool);

/// A finished forecast: whether it is an outcome forecast, and the track.
type TrackAnswer = Answer<(bool, Track)>;

/// The background work of the app and its answers.
#[derive(Resource)]
pub struct Forecaster {
    /// The model files: `--model` and the second one (`--model2` or picked in the panel).
    models: [Option<Arc<LearnedModel>>; 2],
    /// File name of the second model, for the legend.
    model2_name: Option<String>,
    /// In flight, keyed by (kind, outcome forecast).
    forecasts: Vec<(ForecastKey, Task<TrackAnswer>)>,
    queued: Vec<Request>,
    plan: Option<Task<Answer<Box<PlanAnswer>>>>,
    loading: Option<Task<Answer<(String, LearnedModel)>>>,
}

/// Runs `f` and turns a panic into an error, so a failing predictor cannot take the app
/// down with it.
fn guarded<T>(what: &str, f: impl FnOnce() -> Answer<T>) -> Answer<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(format!("{what} failed (a bug)")))
}

/// A model file's name, for the legend.
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

impl Forecaster {
    /// What the app tells people when the learned model forecasts the scene on its own
    /// clock (another tick, or gravity of another strength or direction than it learned).
    pub fn clock_note(&self, i: &foresight_sim::SceneInstance) -> Option<String> {
        let m = self.models[0].as_ref()?;
        foresight_model::clock::Clock::describe(
            i.dt,
            i.gravity,
            &i.bodies,
            m.tick(),
            m.gravity(),
            m.sizes(),
        )
    }

    /// Ready to work; `model` answers for [`PredictorKind::Learned`] and `model2` (with
    /// its file name) for [`PredictorKind::Learned2`]; the baselines always answer. In
    /// the app, bevy's task-pool plugin has sized the pool before this is called;
    /// elsewhere (tests) a default pool is made.
    pub fn start(
        model: Option<LearnedModel>,
        model2: Option<(String, LearnedModel)>,
    ) -> Forecaster {
        AsyncComputeTaskPool::get_or_init(TaskPool::default);
        let (model2_name, model2) = match model2 {
            Some((n, m)) => (Some(n), Some(Arc::new(m))),
            None => (None, None),
        };
        Forecaster {
            models: [model.map(Arc::new), model2],
            model2_name,
            forecasts: Vec::new(),
            queued: Vec::new(),
            plan: None,
            loading: None,
        }
    }

    /// Whether `kind` can forecast (a learned kind needs its model file).
    pub fn available(&self, kind: PredictorKind) -> bool {
        match kind {
            PredictorKind::Learned => self.models[0].is_some(),
            PredictorKind::Learned2 => self.models[1].is_some(),
            _ => true,
        }
    }

    /// File name of the second model, once one is loaded.
    pub fn model2_name(&self) -> Option<&str> {
        self.model2_name.as_deref()
    }

    /// The kinds with a forecast in flight.
    pub fn pending(&self) -> Vec<PredictorKind> {
        self.forecasts.iter().map(|((k, _), _)| *k).collect()
    }

    /// Whether a plan is being made.
    pub fn planning(&self) -> bool {
        self.plan.is_some()
    }

    /// Whether a second model is being loaded.
    pub fn loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Drops every forecast and plan in flight or waiting: the run they were made for
    /// was replaced (dropping a task cancels it).
    pub fn cancel(&mut self) {
        self.forecasts.clear();
        self.queued.clear();
        self.plan = None;
    }

    fn predictor(&self, kind: PredictorKind) -> Option<Arc<dyn Predictor + Send + Sync>> {
        match kind {
            PredictorKind::Learned => self.models[0].clone().map(|m| m as _),
            PredictorKind::Learned2 => self.models[1].clone().map(|m| m as _),
            PredictorKind::ConstantVelocity => Some(Arc::new(ConstantVelocity)),
            PredictorKind::Ballistic => Some(Arc::new(Ballistic)),
            PredictorKind::BallisticStop => Some(Arc::new(BallisticStop)),
        }
    }

    /// Asks for a forecast; while one of this kind (and purpose) is being made, the
    /// request waits (the newest of each) and goes out when that one is answered.
    pub fn request(&mut self, r: Request) {
        let key = (r.kind, r.outcome);
        if self.forecasts.iter().any(|(k, _)| *k == key) {
            self.queued.retain(|q| (q.kind, q.outcome) != key);
            self.queued.push(r);
            return;
        }
        let kind = r.kind;
        let predictor = self.predictor(kind);
        let task = AsyncComputeTaskPool::get().spawn(async move {
            let Some(p) = predictor else {
                return Err(format!("no model file loaded for {}", kind.label()));
            };
            guarded("the forecast", || {
                p.rollout(&r.ctx, &r.history, &r.actions, r.horizon)
                    .map(|states| {
                        let track = Track {
                            kind: r.kind,
                            start: r.start,
                            states,
                            generation: r.generation,
                            preview: r.preview,
                        };
                        (r.outcome, track)
                    })
                    .map_err(|e| e.to_string())
            })
        });
        self.forecasts.push((key, task));
    }

    /// Asks for a plan unless one is already being made; false when one is.
    pub fn request_plan(&mut self, r: PlanRequest) -> bool {
        if self.plan.is_some() {
            return false;
        }
        let predictor = self.predictor(r.kind);
        self.plan = Some(AsyncComputeTaskPool::get().spawn(async move {
            let Some(p) = predictor else {
                return Err(format!("no model file loaded for {}", r.kind.label()));
            };
            guarded("planning", || {
                foresight_plan::plan(p.as_ref(), &r.problem(), &r.spec)
                    .map(|plan| {
                        Box::new(PlanAnswer {
                            generation: r.generation,
                            start: r.start,
                            plan,
                        })
                    })
                    .map_err(|e| e.to_string())
            })
        }));
        true
    }

    /// Loads `path` as the second model in the background (see [`Forecaster::drain_model`]).
    pub fn load_model2(&mut self, path: &Path) {
        let path: PathBuf = path.to_path_buf();
        self.loading = Some(AsyncComputeTaskPool::get().spawn(async move {
            guarded("loading the model", || {
                LearnedModel::load(&path)
                    .map(|m| (file_name(&path), m))
                    .map_err(|e| e.to_string())
            })
        }));
    }

    /// The outcome of a finished [`Forecaster::load_model2`]: the model's file name, or
    /// why it was refused (the model loaded before stays). Forecasts of the second model
    /// still being made with the old weights are dropped.
    pub fn drain_model(&mut self) -> Option<Answer<String>> {
        let done = check_ready(self.loading.as_mut()?)?;
        self.loading = None;
        Some(done.map(|(name, m)| {
            self.models[1] = Some(Arc::new(m));
            self.model2_name = Some(name.clone());
            self.forecasts
                .retain(|((k, _), _)| *k != PredictorKind::Learned2);
            self.queued.retain(|q| q.kind != PredictorKind::Learned2);
            name
        }))
    }

    /// The plan, once it has finished.
    pub fn drain_plan(&mut self) -> Option<Answer<Box<PlanAnswer>>> {
        let done = check_ready(self.plan.as_mut()?)?;
        self.plan = None;
        Some(done)
    }

    /// Forecasts that finished since the last call, each with whether it is the outcome
    /// forecast; requests that waited for their kind's answer go out now.
    pub fn drain(&mut self) -> Vec<Answer<(bool, Track)>> {
        let mut out = Vec::new();
        self.forecasts
            .retain_mut(|(_, task)| match check_ready(task) {
                Some(done) => {
                    out.push(done);
                    false
                }
                None => true,
            });
        let ready: Vec<Request> = {
            let busy: Vec<(PredictorKind, bool)> = self.forecasts.iter().map(|(k, _)| *k).collect();
            let (ready, wait) = std::mem::take(&mut self.queued)
                .into_iter()
                .partition(|q| !busy.contains(&(q.kind, q.outcome)));
            self.queued = wait;
            ready
        };
        for r in ready {
            self.request(r);
        }
        out
    }
}

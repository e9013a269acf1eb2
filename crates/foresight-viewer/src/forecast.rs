//! Forecasts and plans off the main thread: a worker thread owns the predictors and
//! answers requests through channels, so the frame rate holds while a forecast or a plan
//! is computed. The newest forecast request for a predictor wins; stale answers are
//! dropped by generation.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use foresight_model::{Ballistic, ConstantVelocity, Context, LearnedModel, Predictor};
use foresight_sim::{BodyState, Push};

use crate::planning::{PlanAnswer, PlanRequest};
use crate::session::{PredictorKind, Track};

/// Work for the forecast thread.
enum Job {
    Forecast(Request),
    Plan(Box<PlanRequest>),
}

/// What the forecast thread sends back.
enum Answer {
    Forecast(PredictorKind, Result<Track, String>),
    Plan(Result<Box<PlanAnswer>, String>),
}

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
}

/// The forecasting thread's two ends.
#[derive(Resource)]
pub struct Forecaster {
    requests: Sender<Job>,
    answers: Mutex<Receiver<Answer>>,
    plans: Vec<Result<Box<PlanAnswer>, String>>,
    /// A plan has been asked for and not yet answered.
    pub planning: bool,
    /// Whether a learned model is loaded.
    pub has_model: bool,
    /// Requests sent and not yet answered, per kind.
    pub pending: Vec<PredictorKind>,
    /// The newest request of a kind asked for while one of that kind was in flight; sent
    /// as soon as that one is answered, so nothing asked for (a push) is lost.
    queued: Vec<Request>,
}

impl Forecaster {
    /// Starts the worker; without a model only the baselines answer.
    pub fn start(model: Option<LearnedModel>) -> Forecaster {
        let (req_tx, req_rx) = channel::<Job>();
        let (ans_tx, ans_rx) = channel();
        let has_model = model.is_some();
        std::thread::Builder::new()
            .name("forecaster".into())
            .spawn(move || worker(model, req_rx, ans_tx))
            .expect("spawn the forecast thread");
        Forecaster {
            requests: req_tx,
            answers: Mutex::new(ans_rx),
            has_model,
            pending: Vec::new(),
            queued: Vec::new(),
            plans: Vec::new(),
            planning: false,
        }
    }

    /// Asks for a forecast; while one of this kind is being made, the request waits (the
    /// newest of each kind) and goes out when that one is answered.
    pub fn request(&mut self, r: Request) {
        if self.pending.contains(&r.kind) {
            self.queued.retain(|q| q.kind != r.kind);
            self.queued.push(r);
            return;
        }
        self.pending.push(r.kind);
        let _ = self.requests.send(Job::Forecast(r));
    }

    /// Asks for a plan unless one is already being made; false when one is.
    pub fn request_plan(&mut self, r: PlanRequest) -> bool {
        if self.planning {
            return false;
        }
        self.planning = true;
        let _ = self.requests.send(Job::Plan(Box::new(r)));
        true
    }

    /// Plans that arrived (collected by [`Forecaster::drain`]).
    pub fn drain_plans(&mut self) -> Vec<Result<Box<PlanAnswer>, String>> {
        std::mem::take(&mut self.plans)
    }

    /// Forecasts that arrived since the last call (plans are kept for
    /// [`Forecaster::drain_plans`]).
    pub fn drain(&mut self) -> Vec<Result<Track, String>> {
        let mut out = Vec::new();
        if let Ok(rx) = self.answers.lock() {
            loop {
                match rx.try_recv() {
                    Ok(Answer::Forecast(kind, f)) => {
                        self.pending.retain(|k| *k != kind);
                        out.push(f);
                    }
                    Ok(Answer::Plan(p)) => {
                        self.planning = false;
                        self.plans.push(p);
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        // The worker stopped: nothing pending will be answered.
                        if self.planning {
                            self.planning = false;
                            self.plans.push(Err("the forecast thread stopped".into()));
                        }
                        if !self.pending.is_empty() {
                            self.pending.clear();
                            self.queued.clear();
                            out.push(Err("the forecast thread stopped".into()));
                        }
                        break;
                    }
                }
            }
        }
        // Requests that waited for their kind's answer go out now.
        let ready: Vec<Request> = {
            let pending = &self.pending;
            let (ready, wait) = std::mem::take(&mut self.queued)
                .into_iter()
                .partition(|q| !pending.contains(&q.kind));
            self.queued = wait;
            ready
        };
        for r in ready {
            self.request(r);
        }
        out
    }
}

fn predictor_of(model: Option<&LearnedModel>, kind: PredictorKind) -> Option<&dyn Predictor> {
    match kind {
        PredictorKind::Learned => model.map(|m| m as &dyn Predictor),
        PredictorKind::ConstantVelocity => Some(&ConstantVelocity),
        PredictorKind::Ballistic => Some(&Ballistic),
    }
}

fn worker(model: Option<LearnedModel>, rx: Receiver<Job>, tx: Sender<Answer>) {
    while let Ok(first) = rx.recv() {
        // Only the newest forecast request of each kind matters; plans are all answered.
        let mut jobs = vec![first];
        while let Ok(n) = rx.try_recv() {
            if let Job::Forecast(r) = &n {
                jobs.retain(|j| !matches!(j, Job::Forecast(o) if o.kind == r.kind));
            }
            jobs.push(n);
        }
        for job in jobs {
            let answer = match job {
                Job::Forecast(r) => Answer::Forecast(
                    r.kind,
                    match predictor_of(model.as_ref(), r.kind) {
                        None => Err("no learned model loaded".to_string()),
                        Some(p) => p
                            .rollout(&r.ctx, &r.history, &r.actions, r.horizon)
                            .map(|states| Track {
                                kind: r.kind,
                                start: r.start,
                                states,
                                generation: r.generation,
                            })
                            .map_err(|e| e.to_string()),
                    },
                ),
                Job::Plan(r) => Answer::Plan(match predictor_of(model.as_ref(), r.kind) {
                    None => Err("no learned model loaded".to_string()),
                    Some(p) => foresight_plan::plan(p, &r.problem(), &r.spec)
                        .map(|plan| {
                            Box::new(PlanAnswer {
                                generation: r.generation,
                                start: r.start,
                                plan,
                            })
                        })
                        .map_err(|e| e.to_string()),
                }),
            };
            if tx.send(answer).is_err() {
                return;
            }
        }
    }
}

//! Forecasts off the main thread: a worker thread owns the predictors and answers
//! requests through channels, so the frame rate holds while a forecast is computed.
//! The newest request for a predictor wins; stale answers are dropped by generation.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use foresight_model::{Ballistic, ConstantVelocity, Context, LearnedModel, Predictor};
use foresight_sim::{BodyState, Push};

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
}

/// The forecasting thread's two ends.
#[derive(Resource)]
pub struct Forecaster {
    requests: Sender<Request>,
    answers: Mutex<Receiver<Result<Track, String>>>,
    /// Whether a learned model is loaded.
    pub has_model: bool,
    /// Requests sent and not yet answered, per kind.
    pub pending: Vec<PredictorKind>,
}

impl Forecaster {
    /// Starts the worker; without a model only the baselines answer.
    pub fn start(model: Option<LearnedModel>) -> Forecaster {
        let (req_tx, req_rx) = channel::<Request>();
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
        }
    }

    /// Asks for a forecast unless one of this kind is already being made.
    pub fn request(&mut self, r: Request) {
        if self.pending.contains(&r.kind) {
            return;
        }
        self.pending.push(r.kind);
        let _ = self.requests.send(r);
    }

    /// Answers that arrived since the last call.
    pub fn drain(&mut self) -> Vec<Result<Track, String>> {
        let mut out = Vec::new();
        if let Ok(rx) = self.answers.lock() {
            while let Ok(a) = rx.try_recv() {
                out.push(a);
            }
        }
        for a in out.iter().flatten() {
            self.pending.retain(|k| *k != a.kind);
        }
        if out.iter().any(|a| a.is_err()) {
            self.pending.clear();
        }
        out
    }
}

fn worker(model: Option<LearnedModel>, rx: Receiver<Request>, tx: Sender<Result<Track, String>>) {
    while let Ok(mut r) = rx.recv() {
        // Only the newest request of each kind matters.
        let mut newer = Vec::new();
        while let Ok(n) = rx.try_recv() {
            newer.push(n);
        }
        let mut batch = vec![];
        for n in newer {
            if n.kind == r.kind {
                r = n;
            } else {
                batch.push(n);
            }
        }
        batch.insert(0, r);
        for r in batch {
            let predictor: Option<&dyn Predictor> = match r.kind {
                PredictorKind::Learned => model.as_ref().map(|m| m as &dyn Predictor),
                PredictorKind::ConstantVelocity => Some(&ConstantVelocity),
                PredictorKind::Ballistic => Some(&Ballistic),
            };
            let answer = match predictor {
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
            };
            if tx.send(answer).is_err() {
                return;
            }
        }
    }
}

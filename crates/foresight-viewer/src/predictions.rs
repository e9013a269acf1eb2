//! What the predictors foresee: the line-up and its scores, the mode (rolling or open
//! loop), the standing forecast of each predictor, the surprise meter, and the systems
//! that ask for forecasts (with the push preview) and take them in.

use bevy::prelude::*;

use crate::forecast::{self, Forecaster};
use crate::lineup::Lineup;
use crate::scene_view::Drag;
use crate::session::{PredictorKind, Session, Surprise, Track};
use crate::{Mode, Viewer};

/// The forecasts of the current run.
#[derive(Resource)]
pub struct Predictions {
    /// The predictors forecasting at once (the first leads) and their scores.
    pub lineup: Lineup,
    /// Forecast mode.
    pub mode: Mode,
    /// Rolling mode: ticks between forecasts.
    pub every: u64,
    /// Ticks each forecast covers.
    pub horizon: usize,
    /// Latest forecast per predictor.
    pub tracks: Vec<Track>,
    /// Open-loop forecasts start here.
    pub open_loop_start: u64,
    /// Ask for fresh forecasts now (after a push, a mode change, ...).
    pub refresh: bool,
    /// Surprise meter of the leading predictor.
    pub surprise: Surprise,
    /// Ticks where the surprise meter rose past one half (timeline markers).
    pub surprise_peaks: Vec<u64>,
    /// Predictors whose outcome forecast (from tick 0) has been asked for this run.
    outcome_asked: Vec<PredictorKind>,
}

impl Default for Predictions {
    fn default() -> Self {
        Predictions::new(Lineup::default())
    }
}

impl Predictions {
    /// Rolling forecasts of 90 ticks every 30 by `lineup`.
    pub fn new(lineup: Lineup) -> Predictions {
        Predictions {
            lineup,
            mode: Mode::Rolling,
            every: 30,
            horizon: 90,
            tracks: Vec::new(),
            open_loop_start: 0,
            refresh: true,
            surprise: Surprise::default(),
            surprise_peaks: Vec::new(),
            outcome_asked: Vec::new(),
        }
    }

    /// The leading predictor of the line-up.
    pub fn lead(&self) -> PredictorKind {
        self.lineup.lead()
    }

    /// The standing forecast of a predictor for the run of `generation`.
    pub fn track(&self, kind: PredictorKind, generation: u64) -> Option<&Track> {
        self.tracks
            .iter()
            .find(|t| t.kind == kind && t.generation == generation)
    }

    /// Forgets forecasts, scores and surprise (a new run), and asks for fresh forecasts.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.lineup.clear();
        self.surprise_peaks.clear();
        self.surprise = Surprise::default();
        self.open_loop_start = 0;
        self.refresh = true;
        self.outcome_asked.clear();
    }

    /// The run went back to `tick` (`seconds`) and continues from there: the standing
    /// forecasts go, the curves and surprise peaks after it are dropped, the outcome
    /// answers (made from tick 0) stay.
    pub fn branch(&mut self, tick: u64, seconds: f64) {
        self.tracks.clear();
        self.lineup.truncate_after(seconds);
        self.surprise_peaks.retain(|&t| t <= tick);
        self.surprise = Surprise::default();
        self.open_loop_start = self.open_loop_start.min(tick);
        self.refresh = true;
        // Outcome forecasts still in flight were made for the dropped run: ask again.
        let answered: Vec<PredictorKind> = self
            .lineup
            .scores()
            .iter()
            .filter(|s| s.outcome.is_some())
            .map(|s| s.kind)
            .collect();
        self.outcome_asked.retain(|k| answered.contains(k));
    }

    /// A predictor's model was replaced: its forecast and score go.
    pub fn forget(&mut self, kind: PredictorKind) {
        self.tracks.retain(|t| t.kind != kind);
        self.lineup.forget(kind);
        self.outcome_asked.retain(|k| *k != kind);
    }

    /// Records the errors of the standing forecasts at the session's current tick (not
    /// a push preview's: that push may never happen).
    pub fn log_errors(&mut self, session: &Session) {
        let tick = session.tick();
        let tracks: Vec<&Track> = self
            .tracks
            .iter()
            .filter(|t| t.generation == session.generation && !t.preview)
            .collect();
        let seconds = tick as f64 * f64::from(session.instance.dt);
        let lead = self
            .lineup
            .observe(&tracks, tick, seconds, session.current());
        if let Some(e) = lead {
            let before = self.surprise.level();
            self.surprise.observe(e, session.instance.dt);
            if before < 0.5 && self.surprise.level() >= 0.5 {
                self.surprise_peaks.push(tick);
            }
        }
    }
}

/// A second model picked in the panel has loaded (or was refused).
pub(crate) fn receive_model(
    mut viewer: ResMut<Viewer>,
    mut predictions: ResMut<Predictions>,
    mut forecaster: ResMut<Forecaster>,
) {
    match forecaster.drain_model() {
        Some(Ok(name)) => {
            viewer.status = format!("model 2: {name}");
            // Shown at once (added to the line-up if it was not in it), forecasting anew.
            predictions.forget(PredictorKind::Learned2);
            if !predictions.lineup.contains(PredictorKind::Learned2) {
                predictions.lineup.toggle(PredictorKind::Learned2);
            }
            predictions.refresh = true;
        }
        Some(Err(e)) => viewer.status = format!("model 2 refused: {e}"),
        None => {}
    }
}

/// Asks for the forecasts the line-up needs: stale ones (rolling: every `every` ticks;
/// open loop: from its start; looking back: from the tick looked at), all after a
/// refresh, and the lead's push preview while a body is dragged.
pub(crate) fn request_forecasts(
    viewer: Res<Viewer>,
    mut predictions: ResMut<Predictions>,
    mut forecaster: ResMut<Forecaster>,
    drag: Res<Drag>,
    mut previewed: Local<Option<([f32; 3], u64)>>,
) {
    let session = &viewer.session;
    let tick = session.tick();
    // Push preview: while a body is dragged, the forecast already carries the push being
    // aimed, so its consequence shows before the button is released.
    let aimed = drag.body.and_then(|i| {
        let mass = session.ctx.masses.get(i).copied().unwrap_or(1.0);
        drag.aimed(mass)
    });
    let previewing = aimed.is_some() && viewer.view_tick.is_none();
    if let Some((body, impulse, point)) = aimed.filter(|_| previewing) {
        let changed = previewed.is_none_or(|(j, t)| {
            t != tick
                || (0..3).any(|c| (j[c] - impulse[c]).abs() > 0.05 * impulse[c].abs().max(1e-3))
        });
        if changed {
            *previewed = Some((impulse, tick));
            if let Some(centre) = session.current().get(body).map(|s| s.position) {
                let mut actions = session.actions_from(tick);
                actions.push(foresight_sim::Push {
                    body,
                    tick: 0,
                    impulse,
                    offset: [0, 1, 2].map(|c| point[c] - centre[c]),
                });
                forecaster.request(forecast::Request {
                    kind: predictions.lead(),
                    generation: session.generation,
                    start: tick,
                    ctx: session.ctx.clone(),
                    history: session.history(tick).to_vec(),
                    actions,
                    horizon: predictions.horizon,
                    preview: true,
                    outcome: false,
                });
            }
        }
    }
    // A drag that ended without a push must not leave its preview in the ghosts.
    if !previewing && previewed.take().is_some() {
        predictions.refresh = true;
    }
    // Each predictor's answer to the outcome question: its forecast from tick 0 with the
    // scene's own pushes, asked once a run.
    if let Some(q) = session.instance.question {
        for kind in predictions.lineup.kinds() {
            if predictions.outcome_asked.contains(&kind) {
                continue;
            }
            predictions.outcome_asked.push(kind);
            forecaster.request(forecast::Request {
                kind,
                generation: session.generation,
                start: 0,
                ctx: session.ctx.clone(),
                history: session.history(0).to_vec(),
                actions: foresight_sim::pushes_from(&session.instance.pushes, 0),
                horizon: (q.within_ticks as usize).max(1),
                preview: false,
                outcome: true,
            });
        }
    }
    let generation = session.generation;
    let refresh = std::mem::take(&mut predictions.refresh);
    if refresh && predictions.mode == Mode::OpenLoop {
        predictions.open_loop_start = tick;
    }
    let p = &*predictions;
    for kind in p.lineup.kinds() {
        if previewing && kind == p.lead() {
            continue;
        }
        let stale = match (p.track(kind, generation), viewer.view_tick) {
            (None, _) => true,
            // Looking back: the forecast made from the tick looked at.
            (Some(t), Some(v)) => t.start != v,
            (Some(t), None) => match p.mode {
                Mode::Rolling => tick >= t.start + p.every,
                Mode::OpenLoop => t.start != p.open_loop_start,
            },
        };
        if !(stale || refresh) {
            continue;
        }
        let start = match (viewer.view_tick, p.mode) {
            (Some(t), _) => t.min(tick),
            (None, Mode::Rolling) => tick,
            (None, Mode::OpenLoop) => p.open_loop_start.min(tick),
        };
        forecaster.request(forecast::Request {
            kind,
            generation,
            start,
            ctx: session.ctx.clone(),
            history: session.history(start).to_vec(),
            actions: session.actions_from(start),
            horizon: p.horizon,
            preview: false,
            outcome: false,
        });
    }
}

/// Takes in the forecasts that finished: each replaces its predictor's standing one; an
/// outcome forecast gives its predictor's answer to the outcome question.
pub(crate) fn receive_forecasts(
    mut viewer: ResMut<Viewer>,
    mut predictions: ResMut<Predictions>,
    mut forecaster: ResMut<Forecaster>,
) {
    for answer in forecaster.drain() {
        match answer {
            Ok((true, track)) if track.generation == viewer.session.generation => {
                let answer = viewer.session.forecast_answer(&track);
                predictions.lineup.answer(track.kind, answer);
            }
            Ok((false, track)) if track.generation == viewer.session.generation => {
                if track.kind == predictions.lead() {
                    predictions.surprise.reset_baseline();
                }
                predictions.tracks.retain(|t| t.kind != track.kind);
                predictions.tracks.push(track);
            }
            Ok(_) => {}
            Err(e) => viewer.status = format!("forecast failed: {e}"),
        }
    }
}

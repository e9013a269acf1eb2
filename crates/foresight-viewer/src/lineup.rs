//! The predictor line-up: which predictors forecast at once (the first one leads: its
//! ghosts carry the error lines, the surprise meter and the push preview, and it plans),
//! and how each is doing on this run: its error curve, its running mean error and its
//! answer to the outcome question. Free of bevy, so it is tested without a window.

use foresight_sim::BodyState;

use crate::session::{PredictorKind, Track, mean_error};

/// Most points kept per error curve (older ones are dropped, the running mean keeps them).
const CURVE_POINTS: usize = 3600;

/// How one predictor is doing on the current run.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Who.
    pub kind: PredictorKind,
    /// (seconds, mean forecast error in m) at every tick its standing forecast covered.
    pub curve: Vec<[f64; 2]>,
    /// Sum of the errors logged so far (every tick, not only those in `curve`).
    sum: f64,
    /// Ticks logged.
    count: u64,
    /// Its answer to the outcome question (from its forecast made at tick 0).
    pub outcome: Option<bool>,
}

impl Score {
    fn new(kind: PredictorKind) -> Score {
        Score {
            kind,
            curve: Vec::new(),
            sum: 0.0,
            count: 0,
            outcome: None,
        }
    }

    /// Mean forecast error over the ticks logged so far, m.
    pub fn running_mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// The predictors forecasting at once, in order (never empty; the first leads).
#[derive(Debug, Clone, PartialEq)]
pub struct Lineup {
    scores: Vec<Score>,
}

impl Default for Lineup {
    fn default() -> Self {
        Lineup::new(&[PredictorKind::Learned])
    }
}

impl Lineup {
    /// A line-up of `kinds` (duplicates dropped; the learned model when empty).
    pub fn new(kinds: &[PredictorKind]) -> Lineup {
        let mut scores: Vec<Score> = Vec::new();
        for &k in kinds {
            if scores.iter().all(|s| s.kind != k) {
                scores.push(Score::new(k));
            }
        }
        if scores.is_empty() {
            scores.push(Score::new(PredictorKind::Learned));
        }
        Lineup { scores }
    }

    /// The predictors, lead first.
    pub fn kinds(&self) -> Vec<PredictorKind> {
        self.scores.iter().map(|s| s.kind).collect()
    }

    /// The leading predictor.
    pub fn lead(&self) -> PredictorKind {
        self.scores[0].kind
    }

    /// Whether `kind` is in the line-up.
    pub fn contains(&self, kind: PredictorKind) -> bool {
        self.scores.iter().any(|s| s.kind == kind)
    }

    /// Each predictor's score, lead first.
    pub fn scores(&self) -> &[Score] {
        &self.scores
    }

    /// Adds `kind` (at the end) or removes it; the last one stays. True when it changed.
    pub fn toggle(&mut self, kind: PredictorKind) -> bool {
        if let Some(i) = self.scores.iter().position(|s| s.kind == kind) {
            if self.scores.len() == 1 {
                return false;
            }
            self.scores.remove(i);
        } else {
            self.scores.push(Score::new(kind));
        }
        true
    }

    /// Makes `kind` the lead (adding it if it was not in the line-up). True when it changed.
    pub fn set_lead(&mut self, kind: PredictorKind) -> bool {
        if self.lead() == kind {
            return false;
        }
        let score = match self.scores.iter().position(|s| s.kind == kind) {
            Some(i) => self.scores.remove(i),
            None => Score::new(kind),
        };
        self.scores.insert(0, score);
        true
    }

    /// Forgets every curve, mean and answer (a new run).
    pub fn clear(&mut self) {
        for s in &mut self.scores {
            *s = Score::new(s.kind);
        }
    }

    /// Logs, at tick `tick` (`seconds` into the run), the error of each predictor's
    /// standing forecast (`tracks`) against `truth`; returns the lead's error.
    pub fn observe(
        &mut self,
        tracks: &[&Track],
        tick: u64,
        seconds: f64,
        truth: &[BodyState],
    ) -> Option<f32> {
        let mut lead = None;
        for (i, s) in self.scores.iter_mut().enumerate() {
            let Some(f) = tracks
                .iter()
                .find(|t| t.kind == s.kind)
                .and_then(|t| t.at(tick))
            else {
                continue;
            };
            let e = mean_error(f, truth);
            if i == 0 {
                lead = Some(e);
            }
            s.sum += f64::from(e);
            s.count += 1;
            s.curve.push([seconds, f64::from(e)]);
            if s.curve.len() > CURVE_POINTS {
                s.curve.drain(..CURVE_POINTS / 6);
            }
        }
        lead
    }

    /// Forgets `kind`'s curve, mean and answer (its model was replaced).
    pub fn forget(&mut self, kind: PredictorKind) {
        if let Some(s) = self.scores.iter_mut().find(|s| s.kind == kind) {
            *s = Score::new(kind);
        }
    }

    /// Drops what was logged after `seconds` (the run went back there and continues on
    /// another branch); the running means are recomputed from the curves kept; the
    /// outcome answers, made from tick 0, stay.
    pub fn truncate_after(&mut self, seconds: f64) {
        for s in &mut self.scores {
            s.curve.retain(|p| p[0] <= seconds);
            s.sum = s.curve.iter().map(|p| p[1]).sum();
            s.count = s.curve.len() as u64;
        }
    }

    /// Records `kind`'s answer to the outcome question.
    pub fn answer(&mut self, kind: PredictorKind, outcome: Option<bool>) {
        if let Some(s) = self.scores.iter_mut().find(|s| s.kind == kind) {
            s.outcome = outcome;
        }
    }

    /// The best running mean so far: (who, m), if any predictor has one.
    pub fn best(&self) -> Option<(PredictorKind, f64)> {
        self.scores
            .iter()
            .filter_map(|s| s.running_mean().map(|m| (s.kind, m)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

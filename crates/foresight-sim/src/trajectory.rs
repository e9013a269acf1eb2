//! Recorded runs: the state of every body at every tick plus what is needed to draw or
//! learn from them (static geometry, shapes, materials, pushes, the outcome question and
//! its true answer), written as JSON (readable) or a compact binary form and read back.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TrajectoryError;
use crate::files::write_atomic;
use crate::instance::{BodyDesc, Joint, Pose, Push, Question, SceneInstance, Shape, StaticBody};
use crate::world::World;

/// Version of the trajectory layout; bump when a field changes.
pub const FORMAT_VERSION: u32 = 1;
/// First bytes of a binary trajectory file.
pub const BINARY_MAGIC: &[u8; 8] = b"FSTRAJ\0\x01";

/// One body's state at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BodyState {
    /// Centre of the body, m.
    pub position: [f32; 3],
    /// Rotation quaternion `[x, y, z, w]`.
    pub rotation: [f32; 4],
    /// Linear velocity, m/s.
    pub velocity: [f32; 3],
    /// Angular velocity, rad/s (world axes).
    pub angular_velocity: [f32; 3],
}

/// The answer the truth gives to the scene's outcome question.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The question.
    pub question: Question,
    /// First tick at which `a` touched `b`, if it did within the recording.
    pub first_touch_tick: Option<u64>,
    /// Whether the touch happened within the question's time limit.
    pub answer: bool,
}

/// A whole recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Scene name.
    pub scene: String,
    /// Seed of the instance.
    pub seed: u64,
    /// Time step, s.
    pub dt: f32,
    /// Gravity, m/s².
    pub gravity: [f32; 3],
    /// Fixed colliders.
    pub statics: Vec<StaticBody>,
    /// Dynamic bodies (shape, material, starting pose), in state order.
    pub bodies: Vec<BodyDesc>,
    /// Mass of each body, kg.
    pub masses: Vec<f32>,
    /// Joints.
    pub joints: Vec<Joint>,
    /// Pushes applied during the run.
    pub pushes: Vec<Push>,
    /// The true outcome, when the scene asks a question.
    pub outcome: Option<Outcome>,
    /// `frames[t][i]`: body `i` after `t` steps (`frames[0]` is the start).
    pub frames: Vec<Vec<BodyState>>,
}

/// Output encoding of a trajectory file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON text.
    Json,
    /// Compact binary (magic header + postcard).
    Binary,
}

impl Encoding {
    /// The encoding a file name asks for: binary for `.bin`, else JSON.
    pub fn of_path(path: &Path) -> Encoding {
        if path.extension().is_some_and(|x| x == "bin") {
            Encoding::Binary
        } else {
            Encoding::Json
        }
    }
}

/// A written trajectory in one line: the file, steps, scene, bodies, seed and the answer
/// to the scene's question.
#[derive(Debug, Clone, Copy)]
pub struct TrajectorySummary<'a> {
    /// Where the trajectory was written.
    pub file: &'a Path,
    /// The trajectory.
    pub trajectory: &'a Trajectory,
}

impl fmt::Display for TrajectorySummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.trajectory;
        write!(
            f,
            "{}: {} steps of {} ({} bodies, seed {})",
            self.file.display(),
            t.steps(),
            t.scene,
            t.bodies.len(),
            t.seed
        )?;
        match &t.outcome {
            Some(o) => match o.first_touch_tick {
                Some(tick) => write!(
                    f,
                    "; outcome: touched at tick {tick}, answer {}",
                    if o.answer { "yes" } else { "no" }
                ),
                None => write!(f, "; outcome: no touch, answer no"),
            },
            None => Ok(()),
        }
    }
}

impl Trajectory {
    /// Whether the contents make sense, whatever wrote them: counts that agree, indices
    /// in range, finite numbers, positive time step, masses and sizes, non-zero rotations.
    /// The reason is a short phrase naming the place.
    pub fn check(&self) -> Result<(), String> {
        let n = self.bodies.len();
        let finite = |xs: &[f32]| xs.iter().all(|x| x.is_finite());
        if !(self.dt.is_finite() && self.dt > 0.0 && finite(&self.gravity)) {
            return Err(format!("time step {} or gravity is not usable", self.dt));
        }
        if self.masses.len() != n {
            return Err(format!("{} masses for {n} bodies", self.masses.len()));
        }
        if let Some(i) = self
            .masses
            .iter()
            .position(|m| !(m.is_finite() && *m > 0.0))
        {
            return Err(format!("mass {i} is {}", self.masses[i]));
        }
        let shape_ok = |s: &Shape| {
            let e = s.half_extents();
            finite(&e) && e.iter().all(|x| *x > 0.0)
        };
        let rotation_ok = |r: &[f32; 4]| {
            let q: f32 = r.iter().map(|x| x * x).sum();
            q.is_finite() && q > 1e-6
        };
        let pose_ok = |p: &Pose| finite(&p.position) && rotation_ok(&p.rotation);
        if let Some(i) = (self.bodies.iter())
            .position(|b| !shape_ok(&b.shape) || !pose_ok(&b.pose) || !b.density.is_finite())
        {
            return Err(format!("body {i} has an unusable shape or pose"));
        }
        if let Some(i) =
            (self.statics.iter()).position(|b| !shape_ok(&b.shape) || !pose_ok(&b.pose))
        {
            return Err(format!("static {i} has an unusable shape or pose"));
        }
        if let Some(i) = (self.joints.iter()).position(|j| j.a >= n || j.b.is_some_and(|b| b >= n))
        {
            return Err(format!("joint {i} names a body that does not exist"));
        }
        if let Some(i) = (self.pushes.iter())
            .position(|p| p.body >= n || !finite(&p.impulse) || !finite(&p.offset))
        {
            return Err(format!("push {i} is not usable"));
        }
        for (k, f) in self.frames.iter().enumerate() {
            if f.len() != n {
                return Err(format!("frame {k} has {} states for {n} bodies", f.len()));
            }
            let bad = f.iter().position(|s| {
                !(finite(&s.position)
                    && finite(&s.velocity)
                    && finite(&s.angular_velocity)
                    && rotation_ok(&s.rotation))
            });
            if let Some(i) = bad {
                return Err(format!(
                    "frame {k}, body {i} is not finite or has a zero rotation"
                ));
            }
        }
        Ok(())
    }

    /// Number of steps recorded (frames minus the starting one).
    pub fn steps(&self) -> usize {
        self.frames.len().saturating_sub(1)
    }

    /// Writes the trajectory; the file appears complete or not at all.
    pub fn write(&self, path: impl AsRef<Path>, encoding: Encoding) -> Result<(), TrajectoryError> {
        let path = path.as_ref();
        let bytes = self
            .to_bytes(encoding)
            .map_err(|reason| TrajectoryError::Io {
                file: path.display().to_string(),
                reason,
            })?;
        Ok(write_atomic(path, &bytes)?)
    }

    /// The one line `foresight simulate` prints once the trajectory is written to `file`.
    pub fn summary<'a>(&'a self, file: &'a Path) -> TrajectorySummary<'a> {
        TrajectorySummary {
            file,
            trajectory: self,
        }
    }

    /// Encodes the trajectory in memory.
    pub fn to_bytes(&self, encoding: Encoding) -> Result<Vec<u8>, String> {
        // Nothing unusable (a non-finite state, say) is ever written.
        self.check()
            .map_err(|reason| format!("refusing to write it: {reason}"))?;
        match encoding {
            Encoding::Json => serde_json::to_vec(self).map_err(|e| e.to_string()),
            Encoding::Binary => {
                let mut out = BINARY_MAGIC.to_vec();
                out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
                postcard::to_extend(self, out).map_err(|e| e.to_string())
            }
        }
    }

    /// Reads a trajectory written by [`Trajectory::write`] in either encoding.
    pub fn read(path: impl AsRef<Path>) -> Result<Trajectory, TrajectoryError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| TrajectoryError::Io {
            file: file.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        Trajectory::from_bytes(&bytes, &file)
    }

    /// Decodes a trajectory from memory; `file` is only used in error messages.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Trajectory, TrajectoryError> {
        let format = |reason: String| TrajectoryError::Format {
            file: file.to_string(),
            reason,
        };
        let t: Trajectory = if let Some(rest) = bytes.strip_prefix(BINARY_MAGIC.as_slice()) {
            let (v, body) = rest
                .split_at_checked(4)
                .ok_or_else(|| format("truncated header".into()))?;
            let version = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
            if version != FORMAT_VERSION {
                return Err(TrajectoryError::Version {
                    file: file.to_string(),
                    got: version,
                    expected: FORMAT_VERSION,
                });
            }
            let (t, extra) = postcard::take_from_bytes(body).map_err(|e| format(e.to_string()))?;
            if !extra.is_empty() {
                return Err(format(format!("{} bytes of trailing data", extra.len())));
            }
            t
        } else {
            #[derive(Deserialize)]
            struct Header {
                format_version: u32,
            }
            let h: Header = serde_json::from_slice(bytes).map_err(|e| format(e.to_string()))?;
            if h.format_version != FORMAT_VERSION {
                return Err(TrajectoryError::Version {
                    file: file.to_string(),
                    got: h.format_version,
                    expected: FORMAT_VERSION,
                });
            }
            serde_json::from_slice(bytes).map_err(|e| format(e.to_string()))?
        };
        t.check().map_err(format)?;
        Ok(t)
    }
}

/// Receives each tick of a recording; lets callers draw a progress bar.
pub trait Progress {
    /// Called after each step with the number of steps done.
    fn tick(&mut self, done: u64);
}

impl Progress for () {
    fn tick(&mut self, _done: u64) {}
}

impl<F: FnMut(u64)> Progress for F {
    fn tick(&mut self, done: u64) {
        self(done);
    }
}

impl World {
    /// Steps `steps` ticks from the current state and records every frame, including the
    /// current one as `frames[0]`.
    pub fn record(&mut self, steps: u64) -> Trajectory {
        self.record_with(steps, &mut ())
    }

    /// [`World::record`], reporting progress after each step.
    pub fn record_with(&mut self, steps: u64, progress: &mut dyn Progress) -> Trajectory {
        let inst: &SceneInstance = self.instance();
        let question = inst.question;
        let mut outcome = question.map(|q| Outcome {
            question: q,
            first_touch_tick: None,
            answer: false,
        });
        let mut frames = Vec::with_capacity(steps as usize + 1);
        frames.push(self.states());
        for done in 1..=steps {
            self.step();
            frames.push(self.states());
            if let Some(o) = outcome.as_mut()
                && o.first_touch_tick.is_none()
                && self.touching(o.question.a, o.question.b)
            {
                o.first_touch_tick = Some(self.tick());
                o.answer = self.tick() <= o.question.within_ticks;
            }
            progress.tick(done);
        }
        let inst = self.instance();
        Trajectory {
            format_version: FORMAT_VERSION,
            scene: inst.name.clone(),
            seed: inst.seed,
            dt: inst.dt,
            gravity: inst.gravity,
            statics: inst.statics.clone(),
            bodies: inst.bodies.clone(),
            masses: self.masses(),
            joints: inst.joints.clone(),
            pushes: inst.pushes.clone(),
            outcome,
            frames,
        }
    }
}

//! The scene file format (RON via serde): what a person writes, how it is parsed, and
//! the validation that turns every mistake into an error naming the file, the field
//! path and the fix. Sampling a concrete instance lives in `instance`; running it in
//! `world`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::SceneError;
use crate::num::{Num, Vec3Spec, vec3};

/// Most dynamic bodies a scene may expand to.
pub const MAX_BODIES: u64 = 5000;
/// Smallest accepted time step, in seconds.
pub const MIN_TIME_STEP: f32 = 1.0 / 1000.0;
/// Largest accepted time step, in seconds.
pub const MAX_TIME_STEP: f32 = 1.0 / 10.0;
/// Largest accepted size of any shape dimension or distance, in metres.
pub const MAX_LENGTH: f32 = 1000.0;

fn default_gravity() -> Vec3Spec {
    vec3(0.0, -9.81, 0.0)
}
fn default_time_step() -> Num {
    Num::Value(1.0 / 60.0)
}
fn default_duration() -> Num {
    Num::Value(5.0)
}
fn default_density() -> Num {
    Num::Value(1000.0)
}
fn default_friction() -> Num {
    Num::Value(0.5)
}
fn default_ground_friction() -> Num {
    Num::Value(0.8)
}
fn default_ground_size() -> Num {
    Num::Value(20.0)
}
fn zero3() -> Vec3Spec {
    vec3(0.0, 0.0, 0.0)
}

/// A scene file: the world, its bodies, and optionally pushes and an outcome question.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Short name, shown in lists.
    pub name: String,
    /// One line saying what physical idea the scene shows.
    pub description: String,
    /// Gravity in m/s² (default `(0, -9.81, 0)`).
    #[serde(default = "default_gravity")]
    pub gravity: Vec3Spec,
    /// Fixed simulation time step in seconds (default 1/60).
    #[serde(default = "default_time_step")]
    pub time_step: Num,
    /// Default length of a run, in seconds (default 5).
    #[serde(default = "default_duration")]
    pub duration: Num,
    /// Fixed colliders: ground, boxes, ramps, walls.
    #[serde(default)]
    pub statics: Vec<StaticSpec>,
    /// Dynamic bodies, each possibly repeated into a row, stack, grid or ring.
    #[serde(default)]
    pub bodies: Vec<BodySpec>,
    /// Joints between named bodies, or between a body and the world.
    #[serde(default)]
    pub joints: Vec<JointSpec>,
    /// Scripted pushes: an impulse on a named body at a tick.
    #[serde(default)]
    pub pushes: Vec<PushSpec>,
    /// An outcome question answered by the truth (and later by forecasts).
    #[serde(default)]
    pub question: Option<QuestionSpec>,
    /// A goal for the planner: what a push should make happen.
    #[serde(default)]
    pub goal: Option<GoalSpec>,
    /// The pushes a planner may choose from (required with a goal).
    #[serde(default)]
    pub actions: Option<ActionsSpec>,
}

/// The shape of a body or static collider. Sizes are full extents, in metres.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ShapeSpec {
    /// A ball.
    Sphere {
        /// Radius.
        radius: Num,
    },
    /// A box with full side lengths `(x, y, z)`.
    Cuboid {
        /// Full side lengths.
        size: Vec3Spec,
    },
    /// A cylinder along the body's y axis.
    Cylinder {
        /// Radius.
        radius: Num,
        /// Full height.
        height: Num,
    },
    /// A capsule along the body's y axis: a cylinder of `length` capped by two half-balls.
    Capsule {
        /// Radius of the caps and the middle.
        radius: Num,
        /// Length of the straight middle part (total height is `length + 2 * radius`).
        length: Num,
    },
}

/// A fixed collider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum StaticSpec {
    /// A flat square ground slab whose top face is at height `y`.
    Ground {
        /// Optional name, for outcome questions.
        #[serde(default)]
        name: Option<String>,
        /// Height of the top face.
        #[serde(default)]
        y: Num,
        /// Side length of the square (default 20).
        #[serde(default = "default_ground_size")]
        size: Num,
        /// Friction coefficient (default 0.8).
        #[serde(default = "default_ground_friction")]
        friction: Num,
        /// Restitution in [0, 1] (default 0).
        #[serde(default)]
        restitution: Num,
        /// Colour as `"#rrggbb"`.
        #[serde(default)]
        colour: Option<String>,
    },
    /// Any shape, placed and rotated: boxes, ramps, walls, posts.
    Collider {
        /// Optional name, for outcome questions.
        #[serde(default)]
        name: Option<String>,
        /// The shape.
        shape: ShapeSpec,
        /// Centre position.
        position: Vec3Spec,
        /// Rotation in degrees about x, then y, then z (world axes).
        #[serde(default = "zero3")]
        rotation: Vec3Spec,
        /// Friction coefficient (default 0.5).
        #[serde(default = "default_friction")]
        friction: Num,
        /// Restitution in [0, 1] (default 0).
        #[serde(default)]
        restitution: Num,
        /// Colour as `"#rrggbb"`.
        #[serde(default)]
        colour: Option<String>,
    },
}

/// What a body is for in a scene's story: the one that acts, or the one acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The body that starts the event (the cue ball, the first domino).
    Agent,
    /// The body the question is about (the target).
    Patient,
}

/// A dynamic body, or a template expanded by `repeat` into several.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    /// Optional unique name; copies made by `repeat` are named `name_0`, `name_1`, ...
    #[serde(default)]
    pub name: Option<String>,
    /// The shape.
    pub shape: ShapeSpec,
    /// Centre position (of the first copy when repeated).
    pub position: Vec3Spec,
    /// Rotation in degrees about x, then y, then z (world axes).
    #[serde(default = "zero3")]
    pub rotation: Vec3Spec,
    /// Initial linear velocity, m/s.
    #[serde(default = "zero3")]
    pub velocity: Vec3Spec,
    /// Initial angular velocity, degrees per second about each world axis.
    #[serde(default = "zero3")]
    pub angular_velocity: Vec3Spec,
    /// Density in kg/m³ (default 1000).
    #[serde(default = "default_density")]
    pub density: Num,
    /// Friction coefficient (default 0.5).
    #[serde(default = "default_friction")]
    pub friction: Num,
    /// Restitution in [0, 1] (default 0).
    #[serde(default)]
    pub restitution: Num,
    /// Colour as `"#rrggbb"` (default: a palette colour by body index).
    #[serde(default)]
    pub colour: Option<String>,
    /// Agent or patient.
    #[serde(default)]
    pub role: Option<Role>,
    /// Expand this body into several copies.
    #[serde(default)]
    pub repeat: Option<Repeat>,
}

/// Expands one body template into several copies; each copy samples its ranges anew.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Repeat {
    /// `count` copies, each offset by `spacing` from the previous.
    Row {
        /// Number of copies.
        count: u32,
        /// Offset between neighbours.
        spacing: Vec3Spec,
    },
    /// `count` copies stacked upwards, `spacing` metres apart (centre to centre).
    Stack {
        /// Number of copies.
        count: u32,
        /// Vertical distance between centres.
        spacing: Num,
    },
    /// A 3-D grid of `count.0 × count.1 × count.2` copies.
    Grid {
        /// Copies along x, y and z.
        count: (u32, u32, u32),
        /// Offset between neighbours along each axis.
        spacing: Vec3Spec,
    },
    /// `count` copies on a horizontal circle of `radius` around the template position,
    /// each turned about y so the template's +x axis points away from the centre.
    Ring {
        /// Number of copies.
        count: u32,
        /// Circle radius.
        radius: Num,
    },
}

impl Repeat {
    /// How many copies this repeat makes (saturating, so absurd counts stay countable).
    pub fn count(&self) -> u64 {
        match self {
            Repeat::Row { count, .. }
            | Repeat::Stack { count, .. }
            | Repeat::Ring { count, .. } => u64::from(*count),
            Repeat::Grid { count, .. } => u64::from(count.0)
                .saturating_mul(u64::from(count.1))
                .saturating_mul(u64::from(count.2)),
        }
    }
}

/// A joint between named body `a` and named body `b`, or the world when `b` is absent.
/// Anchors and axes are in world coordinates at the start of the scene.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum JointSpec {
    /// Locks the relative pose of `a` and `b` as it is at the start.
    Fixed {
        /// First body.
        a: String,
        /// Second body; the world when absent.
        #[serde(default)]
        b: Option<String>,
    },
    /// A hinge about `axis` through `anchor`.
    Revolute {
        /// First body.
        a: String,
        /// Second body; the world when absent.
        #[serde(default)]
        b: Option<String>,
        /// Hinge point, world coordinates.
        anchor: Vec3Spec,
        /// Hinge axis, world coordinates (any non-zero length).
        axis: Vec3Spec,
    },
    /// A ball-and-socket joint at `anchor`.
    Spherical {
        /// First body.
        a: String,
        /// Second body; the world when absent.
        #[serde(default)]
        b: Option<String>,
        /// Joint point, world coordinates.
        anchor: Vec3Spec,
    },
}

/// A scripted push: an impulse (N·s) on a named body just before tick `tick` is stepped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSpec {
    /// The body pushed.
    pub body: String,
    /// The tick (0 = before the first step); a range gives a random tick.
    pub tick: Num,
    /// The impulse, N·s.
    pub impulse: Vec3Spec,
    /// Where the push lands, relative to the body's centre in world axes (default: centre).
    #[serde(default = "zero3")]
    pub offset: Vec3Spec,
}

/// An outcome question, Physion-style.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum QuestionSpec {
    /// Does `a` touch `b` within `within` seconds? Either may name a body or a static.
    Touch {
        /// A named body.
        a: String,
        /// A named body or static collider.
        b: String,
        /// Time limit in seconds.
        within: Num,
    },
}

/// A planning goal, written like the outcome question.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum GoalSpec {
    /// Make `a` touch `b` within `within` seconds (`b` a body or a named static).
    Touch {
        /// A named body.
        a: String,
        /// A named body or static collider.
        b: String,
        /// Time limit in seconds.
        within: Num,
    },
    /// Make sure `a` does not touch `b` within `within` seconds.
    Avoid {
        /// A named body.
        a: String,
        /// A named body or static collider.
        b: String,
        /// Time limit in seconds.
        within: Num,
    },
    /// Bring `body`'s centre within `radius` of `point` within `within` seconds.
    Reach {
        /// A named body.
        body: String,
        /// The target point, world coordinates.
        point: Vec3Spec,
        /// How close counts, metres.
        radius: Num,
        /// Time limit in seconds.
        within: Num,
    },
    /// Tip `body` over: its up axis tilts past 45° within `within` seconds.
    Topple {
        /// A named body.
        body: String,
        /// Time limit in seconds.
        within: Num,
    },
}

/// The pushes a planner may choose: one impulse on one of `bodies`, at one of `ticks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsSpec {
    /// Bodies that may be pushed (at least one).
    pub bodies: Vec<String>,
    /// Largest impulse, N·s.
    pub max_impulse: Num,
    /// Largest angle of the push above the horizontal, degrees (default 0: level pushes).
    #[serde(default)]
    pub max_elevation: Num,
    /// Ticks at which the push may come (default `[0]`: at the start).
    #[serde(default = "default_action_ticks")]
    pub ticks: Vec<u64>,
}

fn default_action_ticks() -> Vec<u64> {
    vec![0]
}

/// Longest goal time limit, s: a planner imagines every candidate that far ahead.
const MAX_GOAL_SECONDS: f32 = 60.0;

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

impl Scene {
    /// Reads, parses and validates a scene file.
    pub fn load(path: impl AsRef<Path>) -> Result<Scene, SceneError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| SceneError::Io {
            file: file.clone(),
            reason: io_reason(&e),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| SceneError::NotText {
            file: file.clone(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        Scene::parse(&text, &file)
    }

    /// Parses and validates scene text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Scene, SceneError> {
        if text.trim().is_empty() {
            return Err(SceneError::Empty {
                file: file.to_string(),
            });
        }
        if let Some(offset) = text.find('\0') {
            return Err(SceneError::NotText {
                file: file.to_string(),
                offset,
            });
        }
        let scene: Scene = ron_options()
            .from_str(text)
            .map_err(|e| SceneError::Parse {
                file: file.to_string(),
                line: e.span.start.line,
                column: e.span.start.col,
                message: readable_parse_message(&e.code.to_string()),
            })?;
        scene.validate(file)?;
        Ok(scene)
    }

    /// Writes the scene back as RON text.
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .unwrap_or_else(|e| format!("// could not write scene: {e}"))
    }

    /// Number of dynamic bodies after every `repeat` is expanded.
    pub fn body_count(&self) -> u64 {
        self.bodies
            .iter()
            .map(|b| b.repeat.as_ref().map_or(1, Repeat::count))
            .fold(0u64, u64::saturating_add)
    }

    /// Names of all dynamic bodies after expansion (None for unnamed), in scene order.
    /// Only call on a scene whose `body_count` is within [`MAX_BODIES`].
    pub fn expanded_names(&self) -> Vec<Option<String>> {
        let mut names = Vec::new();
        for b in &self.bodies {
            match (&b.name, &b.repeat) {
                (name, None) => names.push(name.clone()),
                (Some(name), Some(r)) => {
                    for i in 0..r.count() {
                        names.push(Some(format!("{name}_{i}")));
                    }
                }
                (None, Some(r)) => {
                    for _ in 0..r.count() {
                        names.push(None);
                    }
                }
            }
        }
        names
    }

    /// Names of the static colliders, in order.
    pub fn static_names(&self) -> Vec<Option<String>> {
        self.statics
            .iter()
            .map(|s| match s {
                StaticSpec::Ground { name, .. } | StaticSpec::Collider { name, .. } => name.clone(),
            })
            .collect()
    }

    /// Checks every field; the first problem found is returned with its field path.
    pub fn validate(&self, file: &str) -> Result<(), SceneError> {
        let mut v = Validator { file };
        v.validate_scene(self)
    }
}

/// Speaks of scene-file things rather than Rust type names in parser messages.
fn readable_parse_message(m: &str) -> String {
    [
        ("`BodySpec`", "a body"),
        ("`StaticSpec`", "a static"),
        ("`ShapeSpec`", "a shape"),
        ("`JointSpec`", "a joint"),
        ("`PushSpec`", "a push"),
        ("`QuestionSpec`", "the question"),
        ("`GoalSpec`", "the goal"),
        ("`ActionsSpec`", "the actions"),
        ("`Repeat`", "a repeat"),
        ("`Scene`", "the scene"),
        ("`Role`", "role"),
    ]
    .iter()
    .fold(m.to_string(), |acc, (from, to)| acc.replace(from, to))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file; check the path".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory, not a scene file".to_string(),
        _ => e.to_string(),
    }
}

/// Parses `"#rrggbb"` into linear-ish RGB in [0, 1] (sRGB values, as written).
pub fn parse_colour(s: &str) -> Option<[f32; 3]> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| {
        u8::from_str_radix(&hex[i..i + 2], 16)
            .ok()
            .map(|b| f32::from(b) / 255.0)
    };
    Some([byte(0)?, byte(2)?, byte(4)?])
}

struct Validator<'a> {
    file: &'a str,
}

/// What a number must satisfy.
#[derive(Clone, Copy)]
enum Rule {
    /// Any finite value (within the caller's limit).
    Finite,
    /// Strictly positive.
    Positive,
    /// Zero or more.
    NonNegative,
    /// In [0, 1].
    Fraction,
}

impl Validator<'_> {
    fn err(&self, path: impl Into<String>, problem: impl Into<String>) -> SceneError {
        SceneError::Invalid {
            file: self.file.to_string(),
            path: path.into(),
            problem: problem.into(),
        }
    }

    fn num(&self, path: &str, n: Num, rule: Rule, limit: f32) -> Result<(), SceneError> {
        if let Num::Uniform { min, max } = n {
            if !(min.is_finite() && max.is_finite()) {
                return Err(self.err(path, format!("must be a finite number (got {n})")));
            }
            if min >= max {
                return Err(self.err(
                    path,
                    format!(
                        "is an empty range ({n}); write min..max with min < max, or a single value"
                    ),
                ));
            }
        }
        for x in [n.min(), n.max()] {
            if !x.is_finite() {
                return Err(self.err(path, format!("must be a finite number (got {x})")));
            }
            let (ok, what) = match rule {
                Rule::Finite => (true, ""),
                Rule::Positive => (x > 0.0, "must be > 0"),
                Rule::NonNegative => (x >= 0.0, "must be >= 0"),
                Rule::Fraction => ((0.0..=1.0).contains(&x), "must be between 0 and 1"),
            };
            if !ok {
                return Err(self.err(path, format!("{what} (got {n})")));
            }
            if x.abs() > limit {
                return Err(self.err(path, format!("must be within ±{limit} (got {n})")));
            }
        }
        Ok(())
    }

    fn vec(&self, path: &str, v: Vec3Spec, rule: Rule, limit: f32) -> Result<(), SceneError> {
        self.num(&format!("{path}.x"), v.0, rule, limit)?;
        self.num(&format!("{path}.y"), v.1, rule, limit)?;
        self.num(&format!("{path}.z"), v.2, rule, limit)
    }

    fn colour(&self, path: &str, c: &Option<String>) -> Result<(), SceneError> {
        match c {
            Some(s) if parse_colour(s).is_none() => Err(self.err(
                path,
                format!("must be a colour written \"#rrggbb\", like \"#e63946\" (got {s:?})"),
            )),
            _ => Ok(()),
        }
    }

    fn shape(&self, path: &str, s: &ShapeSpec) -> Result<(), SceneError> {
        let l = MAX_LENGTH;
        match s {
            ShapeSpec::Sphere { radius } => {
                self.num(&format!("{path}.radius"), *radius, Rule::Positive, l)
            }
            ShapeSpec::Cuboid { size } => {
                self.vec(&format!("{path}.size"), *size, Rule::Positive, l)
            }
            ShapeSpec::Cylinder { radius, height } => {
                self.num(&format!("{path}.radius"), *radius, Rule::Positive, l)?;
                self.num(&format!("{path}.height"), *height, Rule::Positive, l)
            }
            ShapeSpec::Capsule { radius, length } => {
                self.num(&format!("{path}.radius"), *radius, Rule::Positive, l)?;
                self.num(&format!("{path}.length"), *length, Rule::NonNegative, l)
            }
        }
    }

    fn name(&self, path: &str, name: &str) -> Result<(), SceneError> {
        if name.trim().is_empty() {
            return Err(self.err(
                path,
                "must not be empty; give a name or leave the field out",
            ));
        }
        Ok(())
    }

    fn validate_scene(&mut self, s: &Scene) -> Result<(), SceneError> {
        let l = MAX_LENGTH;
        if s.name.trim().is_empty() {
            return Err(self.err("name", "must not be empty"));
        }
        if s.description.trim().is_empty() || s.description.contains('\n') {
            return Err(self.err(
                "description",
                "must be one non-empty line saying what the scene shows",
            ));
        }
        self.vec("gravity", s.gravity, Rule::Finite, 1000.0)?;
        self.num("time_step", s.time_step, Rule::Positive, 1.0)?;
        if s.time_step.min() < MIN_TIME_STEP || s.time_step.max() > MAX_TIME_STEP {
            return Err(self.err(
                "time_step",
                format!(
                    "must be between {MIN_TIME_STEP} and {MAX_TIME_STEP} seconds (got {}); 1/60 ≈ 0.0166667 is usual",
                    s.time_step
                ),
            ));
        }
        self.num("duration", s.duration, Rule::Positive, 3600.0)?;

        for (i, st) in s.statics.iter().enumerate() {
            let p = format!("statics[{i}]");
            match st {
                StaticSpec::Ground {
                    name,
                    y,
                    size,
                    friction,
                    restitution,
                    colour,
                } => {
                    if let Some(n) = name {
                        self.name(&format!("{p}.name"), n)?;
                    }
                    self.num(&format!("{p}.y"), *y, Rule::Finite, l)?;
                    self.num(&format!("{p}.size"), *size, Rule::Positive, l)?;
                    self.num(
                        &format!("{p}.friction"),
                        *friction,
                        Rule::NonNegative,
                        100.0,
                    )?;
                    self.num(
                        &format!("{p}.restitution"),
                        *restitution,
                        Rule::Fraction,
                        1.0,
                    )?;
                    self.colour(&format!("{p}.colour"), colour)?;
                }
                StaticSpec::Collider {
                    name,
                    shape,
                    position,
                    rotation,
                    friction,
                    restitution,
                    colour,
                } => {
                    if let Some(n) = name {
                        self.name(&format!("{p}.name"), n)?;
                    }
                    self.shape(&format!("{p}.shape"), shape)?;
                    self.vec(&format!("{p}.position"), *position, Rule::Finite, l)?;
                    self.vec(&format!("{p}.rotation"), *rotation, Rule::Finite, 3600.0)?;
                    self.num(
                        &format!("{p}.friction"),
                        *friction,
                        Rule::NonNegative,
                        100.0,
                    )?;
                    self.num(
                        &format!("{p}.restitution"),
                        *restitution,
                        Rule::Fraction,
                        1.0,
                    )?;
                    self.colour(&format!("{p}.colour"), colour)?;
                }
            }
        }

        if s.bodies.is_empty() {
            return Err(self.err(
                "bodies",
                "is empty; a scene needs at least one dynamic body",
            ));
        }
        for (i, b) in s.bodies.iter().enumerate() {
            let p = format!("bodies[{i}]");
            if let Some(n) = &b.name {
                self.name(&format!("{p}.name"), n)?;
            }
            self.shape(&format!("{p}.shape"), &b.shape)?;
            self.vec(&format!("{p}.position"), b.position, Rule::Finite, l)?;
            self.vec(&format!("{p}.rotation"), b.rotation, Rule::Finite, 3600.0)?;
            self.vec(&format!("{p}.velocity"), b.velocity, Rule::Finite, 1000.0)?;
            self.vec(
                &format!("{p}.angular_velocity"),
                b.angular_velocity,
                Rule::Finite,
                36000.0,
            )?;
            self.num(&format!("{p}.density"), b.density, Rule::Positive, 1.0e6)?;
            self.num(
                &format!("{p}.friction"),
                b.friction,
                Rule::NonNegative,
                100.0,
            )?;
            self.num(
                &format!("{p}.restitution"),
                b.restitution,
                Rule::Fraction,
                1.0,
            )?;
            self.colour(&format!("{p}.colour"), &b.colour)?;
            if let Some(r) = &b.repeat {
                let rp = format!("{p}.repeat");
                if r.count() == 0 {
                    return Err(self.err(format!("{rp}.count"), "must be at least 1"));
                }
                match r {
                    Repeat::Row { spacing, .. } | Repeat::Grid { spacing, .. } => {
                        self.vec(&format!("{rp}.spacing"), *spacing, Rule::Finite, l)?
                    }
                    Repeat::Stack { spacing, .. } => {
                        self.num(&format!("{rp}.spacing"), *spacing, Rule::Finite, l)?
                    }
                    Repeat::Ring { radius, .. } => {
                        self.num(&format!("{rp}.radius"), *radius, Rule::Positive, l)?
                    }
                }
            }
        }
        let count = s.body_count();
        if count > MAX_BODIES {
            return Err(self.err(
                "bodies",
                format!("expand to {count} bodies, more than the limit of {MAX_BODIES}; lower a repeat count"),
            ));
        }

        // Names: unique across bodies (after expansion) and statics.
        let body_names = s.expanded_names();
        let static_names = s.static_names();
        let mut seen = std::collections::BTreeSet::new();
        for n in body_names.iter().chain(static_names.iter()).flatten() {
            if !seen.insert(n.as_str()) {
                return Err(self.err(
                    "bodies",
                    format!("name {n:?} is used twice (repeated bodies are named name_0, name_1, ...); rename one"),
                ));
            }
        }
        let is_body = |n: &str| body_names.iter().flatten().any(|b| b == n);
        let is_static = |n: &str| static_names.iter().flatten().any(|b| b == n);
        let known = |names: &[Option<String>]| {
            let list: Vec<&str> = names.iter().flatten().map(String::as_str).take(8).collect();
            if list.is_empty() {
                "none are named".to_string()
            } else {
                format!("named bodies: {}", list.join(", "))
            }
        };
        let missing_body = |path: String, n: &str| {
            self.err(
                path,
                format!(
                    "names body {n:?}, which does not exist ({})",
                    known(&body_names)
                ),
            )
        };

        for (i, j) in s.joints.iter().enumerate() {
            let p = format!("joints[{i}]");
            let (a, b) = match j {
                JointSpec::Fixed { a, b } => (a, b),
                JointSpec::Revolute { a, b, anchor, axis } => {
                    self.vec(&format!("{p}.anchor"), *anchor, Rule::Finite, l)?;
                    self.vec(&format!("{p}.axis"), *axis, Rule::Finite, l)?;
                    let fixed_zero = [axis.0, axis.1, axis.2]
                        .iter()
                        .all(|n| matches!(n, Num::Value(v) if *v == 0.0));
                    if fixed_zero {
                        return Err(self.err(
                            format!("{p}.axis"),
                            "must not be (0, 0, 0); give the hinge direction, like (0, 0, 1)",
                        ));
                    }
                    (a, b)
                }
                JointSpec::Spherical { a, b, anchor } => {
                    self.vec(&format!("{p}.anchor"), *anchor, Rule::Finite, l)?;
                    (a, b)
                }
            };
            if !is_body(a) {
                return Err(missing_body(format!("{p}.a"), a));
            }
            if let Some(b) = b {
                if !is_body(b) {
                    return Err(missing_body(format!("{p}.b"), b));
                }
                if a == b {
                    return Err(self.err(format!("{p}.b"), "joins a body to itself; name another body or leave b out to join to the world"));
                }
            }
        }

        for (i, push) in s.pushes.iter().enumerate() {
            let p = format!("pushes[{i}]");
            if !is_body(&push.body) {
                return Err(missing_body(format!("{p}.body"), &push.body));
            }
            self.num(&format!("{p}.tick"), push.tick, Rule::NonNegative, 1.0e7)?;
            self.vec(&format!("{p}.impulse"), push.impulse, Rule::Finite, 1.0e6)?;
            self.vec(&format!("{p}.offset"), push.offset, Rule::Finite, l)?;
        }

        if let Some(QuestionSpec::Touch { a, b, within }) = &s.question {
            if !is_body(a) {
                return Err(missing_body("question.a".to_string(), a));
            }
            if !is_body(b) && !is_static(b) {
                return Err(self.err(
                    "question.b",
                    format!("names {b:?}, which is neither a body nor a static collider; give the target a name"),
                ));
            }
            if a == b {
                return Err(self.err(
                    "question.b",
                    "asks whether a body touches itself; name another body",
                ));
            }
            self.num("question.within", *within, Rule::Positive, 3600.0)?;
        }

        let object = |path: &str, n: &str| {
            if is_body(n) || is_static(n) {
                Ok(())
            } else {
                Err(self.err(
                    path,
                    format!("names {n:?}, which is neither a body nor a static collider; give the target a name"),
                ))
            }
        };
        match &s.goal {
            None => {}
            Some(GoalSpec::Touch { a, b, within } | GoalSpec::Avoid { a, b, within }) => {
                if !is_body(a) {
                    return Err(missing_body("goal.a".to_string(), a));
                }
                object("goal.b", b)?;
                if a == b {
                    return Err(
                        self.err("goal.b", "names the same body as goal.a; name another body")
                    );
                }
                self.num("goal.within", *within, Rule::Positive, MAX_GOAL_SECONDS)?;
            }
            Some(GoalSpec::Reach {
                body,
                point,
                radius,
                within,
            }) => {
                if !is_body(body) {
                    return Err(missing_body("goal.body".to_string(), body));
                }
                self.vec("goal.point", *point, Rule::Finite, l)?;
                self.num("goal.radius", *radius, Rule::Positive, l)?;
                self.num("goal.within", *within, Rule::Positive, MAX_GOAL_SECONDS)?;
            }
            Some(GoalSpec::Topple { body, within }) => {
                if !is_body(body) {
                    return Err(missing_body("goal.body".to_string(), body));
                }
                self.num("goal.within", *within, Rule::Positive, MAX_GOAL_SECONDS)?;
            }
        }
        let goal_within = match &s.goal {
            Some(
                GoalSpec::Touch { within, .. }
                | GoalSpec::Avoid { within, .. }
                | GoalSpec::Reach { within, .. }
                | GoalSpec::Topple { within, .. },
            ) => Some(*within),
            None => None,
        };
        match (&s.goal, &s.actions) {
            (Some(_), None) => {
                return Err(self.err(
                    "goal",
                    "has no `actions`; add actions: (bodies: [\"name\"], max_impulse: 2.0) saying what may be pushed",
                ));
            }
            (_, Some(act)) => {
                if act.bodies.is_empty() {
                    return Err(self.err(
                        "actions.bodies",
                        "is empty; name at least one body the planner may push",
                    ));
                }
                for (i, b) in act.bodies.iter().enumerate() {
                    if !is_body(b) {
                        return Err(missing_body(format!("actions.bodies[{i}]"), b));
                    }
                }
                self.num(
                    "actions.max_impulse",
                    act.max_impulse,
                    Rule::Positive,
                    1.0e6,
                )?;
                self.num(
                    "actions.max_elevation",
                    act.max_elevation,
                    Rule::NonNegative,
                    90.0,
                )?;
                if act.ticks.is_empty() {
                    return Err(self.err(
                        "actions.ticks",
                        "is empty; give at least one tick, like [0]",
                    ));
                }
                if let Some(t) = act.ticks.iter().find(|t| **t > 1_000_000) {
                    return Err(self.err(
                        "actions.ticks",
                        format!("tick {t} is beyond the limit of 1000000"),
                    ));
                }
                let first = act.ticks.iter().min().copied().unwrap_or(0);
                if let Some(w) = goal_within
                    && first as f32 * s.time_step.max() >= w.min()
                {
                    return Err(self.err(
                        "actions.ticks",
                        format!(
                            "the earliest push (tick {first}, {:.2} s) comes after the goal's time limit ({} s); allow an earlier tick",
                            first as f32 * s.time_step.max(),
                            w
                        ),
                    ));
                }
            }
            (None, None) => {}
        }
        Ok(())
    }
}

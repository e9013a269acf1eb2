//! Sampling: a validated [`Scene`] plus a seed gives one concrete [`SceneInstance`], with
//! every range drawn, every `repeat` expanded and every name resolved to an index. The
//! same scene and seed always give the same instance. Running it lives in `world`.

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rapier3d::math::{Rotation, Vector};
use serde::{Deserialize, Serialize};

use crate::error::{SceneError, SimError};
use crate::num::{Num, Vec3Spec, sample_vec3};
use crate::scene::{
    GoalSpec, JointSpec, QuestionSpec, Repeat, Role, Scene, ShapeSpec, StaticSpec, parse_colour,
};

/// A concrete shape; sizes are full extents in metres, as in scene files.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// A ball.
    Sphere {
        /// Radius.
        radius: f32,
    },
    /// A box.
    Cuboid {
        /// Full side lengths.
        size: [f32; 3],
    },
    /// A cylinder along local y.
    Cylinder {
        /// Radius.
        radius: f32,
        /// Full height.
        height: f32,
    },
    /// A capsule along local y.
    Capsule {
        /// Radius.
        radius: f32,
        /// Straight middle length.
        length: f32,
    },
}

impl Shape {
    /// The shape with every length times `k`.
    pub fn scaled(&self, k: f32) -> Shape {
        match *self {
            Shape::Sphere { radius } => Shape::Sphere { radius: radius * k },
            Shape::Cuboid { size } => Shape::Cuboid {
                size: size.map(|v| v * k),
            },
            Shape::Cylinder { radius, height } => Shape::Cylinder {
                radius: radius * k,
                height: height * k,
            },
            Shape::Capsule { radius, length } => Shape::Capsule {
                radius: radius * k,
                length: length * k,
            },
        }
    }

    /// Half extents of the shape's local bounding box.
    pub fn half_extents(&self) -> [f32; 3] {
        match *self {
            Shape::Sphere { radius } => [radius; 3],
            Shape::Cuboid { size } => [size[0] / 2.0, size[1] / 2.0, size[2] / 2.0],
            Shape::Cylinder { radius, height } => [radius, height / 2.0, radius],
            Shape::Capsule { radius, length } => [radius, length / 2.0 + radius, radius],
        }
    }

    /// Radius of the smallest ball around the centre that contains the shape.
    pub fn bounding_radius(&self) -> f32 {
        let h = self.half_extents();
        match *self {
            Shape::Sphere { radius } => radius,
            Shape::Capsule { radius, length } => length / 2.0 + radius,
            _ => (h[0] * h[0] + h[1] * h[1] + h[2] * h[2]).sqrt(),
        }
    }

    /// A small integer naming the kind, for features and drawing.
    pub fn kind_index(&self) -> usize {
        match self {
            Shape::Sphere { .. } => 0,
            Shape::Cuboid { .. } => 1,
            Shape::Cylinder { .. } => 2,
            Shape::Capsule { .. } => 3,
        }
    }
}

/// A position and a rotation (quaternion `[x, y, z, w]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Position of the centre.
    pub position: [f32; 3],
    /// Rotation quaternion `[x, y, z, w]`.
    pub rotation: [f32; 4],
}

impl Pose {
    /// The rotation as rapier's quaternion type.
    pub fn quat(&self) -> Rotation {
        let [x, y, z, w] = self.rotation;
        Rotation::from_xyzw(x, y, z, w)
    }

    /// The position as rapier's vector type.
    pub fn vector(&self) -> Vector {
        Vector::from_array(self.position)
    }

    /// The pose as rapier's pose type.
    pub fn rapier(&self) -> rapier3d::math::Pose {
        rapier3d::math::Pose::from_parts(self.vector(), self.quat())
    }
}

/// Rotation from degrees about x, then y, then z, all world axes.
pub fn rotation_from_degrees(d: [f32; 3]) -> Rotation {
    let [x, y, z] = d.map(f32::to_radians);
    Rotation::from_rotation_z(z) * Rotation::from_rotation_y(y) * Rotation::from_rotation_x(x)
}

/// Something an outcome question or a contact can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectRef {
    /// A dynamic body by index.
    Body(usize),
    /// A static collider by index.
    Static(usize),
}

/// A fixed collider of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticBody {
    /// Name, if any.
    pub name: Option<String>,
    /// Shape.
    pub shape: Shape,
    /// Pose.
    pub pose: Pose,
    /// Friction coefficient.
    pub friction: f32,
    /// Restitution.
    pub restitution: f32,
    /// RGB colour in [0, 1].
    pub colour: [f32; 3],
}

/// A dynamic body of an instance, at its starting state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BodyDesc {
    /// Name, if any.
    pub name: Option<String>,
    /// Shape.
    pub shape: Shape,
    /// Starting pose.
    pub pose: Pose,
    /// Starting linear velocity, m/s.
    pub velocity: [f32; 3],
    /// Starting angular velocity, rad/s.
    pub angular_velocity: [f32; 3],
    /// Density, kg/m³.
    pub density: f32,
    /// Friction coefficient.
    pub friction: f32,
    /// Restitution.
    pub restitution: f32,
    /// RGB colour in [0, 1].
    pub colour: [f32; 3],
    /// Agent or patient, if given.
    pub role: Option<Role>,
}

/// The kind of a joint, with its parameters in world coordinates at the start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum JointKind {
    /// Locks relative pose.
    Fixed,
    /// Hinge.
    Revolute {
        /// Hinge point.
        anchor: [f32; 3],
        /// Unit hinge axis.
        axis: [f32; 3],
    },
    /// Ball and socket.
    Spherical {
        /// Joint point.
        anchor: [f32; 3],
    },
}

/// A joint between body `a` and body `b` (or the world when `b` is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Joint {
    /// Kind and parameters.
    pub kind: JointKind,
    /// First body index.
    pub a: usize,
    /// Second body index, or the world.
    pub b: Option<usize>,
}

/// An impulse on a body just before a tick is stepped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Push {
    /// Body index.
    pub body: usize,
    /// Tick at which it is applied (before that tick's step).
    pub tick: u64,
    /// Impulse, N·s.
    pub impulse: [f32; 3],
    /// Point of application relative to the body's centre, world axes.
    pub offset: [f32; 3],
}

/// The pushes at or after `tick`, with their ticks counted from it (what a forecast made
/// at `tick` is told).
pub fn pushes_from(pushes: &[Push], tick: u64) -> Vec<Push> {
    pushes
        .iter()
        .filter(|p| p.tick >= tick)
        .map(|p| Push {
            tick: p.tick - tick,
            ..*p
        })
        .collect()
}

/// "Does `a` touch `b` within `within_ticks` ticks?"
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The moving body.
    pub a: ObjectRef,
    /// The target.
    pub b: ObjectRef,
    /// Time limit in ticks.
    pub within_ticks: u64,
}

/// What a planning goal asks for (see [`Goal`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum GoalKind {
    /// Body `a` touches `b`.
    Touch {
        /// The body.
        a: usize,
        /// What it must touch.
        b: ObjectRef,
    },
    /// Body `a` does not touch `b`.
    Avoid {
        /// The body.
        a: usize,
        /// What it must not touch.
        b: ObjectRef,
    },
    /// Body `body`'s centre comes within `radius` of `point`.
    Reach {
        /// The body.
        body: usize,
        /// Target point, world coordinates.
        point: [f32; 3],
        /// How close counts, m.
        radius: f32,
    },
    /// Body `body`'s up axis tilts past 45°.
    Topple {
        /// The body.
        body: usize,
    },
}

/// A planning goal: what must (or must not) happen within `within_ticks` ticks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    /// What is asked.
    pub kind: GoalKind,
    /// Time limit in ticks from the start of the run.
    pub within_ticks: u64,
}

/// The pushes a planner may choose from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionSpace {
    /// Bodies that may be pushed.
    pub bodies: Vec<usize>,
    /// Largest impulse, N·s.
    pub max_impulse: f32,
    /// Largest angle above the horizontal, radians.
    pub max_elevation: f32,
    /// Ticks at which the push may come.
    pub ticks: Vec<u64>,
}

/// One concrete variant of a scene: every number drawn, every name resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneInstance {
    /// Scene name.
    pub name: String,
    /// Scene description.
    pub description: String,
    /// Seed this instance was drawn with.
    pub seed: u64,
    /// Gravity, m/s².
    pub gravity: [f32; 3],
    /// Fixed time step, s.
    pub dt: f32,
    /// Default number of steps (the scene's duration over the time step).
    pub steps: u64,
    /// Fixed colliders.
    pub statics: Vec<StaticBody>,
    /// Dynamic bodies, in scene order; a body's index is its stable id.
    pub bodies: Vec<BodyDesc>,
    /// Joints.
    pub joints: Vec<Joint>,
    /// Scripted pushes, sorted by tick.
    pub pushes: Vec<Push>,
    /// The outcome question, if any.
    pub question: Option<Question>,
    /// The planning goal, if any.
    pub goal: Option<Goal>,
    /// The pushes a planner may choose, if any.
    pub actions: Option<ActionSpace>,
}

/// Default body colours, by body index, when a body gives none.
const PALETTE: [[f32; 3]; 8] = [
    [0.90, 0.30, 0.24],
    [0.20, 0.55, 0.85],
    [0.95, 0.70, 0.20],
    [0.30, 0.70, 0.40],
    [0.60, 0.40, 0.80],
    [0.95, 0.50, 0.65],
    [0.35, 0.75, 0.80],
    [0.85, 0.55, 0.30],
];
const STATIC_COLOUR: [f32; 3] = [0.55, 0.57, 0.60];

fn colour_or(c: &Option<String>, fallback: [f32; 3]) -> [f32; 3] {
    c.as_deref().and_then(parse_colour).unwrap_or(fallback)
}

fn sample_shape(s: &ShapeSpec, rng: &mut ChaCha8Rng) -> Shape {
    match s {
        ShapeSpec::Sphere { radius } => Shape::Sphere {
            radius: radius.sample(rng),
        },
        ShapeSpec::Cuboid { size } => Shape::Cuboid {
            size: sample_vec3(*size, rng),
        },
        ShapeSpec::Cylinder { radius, height } => Shape::Cylinder {
            radius: radius.sample(rng),
            height: height.sample(rng),
        },
        ShapeSpec::Capsule { radius, length } => Shape::Capsule {
            radius: radius.sample(rng),
            length: length.sample(rng),
        },
    }
}

fn pose(position: [f32; 3], rotation: Rotation) -> Pose {
    let r = rotation.normalize();
    Pose {
        position,
        rotation: [r.x, r.y, r.z, r.w],
    }
}

fn add(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn scale(a: [f32; 3], s: f32) -> [f32; 3] {
    [a[0] * s, a[1] * s, a[2] * s]
}

fn deg_vec(v: Vec3Spec, rng: &mut ChaCha8Rng) -> [f32; 3] {
    sample_vec3(v, rng).map(f32::to_radians)
}

impl Scene {
    /// Draws one concrete instance with `seed`. The scene must have been validated
    /// (as [`Scene::load`] and [`Scene::parse`] do).
    pub fn sample(&self, seed: u64) -> Result<SceneInstance, SimError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let bad = |path: String, problem: &str| SimError::BadSample {
            scene: self.name.clone(),
            path,
            problem: problem.to_string(),
        };
        let gravity = sample_vec3(self.gravity, &mut rng);
        let dt = self.time_step.sample(&mut rng);
        let duration = self.duration.sample(&mut rng);
        let steps = ((duration / dt).round() as u64).max(1);

        let statics = self
            .statics
            .iter()
            .map(|s| match s {
                StaticSpec::Ground {
                    name,
                    y,
                    size,
                    friction,
                    restitution,
                    colour,
                } => {
                    let y = y.sample(&mut rng);
                    let size = size.sample(&mut rng);
                    StaticBody {
                        name: name.clone(),
                        shape: Shape::Cuboid {
                            size: [size, 1.0, size],
                        },
                        pose: pose([0.0, y - 0.5, 0.0], Rotation::IDENTITY),
                        friction: friction.sample(&mut rng),
                        restitution: restitution.sample(&mut rng),
                        colour: colour_or(colour, [0.42, 0.45, 0.48]),
                    }
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
                    let shape = sample_shape(shape, &mut rng);
                    let position = sample_vec3(*position, &mut rng);
                    let rotation = rotation_from_degrees(sample_vec3(*rotation, &mut rng));
                    StaticBody {
                        name: name.clone(),
                        shape,
                        pose: pose(position, rotation),
                        friction: friction.sample(&mut rng),
                        restitution: restitution.sample(&mut rng),
                        colour: colour_or(colour, STATIC_COLOUR),
                    }
                }
            })
            .collect();

        let names = self.expanded_names();
        let mut bodies = Vec::with_capacity(names.len());
        for spec in &self.bodies {
            let count = spec.repeat.as_ref().map_or(1, Repeat::count);
            // Repeat parameters are drawn once per template; each copy draws its own body values.
            let (step, ring_radius, grid) = match &spec.repeat {
                None => ([0.0; 3], 0.0, (1, 1, 1)),
                Some(Repeat::Row { spacing, .. }) => {
                    (sample_vec3(*spacing, &mut rng), 0.0, (1, 1, 1))
                }
                Some(Repeat::Stack { spacing, .. }) => {
                    ([0.0, spacing.sample(&mut rng), 0.0], 0.0, (1, 1, 1))
                }
                Some(Repeat::Grid { count, spacing }) => {
                    (sample_vec3(*spacing, &mut rng), 0.0, *count)
                }
                Some(Repeat::Ring { radius, .. }) => ([0.0; 3], radius.sample(&mut rng), (1, 1, 1)),
            };
            for i in 0..count {
                let shape = sample_shape(&spec.shape, &mut rng);
                let base = sample_vec3(spec.position, &mut rng);
                let mut rotation = rotation_from_degrees(sample_vec3(spec.rotation, &mut rng));
                let offset = match &spec.repeat {
                    Some(Repeat::Grid { .. }) => {
                        let (nx, ny, _) = (u64::from(grid.0), u64::from(grid.1), grid.2);
                        let (ix, iy, iz) = (i % nx, (i / nx) % ny, i / (nx * ny));
                        [
                            step[0] * ix as f32,
                            step[1] * iy as f32,
                            step[2] * iz as f32,
                        ]
                    }
                    Some(Repeat::Ring { .. }) => {
                        let theta = std::f32::consts::TAU * i as f32 / count as f32;
                        rotation = Rotation::from_rotation_y(-theta) * rotation;
                        [ring_radius * theta.cos(), 0.0, ring_radius * theta.sin()]
                    }
                    _ => scale(step, i as f32),
                };
                let index = bodies.len();
                bodies.push(BodyDesc {
                    name: names[index].clone(),
                    shape,
                    pose: pose(add(base, offset), rotation),
                    velocity: sample_vec3(spec.velocity, &mut rng),
                    angular_velocity: deg_vec(spec.angular_velocity, &mut rng),
                    density: spec.density.sample(&mut rng),
                    friction: spec.friction.sample(&mut rng),
                    restitution: spec.restitution.sample(&mut rng),
                    colour: colour_or(&spec.colour, PALETTE[index % PALETTE.len()]),
                    role: spec.role,
                });
            }
        }

        let body_index = |n: &str| names.iter().position(|x| x.as_deref() == Some(n));
        let static_index = |n: &str| {
            self.static_names()
                .iter()
                .position(|x| x.as_deref() == Some(n))
        };
        let resolve = |path: String, n: &str| {
            body_index(n).ok_or_else(|| bad(path, "names a body that does not exist"))
        };

        let mut joints = Vec::new();
        for (i, j) in self.joints.iter().enumerate() {
            let p = format!("joints[{i}]");
            let (a, b, kind) = match j {
                JointSpec::Fixed { a, b } => (a, b, JointKind::Fixed),
                JointSpec::Revolute { a, b, anchor, axis } => {
                    let anchor = sample_vec3(*anchor, &mut rng);
                    let axis = Vector::from_array(sample_vec3(*axis, &mut rng));
                    let axis = axis.try_normalize().ok_or_else(|| {
                        bad(
                            format!("{p}.axis"),
                            "came out as (0, 0, 0); use a range that excludes zero",
                        )
                    })?;
                    (
                        a,
                        b,
                        JointKind::Revolute {
                            anchor,
                            axis: axis.to_array(),
                        },
                    )
                }
                JointSpec::Spherical { a, b, anchor } => (
                    a,
                    b,
                    JointKind::Spherical {
                        anchor: sample_vec3(*anchor, &mut rng),
                    },
                ),
            };
            let a = resolve(format!("{p}.a"), a)?;
            let b = match b {
                Some(b) => Some(resolve(format!("{p}.b"), b)?),
                None => None,
            };
            joints.push(Joint { kind, a, b });
        }

        let mut pushes = Vec::new();
        for (i, p) in self.pushes.iter().enumerate() {
            pushes.push(Push {
                body: resolve(format!("pushes[{i}].body"), &p.body)?,
                tick: p.tick.sample(&mut rng).round().max(0.0) as u64,
                impulse: sample_vec3(p.impulse, &mut rng),
                offset: sample_vec3(p.offset, &mut rng),
            });
        }
        pushes.sort_by_key(|p| p.tick);

        let question = match &self.question {
            None => None,
            Some(QuestionSpec::Touch { a, b, within }) => {
                let a = ObjectRef::Body(resolve("question.a".into(), a)?);
                let b = match (body_index(b), static_index(b)) {
                    (Some(i), _) => ObjectRef::Body(i),
                    (None, Some(i)) => ObjectRef::Static(i),
                    _ => return Err(bad("question.b".into(), "names nothing in the scene")),
                };
                let within: f32 = Num::sample(*within, &mut rng);
                Some(Question {
                    a,
                    b,
                    within_ticks: (within / dt).round().max(1.0) as u64,
                })
            }
        };

        // Drawn after everything else, so a goal does not change the rest of the scene.
        let object = |path: &str, n: &str| match (body_index(n), static_index(n)) {
            (Some(i), _) => Ok(ObjectRef::Body(i)),
            (None, Some(i)) => Ok(ObjectRef::Static(i)),
            _ => Err(bad(path.into(), "names nothing in the scene")),
        };
        let ticks =
            |within: Num, rng: &mut ChaCha8Rng| (within.sample(rng) / dt).round().max(1.0) as u64;
        let goal = match &self.goal {
            None => None,
            Some(GoalSpec::Touch { a, b, within }) => Some(Goal {
                kind: GoalKind::Touch {
                    a: resolve("goal.a".into(), a)?,
                    b: object("goal.b", b)?,
                },
                within_ticks: ticks(*within, &mut rng),
            }),
            Some(GoalSpec::Avoid { a, b, within }) => Some(Goal {
                kind: GoalKind::Avoid {
                    a: resolve("goal.a".into(), a)?,
                    b: object("goal.b", b)?,
                },
                within_ticks: ticks(*within, &mut rng),
            }),
            Some(GoalSpec::Reach {
                body,
                point,
                radius,
                within,
            }) => Some(Goal {
                kind: GoalKind::Reach {
                    body: resolve("goal.body".into(), body)?,
                    point: sample_vec3(*point, &mut rng),
                    radius: radius.sample(&mut rng),
                },
                within_ticks: ticks(*within, &mut rng),
            }),
            Some(GoalSpec::Topple { body, within }) => Some(Goal {
                kind: GoalKind::Topple {
                    body: resolve("goal.body".into(), body)?,
                },
                within_ticks: ticks(*within, &mut rng),
            }),
        };
        let actions = match &self.actions {
            None => None,
            Some(a) => Some(ActionSpace {
                bodies: a
                    .bodies
                    .iter()
                    .enumerate()
                    .map(|(i, b)| resolve(format!("actions.bodies[{i}]"), b))
                    .collect::<Result<_, _>>()?,
                max_impulse: a.max_impulse.sample(&mut rng),
                max_elevation: a.max_elevation.sample(&mut rng).to_radians(),
                ticks: a.ticks.clone(),
            }),
        };

        Ok(SceneInstance {
            name: self.name.clone(),
            description: self.description.clone(),
            seed,
            gravity,
            dt,
            steps,
            statics,
            bodies,
            joints,
            pushes,
            question,
            goal,
            actions,
        })
    }
}

impl SceneInstance {
    /// Loads a scene file and draws its variant `seed`; an error names the file.
    pub fn load(path: impl AsRef<Path>, seed: u64) -> Result<SceneInstance, SceneError> {
        let path = path.as_ref();
        Scene::load(path)?
            .sample(seed)
            .map_err(|source| SceneError::Sample {
                file: path.display().to_string(),
                source,
            })
    }

    /// A body's or static's name, or `body 3` / `static 3` when it has none.
    pub fn object_name(&self, o: ObjectRef) -> String {
        let named = match o {
            ObjectRef::Body(i) => self.bodies.get(i).map(|b| &b.name),
            ObjectRef::Static(i) => self.statics.get(i).map(|s| &s.name),
        };
        match (named.cloned().flatten(), o) {
            (Some(n), _) => n,
            (None, ObjectRef::Body(i)) => format!("body {i}"),
            (None, ObjectRef::Static(i)) => format!("static {i}"),
        }
    }

    /// The index of the body with this name.
    pub fn body_index(&self, name: &str) -> Option<usize> {
        self.bodies
            .iter()
            .position(|b| b.name.as_deref() == Some(name))
    }
}

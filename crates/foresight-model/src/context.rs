//! What a predictor knows about a scene besides the moving state: static geometry, body
//! shapes and materials, masses and inertia, joints. Built once per scene instance; the
//! geometric queries (parry) that features need live here too.

use foresight_sim::{
    BodyDesc, BodyState, Joint, JointKind, Push, SceneInstance, StaticBody, Trajectory,
};
use rapier3d::math::{Pose, Rotation, Vector};
use rapier3d::parry::bounding_volume::{Aabb, BoundingVolume};
use rapier3d::parry::shape::SharedShape;

use crate::predictor::MAX_SPEED;
use foresight_sim::world::box_overlap;
pub use foresight_sim::world::{deepest_contact, shared_shape};

/// Pose of a body state.
pub fn pose_of(s: &BodyState) -> Pose {
    Pose::from_parts(Vector::from_array(s.position), rotation_of(s))
}

/// Rotation of a body state.
pub fn rotation_of(s: &BodyState) -> Rotation {
    let [x, y, z, w] = s.rotation;
    Rotation::from_xyzw(x, y, z, w)
}

/// A joint with its anchors in each body's local frame.
#[derive(Debug, Clone, Copy)]
pub struct LocalJoint {
    /// First body.
    pub a: usize,
    /// Second body, or the world.
    pub b: Option<usize>,
    /// 0 fixed, 1 revolute, 2 spherical.
    pub kind: usize,
    /// Anchor in `a`'s frame.
    pub anchor_a: Vector,
    /// Anchor in `b`'s frame, or in the world when `b` is `None`.
    pub anchor_b: Vector,
    /// Hinge axis in `a`'s frame (zero for other kinds).
    pub axis_a: Vector,
    /// Hinge axis in `b`'s frame, or in the world when `b` is `None`.
    pub axis_b: Vector,
    /// `b`'s starting rotation relative to `a`'s (`a`'s inverse when `b` is the world):
    /// what a fixed joint holds.
    pub rest: Rotation,
}

/// Everything static about a scene instance that a predictor may use.
#[derive(Clone)]
pub struct Context {
    /// Time step, s.
    pub dt: f32,
    /// Gravity, m/s².
    pub gravity: [f32; 3],
    /// The forecasts' speed cap, m/s (spins: ten times it, rad/s): [`MAX_SPEED`], or on
    /// another clock (or size) what it is in this one's seconds and lengths
    /// ([`crate::clock`]).
    pub max_speed: f32,
    /// Static colliders.
    pub statics: Vec<StaticBody>,
    /// Dynamic bodies.
    pub bodies: Vec<BodyDesc>,
    /// Mass of each body, kg.
    pub masses: Vec<f32>,
    /// Inverse principal inertia of each body (local axes).
    pub inv_inertia: Vec<[f32; 3]>,
    /// Bounding radius of each body.
    pub radii: Vec<f32>,
    /// Joints with local anchors.
    pub joints: Vec<LocalJoint>,
    /// The scene's joints as given (world anchors at the bodies' starting poses), for
    /// rebuilding the simulator.
    pub scene_joints: Vec<Joint>,
    pub(crate) body_shapes: Vec<SharedShape>,
    pub(crate) static_shapes: Vec<SharedShape>,
    pub(crate) static_poses: Vec<Pose>,
    pub(crate) static_aabbs: Vec<Aabb>,
}

impl Context {
    /// Builds the context of a recorded trajectory.
    pub fn from_trajectory(t: &Trajectory) -> Context {
        Context::new(t.dt, t.gravity, &t.statics, &t.bodies, &t.joints)
    }

    /// Builds the context of a scene instance.
    pub fn from_instance(i: &SceneInstance) -> Context {
        Context::new(i.dt, i.gravity, &i.statics, &i.bodies, &i.joints)
    }

    /// Builds a context from its parts (a scene instance's or a trajectory's).
    pub fn from_parts(
        dt: f32,
        gravity: [f32; 3],
        statics: &[StaticBody],
        bodies: &[BodyDesc],
        joints: &[Joint],
    ) -> Context {
        Context::new(dt, gravity, statics, bodies, joints)
    }

    fn new(
        dt: f32,
        gravity: [f32; 3],
        statics: &[StaticBody],
        bodies: &[BodyDesc],
        joints: &[Joint],
    ) -> Context {
        let scene_joints = joints.to_vec();
        let body_shapes: Vec<SharedShape> = bodies.iter().map(|b| shared_shape(&b.shape)).collect();
        let (masses, inv_inertia): (Vec<f32>, Vec<[f32; 3]>) = bodies
            .iter()
            .zip(&body_shapes)
            .map(|(b, s)| {
                let mp = s.mass_properties(b.density);
                (mp.mass(), mp.inv_principal_inertia.to_array())
            })
            .unzip();
        let static_shapes: Vec<SharedShape> =
            statics.iter().map(|s| shared_shape(&s.shape)).collect();
        let static_poses: Vec<Pose> = statics.iter().map(|s| s.pose.rapier()).collect();
        let static_aabbs = static_shapes
            .iter()
            .zip(&static_poses)
            .map(|(s, p)| s.compute_aabb(p))
            .collect();
        let pose0 = |i: usize| bodies[i].pose.rapier();
        let joints = joints
            .iter()
            .filter(|j| j.a < bodies.len() && j.b.is_none_or(|b| b < bodies.len()))
            .map(|j| {
                let pa = pose0(j.a);
                let (kind, anchor, axis) = match j.kind {
                    JointKind::Fixed => (0, pa.translation, Vector::ZERO),
                    JointKind::Revolute { anchor, axis } => {
                        (1, Vector::from_array(anchor), Vector::from_array(axis))
                    }
                    JointKind::Spherical { anchor } => {
                        (2, Vector::from_array(anchor), Vector::ZERO)
                    }
                };
                LocalJoint {
                    a: j.a,
                    b: j.b,
                    kind,
                    anchor_a: pa.inverse_transform_point(anchor),
                    anchor_b: match j.b {
                        Some(b) => pose0(b).inverse_transform_point(anchor),
                        None => anchor,
                    },
                    axis_a: pa.rotation.inverse() * axis,
                    axis_b: match j.b {
                        Some(b) => pose0(b).rotation.inverse() * axis,
                        None => axis,
                    },
                    rest: match j.b {
                        Some(b) => pa.rotation.inverse() * pose0(b).rotation,
                        None => pa.rotation.inverse(),
                    },
                }
            })
            .collect();
        Context {
            dt,
            gravity,
            max_speed: MAX_SPEED,
            statics: statics.to_vec(),
            bodies: bodies.to_vec(),
            masses,
            inv_inertia,
            radii: bodies.iter().map(|b| b.shape.bounding_radius()).collect(),
            joints,
            scene_joints,
            body_shapes,
            static_shapes,
            static_poses,
            static_aabbs,
        }
    }

    /// Number of dynamic bodies.
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Whether there are no dynamic bodies.
    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }

    /// The instantaneous velocity change `(Δv, Δω)` a push gives body `p.body` in state `s`.
    pub fn kick(&self, p: &Push, s: &BodyState) -> ([f32; 3], [f32; 3]) {
        let i = p.body;
        let j = Vector::from_array(p.impulse);
        let dv = j / self.masses[i];
        let r = Vector::from_array(p.offset);
        let torque = r.cross(j);
        let rot = rotation_of(s);
        let local = rot.inverse() * torque;
        let inv = Vector::from_array(self.inv_inertia[i]);
        let dw = rot * (local * inv);
        (dv.to_array(), dw.to_array())
    }

    /// Exact distance between two bodies' shapes at their states (0 when overlapping).
    pub fn body_distance(&self, a: usize, sa: &BodyState, b: usize, sb: &BodyState) -> f32 {
        rapier3d::parry::query::distance(
            &pose_of(sa),
            &*self.body_shapes[a],
            &pose_of(sb),
            &*self.body_shapes[b],
        )
        .map_or(f32::INFINITY, |d| d.distance)
    }

    /// Exact distance between a body at a state and a static collider.
    pub fn static_distance(&self, a: usize, sa: &BodyState, s: usize) -> f32 {
        rapier3d::parry::query::distance(
            &pose_of(sa),
            &*self.body_shapes[a],
            &self.static_poses[s],
            &*self.static_shapes[s],
        )
        .map_or(f32::INFINITY, |d| d.distance)
    }

    /// Contact query between body `a` and static `s` within `prediction` metres:
    /// `(gap, normal from body to static, contact point on the body)`.
    pub fn static_contact(
        &self,
        a: usize,
        sa: &BodyState,
        s: usize,
        prediction: f32,
    ) -> Option<(f32, Vector, Vector)> {
        let pa = pose_of(sa);
        let r = self.radii[a] + prediction;
        let centre = pa.translation;
        let aabb = Aabb::new(centre - Vector::splat(r), centre + Vector::splat(r));
        if !aabb.intersects(&self.static_aabbs[s]) {
            return None;
        }
        let (gap, n, p, _) = deepest_contact(
            &pa,
            &*self.body_shapes[a],
            &self.static_poses[s],
            &*self.static_shapes[s],
            prediction,
        )?;
        Some((gap, n, p))
    }

    /// Contact query between two bodies within `prediction` metres:
    /// `(gap, normal from a to b, point on a, point on b)`.
    pub(crate) fn body_contact(
        &self,
        a: usize,
        sa: &BodyState,
        b: usize,
        sb: &BodyState,
        prediction: f32,
    ) -> Option<(f32, Vector, Vector, Vector)> {
        deepest_contact(
            &pose_of(sa),
            &*self.body_shapes[a],
            &pose_of(sb),
            &*self.body_shapes[b],
            prediction,
        )
    }

    /// An upper bound on how deep body `a` at state `sa` sinks into static `s`, m: the
    /// shortest move along one of the three axes that parts their bounding boxes (and so
    /// the shapes), either way along it; 0 when the boxes are apart. Exact for a box
    /// lying square on the floor; far cheaper than a contact query.
    pub fn static_depth_bound(&self, a: usize, sa: &BodyState, s: usize) -> f32 {
        let body = self.body_shapes[a].compute_aabb(&pose_of(sa));
        box_overlap(&body, &self.static_aabbs[s]).0
    }

    /// How deep body `a` at state `sa` sinks into static `s`, m (0 when apart or touching).
    pub fn static_penetration(&self, a: usize, sa: &BodyState, s: usize) -> f32 {
        let pa = pose_of(sa);
        let r = Vector::splat(self.radii[a]);
        let aabb = Aabb::new(pa.translation - r, pa.translation + r);
        if !aabb.intersects(&self.static_aabbs[s]) {
            return 0.0;
        }
        deepest_contact(
            &pa,
            &*self.body_shapes[a],
            &self.static_poses[s],
            &*self.static_shapes[s],
            0.0,
        )
        .map_or(0.0, |c| (-c.0).max(0.0))
    }
}

/// A rotation of the whole world, after an optional mirror of x: a scene so transformed
/// moves as the scene did, transformed (training's augmentation, [`crate::train::Symmetry`];
/// a scene whose gravity points elsewhere than the model's, [`crate::clock`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn {
    /// The rotation, applied after the mirror.
    pub rotation: Rotation,
    /// Mirror x first.
    pub mirror: bool,
}

impl Turn {
    /// A vector (position, velocity, impulse).
    pub fn vector(&self, v: [f32; 3]) -> [f32; 3] {
        let v = if self.mirror { [-v[0], v[1], v[2]] } else { v };
        (self.rotation * Vector::from_array(v)).to_array()
    }

    /// A pseudo-vector (angular velocity): mirrored with the sign of the determinant.
    pub fn pseudo(&self, w: [f32; 3]) -> [f32; 3] {
        let w = if self.mirror { [w[0], -w[1], -w[2]] } else { w };
        (self.rotation * Vector::from_array(w)).to_array()
    }

    /// An orientation `[x, y, z, w]`: M·R·M under the mirror (our shapes are symmetric
    /// under their own x mirror), then turned.
    pub fn orientation(&self, q: [f32; 4]) -> [f32; 4] {
        let [x, y, z, w] = q;
        let q = if self.mirror {
            Rotation::from_xyzw(x, -y, -z, w)
        } else {
            Rotation::from_xyzw(x, y, z, w)
        };
        let r = (self.rotation * q).normalize();
        [r.x, r.y, r.z, r.w]
    }

    /// A body state.
    pub fn state(&self, s: &BodyState) -> BodyState {
        BodyState {
            position: self.vector(s.position),
            rotation: self.orientation(s.rotation),
            velocity: self.vector(s.velocity),
            angular_velocity: self.pseudo(s.angular_velocity),
        }
    }

    fn pose(&self, p: &foresight_sim::Pose) -> foresight_sim::Pose {
        foresight_sim::Pose {
            position: self.vector(p.position),
            rotation: self.orientation(p.rotation),
        }
    }

    /// A push.
    pub fn push(&self, p: &Push) -> Push {
        Push {
            impulse: self.vector(p.impulse),
            offset: self.vector(p.offset),
            ..*p
        }
    }

    /// No turn at all.
    pub const NONE: Turn = Turn {
        rotation: Rotation::IDENTITY,
        mirror: false,
    };

    /// The context of a scene (statics, bodies, joints, gravity) turned.
    pub fn context(
        &self,
        dt: f32,
        gravity: [f32; 3],
        statics: &[StaticBody],
        bodies: &[BodyDesc],
        joints: &[Joint],
    ) -> Context {
        let (statics, bodies, joints) = self.parts(statics, bodies, joints);
        Context::from_parts(dt, self.vector(gravity), &statics, &bodies, &joints)
    }

    /// A scene's statics, bodies and joints turned.
    pub fn parts(
        &self,
        statics: &[StaticBody],
        bodies: &[BodyDesc],
        joints: &[Joint],
    ) -> (Vec<StaticBody>, Vec<BodyDesc>, Vec<Joint>) {
        let statics: Vec<StaticBody> = statics
            .iter()
            .map(|s| StaticBody {
                pose: self.pose(&s.pose),
                ..s.clone()
            })
            .collect();
        let bodies: Vec<BodyDesc> = bodies
            .iter()
            .map(|b| BodyDesc {
                pose: self.pose(&b.pose),
                velocity: self.vector(b.velocity),
                angular_velocity: self.pseudo(b.angular_velocity),
                ..b.clone()
            })
            .collect();
        let joints: Vec<Joint> = joints
            .iter()
            .map(|j| Joint {
                kind: match j.kind {
                    JointKind::Fixed => JointKind::Fixed,
                    JointKind::Revolute { anchor, axis } => JointKind::Revolute {
                        anchor: self.vector(anchor),
                        axis: self.vector(axis),
                    },
                    JointKind::Spherical { anchor } => JointKind::Spherical {
                        anchor: self.vector(anchor),
                    },
                },
                ..*j
            })
            .collect();
        (statics, bodies, joints)
    }
}

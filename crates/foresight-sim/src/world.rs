//! The rapier world built from a [`SceneInstance`]: stepping, body states in scene
//! order, pushes, snapshots and contact queries. Recording whole runs lives in
//! `trajectory`.

use rapier3d::parry::query;
use rapier3d::prelude::*;

use crate::error::SimError;
use crate::instance::{JointKind, ObjectRef, Pose, SceneInstance, Shape};
use crate::trajectory::BodyState;

/// Two shapes closer than this (metres) count as touching.
pub const TOUCH_DISTANCE: f32 = 0.005;

const STATIC_TAG: u128 = 1 << 64;

/// Every piece of rapier state that changes while stepping; cloning it is a snapshot.
#[derive(Clone)]
struct Physics {
    islands: IslandManager,
    broad_phase: BroadPhaseBvh,
    narrow_phase: NarrowPhase,
    bodies: RigidBodySet,
    colliders: ColliderSet,
    impulse_joints: ImpulseJointSet,
    multibody_joints: MultibodyJointSet,
    soft_bodies: SoftBodySet,
    ccd_solver: CCDSolver,
}

/// A saved world state: restoring it continues exactly as the original would have.
#[derive(Clone)]
pub struct Snapshot {
    physics: Physics,
    tick: u64,
    body_count: usize,
}

impl Snapshot {
    /// The tick at which the snapshot was taken.
    pub fn tick(&self) -> u64 {
        self.tick
    }
}

/// Substeps rapier divides every tick into (its solver iterations, rapier's default):
/// velocities and positions are integrated once per substep, so over one tick a body in
/// free flight moves `v·dt + (s + 1)/(2s)·g·dt²`, not the `v·dt + g·dt²` of one
/// semi-implicit Euler step.
pub const SUBSTEPS: usize = 4;

/// A running simulation of one scene instance.
pub struct World {
    instance: SceneInstance,
    gravity: Vector,
    params: IntegrationParameters,
    pipeline: PhysicsPipeline,
    physics: Physics,
    handles: Vec<RigidBodyHandle>,
    body_colliders: Vec<ColliderHandle>,
    static_colliders: Vec<ColliderHandle>,
    tick: u64,
    initial: Snapshot,
}

/// The parry shape of one of our shapes (sizes are full extents).
pub fn shared_shape(shape: &Shape) -> rapier3d::parry::shape::SharedShape {
    use rapier3d::parry::shape::SharedShape;
    match *shape {
        Shape::Sphere { radius } => SharedShape::ball(radius),
        Shape::Cuboid { size } => SharedShape::cuboid(size[0] / 2.0, size[1] / 2.0, size[2] / 2.0),
        Shape::Cylinder { radius, height } => SharedShape::cylinder(height / 2.0, radius),
        // A capsule with no straight part is a ball; as a capsule its segment has no
        // direction, and contact points on it come out NaN.
        Shape::Capsule { radius, length } if length <= 1e-4 * radius => SharedShape::ball(radius),
        Shape::Capsule { radius, length } => SharedShape::capsule_y(length / 2.0, radius),
    }
}

/// The deepest contact between two convex shapes within `prediction` metres, from the
/// contact manifold rapier's solver itself would build:
/// `(gap, unit normal from shape 1 to shape 2, point on 1, point on 2)`, world frame.
///
/// Not `parry::query::contact`: for two cuboids it runs the generic GJK/EPA path, which
/// gives garbage for a box resting on a much larger one (a cube touching the floor slab
/// with one corner was reported 0.21 m deep, its second point 18 m away) and arbitrary
/// normals for faces in contact. The manifold uses rapier's cuboid–cuboid clipping and the
/// exact ball cases; other pairs with a cylinder or capsule still go through GJK/EPA (then
/// clipping), and shapes the manifold code does not support fall back to `query::contact`.
/// Where faces rest on faces the deepest point is one of the tied corners. A depth
/// greater than the two bounding boxes overlap along an axis, which no contact can have,
/// is a failed query: the boxes' shortest way apart is returned instead.
pub fn deepest_contact(
    p1: &rapier3d::math::Pose,
    s1: &dyn rapier3d::parry::shape::Shape,
    p2: &rapier3d::math::Pose,
    s2: &dyn rapier3d::parry::shape::Shape,
    prediction: f32,
) -> Option<(f32, Vector, Vector, Vector)> {
    use query::{ContactManifold, DefaultQueryDispatcher, PersistentQueryDispatcher};
    let pos12 = p1.inverse() * *p2;
    let mut m = ContactManifold::<(), ()>::new();
    let supported = DefaultQueryDispatcher
        .contact_manifold_convex_convex(&pos12, s1, s2, None, None, prediction, &mut m)
        .is_ok();
    if !supported {
        let c = query::contact(p1, s1, p2, s2, prediction).ok()??;
        return Some((c.dist, c.normal1, c.point1, c.point2));
    }
    let c = m.find_deepest_contact()?;
    if c.dist > prediction {
        return None;
    }
    // (The boxes are computed only for a contact deeper than the tolerance, as the bound
    // is never negative.)
    let boxes = (c.dist < -1e-3).then(|| (s1.compute_aabb(p1), s2.compute_aabb(p2)));
    if let Some((b1, b2)) = boxes
        && let (bound, axis) = box_overlap(&b1, &b2)
        && -c.dist > bound + 1e-3
    {
        // Deeper than the boxes overlap, which no contact can be: GJK/EPA failed (seen for
        // a cylinder lying on a floor slab: 21 m in a 1 m slab). The boxes' shortest way
        // apart stands in, exact for a body on an axis-aligned floor or wall.
        let centre = b1.center();
        let k = axis.abs().max_position();
        let mut on1 = centre;
        on1[k] = if axis[k] > 0.0 {
            b1.maxs[k]
        } else {
            b1.mins[k]
        };
        return Some((-bound, axis, on1, on1 - axis * bound));
    }
    Some((
        c.dist,
        p1.rotation * m.local_n1,
        p1.transform_point(c.local_p1),
        p2.transform_point(c.local_p2),
    ))
}

/// The shortest move along one axis that parts two overlapping boxes, and the unit axis
/// pointing from the first box into the second (the first would move against it): an
/// upper bound on the depth of any two shapes inside them. `(0, ·)` when they are apart.
pub fn box_overlap(
    b1: &rapier3d::parry::bounding_volume::Aabb,
    b2: &rapier3d::parry::bounding_volume::Aabb,
) -> (f32, Vector) {
    // Moving the first box by −`into` along an axis parts them when its far face passes
    // the second's near face, and by +`back` when its near face passes the other far one.
    let into = b1.maxs - b2.mins;
    let back = b2.maxs - b1.mins;
    let mut best = (f32::INFINITY, Vector::Y);
    for k in 0..3 {
        let mut unit = Vector::ZERO;
        if into[k] < best.0 {
            unit[k] = 1.0;
            best = (into[k], unit);
        }
        if back[k] < best.0 {
            unit[k] = -1.0;
            best = (back[k], unit);
        }
    }
    (best.0.max(0.0), best.1)
}

/// Where a ray from `origin` along unit `dir` first meets `shape` placed at `position`
/// with `rotation` (a quaternion `[x, y, z, w]`): its distance along the ray, if it does
/// (picking on the exact shape, not a bounding sphere).
pub fn ray_hit(
    shape: &Shape,
    position: [f32; 3],
    rotation: [f32; 4],
    origin: [f32; 3],
    dir: [f32; 3],
) -> Option<f32> {
    use rapier3d::math::{Pose, Rotation, Vector};
    use rapier3d::parry::query::Ray;
    let [x, y, z, w] = rotation;
    let pose = Pose::from_parts(
        Vector::from_array(position),
        Rotation::from_xyzw(x, y, z, w).normalize(),
    );
    let ray = Ray::new(Vector::from_array(origin), Vector::from_array(dir));
    shared_shape(shape).cast_ray(&pose, &ray, f32::MAX, true)
}

/// A collider builder for one of our shapes.
pub fn collider_builder(shape: &Shape) -> ColliderBuilder {
    ColliderBuilder::new(shared_shape(shape))
}

impl World {
    /// Builds the rapier world for an instance.
    pub fn new(instance: &SceneInstance) -> World {
        let mut bodies = RigidBodySet::new();
        let mut colliders = ColliderSet::new();
        let mut impulse_joints = ImpulseJointSet::new();
        let mut static_colliders = Vec::with_capacity(instance.statics.len());
        let mut body_colliders = Vec::with_capacity(instance.bodies.len());

        for (i, s) in instance.statics.iter().enumerate() {
            let c = collider_builder(&s.shape)
                .position(Pose::rapier(&s.pose))
                .friction(s.friction)
                .restitution(s.restitution)
                .user_data(STATIC_TAG | i as u128);
            static_colliders.push(colliders.insert(c));
        }

        let mut handles = Vec::with_capacity(instance.bodies.len());
        for (i, b) in instance.bodies.iter().enumerate() {
            let rb = RigidBodyBuilder::dynamic()
                .pose(Pose::rapier(&b.pose))
                .linvel(Vector::from_array(b.velocity))
                .angvel(Vector::from_array(b.angular_velocity))
                .user_data(i as u128);
            let h = bodies.insert(rb);
            let c = collider_builder(&b.shape)
                .density(b.density)
                .friction(b.friction)
                .restitution(b.restitution)
                .user_data(i as u128);
            body_colliders.push(colliders.insert_with_parent(c, h, &mut bodies));
            handles.push(h);
        }

        if !instance.joints.is_empty() {
            let anchor_body = bodies.insert(RigidBodyBuilder::fixed());
            for j in &instance.joints {
                let h1 = handles[j.a];
                let h2 = j.b.map_or(anchor_body, |b| handles[b]);
                let p1 = *bodies[h1].position();
                let p2 = *bodies[h2].position();
                let joint: GenericJoint = match j.kind {
                    JointKind::Fixed => {
                        let frame = p1; // the joint frame sits at body a's centre
                        FixedJointBuilder::new()
                            .local_frame1(p1.inverse() * frame)
                            .local_frame2(p2.inverse() * frame)
                            .build()
                            .into()
                    }
                    JointKind::Revolute { anchor, axis } => {
                        let anchor = Vector::from_array(anchor);
                        let axis = Vector::from_array(axis);
                        let mut g: GenericJoint =
                            RevoluteJointBuilder::new(p1.rotation.inverse() * axis)
                                .local_anchor1(p1.inverse_transform_point(anchor))
                                .local_anchor2(p2.inverse_transform_point(anchor))
                                .build()
                                .into();
                        g.set_local_axis2(p2.rotation.inverse() * axis);
                        g
                    }
                    JointKind::Spherical { anchor } => {
                        let anchor = Vector::from_array(anchor);
                        SphericalJointBuilder::new()
                            .local_anchor1(p1.inverse_transform_point(anchor))
                            .local_anchor2(p2.inverse_transform_point(anchor))
                            .build()
                            .into()
                    }
                };
                impulse_joints.insert(h1, h2, joint, true);
            }
        }

        let physics = Physics {
            islands: IslandManager::new(),
            broad_phase: BroadPhaseBvh::new(),
            narrow_phase: NarrowPhase::new(),
            bodies,
            colliders,
            impulse_joints,
            multibody_joints: MultibodyJointSet::new(),
            soft_bodies: SoftBodySet::new(),
            ccd_solver: CCDSolver::new(),
        };
        let params = IntegrationParameters {
            dt: instance.dt,
            num_solver_iterations: SUBSTEPS,
            ..IntegrationParameters::default()
        };
        let initial = Snapshot {
            physics: physics.clone(),
            tick: 0,
            body_count: handles.len(),
        };
        World {
            instance: instance.clone(),
            gravity: Vector::from_array(instance.gravity),
            params,
            pipeline: PhysicsPipeline::new(),
            physics,
            handles,
            body_colliders,
            static_colliders,
            tick: 0,
            initial,
        }
    }

    /// The instance this world runs.
    pub fn instance(&self) -> &SceneInstance {
        &self.instance
    }

    /// Number of dynamic bodies.
    pub fn body_count(&self) -> usize {
        self.handles.len()
    }

    /// Ticks stepped since the start (or the restored snapshot's tick).
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The fixed time step, seconds.
    pub fn dt(&self) -> f32 {
        self.params.dt
    }

    /// Advances one tick: applies the scene's pushes scheduled for this tick, then steps.
    pub fn step(&mut self) {
        let tick = self.tick;
        let start = self.instance.pushes.partition_point(|p| p.tick < tick);
        for k in start..self.instance.pushes.len() {
            let p = self.instance.pushes[k];
            if p.tick != tick {
                break;
            }
            self.push_body(p.body, p.impulse, p.offset);
        }
        self.physics_step();
    }

    /// One rapier step with nothing else.
    fn physics_step(&mut self) {
        let ph = &mut self.physics;
        self.pipeline.step(
            self.gravity,
            &self.params,
            &mut ph.islands,
            &mut ph.broad_phase,
            &mut ph.narrow_phase,
            &mut ph.bodies,
            &mut ph.colliders,
            &mut ph.impulse_joints,
            &mut ph.multibody_joints,
            &mut ph.soft_bodies,
            &mut ph.ccd_solver,
            &(),
            &(),
        );
        self.tick += 1;
    }

    fn push_body(&mut self, body: usize, impulse: [f32; 3], offset: [f32; 3]) {
        let rb = &mut self.physics.bodies[self.handles[body]];
        let point = rb.translation() + Vector::from_array(offset);
        rb.apply_impulse_at_point(Vector::from_array(impulse), point, true);
    }

    /// Applies an impulse (N·s) to a body at `point` (world coordinates; the centre when
    /// `None`). It acts in the next step.
    pub fn apply_impulse(
        &mut self,
        body: usize,
        impulse: [f32; 3],
        point: Option<[f32; 3]>,
    ) -> Result<(), SimError> {
        let count = self.handles.len();
        let h = *self
            .handles
            .get(body)
            .ok_or(SimError::NoSuchBody { index: body, count })?;
        let rb = &mut self.physics.bodies[h];
        let point = point.map_or_else(|| rb.translation(), Vector::from_array);
        rb.apply_impulse_at_point(Vector::from_array(impulse), point, true);
        Ok(())
    }

    /// The state of one body.
    pub fn body_state(&self, body: usize) -> Option<BodyState> {
        let rb = &self.physics.bodies[*self.handles.get(body)?];
        Some(state_of(rb))
    }

    /// The state of every dynamic body, in scene order.
    pub fn states(&self) -> Vec<BodyState> {
        let mut out = Vec::with_capacity(self.handles.len());
        self.states_into(&mut out);
        out
    }

    /// Writes every body's state into `out` (cleared first), reusing its allocation.
    pub fn states_into(&self, out: &mut Vec<BodyState>) {
        out.clear();
        out.extend(
            self.handles
                .iter()
                .map(|h| state_of(&self.physics.bodies[*h])),
        );
    }

    /// Puts every dynamic body at the given state (position, rotation, linear and angular
    /// velocity), in scene order, and wakes it. Joints keep the local frames they were built
    /// with, so build the world with the bodies at their scene poses and move them here.
    /// Contacts are found afresh at the next step; the tick does not change.
    pub fn set_states(&mut self, states: &[BodyState]) -> Result<(), SimError> {
        if states.len() != self.handles.len() {
            return Err(SimError::StateMismatch {
                expected: self.handles.len(),
                got: states.len(),
            });
        }
        for (h, s) in self.handles.iter().zip(states) {
            let rb = &mut self.physics.bodies[*h];
            let [x, y, z, w] = s.rotation;
            let pose = rapier3d::math::Pose::from_parts(
                Vector::from_array(s.position),
                rapier3d::math::Rotation::from_xyzw(x, y, z, w).normalize(),
            );
            rb.set_position(pose, true);
            rb.set_linvel(Vector::from_array(s.velocity), true);
            rb.set_angvel(Vector::from_array(s.angular_velocity), true);
        }
        Ok(())
    }

    /// Mass of each body, kg, in scene order.
    pub fn masses(&self) -> Vec<f32> {
        self.handles
            .iter()
            .map(|h| self.physics.bodies[*h].mass())
            .collect()
    }

    /// Back to the state at construction (tick 0).
    pub fn reset(&mut self) {
        self.physics = self.initial.physics.clone();
        self.tick = 0;
    }

    /// Saves the full state.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            physics: self.physics.clone(),
            tick: self.tick,
            body_count: self.handles.len(),
        }
    }

    /// Restores a snapshot taken from this world.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SimError> {
        if snapshot.body_count != self.handles.len() {
            return Err(SimError::SnapshotMismatch {
                expected: self.handles.len(),
                got: snapshot.body_count,
            });
        }
        self.physics = snapshot.physics.clone();
        self.tick = snapshot.tick;
        Ok(())
    }

    fn object_of(&self, h: ColliderHandle) -> Option<ObjectRef> {
        let data = self.physics.colliders.get(h)?.user_data;
        let index = (data & u128::from(u64::MAX)) as usize;
        Some(if data & STATIC_TAG != 0 {
            ObjectRef::Static(index)
        } else {
            ObjectRef::Body(index)
        })
    }

    fn collider_of(&self, o: ObjectRef) -> Option<&Collider> {
        let h = match o {
            ObjectRef::Body(i) => self.body_colliders.get(i)?,
            ObjectRef::Static(i) => self.static_colliders.get(i)?,
        };
        self.physics.colliders.get(*h)
    }

    /// Exact distance between two colliders at their current poses (negative when they
    /// overlap is reported as 0).
    fn collider_distance(a: &Collider, b: &Collider) -> f32 {
        query::distance(a.position(), a.shape(), b.position(), b.shape())
            .map_or(f32::INFINITY, |d| d.distance)
    }

    /// Pairs of objects touching (closer than [`TOUCH_DISTANCE`]) now, each pair ordered
    /// and the list sorted. The narrow phase proposes candidate pairs; an exact distance
    /// query at the current poses decides, so bodies that came to rest (and fell asleep)
    /// right on a surface still count as touching it.
    pub fn contacts(&self) -> Vec<(ObjectRef, ObjectRef)> {
        let mut out: Vec<(ObjectRef, ObjectRef)> = self
            .physics
            .narrow_phase
            .contact_pairs()
            .filter_map(|p| {
                let (ca, cb) = (
                    self.physics.colliders.get(p.collider1)?,
                    self.physics.colliders.get(p.collider2)?,
                );
                if Self::collider_distance(ca, cb) > TOUCH_DISTANCE {
                    return None;
                }
                let (a, b) = (self.object_of(p.collider1)?, self.object_of(p.collider2)?);
                Some(if a <= b { (a, b) } else { (b, a) })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether `a` and `b` are closer than [`TOUCH_DISTANCE`] now (exact shape query).
    pub fn touching(&self, a: ObjectRef, b: ObjectRef) -> bool {
        match (self.collider_of(a), self.collider_of(b)) {
            (Some(ca), Some(cb)) => Self::collider_distance(ca, cb) <= TOUCH_DISTANCE,
            _ => false,
        }
    }

    /// Pairs of objects that overlap by more than `tolerance` metres right now, by exact
    /// shape queries (no step needed): a scene whose bodies start inside each other.
    pub fn overlaps(&self, tolerance: f32) -> Vec<(ObjectRef, ObjectRef, f32)> {
        let cols: Vec<(ObjectRef, &Collider)> = self
            .physics
            .colliders
            .iter()
            .filter_map(|(h, c)| Some((self.object_of(h)?, c)))
            .collect();
        let mut out = Vec::new();
        for i in 0..cols.len() {
            for j in i + 1..cols.len() {
                let ((oa, ca), (ob, cb)) = (cols[i], cols[j]);
                if matches!((oa, ob), (ObjectRef::Static(_), ObjectRef::Static(_))) {
                    continue;
                }
                if !ca.compute_aabb().intersects(&cb.compute_aabb()) {
                    continue;
                }
                if let Some((dist, ..)) =
                    deepest_contact(ca.position(), ca.shape(), cb.position(), cb.shape(), 0.0)
                    && dist < -tolerance
                {
                    let (a, b) = if oa <= ob { (oa, ob) } else { (ob, oa) };
                    out.push((a, b, -dist));
                }
            }
        }
        out.sort_by_key(|x| (x.0, x.1));
        out
    }
}

fn state_of(rb: &RigidBody) -> BodyState {
    let r = rb.rotation();
    BodyState {
        position: rb.translation().to_array(),
        rotation: [r.x, r.y, r.z, r.w],
        velocity: rb.linvel().to_array(),
        angular_velocity: rb.angvel().to_array(),
    }
}

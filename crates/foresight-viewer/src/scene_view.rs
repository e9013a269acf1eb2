//! The 3-D view: solid bodies and recent paths for the truth, the plan's gizmos, the
//! orbit camera, keys, and click-and-drag pushes (the forecasts are drawn by
//! [`crate::ghosts`]).

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;
use foresight_sim::{BodyState, Shape};

use crate::predictions::Predictions;
use crate::{PlanAsked, Plans, RunReset, Viewer};

/// Colour of the plan: the chosen push's arrow and imagined paths (the other candidates'
/// paths, the fan, are drawn fainter).
pub const PLAN: Color = Color::srgba(0.55, 0.3, 1.0, 1.0);
/// Colour of a goal point.
pub const GOAL: Color = Color::srgba(0.15, 0.9, 0.35, 1.0);

pub(crate) struct SceneViewPlugin;

impl Plugin for SceneViewPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OrbitCamera>()
            .init_resource::<Drag>()
            .add_systems(Startup, spawn_camera_and_light)
            .add_systems(
                Update,
                (
                    respawn_scene,
                    sync_truth,
                    orbit_camera,
                    hover_and_push,
                    draw_lines,
                )
                    .chain()
                    .after(crate::predictions::receive_forecasts)
                    .in_set(crate::Ours),
            )
            .add_systems(Update, apply_render_mode.in_set(crate::Ours))
            // Before the run-reset system, so a restart (R, N) is applied in its frame.
            .add_systems(
                Update,
                keyboard.in_set(crate::Ours).before(crate::reset_on_new_run),
            );
    }
}

#[derive(Component)]
struct SceneEntity;

#[derive(Component)]
struct TruthBody(usize);

/// The meshes of the run's bodies (the truth's, shared with the ghosts), and the run
/// they were made for.
#[derive(Resource)]
pub(crate) struct BodyMeshes {
    pub(crate) generation: u64,
    pub(crate) meshes: Vec<Handle<Mesh>>,
}

/// The orbit camera's focus, angles and distance, and the body it follows, if any.
#[derive(Resource)]
pub struct OrbitCamera {
    focus: Vec3,
    yaw: f32,
    pitch: f32,
    distance: f32,
    /// The body the focus follows (C on a body; C again stops).
    pub follow: Option<usize>,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        OrbitCamera {
            focus: Vec3::new(0.0, 1.0, 0.0),
            yaw: -0.6,
            pitch: 0.45,
            distance: 9.0,
            follow: None,
        }
    }
}

/// A body being dragged to push it: where it was grabbed and where the pointer is.
#[derive(Resource, Default)]
pub(crate) struct Drag {
    pub(crate) body: Option<usize>,
    grab: Vec3,
    to: Vec3,
}

/// Metres of drag to m/s of push.
const DRAG_SPEED: f32 = 3.0;
/// Longest drag that counts, m.
const DRAG_MAX: f32 = 3.0;

impl Drag {
    /// The push being aimed at `body` of mass `mass` (impulse and world point), if the
    /// drag is long enough to be one.
    pub(crate) fn aimed(&self, mass: f32) -> Option<(usize, [f32; 3], [f32; 3])> {
        let body = self.body?;
        let pull = (self.to - self.grab).clamp_length_max(DRAG_MAX);
        (pull.length() > 0.02).then(|| {
            (
                body,
                (pull * DRAG_SPEED * mass).to_array(),
                self.grab.to_array(),
            )
        })
    }
}

pub(crate) fn transform_of(s: &BodyState) -> Transform {
    let [x, y, z, w] = s.rotation;
    Transform::from_translation(Vec3::from_array(s.position))
        .with_rotation(Quat::from_xyzw(x, y, z, w))
}

fn mesh_of(shape: &Shape) -> Mesh {
    match *shape {
        Shape::Sphere { radius } => Sphere::new(radius)
            .mesh()
            .ico(3)
            .unwrap_or_else(|_| Sphere::new(radius).mesh().uv(24, 16)),
        Shape::Cuboid { size } => Cuboid::new(size[0], size[1], size[2]).into(),
        Shape::Cylinder { radius, height } => Cylinder::new(radius, height).into(),
        Shape::Capsule { radius, length } => Capsule3d::new(radius, length).into(),
    }
}

fn spawn_camera_and_light(mut commands: Commands) {
    commands.spawn((
        Camera3d::default(),
        bevy::core_pipeline::tonemapping::Tonemapping::AcesFitted,
        Transform::from_xyz(6.0, 5.0, 9.0).looking_at(Vec3::Y, Vec3::Y),
    ));
    commands.spawn((
        DirectionalLight {
            illuminance: 9000.0,
            shadow_maps_enabled: true,
            ..default()
        },
        Transform::from_xyz(4.0, 10.0, 6.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 600.0,
        ..default()
    });
}

/// The light render mode: no shadow maps and no MSAA (set from `--light` or the panel).
fn apply_render_mode(
    settings: Res<crate::RenderSettings>,
    mut lights: Query<&mut DirectionalLight>,
    cams: Query<Entity, With<Camera3d>>,
    mut commands: Commands,
) {
    if !settings.is_changed() {
        return;
    }
    for mut l in &mut lights {
        l.shadow_maps_enabled = !settings.light;
    }
    let msaa = if settings.light {
        bevy::render::view::Msaa::Off
    } else {
        bevy::render::view::Msaa::Sample4
    };
    for c in &cams {
        commands.entity(c).insert(msaa);
    }
}

/// Frames every body (and the statics that are not the ground) in view.
fn frame_all(viewer: &Viewer, orbit: &mut OrbitCamera) {
    let mut lo = Vec3::splat(f32::INFINITY);
    let mut hi = Vec3::splat(f32::NEG_INFINITY);
    for (i, s) in viewer.shown().iter().enumerate() {
        let r = viewer.session.instance.bodies[i].shape.bounding_radius();
        lo = lo.min(Vec3::from_array(s.position) - r);
        hi = hi.max(Vec3::from_array(s.position) + r);
    }
    for st in &viewer.session.instance.statics {
        let h = st.shape.half_extents();
        if h[0] > 8.0 || h[2] > 8.0 {
            continue; // the ground
        }
        let p = Vec3::from_array(st.pose.position);
        lo = lo.min(p - Vec3::from_array(h));
        hi = hi.max(p + Vec3::from_array(h));
    }
    if lo.is_finite() && hi.is_finite() {
        orbit.focus = (lo + hi) / 2.0;
        orbit.distance = ((hi - lo).length() * 1.25).clamp(3.0, 60.0);
    }
}

fn keyboard(
    keys: Res<ButtonInput<KeyCode>>,
    wants: Res<EguiWantsInput>,
    mut viewer: ResMut<Viewer>,
    mut orbit: ResMut<OrbitCamera>,
    mut commands: Commands,
    mut reset: MessageWriter<RunReset>,
    mut plan: MessageWriter<PlanAsked>,
) {
    if wants.wants_any_keyboard_input() {
        return;
    }
    if keys.just_pressed(KeyCode::Space) {
        viewer.playing = !viewer.playing;
    }
    // The timeline: ← and → one tick (Shift: 10), Home the start, End the latest; → at
    // the latest steps the simulation.
    let stride = if keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]) {
        10
    } else {
        1
    };
    let shown = viewer.shown_tick() as i64;
    if keys.just_pressed(KeyCode::ArrowLeft) {
        viewer.scrub_to(shown - stride);
    }
    if keys.just_pressed(KeyCode::ArrowRight) {
        if viewer.view_tick.is_some() {
            viewer.scrub_to(shown + stride);
        } else {
            viewer.playing = false;
            viewer.step_once = true;
        }
    }
    if keys.just_pressed(KeyCode::Home) {
        viewer.scrub_to(0);
    }
    if keys.just_pressed(KeyCode::End) {
        viewer.scrub_to(i64::MAX);
    }
    if keys.just_pressed(KeyCode::KeyR) {
        viewer.session.restart();
        viewer.run_replaced(&mut reset, false);
    }
    if keys.just_pressed(KeyCode::KeyN) {
        new_variant(&mut viewer, &mut reset);
    }
    if keys.just_pressed(KeyCode::KeyF) {
        orbit.follow = None;
        frame_all(&viewer, &mut orbit);
    }
    if keys.just_pressed(KeyCode::KeyC) {
        orbit.follow = match (orbit.follow, viewer.hovered) {
            (None, Some(i)) => Some(i),
            (Some(f), Some(i)) if f != i => Some(i),
            _ => None,
        };
        viewer.status = match orbit.follow {
            Some(i) => format!(
                "the camera follows {} (C again to stop)",
                viewer
                    .session
                    .object_name(foresight_sim::ObjectRef::Body(i))
            ),
            None => "the camera is free (C over a body follows it)".into(),
        };
    }
    if keys.just_pressed(KeyCode::KeyP) {
        plan.write(PlanAsked);
    }
    if keys.just_pressed(KeyCode::F12) {
        let name = format!(
            "foresight-{}-{}.png",
            viewer.session.instance.name,
            viewer.session.tick()
        );
        commands
            .spawn(bevy::render::view::screenshot::Screenshot::primary_window())
            .observe(bevy::render::view::screenshot::save_to_disk(name.clone()));
        viewer.status = format!("screenshot saved to {name}");
    }
}

/// Samples the next seed of the same scene.
pub(crate) fn new_variant(viewer: &mut Viewer, reset: &mut MessageWriter<RunReset>) {
    let seed = viewer.next_seed;
    match viewer.session.new_variant(seed) {
        Ok(()) => {
            viewer.next_seed += 1;
            viewer.status = format!("variant {seed}");
            viewer.run_replaced(reset, true);
        }
        Err(e) => viewer.status = e,
    }
}

fn respawn_scene(
    mut commands: Commands,
    mut viewer: ResMut<Viewer>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    old: Query<Entity, With<SceneEntity>>,
    mut orbit: ResMut<OrbitCamera>,
    mut resets: MessageReader<RunReset>,
) {
    let reframe = resets.read().any(|r| r.reframe);
    let generation = viewer.session.generation;
    let first = viewer.shown_generation.is_none();
    if viewer.shown_generation == Some(generation) {
        return;
    }
    viewer.shown_generation = Some(generation);
    for e in &old {
        commands.entity(e).despawn();
    }
    let inst = viewer.session.instance.clone();
    for st in &inst.statics {
        let [r, g, b] = st.colour;
        let [x, y, z, w] = st.pose.rotation;
        commands.spawn((
            SceneEntity,
            Mesh3d(meshes.add(mesh_of(&st.shape))),
            MeshMaterial3d(materials.add(StandardMaterial {
                base_color: Color::srgb(r, g, b),
                perceptual_roughness: 0.9,
                ..default()
            })),
            Transform::from_translation(Vec3::from_array(st.pose.position))
                .with_rotation(Quat::from_xyzw(x, y, z, w)),
        ));
    }
    let current = viewer.shown().clone();
    let mut body_meshes = Vec::with_capacity(inst.bodies.len());
    for (i, b) in inst.bodies.iter().enumerate() {
        let mesh = meshes.add(mesh_of(&b.shape));
        body_meshes.push(mesh.clone());
        let [r, g, bl] = b.colour;
        let t = transform_of(&current[i]);
        commands.spawn((
            SceneEntity,
            TruthBody(i),
            Mesh3d(mesh.clone()),
            MeshMaterial3d(materials.add(StandardMaterial {
                base_color: Color::srgb(r, g, bl),
                perceptual_roughness: 0.6,
                ..default()
            })),
            t,
        ));
    }
    commands.insert_resource(BodyMeshes {
        generation,
        meshes: body_meshes,
    });
    if first || reframe {
        orbit.follow = None;
        frame_all(&viewer, &mut orbit);
    }
}

fn sync_truth(viewer: Res<Viewer>, mut q: Query<(&TruthBody, &mut Transform)>) {
    let current = viewer.shown();
    for (b, mut t) in &mut q {
        if let Some(s) = current.get(b.0) {
            *t = transform_of(s);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn orbit_camera(
    viewer: Res<Viewer>,
    mut orbit: ResMut<OrbitCamera>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    wants: Res<EguiWantsInput>,
    drag: Res<Drag>,
    mut cam: Query<&mut Transform, With<Camera3d>>,
) {
    let over_panel = wants.wants_any_pointer_input();
    let dir = Vec3::new(
        orbit.yaw.cos() * orbit.pitch.cos(),
        orbit.pitch.sin(),
        orbit.yaw.sin() * orbit.pitch.cos(),
    );
    if !over_panel && drag.body.is_none() && buttons.pressed(MouseButton::Left) {
        orbit.yaw -= motion.delta.x * 0.006;
        orbit.pitch = (orbit.pitch + motion.delta.y * 0.006).clamp(-0.1, 1.5);
    }
    if !over_panel
        && drag.body.is_none()
        && (buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle))
    {
        // Pan: the focus slides in the view plane, as far as the pointer moved on it.
        let right = dir.cross(Vec3::Y).normalize_or_zero();
        let up = right.cross(dir).normalize_or_zero();
        let scale = orbit.distance * 0.0015;
        orbit.focus += (right * motion.delta.x - up * motion.delta.y) * scale;
        if motion.delta != Vec2::ZERO {
            orbit.follow = None;
        }
    }
    if !over_panel && scroll.delta.y != 0.0 {
        orbit.distance = (orbit.distance * (1.0 - scroll.delta.y * 0.1)).clamp(1.0, 80.0);
    }
    if let Some(i) = orbit.follow {
        match viewer.shown().get(i) {
            Some(s) => {
                let p = Vec3::from_array(s.position);
                orbit.focus = orbit.focus.lerp(p, 0.2);
            }
            None => orbit.follow = None,
        }
    }
    if let Ok(mut t) = cam.single_mut() {
        *t = Transform::from_translation(orbit.focus + dir * orbit.distance)
            .looking_at(orbit.focus, Vec3::Y);
    }
}

#[allow(clippy::too_many_arguments)]
fn hover_and_push(
    mut viewer: ResMut<Viewer>,
    mut predictions: ResMut<Predictions>,
    mut plans: ResMut<Plans>,
    mut drag: ResMut<Drag>,
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    wants: Res<EguiWantsInput>,
    windows: Query<&Window>,
    cams: Query<(&Camera, &GlobalTransform)>,
) {
    let (Ok(window), Ok((camera, cam_t))) = (windows.single(), cams.single()) else {
        return;
    };
    let ray = window
        .cursor_position()
        .and_then(|p| camera.viewport_to_world(cam_t, p).ok());
    if wants.wants_any_pointer_input() && drag.body.is_none() {
        viewer.hovered = None;
        return;
    }
    let Some(ray) = ray else {
        // The pointer left the window: nothing is under it.
        viewer.hovered = None;
        return;
    };
    let (origin, dir) = (ray.origin, *ray.direction);
    // Hover: the nearest body the ray meets, on its exact shape.
    let mut best: Option<(usize, f32)> = None;
    for (i, s) in viewer.shown().iter().enumerate() {
        let shape = &viewer.session.instance.bodies[i].shape;
        let hit = foresight_sim::world::ray_hit(
            shape,
            s.position,
            s.rotation,
            origin.to_array(),
            dir.to_array(),
        );
        if let Some(t) = hit
            && best.is_none_or(|b| t < b.1)
        {
            best = Some((i, t));
        }
    }
    viewer.hovered = best.map(|b| b.0);
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    if viewer.view_tick.is_some() && buttons.just_pressed(MouseButton::Left) {
        // Pushes and goals act now, not on a tick looked back at.
        viewer.status = "looking back: press End (or play) to push or set a goal".into();
        return;
    }
    if shift && buttons.just_pressed(MouseButton::Left) {
        // Shift+click sets the goal: a body to touch, the mover to topple, or a point.
        let target = match best {
            Some((i, _)) => Some(crate::planning::ClickTarget::Body(i)),
            None => {
                let m = crate::planning::mover(&viewer.session);
                let y = viewer.session.current()[m].position[1];
                let t = (y - origin.y) / dir.y;
                (dir.y.abs() > 1e-4 && t > 0.0)
                    .then(|| crate::planning::ClickTarget::Point((origin + dir * t).to_array()))
            }
        };
        if let Some(target) = target {
            let v = &mut *viewer;
            match crate::planning::goal_from_click(&mut v.session, target) {
                Ok(text) => {
                    plans.view = None;
                    plans.error = None;
                    v.status = format!("{text}; press P to plan");
                }
                Err(e) => v.status = e,
            }
        }
        return;
    }
    if buttons.just_pressed(MouseButton::Left)
        && let Some((i, t)) = best
    {
        drag.body = Some(i);
        drag.grab = origin + dir * t;
        drag.to = drag.grab;
    }
    if let Some(i) = drag.body {
        // Drag along the horizontal plane through the grab point.
        if dir.y.abs() > 1e-4 {
            let t = (drag.grab.y - origin.y) / dir.y;
            if t > 0.0 {
                drag.to = origin + dir * t;
            }
        }
        if buttons.just_released(MouseButton::Left) {
            let mass = viewer.session.ctx.masses.get(i).copied().unwrap_or(1.0);
            let aimed = drag.aimed(mass);
            drag.body = None;
            if let Some((i, impulse, grab)) = aimed {
                match viewer.session.push(i, impulse, grab) {
                    Ok(()) => {
                        let speed = Vec3::from_array(impulse).length() / mass;
                        viewer.status = format!("pushed body {i} at {speed:.1} m/s");
                        predictions.refresh = true;
                    }
                    Err(e) => viewer.status = e,
                }
            }
        }
    }
}

fn draw_lines(viewer: Res<Viewer>, plans: Res<Plans>, drag: Res<Drag>, mut gizmos: Gizmos) {
    let tick = viewer.shown_tick() as usize;
    let frames = &viewer.session.frames;
    let n = viewer.session.instance.bodies.len();
    let many = n > 50;
    // Actual paths: the last 1.5 s of truth.
    let from = tick.saturating_sub(90);
    let truth_colour = Color::srgba(0.15, 0.15, 0.18, 0.85);
    for i in 0..n {
        let pts = frames[from..=tick]
            .iter()
            .step_by(if many { 3 } else { 1 })
            .map(|f| Vec3::from_array(f[i].position));
        gizmos.linestrip(pts, truth_colour);
    }
    if let Some(i) = viewer.hovered.filter(|&i| i < n) {
        let p = Vec3::from_array(frames[tick][i].position);
        let r = viewer.session.instance.bodies[i].shape.bounding_radius();
        gizmos.sphere(
            Isometry3d::from_translation(p),
            r * 1.05,
            Color::srgb(1.0, 0.9, 0.2),
        );
    }
    if drag.body.is_some() {
        gizmos.arrow(drag.grab, drag.to, Color::srgb(1.0, 0.5, 0.0));
    }
    draw_plan(&viewer, &plans, &mut gizmos);
}

/// The goal point, the fan of imagined futures of the best candidates (the bodies the
/// push and the goal concern), and the chosen push as an arrow on its body.
fn draw_plan(viewer: &Viewer, plans: &Plans, gizmos: &mut Gizmos) {
    use foresight_sim::GoalKind;
    let session = &viewer.session;
    let Some(goal) = session.instance.goal else {
        return;
    };
    if let GoalKind::Reach { point, radius, .. } = goal.kind {
        let p = Vec3::from_array(point);
        gizmos.sphere(Isometry3d::from_translation(p), radius, GOAL);
        gizmos.cross(Isometry3d::from_translation(p), radius * 0.5, GOAL);
    }
    let Some(plan) = plans
        .view
        .as_ref()
        .filter(|p| p.generation == session.generation)
    else {
        return;
    };
    let mut bodies = vec![plan.plan.best.push.body];
    bodies.extend(match goal.kind {
        GoalKind::Touch { a, b } | GoalKind::Avoid { a, b } => match b {
            foresight_sim::ObjectRef::Body(b) => vec![a, b],
            foresight_sim::ObjectRef::Static(_) => vec![a],
        },
        GoalKind::Reach { body, .. } | GoalKind::Topple { body } => vec![body],
    });
    bodies.sort_unstable();
    bodies.dedup();
    let start = plan.start as usize;
    let from = |i: usize| Vec3::from_array(session.frames[start][i].position);
    for (k, (_, future)) in plan.plan.fan.iter().enumerate() {
        let colour = if k == 0 { PLAN } else { PLAN.with_alpha(0.3) };
        for &i in &bodies {
            let pts = std::iter::once(from(i))
                .chain(future.iter().map(|f| Vec3::from_array(f[i].position)));
            gizmos.linestrip(pts, colour);
        }
    }
    // The chosen push, drawn onto its body where it lands.
    let push = plan.push();
    let at = (push.tick as usize).min(session.frames.len() - 1);
    let centre = if plan.applied {
        Vec3::from_array(session.frames[at][push.body].position)
    } else {
        Vec3::from_array(session.current()[push.body].position)
    };
    let j = Vec3::from_array(push.impulse);
    let max = session
        .instance
        .actions
        .as_ref()
        .map_or(1.0, |a| a.max_impulse)
        .max(1e-6);
    if let Some(dir) = j.try_normalize() {
        let r = session.instance.bodies[push.body].shape.bounding_radius();
        let len = 0.3 + 0.9 * (j.length() / max).min(1.0);
        gizmos.arrow(centre - dir * (r + len), centre - dir * r, PLAN);
    }
}

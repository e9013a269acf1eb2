//! The forecasts on screen: for every predictor of the line-up, a translucent ghost of
//! each body where it foresaw the body at the tick shown, its forecast paths, and, for
//! the lead, error lines from each ghost to its body. Each predictor keeps its colour.

use bevy::prelude::*;
use foresight_sim::BodyState;

use crate::Viewer;
use crate::predictions::Predictions;
use crate::scene_view::{BodyMeshes, transform_of};
use crate::session::{PredictorKind, Track};

/// Alpha of the ghosts.
const GHOST_ALPHA: f32 = 0.5;

/// Each predictor's colour (its ghosts, paths, error curve and legend; the ghosts are
/// drawn with [`GHOST_ALPHA`]): a predictor keeps its colour whoever else is shown.
pub fn predictor_colour(kind: PredictorKind) -> Color {
    match kind {
        PredictorKind::Learned => Color::srgb(0.05, 0.85, 1.0),
        PredictorKind::Learned2 => Color::srgb(1.0, 0.85, 0.0),
        PredictorKind::ConstantVelocity => Color::srgb(1.0, 0.15, 0.85),
        PredictorKind::Ballistic => Color::srgb(0.2, 0.3, 1.0),
        PredictorKind::BallisticStop => Color::srgb(1.0, 0.5, 0.0),
    }
}

/// Colour of the lead's error lines (ghost to body).
pub const ERROR_LINE: Color = Color::srgb(0.9, 0.05, 0.05);

pub(crate) struct GhostsPlugin;

impl Plugin for GhostsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Update,
            (respawn_ghosts, sync_ghosts, draw_forecasts)
                .chain()
                .after(crate::predictions::receive_forecasts)
                .in_set(crate::Ours),
        );
    }
}

/// A body's ghost for one predictor.
#[derive(Component)]
struct Ghost {
    body: usize,
    kind: PredictorKind,
}

/// Ghosts for every body and predictor (hidden until a forecast covers them), spawned
/// anew with the truth's meshes when the scene view has made them for a new run.
fn respawn_ghosts(
    mut commands: Commands,
    viewer: Res<Viewer>,
    body_meshes: Option<Res<BodyMeshes>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    old: Query<Entity, With<Ghost>>,
    mut shown: Local<Option<u64>>,
) {
    let Some(body_meshes) = body_meshes.filter(|m| {
        Some(m.generation) != *shown
            && m.generation == viewer.session.generation
            && m.meshes.len() == viewer.session.instance.bodies.len()
    }) else {
        return;
    };
    *shown = Some(body_meshes.generation);
    for e in &old {
        commands.entity(e).despawn();
    }
    let looks: Vec<(PredictorKind, Handle<StandardMaterial>)> = PredictorKind::ALL
        .into_iter()
        .map(|k| {
            let m = materials.add(StandardMaterial {
                base_color: predictor_colour(k).with_alpha(GHOST_ALPHA),
                alpha_mode: AlphaMode::Blend,
                unlit: true,
                ..default()
            });
            (k, m)
        })
        .collect();
    let current = viewer.shown();
    for (i, mesh) in body_meshes.meshes.iter().enumerate() {
        for (kind, look) in &looks {
            commands.spawn((
                Ghost {
                    body: i,
                    kind: *kind,
                },
                Mesh3d(mesh.clone()),
                MeshMaterial3d(look.clone()),
                transform_of(&current[i]),
                Visibility::Hidden,
            ));
        }
    }
}

/// The ghost state shown now for a track: the forecast for the tick shown (its last
/// state once the tick is past its end).
fn ghost_state(track: &Track, tick: u64) -> Option<&Vec<BodyState>> {
    track.at(tick).or_else(|| {
        if tick <= track.start {
            None
        } else {
            track.states.last()
        }
    })
}

fn sync_ghosts(
    viewer: Res<Viewer>,
    predictions: Res<Predictions>,
    mut q: Query<(&Ghost, &mut Transform, &mut Visibility)>,
) {
    let tick = viewer.shown_tick();
    let generation = viewer.session.generation;
    let tracks: Vec<(PredictorKind, Option<&Track>)> = PredictorKind::ALL
        .into_iter()
        .map(|k| {
            let shown = predictions.lineup.contains(k);
            (k, shown.then(|| predictions.track(k, generation)).flatten())
        })
        .collect();
    for (g, mut t, mut vis) in &mut q {
        let track = tracks
            .iter()
            .find(|(k, _)| *k == g.kind)
            .and_then(|(_, t)| *t);
        match track
            .and_then(|tr| ghost_state(tr, tick))
            .and_then(|f| f.get(g.body))
        {
            Some(s) => {
                *t = transform_of(s);
                *vis = Visibility::Visible;
            }
            None => *vis = Visibility::Hidden,
        }
    }
}

/// Each predictor's forecast paths from the tick shown to the end of its forecast, and
/// the lead's error lines.
fn draw_forecasts(viewer: Res<Viewer>, predictions: Res<Predictions>, mut gizmos: Gizmos) {
    let tick = viewer.shown_tick();
    let truth = viewer.shown();
    let n = truth.len();
    let stride = if n > 50 { 3 } else { 1 };
    let lead = predictions.lead();
    for kind in predictions.lineup.kinds() {
        let Some(track) = predictions.track(kind, viewer.session.generation) else {
            continue;
        };
        let colour = predictor_colour(kind);
        let first = (tick.max(track.start + 1) - track.start - 1) as usize;
        let ahead = &track.states[first.min(track.states.len())..];
        for i in 0..n {
            let pts = ahead
                .iter()
                .step_by(stride)
                .filter_map(|f| f.get(i).map(|s| Vec3::from_array(s.position)));
            gizmos.linestrip(pts, colour);
        }
        if kind != lead {
            continue;
        }
        if let Some(f) = ghost_state(track, tick) {
            for (g, b) in f.iter().zip(truth) {
                let (a, b) = (Vec3::from_array(g.position), Vec3::from_array(b.position));
                if a.distance(b) > 0.01 {
                    gizmos.line(a, b, ERROR_LINE);
                }
            }
        }
    }
}

//! The learned step rule and what the model guarantees by construction: training targets
//! integrate back onto the recorded truth (position and velocity, through bounces and
//! pushes), a body with no neighbour flies exactly ballistic whatever the weights, the
//! augmentation symmetries are exact symmetries of the rule, and a model file made for
//! another feature layout is refused.

use std::path::{Path, PathBuf};

use foresight_model::features::{EDGE_FEATURES, FeatureConfig};
use foresight_model::learned::{LearnedModel, sidecar_path};
use foresight_model::predictor::finite_difference_history;
use foresight_model::step::{integrate_body, settling_targets, step_kicks, targets};
use foresight_model::train::Symmetry;
use foresight_model::{Ballistic, Context, Predictor};
use foresight_sim::{BodyState, Push, Scene, World};

fn scene(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../assets/scenes/{name}.ron"))
}

fn recorded(
    name: &str,
    seed: u64,
    steps: u64,
    extra: &[Push],
) -> (Context, Vec<Vec<BodyState>>, Vec<Push>) {
    let mut inst = Scene::load(scene(name)).unwrap().sample(seed).unwrap();
    inst.pushes.extend_from_slice(extra);
    inst.pushes.sort_by_key(|p| p.tick);
    let t = World::new(&inst).record(steps);
    let frames = finite_difference_history(&t.frames, t.dt, t.gravity);
    (Context::from_trajectory(&t), frames, t.pushes.clone())
}

/// The recorded frames as the simulator gives them (rapier's velocities): what a
/// predictor's history holds.
fn recording(name: &str, seed: u64, steps: u64) -> (Context, Vec<Vec<BodyState>>) {
    let inst = Scene::load(scene(name)).unwrap().sample(seed).unwrap();
    let t = World::new(&inst).record(steps);
    (Context::from_trajectory(&t), t.frames)
}

fn close(a: &BodyState, b: &BodyState, tol: f32) -> bool {
    (0..3).all(|c| {
        (a.position[c] - b.position[c]).abs() < tol
            && (a.velocity[c] - b.velocity[c]).abs() < 50.0 * tol
    })
}

/// Guards the step rule: if targets did not integrate back onto the truth, a perfect
/// network would still drift (the first model matched end positions only, and bounces
/// left with the wrong speed).
#[test]
fn training_targets_integrate_onto_the_truth() {
    let k = 4;
    for (name, push) in [
        ("bounce", None),
        ("collide", None),
        (
            "drop",
            Some(Push {
                body: 1,
                tick: 13,
                impulse: [3.0, 1.0, -2.0],
                offset: [0.05, 0.0, 0.02],
            }),
        ),
    ] {
        let (ctx, frames, pushes) = recorded(name, 4, 150, push.as_slice());
        for t in 1..frames.len() - k {
            let kicks = step_kicks(&ctx, &frames[t], &pushes, t as u64, k);
            for i in 0..ctx.len() {
                let truth: Vec<&BodyState> = frames[t + 1..=t + k].iter().map(|f| &f[i]).collect();
                let u = targets(&ctx, &frames[t][i], &kicks[i], &truth);
                let path = integrate_body(&ctx, &frames[t][i], &kicks[i], &u);
                for (j, (a, b)) in path.iter().zip(&truth).enumerate() {
                    assert!(
                        close(a, b, 1e-4),
                        "{name} tick {t}+{j} body {i}: integrated {a:?}, recorded {b:?}"
                    );
                }
            }
        }
    }
}

/// Guards the settling targets: a start off the truth (training noise, a pushforward
/// forecast) must still end the step on the truth, position and velocity, with the
/// correction's velocity spread over the settling ticks instead of spiking in the first.
#[test]
fn settling_targets_end_on_the_truth_with_a_spread_correction() {
    let k = 4;
    let (ctx, frames, pushes) = recorded("collide", 2, 120, &[]);
    let dt = ctx.dt;
    let offset = [0.012f32, -0.008, 0.005];
    let size = offset.iter().map(|x| x * x).sum::<f32>().sqrt();
    let mut checked = 0;
    for t in (5..frames.len() - k).step_by(7) {
        let kicks = step_kicks(&ctx, &frames[t], &pushes, t as u64, k);
        for i in 0..ctx.len() {
            let truth: Vec<&BodyState> = frames[t + 1..=t + k].iter().map(|f| &f[i]).collect();
            let mut start = frames[t][i];
            for (c, d) in offset.iter().enumerate() {
                start.position[c] += d;
                start.velocity[c] += 0.3 * d / dt;
            }
            let half = 0.02f32; // a turn of 0.04 rad about z
            start.rotation = {
                let q = foresight_model::context::rotation_of(&start);
                let turned =
                    rapier3d::math::Rotation::from_xyzw(0.0, 0.0, half.sin(), half.cos()) * q;
                [turned.x, turned.y, turned.z, turned.w]
            };
            // One settling tick is the plain rule, to the bit.
            let one = settling_targets(&ctx, &start, &frames[t][i], &kicks[i], &truth, 1);
            assert_eq!(one, targets(&ctx, &start, &kicks[i], &truth));
            for settle in [1, 2, 3] {
                let u = settling_targets(&ctx, &start, &frames[t][i], &kicks[i], &truth, settle);
                let path = integrate_body(&ctx, &start, &kicks[i], &u);
                let (end, want) = (&path[k - 1], truth[k - 1]);
                for c in 0..3 {
                    assert!(
                        (end.position[c] - want.position[c]).abs() < 1e-4,
                        "settle {settle}, tick {t}, body {i}: ends at {end:?}, truth {want:?}"
                    );
                }
                // The end velocity is the truth's once the correction is over (settle < k),
                // and so are the end rotation and spin.
                assert!(
                    close(end, want, 1e-4),
                    "settle {settle}: end {end:?} vs {want:?}"
                );
                let (qa, qb) = (
                    foresight_model::context::rotation_of(end),
                    foresight_model::context::rotation_of(want),
                );
                assert!(
                    qa.dot(qb).abs() > 1.0 - 1e-6,
                    "settle {settle}: end rotation {qa:?} vs {qb:?}"
                );
                for c in 0..3 {
                    assert!(
                        (end.angular_velocity[c] - want.angular_velocity[c]).abs() < 1e-2,
                        "settle {settle}: end spin {:?} vs {:?}",
                        end.angular_velocity,
                        want.angular_velocity
                    );
                }
                // The turn is undone over the settling ticks: the first tick spins back
                // by about turn / (settle·dt) about z.
                let back = path[0].angular_velocity[2] - truth[0].angular_velocity[2];
                let expect = -2.0 * half / (settle as f32 * dt);
                assert!(
                    (back - expect).abs() < 0.1 * expect.abs(),
                    "settle {settle}: first tick spins {back} rad/s about z beyond the truth, expected {expect}"
                );
                // No tick's velocity departs from the truth's by more than the offset
                // spread over the settling ticks (plus the start's own velocity error).
                let spike = path
                    .iter()
                    .zip(&truth)
                    .map(|(a, b)| {
                        (0..3)
                            .map(|c| (a.velocity[c] - b.velocity[c]).powi(2))
                            .sum::<f32>()
                            .sqrt()
                    })
                    .fold(0.0f32, f32::max);
                let bound = size / (settle as f32 * dt);
                assert!(
                    spike <= bound * 1.01 + 1e-3,
                    "settle {settle}: velocity spike {spike} over {bound}"
                );
                if settle == 1 {
                    assert!(spike > 0.9 * bound, "the plain rule corrects in one tick");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 20);
}

fn random_model(seed: u64) -> LearnedModel {
    LearnedModel::untrained(seed, 0.3, 2.0).unwrap()
}

/// Guards "no neighbour means exactly ballistic": the first model added phantom forces to
/// bodies in free flight.
#[test]
fn free_flight_is_exactly_ballistic_whatever_the_weights() {
    // Collide: two balls in the air with nothing near for the first ticks; drop: shapes
    // falling from different heights.
    for (name, ticks) in [("collide", 12), ("drop", 10)] {
        let (ctx, frames) = recording(name, 2, 2);
        let mut lifted = frames.clone();
        for f in lifted.iter_mut() {
            for s in f.iter_mut() {
                s.position[1] += 20.0;
            }
        }
        let model = random_model(9);
        let a = model.rollout(&ctx, &lifted, &[], ticks).unwrap();
        let b = Ballistic.rollout(&ctx, &lifted, &[], ticks).unwrap();
        for (fa, fb) in a.iter().zip(&b) {
            for (x, y) in fa.iter().zip(fb) {
                for c in 0..3 {
                    assert!(
                        (x.position[c] - y.position[c]).abs() < 1e-4,
                        "{name}: learned {x:?} vs ballistic {y:?}"
                    );
                }
            }
        }
    }
    // Near the floor the same random network does act: the mask is not always off.
    let (ctx, frames) = recording("drop", 2, 40);
    let model = random_model(9);
    let a = model.rollout(&ctx, &frames, &[], 8).unwrap();
    let b = Ballistic.rollout(&ctx, &frames, &[], 8).unwrap();
    assert_ne!(
        a, b,
        "a body resting on the floor must get the network's output"
    );
}

/// Guards the augmentation: a mirrored, turned episode must be the same physics, so its
/// targets are the turned targets of the original.
#[test]
fn symmetries_commute_with_the_step_rule() {
    let k = 4;
    let (ctx, frames, pushes) = recorded("collide", 6, 80, &[]);
    let sym = Symmetry {
        angle: 1.1,
        mirror: true,
    };
    for t in [5usize, 30, 60] {
        let kicks = step_kicks(&ctx, &frames[t], &pushes, t as u64, k);
        for i in 0..ctx.len() {
            let truth: Vec<&BodyState> = frames[t + 1..=t + k].iter().map(|f| &f[i]).collect();
            let u = targets(&ctx, &frames[t][i], &kicks[i], &truth);
            let moved: Vec<BodyState> = truth.iter().map(|s| sym.state(s)).collect();
            let moved_refs: Vec<&BodyState> = moved.iter().collect();
            let start = sym.state(&frames[t][i]);
            let sym_kicks: Vec<([f32; 3], [f32; 3])> = kicks[i]
                .iter()
                .map(|(v, w)| (sym.vector(*v), sym.pseudo(*w)))
                .collect();
            let u2 = targets(&ctx, &start, &sym_kicks, &moved_refs);
            for (a, b) in u.chunks_exact(6).zip(u2.chunks_exact(6)) {
                let (lin, ang) = (
                    sym.vector([a[0], a[1], a[2]]),
                    sym.pseudo([a[3], a[4], a[5]]),
                );
                for c in 0..3 {
                    assert!((lin[c] - b[c]).abs() < 1e-3, "t {t}: {a:?} vs {b:?}");
                    assert!((ang[c] - b[3 + c]).abs() < 1e-2, "t {t}: {a:?} vs {b:?}");
                }
            }
        }
    }
}

/// Guards the sidecar's layout fingerprint: an old model file must be refused with a
/// clear line, not silently misread.
#[test]
fn a_model_made_for_another_feature_layout_is_refused() {
    let dir = std::env::temp_dir().join(format!("foresight-step-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = dir.join("m.safetensors");
    let mut m = random_model(1);
    m.save(&w).unwrap();
    assert!(LearnedModel::load(&w).is_ok());
    let side = sidecar_path(&w);
    let text = std::fs::read_to_string(&side).unwrap();
    let fp = foresight_model::features::layout_fingerprint();
    std::fs::write(&side, text.replace(&fp, "0123456789abcdef")).unwrap();
    let e = LearnedModel::load(&w).err().expect("refused").to_string();
    assert!(
        e.contains("feature layout 0123456789abcdef") && e.contains("retrain") && !e.contains('\n'),
        "{e}"
    );
}

/// Guards the augmentation at the graph: the graph of a turned, mirrored scene must be the
/// turned graph (same edges, same gaps, turned normals, contact frames and turn axes), or the
/// augmented samples would teach physics that does not exist.
#[test]
fn the_graph_of_a_turned_scene_is_the_turned_graph() {
    use foresight_model::features::{BASIS, build_graph, edge};
    let inst = Scene::load(scene("tower")).unwrap().sample(3).unwrap();
    let t = World::new(&inst).record(40);
    let frames = finite_difference_history(&t.frames, t.dt, t.gravity);
    let ctx = Context::from_trajectory(&t);
    let sym = Symmetry {
        angle: 0.7,
        mirror: true,
    };
    let cfg = FeatureConfig::default();
    let state = &frames[40];
    let turned: Vec<BodyState> = state.iter().map(|s| sym.state(s)).collect();
    let kicks = vec![([0.0f32; 3], [0.0f32; 3]); state.len()];
    let a = build_graph(&ctx, &cfg, state, &[], &kicks, None);
    let b = build_graph(&sym.context(&t), &cfg, &turned, &[], &kicks, None);
    assert!(a.edges() > state.len(), "a standing tower has contacts");
    assert_eq!(
        (a.senders.clone(), a.receivers.clone()),
        (b.senders, b.receivers)
    );
    for (ea, eb) in a
        .edge_features
        .chunks_exact(EDGE_FEATURES)
        .zip(b.edge_features.chunks_exact(EDGE_FEATURES))
    {
        assert!((ea[edge::GAP.start] - eb[edge::GAP.start]).abs() < 1e-3);
    }
    // Contact frames turn as vectors; the spin decoding's turn axes (lever × frame vector)
    // are pseudovectors, like spins: a mirrored scene's axes are the mirrored axes, sign
    // included.
    assert_eq!(a.edge_torque.len(), a.edge_basis.len());
    let check = |fa: &[f32], fb: &[f32], what: &str, map: &dyn Fn([f32; 3]) -> [f32; 3]| {
        for (fa, fb) in fa.chunks_exact(BASIS).zip(fb.chunks_exact(BASIS)) {
            for v in 0..BASIS / 3 {
                let want = map([fa[3 * v], fa[3 * v + 1], fa[3 * v + 2]]);
                for c in 0..3 {
                    assert!(
                        (want[c] - fb[3 * v + c]).abs() < 2e-3,
                        "{what} {v}: {want:?} vs {:?}",
                        &fb[3 * v..3 * v + 3]
                    );
                }
            }
        }
    };
    check(&a.edge_basis, &b.edge_basis, "frame vector", &|x| {
        sym.vector(x)
    });
    check(&a.edge_torque, &b.edge_torque, "turn axis", &|x| {
        sym.pseudo(x)
    });
}

/// Guards sleeping, as rapier does it: bodies still for 30 ticks are frozen (whatever the
/// network would say) until a push or a moving neighbour wakes them.
#[test]
fn bodies_at_rest_sleep_until_a_push_wakes_them() {
    let (ctx, frames, _) = recorded("drop", 3, 600, &[]);
    let history = &frames[frames.len() - 40..];
    let still = |s: &BodyState| {
        s.velocity
            .iter()
            .chain(&s.angular_velocity)
            .all(|x| x.abs() < 0.05)
    };
    // The cube and the box have settled; the ball still rolls, far from them.
    let resting = [0, 1];
    assert!(
        history
            .iter()
            .all(|f| resting.iter().all(|&i| still(&f[i]))),
        "drop's cube and box have settled by tick 560: {:?}",
        history.last()
    );
    // Forecasts start from the recorded frames, as a predictor's history holds them.
    let (_, raw) = recording("drop", 3, 600);
    let history = &raw[raw.len() - 40..];
    let model = random_model(4);
    let rest = model.rollout(&ctx, history, &[], 30).unwrap();
    let now = history.last().unwrap();
    for f in &rest {
        for &i in &resting {
            assert_eq!(f[i].position, now[i].position, "sleeping body {i} moved");
        }
    }
    // The same network moves the same bodies when it has not seen them still.
    let woken = model
        .rollout(&ctx, &history[history.len() - 1..], &[], 30)
        .unwrap();
    assert!(
        resting
            .iter()
            .any(|&i| woken[29][i].position != now[i].position)
    );
    // A push wakes its body.
    let push = Push {
        body: 1,
        tick: 5,
        impulse: [ctx.masses[1] * 3.0, 0.0, 0.0],
        offset: [0.0; 3],
    };
    let pushed = model.rollout(&ctx, history, &[push], 30).unwrap();
    assert!(pushed[29][1].position[0] > now[1].position[0] + 0.2);
}

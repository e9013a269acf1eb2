//! The viewer's logic without a window: errors, the surprise meter, pushes reaching the
//! simulator and the forecast, and hot reload keeping the last good scene.

use std::path::{Path, PathBuf};

use foresight_model::{ConstantVelocity, Predictor};
use foresight_viewer::session::{PredictorKind, Session, Surprise, Track, body_errors, mean_error};

fn scene(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../assets/scenes/{name}.ron"))
}

fn temp_scene(tag: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("foresight-viewer-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("edit.ron");
    std::fs::write(&p, text).unwrap();
    p
}

fn forecast(s: &Session, horizon: usize) -> Track {
    let states = ConstantVelocity
        .rollout(&s.ctx, &s.frames, &s.actions_from(s.tick()), horizon)
        .unwrap();
    Track {
        kind: PredictorKind::ConstantVelocity,
        start: s.tick(),
        states,
        generation: s.generation,
        preview: false,
    }
}

#[test]
fn errors_measure_distance_to_the_truth() {
    let s = Session::load(&scene("drop"), 0).unwrap();
    let truth = s.current().clone();
    let mut moved = truth.clone();
    moved[1].position[0] += 0.3;
    assert_eq!(body_errors(&truth, &truth), vec![0.0; 3]);
    let e = body_errors(&moved, &truth);
    assert!((e[1] - 0.3).abs() < 1e-6 && e[0] == 0.0);
    assert!((mean_error(&moved, &truth) - 0.1).abs() < 1e-6);
}

#[test]
fn surprise_rises_after_an_unforeseen_push_and_settles() {
    let mut s = Session::load(&scene("collide"), 0).unwrap();
    for _ in 0..5 {
        s.step();
    }
    let track = forecast(&s, 60);
    let mut surprise = Surprise::default();
    for _ in 0..10 {
        s.step();
        surprise.observe(
            mean_error(track.at(s.tick()).unwrap(), s.current()),
            s.instance.dt,
        );
    }
    let calm = surprise.level();
    // A push the standing forecast did not see.
    let m = s.world.masses()[1];
    let centre = s.current()[1].position;
    s.push(1, [0.0, 0.0, 4.0 * m], centre).unwrap();
    for _ in 0..6 {
        s.step();
        surprise.observe(
            mean_error(track.at(s.tick()).unwrap(), s.current()),
            s.instance.dt,
        );
    }
    let shocked = surprise.level();
    assert!(shocked > calm + 0.3, "surprise {calm} -> {shocked}");
    // A fresh forecast that knows the push: surprise falls back.
    let track = forecast(&s, 60);
    surprise.reset_baseline();
    for _ in 0..30 {
        s.step();
        surprise.observe(
            mean_error(track.at(s.tick()).unwrap(), s.current()),
            s.instance.dt,
        );
    }
    assert!(
        surprise.level() < shocked * 0.6,
        "surprise stayed at {}",
        surprise.level()
    );
}

#[test]
fn a_push_reaches_the_simulator_and_the_next_forecast() {
    let mut s = Session::load(&scene("drop"), 0).unwrap();
    for _ in 0..120 {
        s.step();
    }
    let before = forecast(&s, 30);
    let m = s.world.masses()[1];
    let centre = s.current()[1].position;
    s.push(1, [3.0 * m, 0.0, 0.0], centre).unwrap();
    assert_eq!(s.actions_from(s.tick()).len(), 1);
    let after = forecast(&s, 30);
    assert!(after.states[29][1].position[0] - before.states[29][1].position[0] > 1.0);
    s.step();
    assert!(
        s.current()[1].velocity[0] > 2.0,
        "the simulator felt the push"
    );
    assert!(s.push(99, [1.0, 0.0, 0.0], centre).is_err());
}

#[test]
fn hot_reload_keeps_the_last_good_scene_and_picks_up_fixes() {
    let good = std::fs::read_to_string(scene("drop")).unwrap();
    let path = temp_scene("reload", &good);
    let mut s = Session::load(&path, 2).unwrap();
    for _ in 0..30 {
        s.step();
    }
    let tick = s.tick();
    // A bad edit: the scene keeps running, the error names the file and the field.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, good.replacen("radius: 0.3", "radius: -2.0", 1)).unwrap();
    bump_mtime(&path);
    assert!(s.poll_file(), "the edit was noticed");
    let e = s.reload_error.clone().expect("an error is shown");
    assert!(
        e.contains("edit.ron") && e.contains("bodies[0].shape.radius"),
        "{e}"
    );
    assert_eq!(s.tick(), tick, "the last good scene keeps its state");
    s.step();
    assert_eq!(s.tick(), tick + 1, "and keeps running");
    assert!(!s.poll_file(), "no reload without a new edit");
    // Syntax errors too.
    std::fs::write(&path, "(name: \"x\", ").unwrap();
    bump_mtime(&path);
    s.poll_file();
    assert!(
        s.reload_error
            .as_deref()
            .is_some_and(|e| e.contains("edit.ron:"))
    );
    // A good edit reloads in place, from tick 0, with the same seed.
    std::fs::write(&path, good.replacen("radius: 0.3", "radius: 0.4", 1)).unwrap();
    bump_mtime(&path);
    let generation = s.generation;
    assert!(s.poll_file());
    assert!(s.reload_error.is_none());
    assert_eq!(s.tick(), 0);
    assert_eq!(s.seed, 2);
    assert!(s.generation > generation);
    assert!(
        matches!(s.instance.bodies[0].shape, foresight_sim::Shape::Sphere { radius } if (radius - 0.4).abs() < 1e-6)
    );
    std::fs::remove_file(&path).unwrap();
    assert!(
        s.reload_from(&path).is_err(),
        "a vanished file is an error, not a crash"
    );
    assert_eq!(s.instance.name, "drop");
}

/// Moves the file's modification time forward so coarse file-system clocks see the edit.
fn bump_mtime(path: &Path) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    let t = std::time::SystemTime::now() + std::time::Duration::from_secs(rand_secs(path));
    f.set_modified(t).unwrap();
}

fn rand_secs(path: &Path) -> u64 {
    // Strictly increasing per call within a test run.
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let _ = path;
    N.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn restart_and_new_variant() {
    let mut s = Session::load(&scene("contain"), 0).unwrap();
    let start = s.current().clone();
    for _ in 0..20 {
        s.step();
    }
    s.restart();
    assert_eq!(s.tick(), 0);
    assert_eq!(s.current(), &start);
    s.new_variant(5).unwrap();
    assert_ne!(
        s.instance.bodies[0].velocity,
        Session::load(&scene("contain"), 0).unwrap().instance.bodies[0].velocity
    );
    let (q, truth) = s.question_text().unwrap();
    assert!(q.starts_with("Does ball touch cup within"), "{q}");
    assert_eq!(truth, None, "not known at tick 0");
}

/// The app's Plan flow without a window: a plan made from the session's moment, its push
/// reaching the simulator at its tick, and the truth scored at the goal's deadline the
/// same way `foresight plan` scores it.
#[test]
fn a_plan_is_played_by_the_truth_and_scored_at_the_deadline() {
    use foresight_viewer::planning::{PlanAnswer, PlanView, goal_text, plan_request};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/plan-scenes/pot.ron");
    let mut s = Session::load(&path, 3).unwrap();
    assert!(goal_text(&s).unwrap().contains("target"));
    let spec = foresight_plan::PlanSpec {
        candidates: 32,
        rounds: 2,
        elites: 4,
        ..Default::default()
    };
    let req = plan_request(&s, PredictorKind::ConstantVelocity, spec).unwrap();
    let plan = foresight_plan::plan(&foresight_model::Rapier, &req.problem(), &spec).unwrap();
    let chosen = plan.best;
    let goal = s.instance.goal.unwrap();
    let mut view = PlanView::new(
        PlanAnswer {
            generation: s.generation,
            start: s.tick(),
            plan,
        },
        goal,
    );
    while s.tick() < goal.within_ticks {
        view.apply_if_due(&mut s).unwrap();
        s.step();
        view.update(&s);
    }
    assert!(view.applied);
    assert!(s.pushes.iter().any(|p| p.impulse == chosen.push.impulse));
    let real = view.real.expect("scored at the deadline");
    // The same push on a fresh run of the variant, as the command line scores it.
    let within = goal.within_ticks as usize;
    let (ctx, truth) = foresight_plan::eval::truth_with(&s.instance, Some(view.push()), within);
    let expected = foresight_plan::score(&ctx, &goal.kind, &truth, within);
    assert_eq!(real.reached, expected.reached);
    assert!(
        (real.measure - expected.measure).abs() < 1e-3,
        "{real:?} vs {expected:?}"
    );
    // Rapier imagined this future, so the truth follows it to the goal.
    assert!(
        chosen.score.reached && real.reached,
        "{chosen:?} / {real:?}"
    );
    assert_eq!(view.parted_at, None);
    assert!(
        view.lines(&s)
            .iter()
            .any(|l| l.starts_with("real: reached"))
    );

    // Planned mid-run, a push comes at an allowed tick still ahead, counted from the start.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/plan-scenes/brake.ron");
    let mut s = Session::load(&path, 1).unwrap();
    for _ in 0..5 {
        s.step();
    }
    let req = plan_request(&s, PredictorKind::ConstantVelocity, spec).unwrap();
    let plan = foresight_plan::plan(&foresight_model::Rapier, &req.problem(), &spec).unwrap();
    let goal = s.instance.goal.unwrap();
    let mut view = PlanView::new(
        PlanAnswer {
            generation: s.generation,
            start: s.tick(),
            plan,
        },
        goal,
    );
    let due = view.push().tick;
    assert!(due == 10 || due == 20, "push at tick {due}");
    while s.tick() < goal.within_ticks {
        let applied = view.apply_if_due(&mut s).unwrap();
        assert_eq!(applied, s.tick() == due);
        s.step();
        view.update(&s);
    }
    assert!(view.real.is_some_and(|r| r.reached), "{:?}", view.real);
    // Once decided, the goal is not planned again.
    let e = plan_request(&s, PredictorKind::ConstantVelocity, spec)
        .err()
        .expect("the deadline has passed");
    assert!(e.contains("restart") && e.lines().count() == 1, "{e}");

    // A scene without a goal says so in one line.
    let plain = Session::load(&scene("drop"), 0).unwrap();
    let e = plan_request(&plain, PredictorKind::Learned, spec)
        .err()
        .expect("no goal");
    assert!(e.contains("no goal") && e.lines().count() == 1, "{e}");
}

/// Shift+click goals: a point to reach, another body to touch, the mover to topple; a
/// scene without a goal or actions gets the mover as the one body it may push.
#[test]
fn a_clicked_goal_can_be_planned_for() {
    use foresight_sim::GoalKind;
    use foresight_viewer::planning::{ClickTarget, goal_from_click, mover, plan_request};
    let mut s = Session::load(&scene("drop"), 0).unwrap();
    assert!(s.instance.goal.is_none() && s.instance.actions.is_none());
    for _ in 0..60 {
        s.step();
    }
    let m = mover(&s);
    let at = s.current()[m].position;
    let target = [at[0] + 1.0, at[1], at[2]];
    let text = goal_from_click(&mut s, ClickTarget::Point(target)).unwrap();
    assert!(text.starts_with("Goal: bring"), "{text}");
    let goal = s.instance.goal.unwrap();
    assert!(matches!(goal.kind, GoalKind::Reach { body, .. } if body == m));
    assert!(goal.within_ticks > s.tick());
    let actions = s.instance.actions.clone().unwrap();
    assert_eq!((actions.bodies, actions.ticks), (vec![m], vec![s.tick()]));
    let spec = foresight_plan::PlanSpec {
        candidates: 32,
        rounds: 3,
        elites: 4,
        ..Default::default()
    };
    let req = plan_request(&s, PredictorKind::ConstantVelocity, spec).unwrap();
    let plan = foresight_plan::plan(&foresight_model::Rapier, &req.problem(), &spec).unwrap();
    assert!(plan.best.score.reached, "{:?}", plan.best);
    let other = (m + 1) % s.instance.bodies.len();
    goal_from_click(&mut s, ClickTarget::Body(other)).unwrap();
    assert!(matches!(s.instance.goal.unwrap().kind, GoalKind::Touch { a, .. } if a == m));
    goal_from_click(&mut s, ClickTarget::Body(m)).unwrap();
    assert!(matches!(s.instance.goal.unwrap().kind, GoalKind::Topple { body } if body == m));
    assert!(goal_from_click(&mut s, ClickTarget::Body(99)).is_err());
    assert!(goal_from_click(&mut s, ClickTarget::Point([f32::NAN, 0.0, 0.0])).is_err());
}

/// Guards "a push reaches the forecast at once": a request made while one of its kind is
/// in flight used to be dropped, so the ghosts ignored a push for up to `every` ticks.
#[test]
fn a_request_made_while_one_is_in_flight_is_answered_too() {
    use foresight_viewer::forecast::{Forecaster, Request};
    let mut s = Session::load(&scene("drop"), 0).unwrap();
    let mut f = Forecaster::start(None, None);
    let ask = |s: &Session, start: u64, outcome: bool| Request {
        kind: PredictorKind::ConstantVelocity,
        generation: s.generation,
        start,
        ctx: s.ctx.clone(),
        history: s.history(start).to_vec(),
        actions: s.actions_from(start),
        horizon: 2000,
        preview: false,
        outcome,
    };
    // The outcome forecast (from tick 0) and standing forecasts of the same predictor:
    // the newer standing requests replace each other while one is in flight, never the
    // outcome forecast.
    f.request(ask(&s, 0, true));
    f.request(ask(&s, 0, false));
    s.step();
    f.request(ask(&s, 1, false));
    s.push(0, [5.0, 0.0, 0.0], s.current()[0].position).unwrap();
    f.request(ask(&s, 1, false));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut answers = Vec::new();
    while !(answers.contains(&(false, 1)) && answers.contains(&(true, 0)))
        && std::time::Instant::now() < deadline
    {
        for a in f.drain() {
            let (outcome, track) = a.unwrap();
            answers.push((outcome, track.start));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(answers.contains(&(false, 1)), "answers {answers:?}");
    assert!(answers.contains(&(true, 0)), "answers {answers:?}");
    assert_eq!(
        answers.len(),
        3,
        "the middle standing request was replaced: {answers:?}"
    );
    assert!(f.pending().is_empty());
}

/// Guards the app against an edit whose bodies start inside each other (it used to run
/// the explosion): the reload is refused and the last good scene keeps running.
#[test]
fn an_edit_that_starts_bodies_inside_each_other_keeps_the_last_good_scene() {
    let good = std::fs::read_to_string(scene("drop")).unwrap();
    let path = temp_scene("overlap", &good);
    let mut s = Session::load(&path, 0).unwrap();
    let before = s.generation;
    let grid = r#"(
    name: "grid",
    description: "A grid with zero spacing.",
    statics: [Ground(y: 0.0)],
    bodies: [(shape: Sphere(radius: 0.1), position: (0.0, 1.0, 0.0),
              repeat: Grid(count: (9, 9, 9), spacing: (0.0, 0.0, 0.0)))],
)"#;
    assert!(
        s.reload_from(&{
            std::fs::write(&path, grid).unwrap();
            path.clone()
        })
        .is_err()
    );
    assert_eq!(s.generation, before);
    assert_eq!(s.instance.name, "drop");
    let e = s.reload_error.clone().unwrap();
    assert!(
        e.contains("inside each other") && e.lines().count() == 1,
        "{e}"
    );
}

/// Guards going back in time: branching at tick t and replaying with no new push gives
/// byte-identical states to the original run (the world is restored from a full snapshot
/// and re-simulated with the pushes made before t); a push after t is dropped with the
/// future it belonged to.
#[test]
fn a_branch_replays_the_original_run_exactly() {
    let mut s = Session::load(&scene("billiards"), 2).unwrap();
    for t in 0..100 {
        if t == 40 {
            let at = s.current()[0].position;
            s.push(0, [0.0, 0.0, 1.5], [at[0], at[1] + 0.05, at[2]])
                .unwrap();
        }
        s.step();
    }
    let original = s.frames.clone();
    let pushes = s.pushes.clone();
    for t in [70, 45, 41] {
        s.branch_at(t).unwrap();
        assert_eq!(s.tick(), t);
        assert_eq!(s.frames.len() as u64, t + 1);
        assert_eq!(s.frames[..], original[..=t as usize], "history up to {t}");
        while s.tick() < 100 {
            s.step();
        }
        assert_eq!(s.frames, original, "replay after a branch at {t}");
        assert_eq!(s.pushes, pushes);
    }
    // Before the push: the push is dropped, and the future differs.
    s.branch_at(30).unwrap();
    assert_eq!(s.pushes.len(), s.instance.pushes.len());
    while s.tick() < 100 {
        s.step();
    }
    assert_eq!(s.frames[..=40], original[..=40]);
    assert_ne!(s.frames[60], original[60]);
    assert!(s.branch_at(500).is_err());
}

/// Scrubbing to tick t shows truth frame t (and pauses); past the latest is the latest.
#[test]
fn scrubbing_shows_the_truth_of_that_tick() {
    use foresight_viewer::Viewer;
    let mut s = Session::load(&scene("drop"), 1).unwrap();
    for _ in 0..50 {
        s.step();
    }
    let frames = s.frames.clone();
    let mut v = Viewer::new(s, Vec::new());
    v.scrub_to(20);
    assert_eq!((v.shown_tick(), v.playing), (20, false));
    assert_eq!(v.shown(), &frames[20]);
    v.scrub_to(-5);
    assert_eq!(v.shown(), &frames[0]);
    v.scrub_to(1000);
    assert_eq!((v.view_tick, v.shown_tick()), (None, 50));
    assert_eq!(v.shown(), &frames[50]);
}

/// Guards "scrubbing a 30-second run answers within one frame": going back to any tick
/// of a 30-s run restores a snapshot and re-simulates fewer than `SNAPSHOT_EVERY` ticks
/// (a count, not a clock), and lands on the recorded truth.
#[test]
fn going_back_in_a_long_run_resimulates_at_most_a_snapshot_interval() {
    use foresight_viewer::session::SNAPSHOT_EVERY;
    let mut s = Session::load(&scene("billiards"), 0).unwrap();
    let ticks = (30.0 / s.instance.dt).round() as u64;
    while s.tick() < ticks {
        s.step();
    }
    let original = s.frames.clone();
    for t in [ticks - 1, 1234, 901, 29, 0] {
        let mut b = Session::load(&scene("billiards"), 0).unwrap();
        while b.tick() < ticks {
            b.step();
        }
        let n = b.branch_at(t).unwrap();
        assert!(n < SNAPSHOT_EVERY, "branch at {t} re-simulated {n} ticks");
        assert_eq!(n, t % SNAPSHOT_EVERY);
        assert_eq!(b.current(), &original[t as usize]);
    }
}

/// The line-up: each predictor is scored on its own forecast; the lead is the first, the
/// last one cannot be removed, and the best running mean is found.
#[test]
fn the_lineup_scores_each_predictor_on_its_own_forecast() {
    use foresight_viewer::lineup::Lineup;
    let mut s = Session::load(&scene("drop"), 0).unwrap();
    let mut lineup = Lineup::new(&[
        PredictorKind::ConstantVelocity,
        PredictorKind::Ballistic,
        PredictorKind::ConstantVelocity,
    ]);
    assert_eq!(
        lineup.kinds(),
        vec![PredictorKind::ConstantVelocity, PredictorKind::Ballistic]
    );
    let cv = forecast(&s, 60);
    // A worse "predictor": the constant-velocity forecast moved 0.5 m sideways.
    let mut off = cv.clone();
    off.kind = PredictorKind::Ballistic;
    for f in off.states.iter_mut() {
        for b in f.iter_mut() {
            b.position[0] += 0.5;
        }
    }
    for _ in 0..20 {
        s.step();
        let tick = s.tick();
        let lead = lineup.observe(&[&cv, &off], tick, 0.0, s.current());
        assert_eq!(lead, Some(mean_error(cv.at(tick).unwrap(), s.current())));
    }
    let means: Vec<f64> = lineup
        .scores()
        .iter()
        .map(|x| x.running_mean().unwrap())
        .collect();
    assert_eq!(lineup.scores()[0].curve.len(), 20);
    // Moved 0.5 m: at least 0.5 m minus the original error away, and worse.
    assert!(
        means[1] > means[0] && means[1] >= 0.5 - means[0] - 1e-6,
        "the moved forecast is worse: {means:?}"
    );
    assert_eq!(lineup.best().unwrap().0, PredictorKind::ConstantVelocity);
    assert!(lineup.set_lead(PredictorKind::Ballistic));
    assert_eq!(lineup.lead(), PredictorKind::Ballistic);
    assert!(lineup.toggle(PredictorKind::ConstantVelocity));
    assert!(!lineup.toggle(PredictorKind::Ballistic), "the last stays");
    assert_eq!(lineup.kinds(), vec![PredictorKind::Ballistic]);
    lineup.clear();
    assert_eq!(lineup.scores()[0].running_mean(), None);
    // Going back: what was logged after the branch is dropped, the answer stays.
    let mut lineup = Lineup::new(&[PredictorKind::ConstantVelocity]);
    for (t, e) in [(0.5, 0.1), (1.0, 0.3), (1.5, 0.8)] {
        let mut f = cv.clone();
        f.start = 0;
        let tick = (t * 20.0) as u64;
        let mut truth = f.at(tick).unwrap().clone();
        for b in truth.iter_mut() {
            b.position[1] += e;
        }
        lineup.observe(&[&f], tick, t, &truth);
    }
    lineup.answer(PredictorKind::ConstantVelocity, Some(true));
    lineup.truncate_after(1.0);
    let score = &lineup.scores()[0];
    assert_eq!(score.curve.len(), 2);
    assert!((score.running_mean().unwrap() - 0.2).abs() < 1e-5);
    assert_eq!(score.outcome, Some(true));
    lineup.forget(PredictorKind::ConstantVelocity);
    assert_eq!(lineup.scores()[0].outcome, None);
}

/// The timeline's contact markers: the tick the outcome question's bodies first touch.
#[test]
fn contact_markers_are_where_the_question_bodies_touch() {
    let mut s = Session::load(&scene("collide"), 0).unwrap();
    let q = s.instance.question.unwrap();
    while s.tick() < q.within_ticks {
        s.step();
    }
    let marks = s.contact_ticks().to_vec();
    assert!(!marks.is_empty(), "collide's balls meet");
    // Kept as the run goes: going back before the contact and replaying finds it again.
    let end = s.tick();
    s.branch_at(marks[0] - 3).unwrap();
    assert!(s.contact_ticks().iter().all(|&t| t < marks[0]));
    while s.tick() < end {
        s.step();
    }
    assert_eq!(s.contact_ticks(), &marks[..]);
    let first = marks[0] as usize;
    let d = |t: usize| foresight_model::eval::object_distance(&s.ctx, &s.frames[t], q.a, q.b);
    assert!(d(first) <= foresight_sim::world::TOUCH_DISTANCE);
    assert!(d(first - 1) > foresight_sim::world::TOUCH_DISTANCE);
}

/// A recording plays in simulated real time: each frame lasts until the next one's tick,
/// the rounding to the GIF's hundredths is carried (4 ticks at 60 Hz: 7, 7, 6 cs, ...),
/// and a tick going back (a restart) counts as one recording interval.
#[test]
fn gif_frame_delays_add_up_to_the_recorded_time() {
    use foresight_viewer::record::frame_delays;
    let ticks: Vec<u64> = (0..150).map(|k| 4 * k).collect();
    let d = frame_delays(&ticks, 1.0 / 60.0);
    assert_eq!(d.len(), 150);
    assert_eq!(d.iter().map(|&x| u32::from(x)).sum::<u32>(), 1000, "10 s");
    assert!(d.iter().all(|&x| x == 6 || x == 7), "{d:?}");
    // Uneven gaps (a live app stepping several ticks a frame) and a restart.
    let d = frame_delays(&[0, 4, 12, 16, 2, 6], 1.0 / 60.0);
    // Gaps 4, 8, 4, 4 (the restart), 4, 4 (the last): 28 ticks, 46.7 cs.
    assert_eq!(d.iter().map(|&x| u32::from(x)).sum::<u32>(), 47, "{d:?}");
    assert_eq!(d[1], 13, "8 ticks");
}

/// A headless recording skips the blank frames a new window shows before its pipelines
/// are ready: a one-colour frame is blank, a frame with a scene in it is not.
#[test]
fn a_one_colour_frame_is_blank() {
    use foresight_viewer::record::RgbFrame;
    let mut f = RgbFrame {
        width: 4,
        height: 4,
        rgb: vec![200; 48],
    };
    assert!(f.is_blank());
    for (k, px) in f.rgb.chunks_exact_mut(3).enumerate() {
        px[0] = (k * 10) as u8;
    }
    assert!(!f.is_blank());
}

//! The demo app in a real window (under Xvfb with Mesa's Vulkan driver, which `.ci/run`
//! installs): the headless screenshot is not blank, shows the ghost colour and the scene's
//! own colours, and has the panel drawn.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

struct Xvfb(Option<Child>);

impl Drop for Xvfb {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
        }
    }
}

/// Uses `$DISPLAY`, or starts an Xvfb of its own (`slot` keeps the tests of one run,
/// which run in parallel, on different displays).
fn display(slot: u32) -> (String, Xvfb) {
    if let Ok(d) = std::env::var("DISPLAY") {
        return (d, Xvfb(None));
    }
    let d = format!(":{}", 90 + (std::process::id() % 5) * 2 + slot);
    let child = Command::new("Xvfb")
        .args([d.as_str(), "-screen", "0", "1280x720x24"])
        .spawn()
        .expect("Xvfb is needed for the render test: `apt-get install xvfb mesa-vulkan-drivers` (.ci/run does)");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    (d, Xvfb(Some(child)))
}

/// Runs `foresight view` with `args` on the test's own display (`slot`), from the
/// repository root, and fails the test with its stderr unless it succeeded.
fn run_view(slot: u32, args: &[&str]) -> std::process::Output {
    let (d, _xvfb) = display(slot);
    let o = Command::new(env!("CARGO_BIN_EXE_foresight"))
        .arg("view")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DISPLAY", &d)
        .env("WGPU_BACKEND", "vulkan")
        .output()
        .expect("run foresight view");
    assert!(
        o.status.success(),
        "view {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A file in the temporary directory, unique to this run.
fn temp_out(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("foresight-{}-{name}", std::process::id()))
}

fn decode(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width as usize, info.height as usize, px)
}

#[test]
fn the_app_renders_truth_ghosts_and_panel() {
    let out = temp_out("render.png");
    let o = run_view(
        0,
        &[
            "--scene",
            "assets/scenes/billiards.ron",
            "--frames",
            "150",
            "--screenshot",
            out.to_str().unwrap(),
        ],
    );
    let (w, h, px) = decode(&out);
    assert_eq!((w, h), (1280, 720));
    let count = |f: &dyn Fn(&[u8; 3]) -> bool| px.iter().filter(|p| f(p)).count();
    // Not blank: many distinct shades.
    let mut shades: Vec<u32> = px
        .iter()
        .map(|p| {
            ((u32::from(p[0]) / 16) << 8) | ((u32::from(p[1]) / 16) << 4) | (u32::from(p[2]) / 16)
        })
        .collect();
    shades.sort();
    shades.dedup();
    assert!(shades.len() > 60, "only {} colours: blank?", shades.len());
    // The ghosts and forecast paths: cyan.
    let cyan = count(&|p| p[2] > 150 && p[1] > 110 && p[0] < 100 && p[2] as i32 - p[0] as i32 > 90);
    assert!(cyan > 150, "ghost colour: {cyan} pixels");
    // The truth: the table's green cloth and red/yellow balls.
    let green = count(&|p| {
        let [r, g, b] = p.map(i32::from);
        g > r + 25 && g > b + 10 && g > 50
    });
    let warm = count(&|p| p[0] > 150 && p[2] < 90 && p[0] as i32 - p[2] as i32 > 100);
    assert!(green > 2000, "table cloth: {green} pixels");
    assert!(warm > 40, "red and yellow balls: {warm} pixels");
    // The panel: a dark strip on the right with light text on it.
    let strip: Vec<&[u8; 3]> = (0..h)
        .flat_map(|y| (w - 250..w).map(move |x| (y, x)))
        .map(|(y, x)| &px[y * w + x])
        .collect();
    let dark = strip.iter().filter(|p| p.iter().all(|c| *c < 70)).count();
    let light = strip.iter().filter(|p| p.iter().all(|c| *c > 150)).count();
    assert!(
        dark * 2 > strip.len(),
        "panel background: {dark} of {} pixels dark",
        strip.len()
    );
    assert!(light > 500, "panel text: {light} light pixels");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("frame time p50"), "{stdout}");
    let _ = std::fs::remove_file(out);
}

/// Guards the Plan feature on screen: the fan of imagined futures and the push arrow
/// (violet), the goal point (green), and the imagined and real outcome reported.
#[test]
fn a_plan_draws_its_fan_arrow_and_goal() {
    let out = temp_out("plan.png");
    let o = run_view(
        1,
        &[
            "--scene",
            "assets/plan-scenes/pot.ron",
            "--seed",
            "2",
            "--plan",
            // Past the goal's 3-s deadline, so the real outcome is known.
            "--frames",
            "190",
            "--screenshot",
            out.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("plan: push cue"), "{stdout}");
    assert!(stdout.contains("plan: imagined: "), "{stdout}");
    assert!(
        stdout.contains("plan: real: reached") || stdout.contains("plan: real: missed"),
        "{stdout}"
    );
    let (w, _, px) = decode(&out);
    // Only the 3-D view, left of the panel.
    let view: Vec<&[u8; 3]> = px.chunks(w).flat_map(|row| row[..w - 340].iter()).collect();
    let violet = view
        .iter()
        .filter(|p| {
            let [r, g, b] = p.map(i32::from);
            b > 170 && r > g + 30 && b > r + 40 && g < 140
        })
        .count();
    let goal = view
        .iter()
        .filter(|p| {
            let [r, g, b] = p.map(i32::from);
            g > 170 && r < 120 && b < 150
        })
        .count();
    assert!(violet > 100, "fan and arrow: {violet} violet pixels");
    assert!(goal > 20, "goal marker: {goal} green pixels");
    let _ = std::fs::remove_file(out);
}

/// Guards recording: `--record OUT.gif --frames N` writes a valid looping GIF of N
/// frames at 640×360 that shows the scene (not one flat colour) and changes over time.
#[test]
fn recording_writes_a_gif_of_the_frames_asked_for() {
    let out = temp_out("record.gif");
    run_view(
        2,
        &[
            "--scene",
            "assets/scenes/drop.ron",
            "--frames",
            "6",
            "--record",
            out.to_str().unwrap(),
        ],
    );
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options
        .read_info(std::fs::File::open(&out).unwrap())
        .unwrap();
    assert_eq!((decoder.width(), decoder.height()), (640, 360));
    let mut frames = Vec::new();
    while let Some(f) = decoder.read_next_frame().unwrap() {
        frames.push(f.buffer.to_vec());
    }
    assert_eq!(frames.len(), 6);
    let distinct: std::collections::BTreeSet<&[u8]> = frames[0].chunks(4).collect();
    assert!(
        distinct.len() > 20,
        "a flat frame: {} colours",
        distinct.len()
    );
    assert_ne!(
        frames[0], frames[5],
        "the bodies fall between the first and last frame"
    );
    let _ = std::fs::remove_file(out);
}

/// Guards the predictor line-up on screen: three predictors at once, each drawn in its
/// own colour (learned cyan, constant velocity magenta, ballistic-stop orange) in the
/// light render mode, with the frame costs reported.
#[test]
fn the_lineup_draws_each_predictor_in_its_colour() {
    let out = temp_out("lineup.png");
    let o = run_view(
        3,
        &[
            "--scene",
            "assets/scenes/collide.ron",
            "--lineup",
            "learned,constant-velocity,ballistic-stop",
            "--light",
            "--frames",
            "60",
            "--screenshot",
            out.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("line-up learned,constant-velocity,ballistic-stop, light rendering")
            && stdout.contains("the app's own systems p50"),
        "{stdout}"
    );
    let (w, _, px) = decode(&out);
    let view: Vec<[i32; 3]> = px
        .chunks(w)
        .flat_map(|row| row[..w - 400].iter().map(|p| p.map(i32::from)))
        .collect();
    let count =
        |f: &dyn Fn(i32, i32, i32) -> bool| view.iter().filter(|&&[r, g, b]| f(r, g, b)).count();
    let cyan = count(&|r, g, b| b > 150 && g > 110 && r < 100 && b - r > 90);
    let magenta = count(&|r, g, b| r > 170 && b > 120 && g < 110);
    // Ballistic-stop's ghosts (its balls pass through each other): orange over the grey
    // floor, not the light ball's gold (whose green is far above its blue).
    let orange = count(&|r, g, b| r > 170 && r - g > 35 && (8..40).contains(&(g - b)));
    assert!(
        cyan > 40 && magenta > 40 && orange > 40,
        "pixels: learned {cyan}, constant velocity {magenta}, ballistic-stop {orange}"
    );
    let _ = std::fs::remove_file(out);
}

#[test]
fn view_without_a_display_or_with_a_bad_scene_fails_cleanly() {
    let o = Command::new(env!("CARGO_BIN_EXE_foresight"))
        .args(["view", "--scene", "assets/scenes/drop.ron"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no display"));
    let bad = std::env::temp_dir().join(format!("foresight-bad-{}.ron", std::process::id()));
    std::fs::write(&bad, "(name: ").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_foresight"))
        .args(["view", "--scene", bad.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DISPLAY", ":12345")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("foresight-bad-") && err.lines().count() == 1,
        "{err}"
    );
    let _ = std::fs::remove_file(bad);
    // A line-up asking for a second model that was not given, a second model file that
    // is not a model, and an unknown predictor: one line each, before any window.
    for (args, says) in [
        (vec!["--lineup", "learned,learned2"], "--model2"),
        (vec!["--model2", "assets/scenes/drop.ron"], "drop.json"),
        (vec!["--lineup", "oracle"], "oracle"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_foresight"))
            .args(["view", "--scene", "assets/scenes/drop.ron"])
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DISPLAY", ":12345")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn no_command_means_view() {
    // Without a display the default command must be the viewer, failing cleanly for lack of one.
    let o = Command::new(env!("CARGO_BIN_EXE_foresight"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no display"), "{err}");
}

//! Recording the window as an animated GIF (pure Rust, the `gif` crate): a frame every
//! [`TICKS_PER_FRAME`] simulator ticks (15 a simulated second), halved to 640×360 and
//! quantized. `foresight view --record OUT.gif --frames N` records N frames headless; the
//! V key starts and stops a recording in the app.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

use crate::{Viewer, ViewerConfig};

/// Simulator ticks between recorded frames (at 60 ticks a second: 15 frames a second).
pub const TICKS_PER_FRAME: u64 = 4;

/// Frames a headless recording waits before its first capture.
const WARM_UP_FRAMES: u32 = 10;

/// One recorded frame, RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbFrame {
    /// Width, pixels.
    pub width: usize,
    /// Height, pixels.
    pub height: usize,
    /// `width × height × 3` bytes.
    pub rgb: Vec<u8>,
}

impl RgbFrame {
    /// Whether the frame is (nearly) one colour: what a new window shows before its
    /// render pipelines are ready.
    pub fn is_blank(&self) -> bool {
        let mut seen = std::collections::HashSet::new();
        for px in self.rgb.chunks_exact(3) {
            seen.insert([px[0], px[1], px[2]]);
            if seen.len() >= 8 {
                return false;
            }
        }
        true
    }

    /// The frame at half the size, each pixel the mean of a 2×2 block.
    pub fn half(&self) -> RgbFrame {
        let (w, h) = (self.width / 2, self.height / 2);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let at = |dx: usize, dy: usize| {
                        u32::from(self.rgb[((2 * y + dy) * self.width + 2 * x + dx) * 3 + c])
                    };
                    rgb.push(((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) / 4) as u8);
                }
            }
        }
        RgbFrame {
            width: w,
            height: h,
            rgb,
        }
    }
}

/// Delays, in the GIF's hundredths of a second, of frames recorded at simulator `ticks`
/// of `dt` seconds: each frame lasts until the next one's tick (the last one
/// [`TICKS_PER_FRAME`]; a tick going back, after a restart or a branch, counts as
/// [`TICKS_PER_FRAME`]), with the rounding carried from frame to frame so the whole
/// plays in simulated real time (4 ticks at 60 Hz is 6.67 cs: 7, 7, 6, ...).
pub fn frame_delays(ticks: &[u64], dt: f32) -> Vec<u16> {
    let mut clock = 0u64;
    let mut ends = Vec::with_capacity(ticks.len());
    for (k, t) in ticks.iter().enumerate() {
        let gap = match ticks.get(k + 1) {
            Some(next) if next > t => next - t,
            _ => TICKS_PER_FRAME,
        };
        clock += gap;
        ends.push(clock);
    }
    let cs = |ticks: u64| (ticks as f64 * f64::from(dt) * 100.0).round() as i64;
    let mut before = 0;
    ends.iter()
        .map(|&end| {
            let d = cs(end) - before;
            before = cs(end);
            d.clamp(1, i64::from(u16::MAX)) as u16
        })
        .collect()
}

/// Writes `frames` as a looping animated GIF, frame `k` shown `delays[k]` hundredths of
/// a second ([`frame_delays`]); whole or not at all (a temporary file, then a rename).
pub fn write_gif(path: &Path, frames: &[RgbFrame], delays: &[u16]) -> Result<(), String> {
    let first = frames
        .first()
        .ok_or_else(|| format!("{}: no frames were recorded", path.display()))?;
    let (w, h) = (first.width as u16, first.height as u16);
    let mut bytes = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut bytes, w, h, &[])
            .map_err(|e| format!("{}: cannot encode: {e}", path.display()))?;
        enc.set_repeat(gif::Repeat::Infinite)
            .map_err(|e| format!("{}: cannot encode: {e}", path.display()))?;
        for (f, &delay) in frames.iter().zip(delays) {
            if f.width != first.width || f.height != first.height {
                return Err(format!(
                    "{}: frames differ in size (the window was resized while recording)",
                    path.display()
                ));
            }
            let mut frame = gif::Frame::from_rgb_speed(w, h, &f.rgb, 10);
            frame.delay = delay;
            enc.write_frame(&frame)
                .map_err(|e| format!("{}: cannot encode: {e}", path.display()))?;
        }
    }
    foresight_sim::write_atomic(path, &bytes).map_err(|e| e.to_string())
}

/// What is being recorded.
#[derive(Resource, Default)]
pub struct Recording {
    /// Recording now.
    pub active: bool,
    /// Frames captured so far.
    pub frames: Vec<RgbFrame>,
    /// The simulator tick of each captured frame.
    pub ticks: Vec<u64>,
    /// Frames asked for and not yet captured.
    pub pending: usize,
    /// The tick of the last frame asked for.
    pub last_tick: Option<u64>,
    /// Where it goes.
    pub path: Option<PathBuf>,
}

fn capture(commands: &mut Commands, tick: u64) {
    commands.spawn(Screenshot::primary_window()).observe(
        move |shot: On<ScreenshotCaptured>, mut rec: ResMut<Recording>| {
            rec.pending = rec.pending.saturating_sub(1);
            if let Ok(img) = shot.image.clone().try_into_dynamic() {
                let rgb = img.to_rgb8();
                let frame = RgbFrame {
                    width: rgb.width() as usize,
                    height: rgb.height() as usize,
                    rgb: rgb.into_raw(),
                };
                let frame = frame.half();
                // A recording starts with the first frame that shows something.
                if rec.frames.is_empty() && frame.is_blank() {
                    return;
                }
                rec.frames.push(frame);
                rec.ticks.push(tick);
            }
        },
    );
}

/// Starts or stops a recording with V (the app), writing `foresight-<scene>-<tick>.gif`.
pub fn toggle_recording(
    keys: Res<ButtonInput<KeyCode>>,
    wants: Res<bevy_egui::input::EguiWantsInput>,
    config: Res<ViewerConfig>,
    mut rec: ResMut<Recording>,
    mut viewer: ResMut<Viewer>,
) {
    // Not while typing in the panel, and not in headless runs (`--record` records there).
    if !keys.just_pressed(KeyCode::KeyV) || wants.wants_any_keyboard_input() || config.headless() {
        return;
    }
    if rec.active {
        rec.active = false;
        let path = rec.path.take().unwrap_or_else(|| "foresight.gif".into());
        let delays = frame_delays(&rec.ticks, viewer.session.instance.dt);
        viewer.status = match write_gif(&path, &rec.frames, &delays) {
            Ok(()) => format!(
                "recording saved to {} ({} frames)",
                path.display(),
                rec.frames.len()
            ),
            Err(e) => e,
        };
        rec.frames.clear();
        rec.ticks.clear();
    } else {
        *rec = Recording {
            active: true,
            path: Some(
                format!(
                    "foresight-{}-{}.gif",
                    viewer.session.instance.name,
                    viewer.session.tick()
                )
                .into(),
            ),
            ..default()
        };
        viewer.status = "recording (V to stop)".into();
    }
}

/// Captures a frame every [`TICKS_PER_FRAME`] ticks while recording; headless
/// (`--record`), records `--frames` frames, writes the GIF and exits.
pub fn record_frames(
    mut commands: Commands,
    mut rec: ResMut<Recording>,
    viewer: Res<Viewer>,
    config: Res<ViewerConfig>,
    mut exit: MessageWriter<AppExit>,
    mut warm: Local<u32>,
) {
    if let Some(path) = &config.record {
        // The first frames of a new window are blank.
        if *warm < WARM_UP_FRAMES {
            *warm += 1;
            return;
        }
        if !rec.active && rec.frames.is_empty() && rec.pending == 0 {
            rec.active = true;
            rec.path = Some(path.clone());
        }
        let want = config.frames as usize;
        if rec.frames.len() >= want {
            let delays = frame_delays(&rec.ticks[..want], viewer.session.instance.dt);
            match write_gif(path, &rec.frames[..want], &delays) {
                Ok(()) => println!(
                    "{}: {want} frames, one every {TICKS_PER_FRAME} ticks; recording {}",
                    viewer.session.instance.name,
                    path.display()
                ),
                Err(e) => {
                    eprintln!("foresight: {e}");
                    exit.write(AppExit::error());
                    return;
                }
            }
            exit.write(AppExit::Success);
            return;
        }
        if rec.frames.len() + rec.pending >= want {
            return;
        }
    }
    if !rec.active {
        return;
    }
    let tick = viewer.session.tick();
    // After a restart or a branch the clock went back: record from there.
    if rec
        .last_tick
        .is_some_and(|t| tick >= t && tick < t + TICKS_PER_FRAME)
    {
        return;
    }
    rec.last_tick = Some(tick);
    rec.pending += 1;
    capture(&mut commands, tick);
}

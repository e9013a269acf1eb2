//! PNG plots with plotters: the training loss curve and error against horizon. Text uses
//! the DejaVu Sans font shipped in `assets/fonts`, so no system font library is needed.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::ModelError;
use crate::eval::{EvalReport, horizon_key};
use crate::train::CurvePoint;

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the shipped font with plotters (once).
pub fn ensure_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A plot error as a one-line model error naming the file.
pub fn plot_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Io {
        file: path.display().to_string(),
        reason: format!("cannot draw plot: {e}"),
    }
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(220, 60, 50),
    RGBColor(40, 110, 200),
    RGBColor(240, 160, 30),
    RGBColor(60, 160, 80),
    RGBColor(140, 80, 180),
    RGBColor(110, 110, 110),
];

/// Training and validation loss against optimizer step (log scale).
pub fn loss_curve(path: &Path, curve: &[CurvePoint]) -> Result<(), ModelError> {
    ensure_font();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let max_it = curve.iter().map(|p| p.iteration).max().unwrap_or(1).max(1) as f64;
    let vals: Vec<f64> = curve
        .iter()
        .flat_map(|p| [p.train, p.val])
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let lo = vals.iter().cloned().fold(f64::INFINITY, f64::min).max(1e-6) * 0.8;
    let hi = vals.iter().cloned().fold(0.0, f64::max).max(lo * 2.0) * 1.2;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Foresight training loss (normalized residual error)",
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..max_it, (lo..hi).log_scale())
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc("optimizer step")
        .y_desc("loss")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for (name, colour, pick) in [
        ("train (smoothed)", COLOURS[1], 0),
        ("validation", COLOURS[0], 1),
    ] {
        let pts: Vec<(f64, f64)> = curve
            .iter()
            .map(|p| (p.iteration as f64, if pick == 0 { p.train } else { p.val }))
            .filter(|(_, v)| v.is_finite() && *v > 0.0)
            .collect();
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
            .map_err(|e| plot_err(path, e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))
}

/// Position RMSE against horizon, averaged over scenes, one line per predictor.
pub fn error_vs_horizon(path: &Path, report: &EvalReport) -> Result<(), ModelError> {
    ensure_font();
    let mut names: Vec<String> = report
        .scenes
        .values()
        .flat_map(|s| s.predictors.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    let series: Vec<(String, Vec<(f64, f64)>)> = names
        .iter()
        .map(|n| {
            let pts = report
                .horizons_s
                .iter()
                .filter_map(|&h| {
                    let v: Vec<f64> = report
                        .scenes
                        .values()
                        .filter_map(|s| {
                            s.predictors
                                .get(n)?
                                .horizons
                                .get(&horizon_key(h))
                                .map(|m| m.position_rmse)
                        })
                        .collect();
                    (!v.is_empty()).then(|| (f64::from(h), v.iter().sum::<f64>() / v.len() as f64))
                })
                .collect();
            (n.clone(), pts)
        })
        .collect();
    let all: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .filter(|v| *v > 0.0)
        .collect();
    let lo = all.iter().cloned().fold(f64::INFINITY, f64::min).max(1e-4) * 0.7;
    let hi = all.iter().cloned().fold(0.0, f64::max).max(lo * 2.0) * 1.4;
    let max_h = f64::from(
        report
            .horizons_s
            .iter()
            .copied()
            .fold(0.0f32, f32::max)
            .max(0.1),
    );
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Forecast position error vs horizon (mean over scenes)",
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..max_h * 1.05, (lo..hi).log_scale())
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc("horizon (s)")
        .y_desc("position RMSE (m)")
        .x_label_formatter(&|x| format!("{x:.2}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for (k, (name, pts)) in series.into_iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(3)))
            .map_err(|e| plot_err(path, e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, colour.filled())))
            .map_err(|e| plot_err(path, e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))
}

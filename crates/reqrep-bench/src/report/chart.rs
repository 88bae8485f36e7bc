//! The SVG chart: throughput and p99 against worker count, reqrep and raw
//! (brokered pipelined, 64 B, 1 client, 128 in flight).

use std::path::Path;

use plotters::prelude::*;

use super::document::worker_scaling;
use crate::BenchError;
use crate::runner::{Metric, Row};

const REQREP: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const RAW: RGBColor = RGBColor(0xd6, 0x27, 0x28);

/// Draws the chart into `path` (nothing when there are no scaling rows).
///
/// # Errors
/// [`BenchError::Chart`] when plotters fails.
pub(crate) fn write_chart(path: &Path, rows: &[Row]) -> Result<bool, BenchError> {
    let rows = worker_scaling(rows);
    if rows.is_empty() {
        return Ok(false);
    }
    let series = |metric: Metric, side: fn(&Row) -> &crate::runner::SideResult, scale: f64| {
        rows.iter()
            .filter_map(|r| {
                side(r)
                    .median(metric)
                    .map(|v| (r.scenario.workers as f64, v * scale))
            })
            .collect::<Vec<(f64, f64)>>()
    };
    let panels = [
        (
            "Throughput (k req/s)",
            series(Metric::Throughput, |r| &r.reqrep, 1e-3),
            series(Metric::Throughput, |r| &r.raw, 1e-3),
        ),
        (
            "p99 latency (us)",
            series(Metric::P99, |r| &r.reqrep, 1.0),
            series(Metric::P99, |r| &r.raw, 1.0),
        ),
    ];
    let max_workers = rows.iter().map(|r| r.scenario.workers).max().unwrap_or(1) as f64;

    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| BenchError::Chart(e.to_string());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let root = root
        .titled(
            "reqrep vs raw libzmq: brokered pipelined, 64 B, 128 in flight, 16 credits per worker",
            ("sans-serif", 18),
        )
        .map_err(|e| fail(&e))?;
    let halves = root.split_evenly((1, 2));
    for (area, (title, reqrep, raw)) in halves.iter().zip(panels) {
        let top = reqrep
            .iter()
            .chain(&raw)
            .map(|(_, y)| *y)
            .fold(0.0_f64, f64::max)
            .max(1e-9)
            * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5..max_workers + 0.5, 0.0..top)
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_desc("workers")
            .x_labels(max_workers as usize + 1)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(|e| fail(&e))?;
        for (name, points, color) in [("reqrep", reqrep, REQREP), ("raw", raw, RAW)] {
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| fail(&e))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(|e| fail(&e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(true)
}

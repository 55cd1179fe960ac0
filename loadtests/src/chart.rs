//! The SVG chart of a run: requests per second stacked by serving region, errors, and
//! latency over time, with the scenario's events marked.

use std::path::Path;

use plotters::prelude::*;

use crate::report::Report;
use crate::scenario::EventKind;

/// Chart size in pixels.
const SIZE: (u32, u32) = (1100, 960);

/// Colours by region: a family per geography, dark for the primary, light for the secondary.
const COLOURS: &[RGBColor] = &[
    RGBColor(31, 119, 180),
    RGBColor(158, 202, 233),
    RGBColor(44, 160, 44),
    RGBColor(152, 223, 138),
    RGBColor(148, 103, 189),
    RGBColor(197, 176, 213),
    RGBColor(140, 86, 75),
    RGBColor(196, 156, 148),
];

/// Room on the right of each panel for its legend.
const LEGEND_WIDTH: u32 = 170;

/// The legend's place: in the right margin, beside the plot.
fn legend_position<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>) -> SeriesLabelPosition {
    let (w, _) = area.dim_in_pixel();
    let x = i32::try_from(w).unwrap_or(0) - i32::try_from(LEGEND_WIDTH).unwrap_or(0) - 56 - 8 + 12;
    SeriesLabelPosition::Coordinate(x, 4)
}

/// Colours of the per-stream latency lines.
const STREAM_COLOURS: &[RGBColor] = &[
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(227, 119, 194),
];

const FAULT: RGBColor = RGBColor(214, 39, 40);
const RECOVERY: RGBColor = RGBColor(20, 120, 50);
const INFO: RGBColor = RGBColor(120, 120, 120);

fn colour(i: usize) -> RGBColor {
    COLOURS.get(i % COLOURS.len()).copied().unwrap_or(BLACK)
}

fn event_colour(kind: EventKind) -> RGBColor {
    match kind {
        EventKind::Fault => FAULT,
        EventKind::Recovery => RECOVERY,
        EventKind::Info => INFO,
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("cannot draw the chart: {e}")
}

/// Draws the chart of `report` into `path` (SVG).
pub fn draw(report: &Report, path: &Path) -> Result<(), String> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "edge-loadtest {} — {}",
        report.scenario,
        if report.passed { "PASS" } else { "FAIL" }
    );
    let root = root.titled(&title, ("sans-serif", 22)).map_err(err)?;
    let panels = root.split_evenly((3, 1));
    let tl = &report.timeline;
    let x_max = report.duration_s.max(tl.bucket_s);
    // Points at the middle of each bucket.
    let xs: Vec<f64> = tl.t_s.iter().map(|t| t + tl.bucket_s / 2.0).collect();

    // 1. Requests per second, stacked by serving region.
    let regions: Vec<(usize, &String, &Vec<f64>)> = tl
        .rps_by_region
        .iter()
        .filter(|(_, v)| v.iter().any(|x| *x > 0.0))
        .map(|(name, v)| {
            let i = report
                .regions
                .iter()
                .position(|r| &r.name == name)
                .unwrap_or(0);
            (i, name, v)
        })
        .collect();
    let mut regions = regions;
    regions.sort_by_key(|(i, _, _)| *i);
    let n = xs.len();
    let mut stacks: Vec<Vec<f64>> = Vec::new();
    let mut acc = vec![0.0; n];
    for (_, _, v) in &regions {
        for (a, x) in acc.iter_mut().zip(v.iter()) {
            *a += x;
        }
        stacks.push(acc.clone());
    }
    let y1 = acc.iter().copied().fold(1.0, f64::max) * 1.15;
    if let Some(area) = panels.first() {
        let mut chart = ChartBuilder::on(area)
            .caption(
                "answers per second, stacked by the region that served them",
                ("sans-serif", 16),
            )
            .margin(8)
            .margin_right(LEGEND_WIDTH)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("s")
            .y_desc("req/s")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        // Top of the stack first, so each lower band is drawn over the one above it.
        for ((i, name, _), top) in regions.iter().zip(stacks.iter()).rev() {
            let c = colour(*i);
            chart
                .draw_series(AreaSeries::new(
                    xs.iter().copied().zip(top.iter().copied()),
                    0.0,
                    c.filled(),
                ))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        mark_events(&mut chart, report, y1, true)?;
        chart
            .configure_series_labels()
            .position(legend_position(area))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
    }

    // 2. Errors per second (and expected 429s).
    let limited = tl.rate_limited_per_s.iter().any(|x| *x > 0.0);
    let y2 = tl
        .errors_per_s
        .iter()
        .chain(tl.rate_limited_per_s.iter())
        .copied()
        .fold(1.0, f64::max)
        * 1.2;
    if let Some(area) = panels.get(1) {
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "failed requests per second (total {})",
                    report.totals.failed
                ),
                ("sans-serif", 16),
            )
            .margin(8)
            .margin_right(LEGEND_WIDTH)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..y2)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("s")
            .y_desc("errors/s")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                xs.iter().copied().zip(tl.errors_per_s.iter().copied()),
                FAULT.stroke_width(2),
            ))
            .map_err(err)?
            .label("failed")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], FAULT.stroke_width(2)));
        if limited {
            let orange = RGBColor(255, 127, 14);
            chart
                .draw_series(LineSeries::new(
                    xs.iter()
                        .copied()
                        .zip(tl.rate_limited_per_s.iter().copied()),
                    orange.stroke_width(2),
                ))
                .map_err(err)?
                .label("429 (expected, flooding tenant)")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], orange.stroke_width(2))
                });
        }
        mark_events(&mut chart, report, y2, false)?;
        chart
            .configure_series_labels()
            .position(legend_position(area))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
    }

    // 3. Latency.
    let y3 = tl
        .p99_ms
        .iter()
        .chain(tl.p99_by_stream.values().flatten())
        .copied()
        .fold(1.0, f64::max)
        * 1.15;
    if let Some(area) = panels.get(2) {
        let mut chart = ChartBuilder::on(area)
            .caption("latency (ms)", ("sans-serif", 16))
            .margin(8)
            .margin_right(LEGEND_WIDTH)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..y3)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("s")
            .y_desc("ms")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        let purple = RGBColor(148, 103, 189);
        chart
            .draw_series(LineSeries::new(
                xs.iter().copied().zip(tl.p99_ms.iter().copied()),
                purple.stroke_width(2),
            ))
            .map_err(err)?
            .label("p99, all")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], purple.stroke_width(2)));
        let blue = RGBColor(31, 119, 180);
        chart
            .draw_series(LineSeries::new(
                xs.iter().copied().zip(tl.p50_ms.iter().copied()),
                blue.stroke_width(1),
            ))
            .map_err(err)?
            .label("p50, all")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], blue.stroke_width(1)));
        for (i, (name, v)) in tl.p99_by_stream.iter().enumerate() {
            let c = STREAM_COLOURS
                .get(i % STREAM_COLOURS.len())
                .copied()
                .unwrap_or(BLACK);
            chart
                .draw_series(LineSeries::new(
                    xs.iter().copied().zip(v.iter().copied()),
                    c.stroke_width(1),
                ))
                .map_err(err)?
                .label(format!("p99, {name}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(1)));
        }
        mark_events(&mut chart, report, y3, false)?;
        chart
            .configure_series_labels()
            .position(legend_position(area))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Draws a vertical line at every event (labelled in the top panel).
fn mark_events<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    report: &Report,
    y_max: f64,
    labels: bool,
) -> Result<(), String> {
    for (i, e) in report.events.iter().enumerate() {
        let c = event_colour(e.kind);
        chart
            .draw_series(LineSeries::new(
                vec![(e.at_s, 0.0), (e.at_s, y_max)],
                c.stroke_width(2),
            ))
            .map_err(|_| "cannot draw the chart: event marker".to_owned())?;
        if labels {
            // Staggered so that close events do not overwrite each other.
            let y = y_max * (0.95 - 0.08 * (i % 3) as f64);
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(" {}", e.label),
                    (e.at_s, y),
                    ("sans-serif", 13).into_font().color(&c),
                )))
                .map_err(|_| "cannot draw the chart: event label".to_owned())?;
        }
    }
    Ok(())
}

//! The SVG chart of a run: requests per second stacked by serving region, errors, and
//! latency over time, with the scenario's events marked.

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::Report;
use crate::run::EventKind;

/// Chart size in pixels.
const SIZE: (u32, u32) = (1100, 960);

/// Room on the right of each panel for its legend.
const LEGEND_WIDTH: u32 = 190;

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

/// Colours of the per-stream latency lines.
const STREAM_COLOURS: &[RGBColor] = &[
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(227, 119, 194),
];

const FAULT: RGBColor = RGBColor(214, 39, 40);
const RECOVERY: RGBColor = RGBColor(20, 120, 50);
const INFO: RGBColor = RGBColor(110, 110, 110);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const PURPLE: RGBColor = RGBColor(148, 103, 189);
const BLUE: RGBColor = RGBColor(31, 119, 180);

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;

/// A legend entry: label, colour, and whether it is a filled band (else a line).
struct Entry {
    label: String,
    colour: RGBColor,
    band: bool,
}

fn pick(palette: &[RGBColor], i: usize) -> RGBColor {
    palette
        .get(i % palette.len().max(1))
        .copied()
        .unwrap_or(BLACK)
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
    let (Some(top), Some(middle), Some(bottom)) = (panels.first(), panels.get(1), panels.get(2))
    else {
        return Err("cannot draw the chart: no panels".to_owned());
    };
    throughput(report, top)?;
    errors(report, middle)?;
    latency(report, bottom)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Bucket midpoints: where each bucket's value is drawn.
fn xs(report: &Report) -> Vec<f64> {
    let tl = &report.timeline;
    tl.t_s.iter().map(|t| t + tl.bucket_s / 2.0).collect()
}

fn chart<'a, 'b>(
    area: &'a Area<'b>,
    report: &Report,
    caption: &str,
    y_desc: &str,
    y_max: f64,
) -> Result<Chart<'a, 'b>, String> {
    let x_max = report.duration_s.max(report.timeline.bucket_s);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("s")
        .y_desc(y_desc)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

fn throughput(report: &Report, area: &Area<'_>) -> Result<(), String> {
    let tl = &report.timeline;
    let xs = xs(report);
    let mut regions: Vec<(usize, &String, &Vec<f64>)> = tl
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
    regions.sort_by_key(|(i, _, _)| *i);
    let mut stacks: Vec<Vec<f64>> = Vec::new();
    let mut acc = vec![0.0; xs.len()];
    for (_, _, v) in &regions {
        for (a, x) in acc.iter_mut().zip(v.iter()) {
            *a += x;
        }
        stacks.push(acc.clone());
    }
    let y_max = acc.iter().copied().fold(1.0, f64::max) * 1.2;
    let mut c = chart(
        area,
        report,
        "answers per second, stacked by the region that served them",
        "req/s",
        y_max,
    )?;
    // Top of the stack first, so each lower band is drawn over the one above it.
    // Drawn as steps (flat across each bucket), so that a change shows where it happened.
    let w = tl.bucket_s;
    for ((i, _, _), top) in regions.iter().zip(stacks.iter()).rev() {
        let steps = tl
            .t_s
            .iter()
            .zip(top.iter())
            .flat_map(|(&t, &y)| [(t, y), (t + w, y)]);
        c.draw_series(AreaSeries::new(steps, 0.0, pick(COLOURS, *i).filled()))
            .map_err(err)?;
    }
    mark_events(&mut c, report, y_max, true)?;
    // Legend from the top of the stack down, as the bands appear.
    let entries: Vec<Entry> = regions
        .iter()
        .rev()
        .map(|(i, name, _)| Entry {
            label: format!(
                "{name} ({})",
                report
                    .regions
                    .get(*i)
                    .map(|r| r.geography.as_str())
                    .unwrap_or_default()
            ),
            colour: pick(COLOURS, *i),
            band: true,
        })
        .collect();
    legend(area, &entries)
}

fn errors(report: &Report, area: &Area<'_>) -> Result<(), String> {
    let tl = &report.timeline;
    let xs = xs(report);
    let limited = tl.rate_limited_per_s.iter().any(|x| *x > 0.0);
    let bad_gateway = tl.bad_gateway_expected_per_s.iter().any(|x| *x > 0.0);
    let y_max = tl
        .errors_per_s
        .iter()
        .chain(tl.rate_limited_per_s.iter())
        .chain(tl.bad_gateway_expected_per_s.iter())
        .copied()
        .fold(1.0, f64::max)
        * 1.2;
    let caption = format!(
        "failed requests per second (total {})",
        report.totals.failed
    );
    let mut c = chart(area, report, &caption, "errors/s", y_max)?;
    c.draw_series(LineSeries::new(
        xs.iter().copied().zip(tl.errors_per_s.iter().copied()),
        FAULT.stroke_width(2),
    ))
    .map_err(err)?;
    let mut entries = vec![Entry {
        label: "failed".to_owned(),
        colour: FAULT,
        band: false,
    }];
    if limited {
        c.draw_series(LineSeries::new(
            xs.iter()
                .copied()
                .zip(tl.rate_limited_per_s.iter().copied()),
            ORANGE.stroke_width(2),
        ))
        .map_err(err)?;
        entries.push(Entry {
            label: "429, expected".to_owned(),
            colour: ORANGE,
            band: false,
        });
    }
    if bad_gateway {
        c.draw_series(LineSeries::new(
            xs.iter()
                .copied()
                .zip(tl.bad_gateway_expected_per_s.iter().copied()),
            PURPLE.stroke_width(2),
        ))
        .map_err(err)?;
        entries.push(Entry {
            label: "502 to a POST, expected".to_owned(),
            colour: PURPLE,
            band: false,
        });
    }
    mark_events(&mut c, report, y_max, false)?;
    legend(area, &entries)
}

fn latency(report: &Report, area: &Area<'_>) -> Result<(), String> {
    let tl = &report.timeline;
    let xs = xs(report);
    let y_max = tl
        .p99_ms
        .iter()
        .chain(tl.p99_by_stream.values().flatten())
        .copied()
        .fold(1.0, f64::max)
        * 1.15;
    let mut c = chart(area, report, "latency (ms)", "ms", y_max)?;
    let mut entries = Vec::new();
    c.draw_series(LineSeries::new(
        xs.iter().copied().zip(tl.p99_ms.iter().copied()),
        PURPLE.stroke_width(2),
    ))
    .map_err(err)?;
    entries.push(Entry {
        label: "p99, all requests".to_owned(),
        colour: PURPLE,
        band: false,
    });
    c.draw_series(LineSeries::new(
        xs.iter().copied().zip(tl.p50_ms.iter().copied()),
        BLUE.stroke_width(1),
    ))
    .map_err(err)?;
    entries.push(Entry {
        label: "p50, all requests".to_owned(),
        colour: BLUE,
        band: false,
    });
    for (i, (name, v)) in tl.p99_by_stream.iter().enumerate() {
        let colour = pick(STREAM_COLOURS, i);
        // Buckets where the stream sent nothing have no latency: leave them out.
        c.draw_series(LineSeries::new(
            xs.iter()
                .copied()
                .zip(v.iter().copied())
                .filter(|(_, y)| *y > 0.0),
            colour.stroke_width(1),
        ))
        .map_err(err)?;
        entries.push(Entry {
            label: format!("p99, {name}"),
            colour,
            band: false,
        });
    }
    mark_events(&mut c, report, y_max, false)?;
    legend(area, &entries)
}

/// Draws the legend in the panel's right margin (outside the plot, so it hides nothing).
fn legend(area: &Area<'_>, entries: &[Entry]) -> Result<(), String> {
    let (w, _) = area.dim_in_pixel();
    let x = i32::try_from(w.saturating_sub(LEGEND_WIDTH)).unwrap_or(0) + 14;
    for (i, e) in entries.iter().enumerate() {
        let y = 48 + 18 * i32::try_from(i).unwrap_or(0);
        if e.band {
            area.draw(&Rectangle::new(
                [(x, y - 5), (x + 14, y + 5)],
                e.colour.filled(),
            ))
            .map_err(err)?;
        } else {
            area.draw(&PathElement::new(
                vec![(x, y), (x + 14, y)],
                e.colour.stroke_width(2),
            ))
            .map_err(err)?;
        }
        area.draw(&Text::new(
            e.label.clone(),
            (x + 20, y - 6),
            ("sans-serif", 12).into_font(),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Draws a vertical line at every event (labelled in the top panel).
fn mark_events(
    chart: &mut Chart<'_, '_>,
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
            .map_err(err)?;
        if labels {
            // Staggered so that close events do not overwrite each other.
            let y = y_max * (0.97 - 0.07 * (i % 2) as f64);
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(" {}", e.label),
                    (e.at_s, y),
                    ("sans-serif", 13).into_font().color(&c),
                )))
                .map_err(err)?;
        }
    }
    Ok(())
}

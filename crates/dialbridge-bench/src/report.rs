//! The output: one table whose every figure stands beside its reference measured in the same
//! run, with their ratio; rows that could not run say why. Also the throughput plot (PNG);
//! `benchmarks_md.rs` puts a run into BENCHMARKS.md.

use std::path::Path;
use std::time::Duration;

use crate::load::Sample;

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: String,
    pub what: String,
    pub figure: String,
    pub reference: String,
    pub ratio: String,
}

impl Row {
    pub fn new(
        id: &str,
        what: impl Into<String>,
        figure: String,
        reference: String,
        ratio: String,
    ) -> Row {
        Row {
            id: id.to_owned(),
            what: what.into(),
            figure,
            reference,
            ratio,
        }
    }

    /// A row that did not run, with the reason.
    pub fn not_run(id: &str, what: impl Into<String>, why: impl std::fmt::Display) -> Row {
        Row::new(id, what, format!("NOT RUN: {why}"), "—".into(), "—".into())
    }
}

/// The rows of a run, and the notes that qualify them.
#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    /// Throughput against concurrency: (series, [(concurrency, per second)]).
    pub curves: Vec<(String, Vec<(usize, f64)>)>,
}

impl Report {
    pub fn push(&mut self, row: Row) {
        // Shown as it happens too, so a long run tells where it is.
        eprintln!(
            "  {} | {} | {} | {} | {}",
            row.id, row.what, row.figure, row.reference, row.ratio
        );
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  note: {note}");
        self.notes.push(note);
    }

    /// The table as Markdown (which is also how it is printed).
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| # | what | dialbridge | reference (same run) | ratio |\n|---|---|---|---|---|\n",
        );
        for row in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                row.id,
                escape(&row.what),
                escape(&row.figure),
                escape(&row.reference),
                escape(&row.ratio)
            ));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                out.push_str(&format!("- {note}\n"));
            }
        }
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|")
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1e3)
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1e3)
    }
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map(ms).unwrap_or_else(|| "—".into())
}

pub fn per_sec(rate: f64) -> String {
    format!("{}/s", num(rate))
}

/// A rate with the precision it deserves.
pub fn num(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else if rate >= 10.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.2}")
    }
}

/// `a / b` as `×0.42`, or `—` when it has no meaning.
pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("×{:.2}", a / b)
    } else {
        "—".into()
    }
}

pub fn ratio_d(a: Option<Duration>, b: Option<Duration>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => ratio(a.as_secs_f64(), b.as_secs_f64()),
        _ => "—".into(),
    }
}

/// `1,234/s, p50 1.2 ms, p99 3.4 ms (+ n failed: first error)`.
pub fn throughput(sample: &Sample) -> String {
    let mut text = format!(
        "{}, p50 {}, p99 {}",
        per_sec(sample.rate()),
        opt_ms(sample.quantile(0.5)),
        opt_ms(sample.quantile(0.99))
    );
    text.push_str(&failures(
        sample.failed,
        sample.ok,
        sample.first_error.as_deref(),
    ));
    text
}

pub fn failures(failed: u64, ok: u64, first: Option<&str>) -> String {
    if failed == 0 {
        return String::new();
    }
    format!(
        " — {failed} of {} FAILED (first: {})",
        failed + ok,
        first.unwrap_or("?").chars().take(120).collect::<String>()
    )
}

/// Rate, p50 and p99 ratios of `sample` to `reference`.
pub fn ratios(sample: &Sample, reference: &Sample) -> String {
    format!(
        "req/s {}, p50 {}, p99 {}",
        ratio(sample.rate(), reference.rate()),
        ratio_d(sample.quantile(0.5), reference.quantile(0.5)),
        ratio_d(sample.quantile(0.99), reference.quantile(0.99))
    )
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The font the plot's text is drawn with, embedded: DejaVu Sans cut down to ASCII (see
/// assets/FONT-LICENSE.txt), so the plot needs no system font.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

/// Throughput against concurrency, one line per series; log-2 concurrency, log throughput.
pub fn plot(
    curves: &[(String, Vec<(usize, f64)>)],
    title: &str,
    path: &Path,
) -> Result<(), String> {
    use plotters::prelude::*;
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the embedded font does not load".to_owned())?;
    let curves: Vec<_> = curves
        .iter()
        .filter(|(_, points)| !points.is_empty())
        .collect();
    if curves.is_empty() {
        return Err("no throughput was measured at several concurrencies".into());
    }
    let max_c = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(c, _)| *c))
        .max()
        .unwrap_or(64)
        .max(2);
    let rates = || curves.iter().flat_map(|(_, p)| p.iter().map(|(_, r)| *r));
    let max_rate = rates().fold(1.0_f64, f64::max);
    let min_rate = rates().filter(|r| *r > 0.0).fold(max_rate, f64::min);
    let x_max = (max_c as f64).log2().ceil();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        // Log scale: the direct reference is an order of magnitude above the rest; the room
        // above the highest line holds the legend.
        .build_cartesian_2d(
            -0.2f64..x_max + 0.2,
            ((min_rate / 2.0).max(0.1)..max_rate * 12.0).log_scale(),
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("concurrency (connections)")
        .y_desc("requests (events) per second, log scale")
        .x_labels(x_max as usize + 1)
        .x_label_formatter(&|x| format!("{}", 2f64.powf(x.round()) as u64))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    let palette = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    for (i, (name, points)) in curves.iter().enumerate() {
        let color = palette[i % palette.len()];
        let xy: Vec<(f64, f64)> = points
            .iter()
            .map(|(c, r)| ((*c as f64).log2(), *r))
            .collect();
        chart
            .draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(xy.into_iter().map(|p| Circle::new(p, 4, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

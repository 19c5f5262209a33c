//! # prefer-plot
//!
//! The charts prefer draws — curves over steps or votes, ratings with interval whiskers,
//! heatmaps — as PNG or SVG (chosen by the file's extension), written to a temporary
//! file and renamed. Text uses an embedded font (DejaVu Sans, Bitstream Vera license in
//! `assets/`), so PNGs render on a machine without any system fonts.
//!
//! # Quickstart
//! ```
//! use prefer_plot::{LineChart, Series, line_chart};
//! # let dir = tempfile::tempdir()?;
//! let chart = LineChart {
//!     title: "loss".into(),
//!     x_label: "step".into(),
//!     y_label: "loss".into(),
//!     series: vec![Series { name: "dpo".into(), points: vec![(0.0, 0.69), (1.0, 0.5), (2.0, 0.4)] }],
//!     ..Default::default()
//! };
//! line_chart(&dir.path().join("loss.png"), &chart)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Tests unwrap freely: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::io::Write;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Errors of prefer-plot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output path has no .png or .svg extension.
    #[error("{0}: plots are written as .png or .svg")]
    Extension(String),
    /// Nothing to draw.
    #[error("nothing to plot: {0}")]
    Empty(String),
    /// Drawing failed.
    #[error("drawing {path}: {message}")]
    Draw {
        /// The output file.
        path: String,
        /// What failed.
        message: String,
    },
    /// Writing the file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The output file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with prefer-plot's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The embedded font is valid; a failure here would leave text undrawn, which the
        // draw call then reports.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One named curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
}

/// A chart of curves.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    /// Title.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// The curves.
    pub series: Vec<Series>,
    /// Logarithmic y axis (non-positive values are left out).
    pub log_y: bool,
    /// Logarithmic x axis (non-positive values are left out).
    pub log_x: bool,
}

/// A value with an interval, for [`interval_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Whisker {
    /// Label (a model's name).
    pub label: String,
    /// The value.
    pub value: f64,
    /// Lower bound (or the value when none).
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(Error::Extension(path.display().to_string())),
    }
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".plot.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgb)?;
    }
    Ok(out)
}

/// Draws on whichever backend the extension asks for. `$draw` is a generic fn taking a
/// `&DrawingArea<DB, Shift>`.
macro_rules! render_with {
    ($path:expr, $size:expr, $draw:expr) => {{
        let path: &Path = $path;
        let size: (u32, u32) = $size;
        register_font();
        match format_of(path)? {
            Format::Svg => {
                let mut s = String::new();
                {
                    let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
                    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
                    $draw(&root)?;
                    root.present().map_err(|e| draw_err(path, e))?;
                }
                write_atomic(path, s.as_bytes())
            }
            Format::Png => {
                let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
                {
                    let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
                    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
                    $draw(&root)?;
                    root.present().map_err(|e| draw_err(path, e))?;
                }
                let bytes = encode_png(&buf, size).map_err(|e| draw_err(path, e))?;
                write_atomic(path, &bytes)
            }
        }
    }};
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn pad(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if (hi - lo).abs() < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let m = 0.05 * (hi - lo);
    (lo - m, hi + m)
}

/// Draws one chart context: mesh, every series, legend. A macro because each axis
/// kind (linear, logarithmic) is its own coordinate type in plotters.
macro_rules! draw_lines {
    ($builder:expr, $xr:expr, $yr:expr, $chart:expr, $path:expr) => {{
        let chart: &LineChart = $chart;
        let path: &Path = $path;
        let mut c = $builder
            .build_cartesian_2d($xr, $yr)
            .map_err(|e| draw_err(path, e))?;
        c.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| draw_err(path, e))?;
        for (k, s) in chart.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| chart.keeps(*p))
                .collect();
            c.draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|e| draw_err(path, e))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        c.configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw_err(path, e))?;
        Ok(())
    }};
}

impl LineChart {
    /// Whether a point can be drawn (finite, and positive on a log axis).
    fn keeps(&self, (x, y): (f64, f64)) -> bool {
        x.is_finite() && y.is_finite() && (!self.log_y || y > 0.0) && (!self.log_x || x > 0.0)
    }
}

/// Draws curves.
///
/// # Errors
/// No points, a bad extension, or a drawing/writing failure.
pub fn line_chart(path: &Path, chart: &LineChart) -> Result<()> {
    let pts: Vec<(f64, f64)> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|p| chart.keeps(*p))
        .collect();
    if pts.is_empty() {
        return Err(Error::Empty(chart.title.clone()));
    }
    let range = |v: Vec<f64>, log: bool| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if log {
            (lo / 1.2, hi * 1.2)
        } else {
            pad(lo, hi)
        }
    };
    let xr = range(pts.iter().map(|p| p.0).collect(), chart.log_x);
    let yr = range(pts.iter().map(|p| p.1).collect(), chart.log_y);
    fn draw<DB: DrawingBackend>(
        root: &DrawingArea<DB, Shift>,
        path: &Path,
        chart: &LineChart,
        xr: (f64, f64),
        yr: (f64, f64),
    ) -> Result<()> {
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&chart.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70);
        match (chart.log_x, chart.log_y) {
            (false, false) => draw_lines!(builder, xr.0..xr.1, yr.0..yr.1, chart, path),
            (false, true) => {
                draw_lines!(builder, xr.0..xr.1, (yr.0..yr.1).log_scale(), chart, path)
            }
            (true, false) => {
                draw_lines!(builder, (xr.0..xr.1).log_scale(), yr.0..yr.1, chart, path)
            }
            (true, true) => {
                draw_lines!(
                    builder,
                    (xr.0..xr.1).log_scale(),
                    (yr.0..yr.1).log_scale(),
                    chart,
                    path
                )
            }
        }
    }
    render_with!(path, (900, 560), |root| draw(root, path, chart, xr, yr))
}

/// Draws values with interval whiskers, one row per label, best (first) at the top.
///
/// # Errors
/// No rows, a bad extension, or a drawing/writing failure.
pub fn interval_chart(path: &Path, title: &str, x_label: &str, rows: &[Whisker]) -> Result<()> {
    if rows.is_empty() {
        return Err(Error::Empty(title.to_string()));
    }
    let lo = rows
        .iter()
        .map(|r| r.lower.min(r.value))
        .fold(f64::INFINITY, f64::min);
    let hi = rows
        .iter()
        .map(|r| r.upper.max(r.value))
        .fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = pad(lo, hi);
    let n = rows.len();
    let height = (120 + 22 * n as u32).clamp(300, 4000);
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(8) as u32;
    fn draw<DB: DrawingBackend>(
        root: &DrawingArea<DB, Shift>,
        path: &Path,
        title: &str,
        x_label: &str,
        rows: &[Whisker],
        xr: (f64, f64),
        label_width: u32,
    ) -> Result<()> {
        let n = rows.len();
        let mut c = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(label_width)
            .build_cartesian_2d(xr.0..xr.1, -0.5f64..(n as f64 - 0.5))
            .map_err(|e| draw_err(path, e))?;
        let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
        c.configure_mesh()
            .x_desc(x_label)
            .y_labels(n)
            .y_label_formatter(&|y: &f64| {
                let k = y.round();
                if (y - k).abs() > 1e-6 || k < 0.0 {
                    return String::new();
                }
                // Row 0 at the top.
                labels.get(n - 1 - k as usize).cloned().unwrap_or_default()
            })
            .label_style(("sans-serif", 13))
            .disable_y_mesh()
            .draw()
            .map_err(|e| draw_err(path, e))?;
        let color = PALETTE[0];
        for (i, r) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            c.draw_series(std::iter::once(PathElement::new(
                vec![(r.lower, y), (r.upper, y)],
                color.stroke_width(2),
            )))
            .map_err(|e| draw_err(path, e))?;
            c.draw_series(std::iter::once(Circle::new(
                (r.value, y),
                4,
                color.filled(),
            )))
            .map_err(|e| draw_err(path, e))?;
        }
        Ok(())
    }
    let label_width = (30 + 8 * longest).clamp(80, 360);
    render_with!(path, (900, height), |root| draw(
        root,
        path,
        title,
        x_label,
        rows,
        (x0, x1),
        label_width
    ))
}

/// Draws a matrix as a heatmap with values written in the cells (cells are colored from
/// white at 0.5 to blue at 1 and red at 0: win probabilities).
///
/// # Errors
/// An empty or non-square matrix, a bad extension, or a drawing/writing failure.
pub fn heatmap(path: &Path, title: &str, labels: &[String], m: &[Vec<f64>]) -> Result<()> {
    let n = labels.len();
    if n < 2 || m.len() != n || m.iter().any(|r| r.len() != n) {
        return Err(Error::Empty(format!(
            "{title}: the matrix must be square with one label per row"
        )));
    }
    let cell = if n > 30 { 18 } else { 40 };
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(8) as u32;
    let margin = (30 + 7 * longest).clamp(80, 300);
    let side = margin + cell * n as u32 + 40;
    fn draw<DB: DrawingBackend>(
        root: &DrawingArea<DB, Shift>,
        path: &Path,
        title: &str,
        labels: &[String],
        m: &[Vec<f64>],
        margin: u32,
        cell: u32,
    ) -> Result<()> {
        let n = labels.len();
        let nn = n as u32;
        let mut c = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(margin)
            .y_label_area_size(margin)
            .build_cartesian_2d(
                (0u32..nn - 1).into_segmented(),
                (0u32..nn - 1).into_segmented(),
            )
            .map_err(|e| draw_err(path, e))?;
        let name = |v: &SegmentValue<u32>, flip: bool| match v {
            SegmentValue::CenterOf(k) if *k < nn => {
                let k = if flip { nn - 1 - k } else { *k };
                labels[k as usize].clone()
            }
            _ => String::new(),
        };
        c.configure_mesh()
            .disable_mesh()
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&|v| name(v, false))
            .y_label_formatter(&|v| name(v, true))
            .x_label_style(
                ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .y_label_style(("sans-serif", 11))
            .draw()
            .map_err(|e| draw_err(path, e))?;
        for (i, row) in m.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let color = if !v.is_finite() {
                    RGBColor(235, 235, 235)
                } else if v >= 0.5 {
                    let t = ((v - 0.5) * 2.0).clamp(0.0, 1.0);
                    RGBColor((255.0 - 200.0 * t) as u8, (255.0 - 130.0 * t) as u8, 255)
                } else {
                    let t = ((0.5 - v) * 2.0).clamp(0.0, 1.0);
                    RGBColor(255, (255.0 - 170.0 * t) as u8, (255.0 - 170.0 * t) as u8)
                };
                let (x, y) = (j as u32, nn - 1 - i as u32);
                c.draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    color.filled(),
                )))
                .map_err(|e| draw_err(path, e))?;
                if cell >= 30 && v.is_finite() {
                    c.draw_series(std::iter::once(Text::new(
                        format!("{v:.2}"),
                        (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                        TextStyle::from(("sans-serif", 11).into_font())
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    )))
                    .map_err(|e| draw_err(path, e))?;
                }
            }
        }
        Ok(())
    }
    render_with!(path, (side, side + 30), |root| draw(
        root, path, title, labels, m, margin, cell
    ))
}

/// A radar (spider) chart: one axis per entry of `axes`, one closed polygon per series,
/// where `series[s].points[k].1` is series s's value on axis k (the x of each point is
/// ignored). The radius runs linearly from the smallest to the largest value (padded),
/// so negative values (a value neglected more than chosen) sit inside the zero ring,
/// which is drawn darker.
///
/// # Errors
/// No axes or series, a series of the wrong length, or a drawing or I/O failure.
pub fn radar_chart(path: &Path, title: &str, axes: &[String], series: &[Series]) -> Result<()> {
    if axes.len() < 3 || series.is_empty() {
        return Err(Error::Empty(format!(
            "{title}: a radar chart needs 3 or more axes and a series"
        )));
    }
    if let Some(s) = series.iter().find(|s| s.points.len() != axes.len()) {
        return Err(Error::Empty(format!(
            "{title}: series {} has {} values for {} axes",
            s.name,
            s.points.len(),
            axes.len()
        )));
    }
    let vals: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .collect();
    let lo = vals.iter().copied().fold(0.0f64, f64::min);
    let hi = vals.iter().copied().fold(0.0f64, f64::max);
    let (lo, hi) = pad(lo, hi);
    let size = (900u32, 760u32);
    #[allow(clippy::too_many_arguments)]
    fn draw<DB: DrawingBackend>(
        root: &DrawingArea<DB, Shift>,
        path: &Path,
        title: &str,
        axes: &[String],
        series: &[Series],
        (lo, hi): (f64, f64),
        size: (u32, u32),
    ) -> Result<()> {
        let (w, h) = (size.0 as f64, size.1 as f64);
        let (cx, cy, r) = (w / 2.0 - 80.0, h / 2.0 + 20.0, h * 0.36);
        let font = ("sans-serif", 14).into_font();
        root.draw(&Text::new(
            title.to_string(),
            ((w / 2.0 - 8.0 * title.len() as f64 / 2.0) as i32, 14),
            ("sans-serif", 22).into_font(),
        ))
        .map_err(|e| draw_err(path, e))?;
        let n = axes.len();
        let at = |k: usize, v: f64| {
            let a = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * k as f64 / n as f64;
            let rr = r * ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
            ((cx + rr * a.cos()) as i32, (cy + rr * a.sin()) as i32)
        };
        for ring in 0..=4 {
            let v = lo + (hi - lo) * ring as f64 / 4.0;
            let pts: Vec<(i32, i32)> = (0..=n).map(|k| at(k % n, v)).collect();
            root.draw(&PathElement::new(
                pts,
                RGBColor(210, 210, 210).stroke_width(1),
            ))
            .map_err(|e| draw_err(path, e))?;
            root.draw(&Text::new(
                format!("{v:.2}"),
                at(0, v),
                ("sans-serif", 11)
                    .into_font()
                    .color(&RGBColor(120, 120, 120)),
            ))
            .map_err(|e| draw_err(path, e))?;
        }
        if lo < 0.0 && hi > 0.0 {
            let pts: Vec<(i32, i32)> = (0..=n).map(|k| at(k % n, 0.0)).collect();
            root.draw(&PathElement::new(pts, RGBColor(90, 90, 90).stroke_width(2)))
                .map_err(|e| draw_err(path, e))?;
        }
        for (k, name) in axes.iter().enumerate() {
            root.draw(&PathElement::new(
                vec![at(k, lo), at(k, hi)],
                RGBColor(200, 200, 200).stroke_width(1),
            ))
            .map_err(|e| draw_err(path, e))?;
            let (x, y) = at(k, hi + (hi - lo) * 0.08);
            let x = x - (3.5 * name.chars().count() as f64) as i32;
            root.draw(&Text::new(name.clone(), (x, y - 7), font.clone()))
                .map_err(|e| draw_err(path, e))?;
        }
        for (si, s) in series.iter().enumerate() {
            let color = PALETTE[si % PALETTE.len()];
            let pts: Vec<(i32, i32)> = (0..=n).map(|k| at(k % n, s.points[k % n].1)).collect();
            root.draw(&PathElement::new(pts, color.stroke_width(3)))
                .map_err(|e| draw_err(path, e))?;
            let ly = 60 + 24 * si as i32;
            root.draw(&Rectangle::new(
                [(size.0 as i32 - 190, ly), (size.0 as i32 - 172, ly + 14)],
                color.filled(),
            ))
            .map_err(|e| draw_err(path, e))?;
            root.draw(&Text::new(
                s.name.clone(),
                (size.0 as i32 - 165, ly),
                font.clone(),
            ))
            .map_err(|e| draw_err(path, e))?;
        }
        Ok(())
    }
    render_with!(path, size, |root| draw(
        root,
        path,
        title,
        axes,
        series,
        (lo, hi),
        size
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radar_charts_are_written_and_refuse_ragged_series() {
        let dir = tempfile::tempdir().unwrap();
        let axes: Vec<String> = ["care", "fairness", "loyalty", "authority", "sanctity"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = |name: &str, v: [f64; 5]| Series {
            name: name.into(),
            points: v.iter().enumerate().map(|(k, x)| (k as f64, *x)).collect(),
        };
        let series = vec![
            s("model a", [0.4, 0.2, -0.3, -0.1, 0.0]),
            s("model b", [0.1, 0.3, 0.2, -0.4, 0.05]),
        ];
        for ext in ["png", "svg"] {
            let p = dir.path().join(format!("r.{ext}"));
            radar_chart(&p, "values", &axes, &series).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            if ext == "png" {
                assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            } else {
                let text = String::from_utf8(bytes).unwrap();
                assert!(
                    text.contains("<svg") && text.contains("sanctity") && text.contains("model b")
                );
            }
        }
        let ragged = vec![Series {
            name: "x".into(),
            points: vec![(0.0, 1.0)],
        }];
        assert!(radar_chart(&dir.path().join("x.png"), "t", &axes, &ragged).is_err());
    }

    #[test]
    fn png_and_svg_files_are_written_and_decodable() {
        let dir = tempfile::tempdir().unwrap();
        let chart = LineChart {
            title: "curve".into(),
            x_label: "votes".into(),
            y_label: "rank MSE".into(),
            series: vec![
                Series {
                    name: "elo".into(),
                    points: (1..50).map(|i| (i as f64, 100.0 / i as f64)).collect(),
                },
                Series {
                    name: "k-sort".into(),
                    points: (1..50).map(|i| (i as f64, 30.0 / i as f64)).collect(),
                },
            ],
            log_y: true,
            log_x: true,
        };
        line_chart(&dir.path().join("c.png"), &chart).unwrap();
        line_chart(
            &dir.path().join("c.svg"),
            &LineChart {
                log_y: false,
                log_x: false,
                ..chart.clone()
            },
        )
        .unwrap();
        // The PNG decodes to the canvas size; the SVG holds the legend's text.
        let dec = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(dir.path().join("c.png")).unwrap(),
        ));
        let reader = dec.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (900, 560));
        let svg = std::fs::read_to_string(dir.path().join("c.svg")).unwrap();
        assert!(svg.contains("k-sort") && svg.contains("rank MSE"));
        let rows = vec![
            Whisker {
                label: "model-a".into(),
                value: 1100.0,
                lower: 1080.0,
                upper: 1120.0,
            },
            Whisker {
                label: "model-b".into(),
                value: 1000.0,
                lower: 990.0,
                upper: 1010.0,
            },
        ];
        interval_chart(&dir.path().join("r.svg"), "ratings", "Elo", &rows).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("r.svg")).unwrap();
        assert!(svg.contains("model-a"));
        heatmap(
            &dir.path().join("h.png"),
            "p",
            &["a".into(), "b".into()],
            &[vec![0.5, 0.7], vec![0.3, 0.5]],
        )
        .unwrap();
        assert!(line_chart(&dir.path().join("c.jpg"), &chart).is_err());
        // Only the three plots: no temporary files left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }
}

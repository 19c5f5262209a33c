//! Convergence curves as SVG (plotters' SVG backend: text is left to the viewer's fonts,
//! so nothing needs a font file or a system font library).

use plotters::prelude::*;

use crate::{Error, Result};

/// One curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// Values below this are drawn at it on a log axis (exact zeros have no logarithm).
pub const LOG_FLOOR: f64 = 1e-16;

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("plotting failed: {e}"))
}

/// A line chart of `series` as an SVG document; `log_y` uses a logarithmic y axis.
///
/// # Errors
/// No finite points to draw, or a drawing failure.
pub fn line_chart_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<String> {
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in pts {
        let y = if log_y { y.max(LOG_FLOOR) } else { y };
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !(x0.is_finite() && y0.is_finite()) {
        return Err(Error::Invalid("nothing to plot: no finite points".into()));
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = if log_y { y0 * 10.0 } else { y0 + 1.0 };
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut b = ChartBuilder::on(&root);
        b.caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70);
        let style = |i: usize| Palette99::pick(i).stroke_width(2);
        if log_y {
            let (lo, hi) = (y0 / 2.0, y1 * 2.0);
            let mut chart = b
                .build_cartesian_2d(x0..x1, (lo..hi).log_scale())
                .map_err(plot_error)?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .y_label_formatter(&|v| format!("{v:.0e}"))
                .draw()
                .map_err(plot_error)?;
            for (i, s) in series.iter().enumerate() {
                let data = s
                    .points
                    .iter()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .map(|&(x, y)| (x, y.max(LOG_FLOOR)));
                chart
                    .draw_series(LineSeries::new(data, style(i)))
                    .map_err(plot_error)?
                    .label(s.label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style(i)));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(plot_error)?;
        } else {
            let pad = 0.05 * (y1 - y0);
            let mut chart = b
                .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
                .map_err(plot_error)?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .draw()
                .map_err(plot_error)?;
            for (i, s) in series.iter().enumerate() {
                let data = s
                    .points
                    .iter()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .copied();
                chart
                    .draw_series(LineSeries::new(data, style(i)))
                    .map_err(plot_error)?
                    .label(s.label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style(i)));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_with_every_label() {
        let s = vec![
            Series {
                label: "egpo".into(),
                points: (0..50).map(|t| (t as f64, 0.9f64.powi(t))).collect(),
            },
            Series {
                label: "sppo".into(),
                points: (0..50).map(|t| (t as f64, 0.0)).collect(),
            },
        ];
        let svg = line_chart_svg("RPS", "iteration", "exploitability", &s, true).unwrap();
        assert!(
            svg.starts_with("<svg")
                && svg.contains("egpo")
                && svg.contains("sppo")
                && svg.contains("RPS")
        );
        assert!(line_chart_svg("x", "x", "y", &[], false).is_err());
    }
}

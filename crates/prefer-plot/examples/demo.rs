//! Draws one chart of each kind into the folder given as the first argument.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use prefer_plot::*;
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let chart = LineChart {
        title: "rank error".into(),
        x_label: "votes".into(),
        y_label: "rank MSE".into(),
        series: vec![
            Series {
                name: "elo".into(),
                points: (1..200).map(|i| (i as f64, 100.0 / i as f64)).collect(),
            },
            Series {
                name: "k-sort".into(),
                points: (1..200).map(|i| (i as f64, 30.0 / i as f64)).collect(),
            },
        ],
        log_y: true,
        log_x: true,
    };
    line_chart(&out.join("curve.png"), &chart)?;
    let rows: Vec<Whisker> = (0..8)
        .map(|i| Whisker {
            label: format!("model-{i:02}"),
            value: 1100.0 - 20.0 * i as f64,
            lower: 1090.0 - 22.0 * i as f64,
            upper: 1112.0 - 19.0 * i as f64,
        })
        .collect();
    interval_chart(
        &out.join("ratings.png"),
        "ratings (95% CI)",
        "rating",
        &rows,
    )?;
    let labels: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    let m: Vec<Vec<f64>> = (0..5)
        .map(|i| {
            (0..5)
                .map(|j| 1.0 / (1.0 + (0.4 * (j as f64 - i as f64)).exp()))
                .collect()
        })
        .collect();
    heatmap(&out.join("heat.png"), "predicted win rate", &labels, &m)?;
    Ok(())
}

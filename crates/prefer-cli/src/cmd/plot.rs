//! `prefer plot`: training curves from metrics JSONL files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args as ClapArgs;
use prefer_plot::{LineChart, Series, line_chart};

/// `prefer plot metrics.jsonl --out curves.png`
#[derive(Debug, ClapArgs)]
#[command(after_help = "Examples:\n  \
    prefer plot runs/dpo/metrics.jsonl --out curves.png\n  \
    prefer plot runs/dpo/metrics.jsonl runs/ipo/metrics.jsonl --keys loss,rewards/accuracies --out cmp.svg\n  \
    prefer plot runs/overopt/eval.jsonl --x kl --keys proxy,gold --out gold_vs_kl.png")]
pub struct Args {
    /// Metrics files (one line per step, as `prefer train` writes them).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output image, .png or .svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Comma-separated keys to draw (default `loss`).
    #[arg(long, value_delimiter = ',', default_value = "loss")]
    pub keys: Vec<String>,
    /// Logarithmic y axis.
    #[arg(long)]
    pub log_y: bool,
    /// Title (default: the keys).
    #[arg(long)]
    pub title: Option<String>,
    /// The key on the x axis (default `step`); points are drawn in its order.
    #[arg(long, default_value = "step")]
    pub x: String,
}

/// Runs `prefer plot`.
pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let mut series = Vec::new();
    for f in &a.files {
        let rows = prefer_train::metrics::read_metrics(f)?;
        let run = f
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.display().to_string());
        for k in &a.keys {
            let mut points: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| {
                    Some((r.get(a.x.as_str())?.as_f64()?, r.get(k.as_str())?.as_f64()?))
                })
                .collect();
            points.sort_by(|p, q| p.0.total_cmp(&q.0));
            if points.is_empty() {
                eprintln!("{}: no `{k}` values", f.display());
                continue;
            }
            let name = if a.files.len() > 1 {
                format!("{run} {k}")
            } else {
                k.clone()
            };
            series.push(Series { name, points });
        }
    }
    if series.is_empty() {
        bail!(
            "nothing to plot: none of the keys {:?} is in the files",
            a.keys
        );
    }
    let chart = LineChart {
        title: a.title.clone().unwrap_or_else(|| a.keys.join(", ")),
        x_label: a.x.clone(),
        y_label: if a.keys.len() == 1 {
            a.keys[0].clone()
        } else {
            "value".into()
        },
        series,
        log_y: a.log_y,
        log_x: false,
    };
    line_chart(&a.out, &chart)?;
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

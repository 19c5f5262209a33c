//! `prefer merge`: merge models with mergekit's methods from a mergekit YAML config.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use prefer_nn::merge::{MergeConfig, MergeOptions, run_merge};

/// `prefer merge`
#[derive(Debug, ClapArgs)]
#[command(after_help = "Examples:\n  \
    prefer merge ties.yml merged/            # the same YAML mergekit-yaml takes\n  \
    prefer merge slerp.yml out --out-shard-size 2B --json\n\
    Methods: linear, slerp, nuslerp, model_stock, passthrough, task_arithmetic, ties,\n\
    dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties, della, della_linear.\n\
    Models are local Hugging Face folders (config.json + *.safetensors). The merge streams\n\
    tensor by tensor, so models larger than memory merge.")]
pub struct Args {
    /// mergekit YAML config (merge_method, models or slices, base_model, parameters, dtype).
    pub config: PathBuf,
    /// Output folder: safetensors, config.json, tokenizer files, mergekit_config.yml.
    pub out: PathBuf,
    /// Seed of DARE's and DELLA's random masks.
    #[arg(long, default_value_t = 0)]
    pub random_seed: u64,
    /// Largest output shard, as mergekit writes it: 500M, 2B, or bytes.
    #[arg(long, default_value = "5B")]
    pub out_shard_size: String,
    /// Do not copy the tokenizer files from the base model.
    #[arg(long)]
    pub no_copy_tokenizer: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `500M`, `5B`, `10K` or a plain number of bytes (mergekit's `parse_kmb`).
fn parse_kmb(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1e3),
        Some('M') => (&s[..s.len() - 1], 1e6),
        Some('B') => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().with_context(|| {
        format!("--out-shard-size: `{s}` is not a size like 500M, 5B or 1000000")
    })?;
    if v <= 0.0 {
        bail!("--out-shard-size must be positive");
    }
    Ok((v * mult) as u64)
}

/// Peak resident memory of this process (VmHWM), in bytes, where /proc has it.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs `prefer merge`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = MergeConfig::from_file(&args.config)?;
    let opts = MergeOptions {
        random_seed: args.random_seed,
        out_shard_size: parse_kmb(&args.out_shard_size)?,
        copy_tokenizer: !args.no_copy_tokenizer,
    };
    let start = Instant::now();
    let report = run_merge(&config, &args.out, &opts)
        .with_context(|| format!("merging {}", args.config.display()))?;
    let secs = start.elapsed().as_secs_f64();
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["seconds"] = secs.into();
        v["peak_rss_bytes"] = peak_rss().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{}: {} tensors, {} layers, {:.1} MB in {} file(s) to {} in {secs:.2} s",
            report.method,
            report.tensors,
            report.layers,
            report.bytes_written as f64 / 1e6,
            report.files.len(),
            args.out.display()
        );
        println!(
            "memory: {:.1} MB of tensors held at most; peak RSS {}",
            report.peak_tensor_bytes as f64 / 1e6,
            peak_rss().map_or("unknown".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_mergekit_reads_them() {
        assert_eq!(parse_kmb("5B").unwrap(), 5_000_000_000);
        assert_eq!(parse_kmb("500M").unwrap(), 500_000_000);
        assert_eq!(parse_kmb("1.5k").unwrap(), 1500);
        assert_eq!(parse_kmb("4096").unwrap(), 4096);
        assert!(parse_kmb("big").is_err());
    }
}

//! `prefer generate`: sample continuations of prompts from a Hugging Face model folder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::sample::{SampleConfig, generate};
use prefer_nn::tokenizer::{ChatMessage, Tokenizer};

/// `prefer generate`
#[derive(Debug, ClapArgs)]
#[command(after_help = "Examples:\n  \
    prefer generate --model ../shared/models/stories260K --temperature 0\n  \
    prefer generate --model DIR --prompt 'Once upon a time' -n 4 --top-p 0.9 --seed 1\n  \
    prefer generate --model DIR --prompt 'Tell me a story' --chat --json\n\
    Threads: on a loaded machine set CANDLE_NUM_THREADS=1 (candle's pool busy-waits).")]
pub struct Args {
    /// Model folder: config.json, *.safetensors, tokenizer.json (+ tokenizer_config.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Prompt text; repeat for a batch. None: generate from BOS alone.
    #[arg(long, short)]
    pub prompt: Vec<String>,
    /// Samples per prompt.
    #[arg(short = 'n', long = "num-samples", default_value_t = 1)]
    pub num_samples: usize,
    /// Most new tokens per sample.
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 is greedy.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Keep only the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Random seed (same seed, same samples).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Wrap each prompt as a user message in the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// Keep generating after EOS (until --max-new-tokens).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Print one JSON object per sample instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print the generation speed on stderr.
    #[arg(long)]
    pub timing: bool,
}

/// Runs `prefer generate`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.num_samples == 0 {
        bail!("-n must be at least 1");
    }
    let cfg = SampleConfig {
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        seed: args.seed,
        stop_at_eos: !args.ignore_eos,
    };
    cfg.validate()?;
    let model = CausalLm::load(&args.model, &LoadOptions::frozen())
        .with_context(|| format!("loading the model in {}", args.model.display()))?;
    let tok = Tokenizer::from_dir(&args.model)?;
    let texts: Vec<String> = if args.prompt.is_empty() {
        vec![String::new()]
    } else {
        args.prompt.clone()
    };
    let mut prompts = Vec::new();
    for t in &texts {
        let ids = if args.chat {
            tok.encode_chat(&[ChatMessage::new("user", t)], true)?
        } else if t.is_empty() {
            tok.bos_id()
                .map(|b| vec![b])
                .context("the tokenizer has no BOS token; give --prompt")?
        } else {
            tok.encode(t, true)?
        };
        for _ in 0..args.num_samples {
            prompts.push(ids.clone());
        }
    }
    let mut eos = model.config().eos_ids();
    if let Some(e) = tok.eos_id()
        && !eos.contains(&e)
    {
        eos.push(e);
    }
    let start = Instant::now();
    let outs = generate(&model, &prompts, &eos, &cfg)?;
    let secs = start.elapsed().as_secs_f64();
    let new_tokens: usize = outs.iter().map(|o| o.tokens.len()).sum();
    for (i, (p, o)) in prompts.iter().zip(&outs).enumerate() {
        let completion = tok.decode(&o.tokens, true)?;
        if args.json {
            let line = serde_json::json!({
                "prompt": texts[i / args.num_samples],
                "sample": i % args.num_samples,
                "completion": completion,
                "tokens": o.tokens,
                "stopped_at_eos": o.stopped_at_eos,
            });
            println!("{line}");
        } else {
            let mut all = p.clone();
            all.extend_from_slice(&o.tokens);
            println!("{}", tok.decode(&all, true)?);
            if outs.len() > 1 {
                println!();
            }
        }
    }
    if args.timing {
        eprintln!(
            "{new_tokens} new tokens in {secs:.3} s ({:.1} tokens/s, batch {})",
            new_tokens as f64 / secs.max(1e-9),
            prompts.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

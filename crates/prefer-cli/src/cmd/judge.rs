//! `prefer judge`: judge labelled pairs with an LLM over an OpenAI-compatible endpoint (or
//! a baseline) and report agreement with the human labels, position consistency, the
//! failure rate and the cost per 1,000 judgments.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use prefer_train::judge::bench::Labelled;
use prefer_train::judge::endpoint::EndpointConfig;
use prefer_train::judge::template::VERDICT_GRAMMAR;
use prefer_train::judge::{
    Judgment, LlmJudge, PairJudge, RewardJudge, Swapped, Verdict, judge_both_orders, report,
};
use prefer_train::reward::Length;

/// `prefer judge`
#[derive(Debug, ClapArgs)]
#[command(after_help = "Examples:\n  \
    prefer judge ../shared/data/pandalm/testset-v1.json --url http://127.0.0.1:8080/v1 --out runs/judge\n  \
    prefer judge pairs.jsonl --url https://api.openai.com/v1 --model gpt-4o-mini --api-key-env OPENAI_API_KEY --cache judge-cache.jsonl\n  \
    prefer judge ../shared/data/pandalm/testset-v1.json --baseline longer\n\
    Data: PandaLM's JSON (majority label of annotator1..3), or JSON Lines with\n\
    {prompt, chosen, rejected} (labelled A) or {prompt, a, b, label: a|b|tie}.\n\
    Each pair is asked as (A, B) and (B, A) unless --one-order; disagreeing orders are a tie.")]
pub struct Args {
    /// The labelled pairs.
    pub data: PathBuf,
    /// The endpoint's API root (`.../v1`); chat completions are posted to it.
    #[arg(long, required_unless_present = "baseline")]
    pub url: Option<String>,
    /// A judge without a model instead: `longer` (the answer with more words wins).
    #[arg(long, value_parser = ["longer"], conflicts_with = "url")]
    pub baseline: Option<String>,
    /// The model name sent to the endpoint.
    #[arg(long, default_value = "default")]
    pub model: String,
    /// The environment variable holding the API key (sent as a bearer token).
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// Judge only the first N pairs.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Ask each pair once, as (A, B).
    #[arg(long)]
    pub one_order: bool,
    /// Constrain the reply to `[[A]]`, `[[B]]` or `[[C]]` with a llama.cpp grammar
    /// (llama-server only).
    #[arg(long)]
    pub grammar: bool,
    /// Most tokens per reply.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Seconds before a request times out.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Request cache (JSON Lines): a rerun sends only what it has not seen.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Folder for `judgments.jsonl` (each pair's verdicts and raw replies) and
    /// `report.json`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn judge_of(a: &Args) -> anyhow::Result<Box<dyn PairJudge>> {
    if a.baseline.is_some() {
        // −|words − T|/T grows with the word count for any answer shorter than T (a
        // million words; distinct counts stay distinct in f64 at that scale).
        return Ok(Box::new(RewardJudge::new(Box::new(Length {
            target: 1_000_000,
        }))));
    }
    let Some(url) = &a.url else {
        bail!("give --url (an OpenAI-compatible API root) or --baseline");
    };
    let mut cfg = EndpointConfig::new(url);
    cfg.model = a.model.clone();
    cfg.api_key_env = a.api_key_env.clone();
    cfg.max_tokens = a.max_tokens;
    cfg.concurrency = a.concurrency;
    cfg.timeout_s = a.timeout;
    cfg.cache = a.cache.clone();
    if a.grammar {
        let mut body = serde_json::Map::new();
        body.insert("grammar".into(), VERDICT_GRAMMAR.into());
        cfg.extra_body = Some(body);
    }
    cfg.validate()?;
    Ok(Box::new(LlmJudge::new(cfg)?))
}

/// Runs `prefer judge`.
pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let mut data = Labelled::read(&a.data)?;
    if let Some(n) = a.limit {
        data.truncate(n);
    }
    if data.queries.is_empty() {
        bail!("{}: no pairs", a.data.display());
    }
    let judge = judge_of(a)?;
    let swapped: Vec<Swapped> = if a.one_order {
        judge
            .judge(&data.queries)?
            .into_iter()
            .map(|j| Swapped {
                verdict: j.verdict,
                consistent: None,
                first: j,
                second: Judgment::failed("not asked".into(), String::new()),
            })
            .collect()
    } else {
        judge_both_orders(judge.as_ref(), &data.queries)?
    };
    let verdicts: Vec<Option<Verdict>> = swapped.iter().map(|s| s.verdict).collect();
    let consistent: Vec<Option<bool>> = swapped.iter().map(|s| s.consistent).collect();
    let labelled = data.labels.iter().any(Option::is_some);
    let r = report(
        &verdicts,
        (!a.one_order).then_some(consistent.as_slice()),
        labelled.then_some(data.labels.as_slice()),
        judge.usage(),
    );
    let mut out = serde_json::to_value(&r)?;
    out["judge"] = judge.name().into();
    out["data"] = a.data.display().to_string().into();
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut lines = String::new();
        for (i, s) in swapped.iter().enumerate() {
            let mut o = serde_json::json!({
                "index": i,
                "verdict": s.verdict,
                "label": data.labels[i],
                "consistent": s.consistent,
                "first": s.first,
            });
            if !a.one_order {
                o["second"] = serde_json::to_value(&s.second)?;
            }
            lines.push_str(&o.to_string());
            lines.push('\n');
        }
        prefer_data::write_atomic(&dir.join("judgments.jsonl"), lines.as_bytes())?;
        prefer_data::write_atomic(
            &dir.join("report.json"),
            serde_json::to_string_pretty(&out)?.as_bytes(),
        )?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let pct = |x: Option<f64>| x.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v));
    println!(
        "judge {} on {} ({} pairs)",
        judge.name(),
        a.data.display(),
        r.pairs
    );
    println!(
        "  verdicts: A {}, B {}, tie {}, failed {} (failure rate {})",
        r.wins_a,
        r.wins_b,
        r.ties,
        r.failures,
        pct(Some(r.failure_rate))
    );
    println!(
        "  agreement with labels {} ({} labelled), without ties {}",
        pct(r.agreement),
        r.labelled,
        pct(r.agreement_without_ties)
    );
    println!("  position consistency {}", pct(r.position_consistency));
    println!(
        "  per 1,000 judgments: {:.0} tokens, {:.1} s; requests sent {}, cache hits {}, retries {}",
        r.tokens_per_1000, r.seconds_per_1000, r.usage.sent, r.usage.cache_hits, r.usage.retries
    );
    Ok(ExitCode::SUCCESS)
}

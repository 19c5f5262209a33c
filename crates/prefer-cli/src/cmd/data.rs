//! `prefer data`: inspect, validate, convert, split and summarize preference data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use prefer_data::convert::{
    Binarizer, PairMode, RankPairs, ScoreBy, aggregate_pairs, explicit_prompt, kwise_to_battles,
    pair_to_chat, pair_to_unpaired, ranking_to_pairs,
};
use prefer_data::split::{SplitKey, Splitter};
use prefer_data::stats::StatsBuilder;
use prefer_data::{
    Dataset, Error, Format, Item, Pair, Record, RecordError, RecordWriter, RejectWriter, Shape,
    Text, WriteOptions,
};

use crate::ui::{InputArgs, parse_shape, print_table, progress_for, sibling, tick};

/// `prefer data ...`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a file holds: its format, layout, shape and first records.
    #[command(after_help = "Examples:\n  prefer data inspect train.jsonl\n  \
        prefer data inspect votes.csv -n 3\n  \
        prefer data inspect testset-v1.json --layout pandalm --shape battle")]
    Inspect(InspectArgs),
    /// Check every record; report each problem with its line and field; exit 1 if any.
    #[command(after_help = "Examples:\n  prefer data validate train.jsonl\n  \
        prefer data validate train.jsonl --max-errors 100 --rejects bad.jsonl")]
    Validate(ValidateArgs),
    /// Convert between formats and shapes (ratings -> pairs, rankings -> pairs, K-wise ->
    /// battles, pairs -> unpaired, implicit -> explicit prompt, text -> chat).
    #[command(after_help = "Examples:\n  \
        prefer data convert train.jsonl train.parquet\n  \
        prefer data convert ratings.jsonl pairs.jsonl --to pair --pairs best-vs-random --seed 1\n  \
        prefer data convert hh.jsonl.gz hh.jsonl --explicit-prompt --chat\n  \
        prefer data convert testset-v1.json pairs.jsonl --layout pandalm --aggregate soft\n  \
        prefer data convert pairs.jsonl kto.jsonl --to unpaired --skip-invalid")]
    Convert(ConvertArgs),
    /// Split a file into train/test (or more) files, reproducibly, by a hash of each
    /// record's prompt, id or position.
    #[command(after_help = "Examples:\n  \
        prefer data split pairs.jsonl --out-dir splits\n  \
        prefer data split pairs.jsonl --out-dir splits --fractions 0.8,0.1,0.1 --names train,dev,test")]
    Split(SplitArgs),
    /// Counts, length distributions, tie rate, per-source and per-annotator breakdowns,
    /// and agreement between annotators.
    #[command(after_help = "Examples:\n  prefer data stats train.jsonl\n  \
        prefer data stats testset-v1.json --layout pandalm --shape battle\n  \
        prefer data stats train.jsonl --json")]
    Stats(StatsArgs),
}

/// `prefer data inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The file to inspect.
    pub file: PathBuf,
    /// How many records to show.
    #[arg(short = 'n', long, default_value_t = 2)]
    pub count: usize,
    #[command(flatten)]
    pub input: InputArgs,
}

/// `prefer data validate`
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The file to check.
    pub file: PathBuf,
    /// Print at most this many problems (all are counted).
    #[arg(long, default_value_t = 20)]
    pub max_errors: usize,
    /// Also write every bad record with its reason to this JSONL file.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
}

/// How ratings become pairs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PairsArg {
    /// Best response vs a random strictly lower one (UltraFeedback binarization).
    BestVsRandom,
    /// Every two responses with different scores; margin = score gap.
    All,
}

/// How rankings become pairs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RankPairsArg {
    /// Every two responses of different rank.
    All,
    /// Adjacent rank levels only.
    Adjacent,
}

/// `prefer data convert`
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input file.
    pub input_file: PathBuf,
    /// Output file; its extension chooses the format (.jsonl, .jsonl.gz, .parquet, .csv).
    pub output_file: PathBuf,
    /// Target shape (default: the input's): pair, unpaired, battle, ...
    #[arg(long)]
    pub to: Option<String>,
    /// Ratings -> pairs: which pairs.
    #[arg(long, value_enum, default_value = "best-vs-random")]
    pub pairs: PairsArg,
    /// Ratings -> pairs: the score that orders responses: `overall` (else mean), `mean`,
    /// or an attribute name.
    #[arg(long, default_value = "overall")]
    pub score: String,
    /// Rankings -> pairs: which pairs.
    #[arg(long, value_enum, default_value = "all")]
    pub rank_pairs: RankPairsArg,
    /// Pairs: split implicit-prompt transcripts at the last shared turn boundary.
    #[arg(long)]
    pub explicit_prompt: bool,
    /// The turn boundary for --explicit-prompt.
    #[arg(long, default_value = "\n\nAssistant:", hide_default_value = true)]
    pub turn_marker: String,
    /// Pairs: turn HH-style transcripts into message lists (conversational format).
    #[arg(long)]
    pub chat: bool,
    /// Pairs: merge several annotators' votes on one item (same id, or same prompt and
    /// responses) into one pair, by --aggregate (majority or soft).
    #[arg(long)]
    pub merge_annotators: bool,
    /// Seed for random choices (best-vs-random).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Go on past bad records, writing each with its reason to the rejects file.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Where rejected records go (default: OUTPUT's stem + `.rejected.jsonl`).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
}

/// What a split is keyed by.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SplitByArg {
    /// The prompt: a prompt's records stay together.
    Prompt,
    /// The record's id.
    Id,
    /// The record's position.
    Position,
}

/// `prefer data split`
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// Input file.
    pub input_file: PathBuf,
    /// Folder for the split files.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Fractions, summing to 1.
    #[arg(long, value_delimiter = ',', default_value = "0.9,0.1")]
    pub fractions: Vec<f64>,
    /// Split names, one per fraction.
    #[arg(long, value_delimiter = ',', default_value = "train,test")]
    pub names: Vec<String>,
    /// What a record is assigned by.
    #[arg(long, value_enum, default_value = "prompt")]
    pub by: SplitByArg,
    /// Output extension (default: the input's, e.g. jsonl, parquet).
    #[arg(long)]
    pub out_format: Option<String>,
    /// Seed of the assignment hash.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Go on past bad records, writing them to `rejected.jsonl` in the output folder.
    #[arg(long)]
    pub skip_invalid: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

/// `prefer data stats`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Input file.
    pub input_file: PathBuf,
    /// Measure lengths in tokens of this tokenizer.json instead of characters.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

/// Runs `prefer data ...`.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Inspect(a) => inspect(&a),
        Command::Validate(a) => validate(&a),
        Command::Convert(a) => convert(&a),
        Command::Split(a) => split(&a),
        Command::Stats(a) => stats(&a),
    }
}

fn describe(ds: &mut Dataset) -> anyhow::Result<String> {
    let shape = ds.shape()?.map_or("unknown".to_string(), |s| s.to_string());
    let layout = ds.layout()?;
    Ok(format!(
        "{}: format {}, layout {layout}, shape {shape}",
        ds.path().display(),
        ds.format(),
    ))
}

fn inspect(a: &InspectArgs) -> anyhow::Result<ExitCode> {
    let mut ds = a.input.open(&a.file)?;
    println!("{}", describe(&mut ds)?);
    for item in ds.by_ref().take(a.count) {
        match item {
            Ok(Item { loc, record }) => {
                println!("\n# {loc}");
                println!("{}", serde_json::to_string_pretty(&record.to_value())?);
            }
            Err(Error::Record(e)) => println!("\n# bad record: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(a: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut ds = a.input.open(&a.file)?;
    eprintln!("{}", describe(&mut ds)?);
    let bar = progress_for(&ds, "validating");
    let mut rejects = a.rejects.as_deref().map(RejectWriter::create).transpose()?;
    let (mut good, mut bad) = (0u64, 0u64);
    let mut n = 0u64;
    while let Some(item) = ds.next() {
        n += 1;
        if n.is_multiple_of(4096) {
            tick(&bar, &ds);
        }
        match item {
            Ok(_) => good += 1,
            Err(Error::Record(e)) => {
                bad += 1;
                if bad as usize <= a.max_errors {
                    bar.suspend(|| println!("{e}"));
                }
                if let Some(r) = rejects.as_mut() {
                    r.reject(&e)?;
                }
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(e.into());
            }
        }
    }
    bar.finish_and_clear();
    if let Some(r) = rejects {
        r.finish()?;
    }
    if bad as usize > a.max_errors {
        println!(
            "... and {} more (--max-errors)",
            bad as usize - a.max_errors
        );
    }
    println!("{} records: {good} valid, {bad} invalid", good + bad);
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Routes bad records: to the side file with --skip-invalid, else to an error that stops
/// the command (the output, written under a temporary name, is then discarded).
struct Rejects {
    writer: Option<RejectWriter>,
    path: Option<PathBuf>,
}

impl Rejects {
    fn new(skip: bool, path: PathBuf) -> anyhow::Result<Self> {
        Ok(if skip {
            Rejects {
                writer: Some(RejectWriter::create(&path)?),
                path: Some(path),
            }
        } else {
            Rejects {
                writer: None,
                path: None,
            }
        })
    }

    fn reject(&mut self, e: RecordError) -> anyhow::Result<()> {
        match self.writer.as_mut() {
            Some(w) => Ok(w.reject(&e)?),
            None => {
                bail!("{e}\n(pass --skip-invalid to write bad records to a side file and go on)")
            }
        }
    }

    fn finish(self) -> anyhow::Result<u64> {
        match self.writer {
            Some(w) => {
                let n = w.count();
                w.finish()?;
                if n == 0
                    && let Some(p) = &self.path
                {
                    let _ = std::fs::remove_file(p);
                }
                Ok(n)
            }
            None => Ok(0),
        }
    }
}

fn record_error(
    item_loc: &prefer_data::Location,
    msg: impl Into<String>,
    rec: &Record,
) -> RecordError {
    let mut e = RecordError::record(item_loc.clone(), msg);
    e.raw = serde_json::to_string(&rec.to_value()).ok();
    e
}

fn convert(a: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let mut ds = a.input.open(&a.input_file)?;
    let from = ds
        .shape()?
        .with_context(|| format!("{}: no records", a.input_file.display()))?;
    let to = match &a.to {
        Some(t) => parse_shape(t)?,
        None => from,
    };
    let plan = match (from, to) {
        (f, t) if f == t => "copy",
        (Shape::Rating, Shape::Pair) => "ratings -> pairs",
        (Shape::Ranking, Shape::Pair) => "rankings -> pairs",
        (Shape::Kwise, Shape::Battle) => "K-wise votes -> battles",
        (Shape::Pair, Shape::Unpaired) => "pairs -> unpaired",
        (f, t) => bail!(
            "cannot convert {f} records to {t}: supported are rating->pair, ranking->pair, \
             kwise->battle, pair->unpaired, and any shape to itself (format change)"
        ),
    };
    let pair_stage = a.explicit_prompt || a.chat || a.merge_annotators;
    if pair_stage && to != Shape::Pair {
        bail!("--explicit-prompt, --chat and --merge-annotators apply to pair output");
    }
    eprintln!("{} ({plan})", describe(&mut ds)?);
    let rejects_path = a
        .rejects
        .clone()
        .unwrap_or_else(|| sibling(&a.output_file, "rejected"));
    let mut rejects = Rejects::new(a.skip_invalid, rejects_path.clone())?;
    let mut out = RecordWriter::create(&a.output_file, &WriteOptions::default())?;
    let score = match a.score.as_str() {
        "overall" => ScoreBy::OverallOrMean,
        "mean" => ScoreBy::Mean,
        attr => ScoreBy::Attribute(attr.to_string()),
    };
    let mode = match a.pairs {
        PairsArg::BestVsRandom => PairMode::BestVsRandom,
        PairsArg::All => PairMode::AllPairs,
    };
    let rank_mode = match a.rank_pairs {
        RankPairsArg::All => RankPairs::All,
        RankPairsArg::Adjacent => RankPairs::Adjacent,
    };
    let mut binarizer = Binarizer::new(mode, score, a.seed);
    let mut held: Vec<Pair> = Vec::new();
    let bar = progress_for(&ds, "converting");
    let (mut read, mut n) = (0u64, 0u64);

    // The pair stage: explicit prompt, chat, then either write or hold for merging.
    let emit_pair = |p: Pair,
                     loc: &prefer_data::Location,
                     out: &mut RecordWriter,
                     rejects: &mut Rejects,
                     held: &mut Vec<Pair>|
     -> anyhow::Result<()> {
        let mut p = p;
        if a.explicit_prompt {
            match explicit_prompt(p.clone(), &a.turn_marker) {
                Ok(x) => p = x,
                Err(msg) => return rejects.reject(record_error(loc, msg, &Record::Pair(p))),
            }
        }
        if a.chat {
            p = pair_to_chat(p);
        }
        if a.merge_annotators {
            held.push(p);
            return Ok(());
        }
        Ok(out.write(&Record::Pair(p))?)
    };

    while let Some(item) = ds.next() {
        n += 1;
        if n.is_multiple_of(4096) {
            tick(&bar, &ds);
        }
        let Item { loc, record } = match item {
            Ok(i) => i,
            Err(Error::Record(e)) => {
                rejects.reject(e)?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        read += 1;
        match (record, to) {
            (Record::Rating(r), Shape::Pair) => match binarizer.push(r.clone()) {
                Ok(pairs) => {
                    for p in pairs {
                        emit_pair(p, &loc, &mut out, &mut rejects, &mut held)?;
                    }
                }
                Err(msg) => rejects.reject(record_error(&loc, msg, &Record::Rating(r)))?,
            },
            (Record::Ranking(r), Shape::Pair) => {
                for p in ranking_to_pairs(&r, rank_mode) {
                    emit_pair(p, &loc, &mut out, &mut rejects, &mut held)?;
                }
            }
            (Record::Kwise(k), Shape::Battle) => {
                for b in kwise_to_battles(&k) {
                    out.write(&Record::Battle(b))?;
                }
            }
            (Record::Pair(p), Shape::Unpaired) => {
                for u in pair_to_unpaired(&p) {
                    out.write(&Record::Unpaired(u))?;
                }
            }
            (Record::Pair(p), Shape::Pair) => {
                emit_pair(p, &loc, &mut out, &mut rejects, &mut held)?
            }
            (r, _) => out.write(&r)?,
        }
    }
    if from == Shape::Rating && to == Shape::Pair {
        let last = prefer_data::Location::new(&a.input_file, prefer_data::Pos::File);
        for p in binarizer.finish() {
            emit_pair(p, &last, &mut out, &mut rejects, &mut held)?;
        }
    }
    if a.merge_annotators {
        let (merged, left_out) =
            aggregate_pairs(std::mem::take(&mut held), a.input.aggregate.into());
        for (p, why) in left_out {
            let loc = prefer_data::Location::new(&a.input_file, prefer_data::Pos::File);
            rejects.reject(record_error(&loc, why, &Record::Pair(p)))?;
        }
        for p in merged {
            out.write(&Record::Pair(p))?;
        }
    }
    bar.finish_and_clear();
    let written = out.count();
    out.finish()?;
    let rejected = rejects.finish()?;
    eprintln!(
        "read {read} records, wrote {written} {to} records to {}",
        a.output_file.display()
    );
    if rejected > 0 {
        eprintln!(
            "rejected {rejected} records, each with its reason, in {}",
            rejects_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn prompt_key(r: &Record) -> Option<String> {
    let t: Option<&Text> = match r {
        Record::Pair(p) => p.prompt.as_ref().or(Some(&p.chosen)),
        Record::Unpaired(u) => u.prompt.as_ref(),
        Record::Ranking(k) => k.prompt.as_ref(),
        Record::Rating(x) => x.prompt.as_ref(),
        Record::Stepwise(s) => Some(&s.prompt),
        Record::Kwise(k) => k.prompt.as_ref(),
        Record::Battle(_) => None,
    };
    t.and_then(|t| serde_json::to_string(t).ok())
}

fn split(a: &SplitArgs) -> anyhow::Result<ExitCode> {
    if a.fractions.len() != a.names.len() {
        bail!(
            "--fractions has {} values but --names has {}",
            a.fractions.len(),
            a.names.len()
        );
    }
    let splitter = Splitter::new(&a.fractions, a.seed).map_err(anyhow::Error::msg)?;
    let key = match a.by {
        SplitByArg::Prompt => SplitKey::Prompt,
        SplitByArg::Id => SplitKey::Id,
        SplitByArg::Position => SplitKey::Position,
    };
    let mut ds = a.input.open(&a.input_file)?;
    eprintln!("{}", describe(&mut ds)?);
    let ext = match &a.out_format {
        Some(e) => e.clone(),
        None => match ds.format() {
            Format::Parquet => "parquet".into(),
            Format::Csv => "csv".into(),
            Format::Tsv => "tsv".into(),
            _ => "jsonl".into(),
        },
    };
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("creating {}", a.out_dir.display()))?;
    let mut writers = a
        .names
        .iter()
        .map(|n| {
            RecordWriter::create(
                &a.out_dir.join(format!("{n}.{ext}")),
                &WriteOptions::default(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut rejects = Rejects::new(a.skip_invalid, a.out_dir.join("rejected.jsonl"))?;
    let mut pos = 0u64;
    for item in ds.by_ref() {
        let Item { record, .. } = match item {
            Ok(i) => i,
            Err(Error::Record(e)) => {
                rejects.reject(e)?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let k = match key {
            SplitKey::Prompt => prompt_key(&record).unwrap_or_else(|| pos.to_string()),
            SplitKey::Id => record
                .annotations()
                .id
                .clone()
                .unwrap_or_else(|| pos.to_string()),
            SplitKey::Position => pos.to_string(),
        };
        pos += 1;
        writers[splitter.assign(k.as_bytes())].write(&record)?;
    }
    let mut rows = Vec::new();
    for (name, w) in a.names.iter().zip(writers) {
        rows.push(vec![
            name.clone(),
            w.count().to_string(),
            a.out_dir
                .join(format!("{name}.{ext}"))
                .display()
                .to_string(),
        ]);
        w.finish()?;
    }
    let rejected = rejects.finish()?;
    print_table(&["split", "records", "file"], &rows);
    if rejected > 0 {
        eprintln!("rejected {rejected} records (see rejected.jsonl)");
    }
    Ok(ExitCode::SUCCESS)
}

fn load_tokenizer(path: &Path) -> anyhow::Result<tokenizers::Tokenizer> {
    tokenizers::Tokenizer::from_file(path)
        .map_err(|e| anyhow::anyhow!("{}: not a usable tokenizer.json: {e}", path.display()))
}

fn stats(a: &StatsArgs) -> anyhow::Result<ExitCode> {
    let mut ds = a.input.open(&a.input_file)?;
    let header = describe(&mut ds)?;
    let tok = a.tokenizer.as_deref().map(load_tokenizer).transpose()?;
    let mut b = match &tok {
        Some(t) => StatsBuilder::new("tokens", move |text: &Text| {
            t.encode(text.flat(), false).map_or(0, |e| e.len())
        }),
        None => StatsBuilder::chars(),
    };
    let bar = progress_for(&ds, "reading");
    let (mut bad, mut n) = (0u64, 0u64);
    while let Some(item) = ds.next() {
        n += 1;
        if n.is_multiple_of(4096) {
            tick(&bar, &ds);
        }
        match item {
            Ok(i) => b.add(&i.record),
            Err(Error::Record(_)) => bad += 1,
            Err(e) => return Err(e.into()),
        }
    }
    bar.finish_and_clear();
    let s = b.finish();
    if a.json {
        let mut v = serde_json::to_value(&s)?;
        v["invalid_records"] = bad.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{header}");
    for (shape, count) in &s.records {
        println!("{count} {shape} records");
    }
    if bad > 0 {
        println!("{bad} invalid records (not counted; see `prefer data validate`)");
    }
    if s.conversational > 0 {
        println!("{} conversational texts", s.conversational);
    }
    if let Some(t) = s.tie_rate {
        println!("tie rate: {:.1}%", 100.0 * t);
    }
    if !s.lengths.is_empty() {
        println!("\nlengths in {}:", s.length_unit);
        let rows: Vec<Vec<String>> = s
            .lengths
            .iter()
            .map(|(f, m)| {
                vec![
                    f.clone(),
                    m.count.to_string(),
                    format!("{:.1}", m.mean),
                    m.min.to_string(),
                    m.p50.to_string(),
                    m.p90.to_string(),
                    m.p99.to_string(),
                    m.max.to_string(),
                ]
            })
            .collect();
        print_table(
            &["field", "count", "mean", "min", "p50", "p90", "p99", "max"],
            &rows,
        );
    }
    for (title, map) in [
        ("source", &s.by_source),
        ("annotator", &s.by_annotator),
        ("model", &s.by_model),
    ] {
        if map.is_empty() {
            continue;
        }
        println!();
        let mut rows: Vec<(&String, &usize)> = map.iter().collect();
        rows.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
        let shown: Vec<Vec<String>> = rows
            .iter()
            .take(20)
            .map(|(k, v)| vec![(*k).clone(), v.to_string()])
            .collect();
        print_table(&[title, "records"], &shown);
        if rows.len() > 20 {
            println!("... {} more", rows.len() - 20);
        }
    }
    if let Some(ag) = &s.agreement {
        println!(
            "\nagreement on {} items labelled more than once: {:.1}% of annotator pairs agree, \
             Fleiss' kappa {:.3}",
            ag.items,
            100.0 * ag.pairwise,
            ag.fleiss_kappa
        );
    }
    Ok(ExitCode::SUCCESS)
}

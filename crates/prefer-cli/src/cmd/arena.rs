//! `prefer arena`: the vote-collecting web service (serve), and its admin from the
//! command line (import outputs, export votes).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use prefer_arena::ArenaConfig;
use prefer_arena::blocking;
use prefer_arena::db::is_postgres;
use prefer_arena::export::Kind;

/// `prefer arena ...`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the arena: battles, votes, the leaderboard, the JSON API (OpenAPI at
    /// /api/openapi.json).
    #[command(after_help = "Examples:\n  \
        prefer arena serve --demo\n  \
        prefer arena serve --db votes.db --k 2 --addr 127.0.0.1:8080\n  \
        PREFER_ARENA_ADMIN_TOKEN=... prefer arena serve --db postgres://arena:pw@127.0.0.1/arena")]
    Serve(ServeArgs),
    /// Import model outputs (JSON lines: model, prompt_id, prompt, response).
    Import(ImportArgs),
    /// Export every vote as Chatbot Arena battles or K-wise records (`prefer rank fit`
    /// reads either).
    Export(ExportArgs),
}

/// `prefer arena serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The database: a SQLite file (created when missing) or a postgres:// URL.
    #[arg(long, default_value = "arena.db")]
    pub db: String,
    /// Seed demo models and outputs when the database has none.
    #[arg(long)]
    pub demo: bool,
    /// Responses per battle (2 to 4).
    #[arg(long, default_value_t = 4)]
    pub k: usize,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: String,
    /// Read the admin token from this file's first line (else from
    /// PREFER_ARENA_ADMIN_TOKEN; with neither, the admin routes are off).
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// Votes (and battles) per minute per client; 0 turns the limit off.
    #[arg(long, default_value_t = 60.0)]
    pub rate_per_minute: f64,
    /// Requests a client may make at once.
    #[arg(long, default_value_t = 20.0)]
    pub burst: f64,
    /// Bootstrap rounds of the Bradley-Terry refit (0: no intervals).
    #[arg(long, default_value_t = 100)]
    pub bootstrap: usize,
    /// Seconds between refits when votes arrived.
    #[arg(long, default_value_t = 10.0)]
    pub refit_every: f64,
    /// Seconds a battle accepts its vote.
    #[arg(long, default_value_t = 1800)]
    pub battle_ttl: u64,
    /// Matchmaking exploration weight α.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Take the client address from X-Forwarded-For (only behind your own proxy).
    #[arg(long)]
    pub trust_forwarded_for: bool,
    /// Votes a voter (client address) may have counted per UTC day; later ones are stored
    /// and not counted (0: no cap).
    #[arg(long, default_value_t = 500)]
    pub cap_per_day: u32,
    /// Flag a voter whose agreement with the consensus has z below minus this.
    #[arg(long, default_value_t = 4.0)]
    pub screen_z: f64,
    /// Decisive battles a voter needs before screening may flag it.
    #[arg(long, default_value_t = 20)]
    pub screen_min_votes: u64,
    /// Do not screen voters (caps and admins' exclusions still apply).
    #[arg(long)]
    pub no_screen: bool,
}

/// `prefer arena import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Outputs, JSON lines.
    pub file: PathBuf,
    /// The database (SQLite file or postgres:// URL).
    #[arg(long, default_value = "arena.db")]
    pub db: String,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// Chatbot Arena battles (model_a, model_b, winner): K(K-1)/2 per vote.
    Battles,
    /// K-wise records (models, ranking): one per vote.
    Kwise,
}

/// `prefer arena export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output file (.jsonl, .csv or .parquet).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The database (SQLite file or postgres:// URL).
    #[arg(long, default_value = "arena.db")]
    pub db: String,
    /// Record shape.
    #[arg(long, value_enum, default_value = "battles")]
    pub format: ExportFormat,
}

/// Runs `prefer arena ...`.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Serve(a) => serve(&a),
        Command::Import(a) => {
            let r = blocking::import(&a.db, &a.file)
                .with_context(|| format!("importing {} into {}", a.file.display(), a.db))?;
            eprintln!(
                "imported {} outputs; the arena now holds {} models and {} outputs",
                r.imported, r.models, r.outputs
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(a) => {
            if !is_postgres(&a.db) && !std::path::Path::new(&a.db).exists() {
                bail!("{}: no such database", a.db);
            }
            let kind = match a.format {
                ExportFormat::Battles => Kind::Battles,
                ExportFormat::Kwise => Kind::Kwise,
            };
            let n = blocking::export(&a.db, kind, &a.output)
                .with_context(|| format!("exporting votes from {}", a.db))?;
            eprintln!("wrote {n} records to {}", a.output.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn serve(a: &ServeArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = ArenaConfig::default();
    cfg.matching.k = a.k;
    cfg.matching.alpha = a.alpha;
    cfg.rate.per_minute = a.rate_per_minute;
    cfg.rate.burst = a.burst;
    cfg.bootstrap_rounds = a.bootstrap;
    cfg.refit_every_s = a.refit_every;
    cfg.battle_ttl_s = a.battle_ttl;
    cfg.trust_forwarded_for = a.trust_forwarded_for;
    cfg.cap_per_day = a.cap_per_day;
    cfg.screen = (!a.no_screen).then_some(prefer_rank::quality::ScreenConfig {
        z: a.screen_z,
        min_votes: a.screen_min_votes,
        ..Default::default()
    });
    cfg.admin_token = prefer_arena::config::admin_token(a.admin_token_file.as_deref())?;
    let admin = cfg.admin_token.is_some();
    let db = a.db.clone();
    blocking::serve(&a.db, cfg, &a.addr, a.demo, |arena, addr| {
        let h = arena.health();
        eprintln!(
            "prefer arena: http://{addr}/ ({} database {}, {} models, {} votes, K = {}, admin {})",
            h.backend,
            if is_postgres(&db) {
                "(postgres)"
            } else {
                db.as_str()
            },
            h.models,
            h.votes,
            h.k,
            if admin { "on" } else { "off" }
        );
    })
    .context("prefer arena serve")?;
    Ok(ExitCode::SUCCESS)
}

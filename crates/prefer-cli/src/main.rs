//! The `prefer` command: learning from human preferences, in one binary.
//!
//! Glue only: parse flags into the libraries' configs, run, print. Errors print with
//! their whole chain and exit 2; a closed pipe (`prefer ... | head`) exits 0.

mod cmd;
mod ui;

use std::process::ExitCode;

// Reading and converting large files allocates and frees many short strings from two
// threads; mimalloc cut the data benchmark's system time (page faults, trims) markedly
// against glibc's allocator (docs/data.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Learning from human preferences: collect and clean preference data, rate items from
/// votes, train and evaluate models.
#[derive(Debug, Parser)]
#[command(name = "prefer", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the end-to-end demo on generated data with a known ground truth.
    Demo(cmd::demo::Args),
    /// Inspect, validate, convert, split and summarize preference data files.
    #[command(subcommand)]
    Data(cmd::data::Command),
    /// Rate models (or anything) from votes: leaderboards with intervals, and the
    /// K-Sort convergence simulator.
    #[command(subcommand)]
    Rank(cmd::rank::Command),
    /// Sample continuations of prompts from a Hugging Face model folder (KV cache,
    /// batched; temperature, top-k, top-p, seeded).
    Generate(cmd::generate::Args),
    /// Train a model: SFT, DPO-family losses, KTO; rule-judged self-preference data.
    #[command(subcommand)]
    Train(cmd::train::Command),
    /// Plot training curves from metrics JSONL files (PNG or SVG).
    Plot(cmd::plot::Args),
    /// Nash equilibria of preference games: Nash-MD, EGPO, INPO, SPPO, self-play and
    /// MaxMin on a preference matrix or a vote file.
    #[command(subcommand)]
    Game(cmd::game::Command),
    /// The vote-collecting web service: battles, votes, a live leaderboard, admin.
    #[command(subcommand)]
    Arena(cmd::arena::Command),
    /// Evaluate reward models and policies: RewardBench-style scores, ranking accuracy,
    /// calibration, judge agreement, length bias.
    #[command(subcommand)]
    Eval(cmd::eval::Command),
    /// Models of choice: risky and intertemporal choice theories fitted with standard
    /// errors and compared on held-out choices; Thurstonian utilities and coherence.
    #[command(subcommand)]
    Choice(cmd::choice::Command),
    /// Merge models with mergekit's methods and YAML (linear, slerp, ties, dare, della,
    /// model_stock, passthrough, ...), streaming tensor by tensor.
    Merge(cmd::merge::Args),
    /// Judge labelled pairs with an LLM over an OpenAI-compatible endpoint (or a
    /// baseline): agreement with the labels, position consistency, failure rate, cost.
    Judge(cmd::judge::Args),
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Data(c) => cmd::data::run(c),
        Command::Rank(c) => cmd::rank::run(c),
        Command::Generate(args) => cmd::generate::run(&args),
        Command::Train(c) => cmd::train::run(c),
        Command::Plot(args) => cmd::plot::run(&args),
        Command::Game(c) => cmd::game::run(c),
        Command::Arena(c) => cmd::arena::run(c),
        Command::Eval(c) => cmd::eval::run(c),
        Command::Choice(c) => cmd::choice::run(c),
        Command::Merge(args) => cmd::merge::run(&args),
        Command::Judge(args) => cmd::judge::run(&args),
    }
}

/// mimalloc hands freed memory back to the OS after 10 ms, and the kernel zeroes it again
/// when it is next allocated. A training step frees and reallocates gigabytes of
/// activations, so that zeroing was a fifth of a SmolLM-sized DPO step (docs/training.md).
/// mimalloc reads its options from the environment only at start-up, so the process
/// re-executes itself once with `MIMALLOC_PURGE_DELAY=-1` (keep freed memory for reuse),
/// unless the variable is already set (then the user's value stands). If the re-execution
/// cannot happen, this process simply goes on.
#[cfg(unix)]
fn keep_freed_memory() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` returns only when it failed.
    let _ = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env(VAR, "-1")
        .exec();
}

#[cfg(not(unix))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `prefer data inspect big.jsonl | head`: a closed pipe is not a failure.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::CommandFactory;

    use super::Cli;

    /// Every `--long` and `-s` name (aliases included) that reaches `cmd`, mapped to the
    /// ids of the arguments that claim it. After `Command::build`, a command's arguments
    /// include the global ones propagated from its parents and clap's own `--help` and
    /// `--version`, so this is exactly what the parser of that command sees.
    fn flag_names(cmd: &clap::Command) -> BTreeMap<String, Vec<String>> {
        let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().to_string();
            let longs = arg
                .get_long()
                .into_iter()
                .chain(arg.get_all_aliases().unwrap_or_default());
            for l in longs {
                names.entry(format!("--{l}")).or_default().push(id.clone());
            }
            let shorts = arg
                .get_short()
                .into_iter()
                .chain(arg.get_all_short_aliases().unwrap_or_default());
            for s in shorts {
                names.entry(format!("-{s}")).or_default().push(id.clone());
            }
        }
        names
    }

    /// One line for each flag name, and each argument id, that more than one argument of
    /// a command claims, in `cmd` and all its subcommands. A repeated id is the same bug
    /// one step removed: clap keeps one value per id, so one of the two reads the other's.
    fn repeated_flags(cmd: &clap::Command, path: &str, found: &mut Vec<String>) {
        for (name, mut ids) in flag_names(cmd) {
            ids.sort();
            if ids.len() > 1 {
                found.push(format!("`{path}`: {name} is claimed by {}", ids.join(", ")));
            }
        }
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        for arg in cmd.get_arguments() {
            *ids.entry(arg.get_id().to_string()).or_default() += 1;
        }
        for (id, n) in ids {
            if n > 1 {
                found.push(format!("`{path}`: {n} arguments have the id `{id}`"));
            }
        }
        for sub in cmd.get_subcommands() {
            repeated_flags(sub, &format!("{path} {}", sub.get_name()), found);
        }
    }

    fn repeats_in(mut cmd: clap::Command) -> Vec<String> {
        cmd.build();
        let mut found = Vec::new();
        repeated_flags(&cmd, cmd.get_name(), &mut found);
        found
    }

    /// The walk itself: it sees a global flag where it is propagated, aliases, shorts,
    /// clap's own `--help` and repeated ids, and passes a clean tree. Release only: in a
    /// debug build clap's own assertions panic on the bad tree first.
    #[cfg(not(debug_assertions))]
    #[test]
    fn the_walk_finds_repeats_reaching_a_subcommand() {
        use clap::{Arg, ArgAction, Command};
        let flag = |id: &'static str| Arg::new(id).action(ArgAction::SetTrue);
        let clean = Command::new("t")
            .arg(flag("verbose").long("verbose").short('v').global(true))
            .subcommand(Command::new("s").arg(flag("quiet").long("quiet").short('q')));
        assert_eq!(repeats_in(clean), Vec::<String>::new());
        let bad = Command::new("t")
            .arg(flag("verbose").long("verbose").global(true))
            .subcommand(
                Command::new("s")
                    .arg(flag("loud").long("loud").alias("verbose").short('h'))
                    .subcommand(Command::new("deep").arg(flag("quiet").long("verbose"))),
            )
            .subcommand(
                Command::new("u")
                    .arg(flag("a").long("same"))
                    .arg(flag("b").long("same")),
            )
            .subcommand(
                Command::new("v")
                    .arg(flag("x").long("one"))
                    .arg(flag("x").long("two")),
            );
        assert_eq!(
            repeats_in(bad),
            [
                "`t s`: --verbose is claimed by loud, verbose",
                "`t s`: -h is claimed by help, loud",
                "`t s deep`: --verbose is claimed by quiet, verbose",
                "`t u`: --same is claimed by a, b",
                "`t v`: 2 arguments have the id `x`",
            ]
        );
    }

    /// Issue 11: `prefer rank fit` had two `--format` flags (output and input) and the
    /// second could not be reached. clap's own check for this is a `debug_assert`, and the
    /// tests run in release, so this walks the whole definition itself.
    #[test]
    fn no_command_repeats_a_flag() {
        let found = repeats_in(Cli::command());
        assert!(found.is_empty(), "repeated flags:\n{}", found.join("\n"));
    }
}

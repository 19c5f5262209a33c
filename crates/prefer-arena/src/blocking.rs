//! Blocking entry points for the command line (the CLI holds no runtime of its own).

use std::path::Path;

use crate::catalog::parse_outputs;
use crate::config::ArenaConfig;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::export::{self, Kind};
use crate::server::Arena;
use crate::view::{BattleView, BoardView, ImportReport};
use crate::writer;

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Serves on `addr` until Ctrl-C; with `demo`, first imports the demo outputs
/// into an arena that has none. `ready` is called with the bound address.
///
/// # Errors
/// Bad settings, the database, or the address.
pub fn serve(
    db: &str,
    cfg: ArenaConfig,
    addr: &str,
    demo: bool,
    ready: impl FnOnce(&Arena, std::net::SocketAddr),
) -> Result<()> {
    runtime()?.block_on(async {
        let arena = Arena::open(db, cfg).await?;
        if demo && arena.inner.catalog().outputs.is_empty() {
            arena
                .import(crate::demo::outputs())
                .await
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
        ready(&arena, listener.local_addr()?);
        let app = crate::http::router(arena.clone());
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        arena.inner.db.close().await;
        Ok(())
    })
}

/// Imports an outputs file (JSON lines) into the database.
///
/// # Errors
/// A bad line (named), or the database.
pub fn import(db: &str, file: &Path) -> Result<ImportReport> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?;
    let records = parse_outputs(&text, &file.display().to_string())?;
    runtime()?.block_on(async {
        let db = Db::open(db).await?;
        let current = writer::load_catalog(&db).await?;
        let imported = writer::import(&db, &current, &records)
            .await
            .map_err(|e| Error::Invalid(e.message))?;
        let after = writer::load_catalog(&db).await?;
        db.close().await;
        Ok(ImportReport {
            imported,
            models: after.models.len(),
            outputs: after.outputs.len(),
        })
    })
}

/// Runs `votes` battles through an arena in this process, on `db` (no HTTP): the
/// demo outputs are imported when the arena has none, each battle is judged by
/// `judge`, and the leaderboard is returned after a full refit. For the demo and
/// for simulations; a vote the arena refuses is an error.
///
/// # Errors
/// The database, or a refused vote.
pub fn simulate(
    db: &str,
    cfg: ArenaConfig,
    votes: usize,
    mut judge: impl FnMut(&BattleView) -> crate::battle::VoteBody,
) -> Result<BoardView> {
    runtime()?.block_on(async {
        let arena = Arena::open(db, cfg).await?;
        if arena.inner.catalog().outputs.is_empty() {
            arena
                .import(crate::demo::outputs())
                .await
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        for _ in 0..votes {
            let battle = arena
                .new_battle()
                .await
                .map_err(|e| Error::Invalid(e.to_string()))?;
            let body = judge(&battle);
            arena
                .vote(&battle.battle_id, body)
                .await
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        arena.refit_now().await;
        let board = arena.leaderboard();
        arena.inner.db.close().await;
        Ok(board)
    })
}

/// Exports every vote to `out` (.jsonl, .csv or .parquet); returns the records written.
///
/// # Errors
/// The database or the file.
pub fn export(db: &str, kind: Kind, out: &Path) -> Result<u64> {
    runtime()?.block_on(async {
        let db = Db::open(db).await?;
        let catalog = writer::load_catalog(&db).await?;
        let n = export::write(&db, &catalog, kind, out).await?;
        db.close().await;
        Ok(n)
    })
}

//! Storage: SQLite (one file, WAL, `synchronous = FULL`) or PostgreSQL, the same schema
//! and the same SQL text on both (`$1` placeholders, `RETURNING`, `ON CONFLICT`).
//!
//! Every query is written once inside [`on_write!`] / [`on_read!`], which expand it for
//! each backend's pool; the only per-backend text is the auto-increment key of the
//! migrations (`{ID}`).
//!
//! Writes go through one connection (the writer task in [`crate::writer`] owns it), so
//! with SQLite there is never a second writer waiting on the lock, and vote ids are
//! assigned in commit order.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{Error, Result};

/// A database: SQLite (a writer pool of one connection and a reader pool) or PostgreSQL.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite.
    Sqlite {
        /// The single writing connection.
        write: SqlitePool,
        /// Readers (WAL lets them run beside the writer).
        read: SqlitePool,
    },
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the pool that writes.
#[macro_export]
#[doc(hidden)]
macro_rules! on_write {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { write: $p, .. } => $body,
            $crate::db::Db::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$p` bound to a pool for reading.
#[macro_export]
#[doc(hidden)]
macro_rules! on_read {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { read: $p, .. } => $body,
            $crate::db::Db::Postgres($p) => $body,
        }
    };
}

pub use on_read;
pub use on_write;

/// The schema, in order. `{ID}` is the auto-increment primary key of each backend.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "models, outputs, battles, votes",
        "CREATE TABLE models (
        id {ID},
        name TEXT NOT NULL UNIQUE,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE outputs (
        id {ID},
        model_id BIGINT NOT NULL REFERENCES models (id),
        prompt_id TEXT NOT NULL,
        prompt TEXT NOT NULL,
        response TEXT NOT NULL,
        UNIQUE (model_id, prompt_id)
    );
    CREATE TABLE battles (
        id TEXT PRIMARY KEY,
        k BIGINT NOT NULL,
        prompt_id TEXT NOT NULL,
        o0 BIGINT NOT NULL, o1 BIGINT NOT NULL, o2 BIGINT, o3 BIGINT,
        m0 BIGINT NOT NULL, m1 BIGINT NOT NULL, m2 BIGINT, m3 BIGINT,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE INDEX battles_expires ON battles (expires_ms);
    CREATE TABLE votes (
        id {ID},
        battle_id TEXT NOT NULL UNIQUE,
        prompt_id TEXT NOT NULL,
        k BIGINT NOT NULL,
        m0 BIGINT NOT NULL, m1 BIGINT NOT NULL, m2 BIGINT, m3 BIGINT,
        r0 BIGINT NOT NULL, r1 BIGINT NOT NULL, r2 BIGINT, r3 BIGINT,
        kind TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );",
    ),
    (
        2,
        "voters: who voted, excluded votes, admin decisions, the pseudonym salt",
        "ALTER TABLE votes ADD COLUMN voter TEXT;
    ALTER TABLE votes ADD COLUMN flag TEXT;
    CREATE INDEX votes_voter ON votes (voter);
    CREATE TABLE voter_flags (
        voter TEXT PRIMARY KEY,
        action TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE arena_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );",
    ),
];

/// Which backend a URL names.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Db {
    /// Opens `url`: `postgres://...` for PostgreSQL, otherwise a SQLite file path (or
    /// `sqlite://path`), created when missing. Runs the migrations.
    ///
    /// # Errors
    /// The database cannot be opened or migrated.
    pub async fn open(url: &str) -> Result<Db> {
        let db = if is_postgres(url) {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Db::Postgres(pool)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let path = path.strip_prefix("sqlite:").unwrap_or(path);
            if path.is_empty() || path.contains(":memory:") {
                return Err(Error::Config(
                    "the arena needs a SQLite file (votes must survive a restart)".into(),
                ));
            }
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk (the WAL is synced) before it returns, so an
                // acknowledged vote survives a power cut, not only a killed process.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await?;
            Db::Sqlite { write, read }
        };
        db.migrate().await?;
        Ok(db)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    fn id_column(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Db::Postgres(_) => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        }
    }

    /// Applies the migrations not yet applied, each in its own transaction.
    ///
    /// # Errors
    /// A statement fails (the migration is rolled back).
    pub async fn migrate(&self) -> Result<()> {
        on_write!(self, |p| {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS arena_migrations (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)",
            )
            .execute(p)
            .await?;
            for (version, name, sql) in MIGRATIONS {
                let mut tx = p.begin().await?;
                let done: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM arena_migrations WHERE version = $1")
                        .bind(version)
                        .fetch_optional(&mut *tx)
                        .await?;
                if done.is_some() {
                    continue;
                }
                let sql = sql.replace("{ID}", self.id_column());
                for stmt in sql.split(';').filter(|s| !s.trim().is_empty()) {
                    sqlx::query(sqlx::AssertSqlSafe(stmt.to_string()))
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO arena_migrations (version, name, applied_ms) VALUES ($1, $2, $3)",
                )
                .bind(version)
                .bind(*name)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Ok::<(), Error>(())
        })
    }

    /// Closes the pools.
    pub async fn close(&self) {
        match self {
            Db::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }

    /// Models (id, name) in id order.
    ///
    /// # Errors
    /// The query fails.
    pub async fn models(&self) -> Result<Vec<(i64, String)>> {
        on_read!(self, |p| {
            let rows = sqlx::query("SELECT id, name FROM models ORDER BY id")
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }

    /// Outputs in id order.
    ///
    /// # Errors
    /// The query fails.
    pub async fn outputs(&self) -> Result<Vec<OutputRow>> {
        on_read!(self, |p| {
            let rows = sqlx::query(
                "SELECT id, model_id, prompt_id, prompt, response FROM outputs ORDER BY id",
            )
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(OutputRow {
                        id: r.try_get(0)?,
                        model_id: r.try_get(1)?,
                        prompt_id: r.try_get(2)?,
                        prompt: r.try_get(3)?,
                        response: r.try_get(4)?,
                    })
                })
                .collect()
        })
    }

    /// The number of outputs and the largest output id (to notice another process's
    /// import).
    ///
    /// # Errors
    /// The query fails.
    pub async fn outputs_version(&self) -> Result<(i64, i64)> {
        on_read!(self, |p| {
            let r = sqlx::query("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM outputs")
                .fetch_one(p)
                .await?;
            Ok((r.try_get(0)?, r.try_get(1)?))
        })
    }

    /// Every vote with `id > after`, in id order, passed to `f` one at a time (a million
    /// votes stream through without being held as rows).
    ///
    /// # Errors
    /// The query fails.
    pub async fn for_each_vote(&self, after: i64, mut f: impl FnMut(VoteRow)) -> Result<()> {
        use futures_util::TryStreamExt;
        on_read!(self, |p| {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {VOTE_COLUMNS} FROM votes WHERE id > $1 ORDER BY id"
            )))
            .bind(after)
            .fetch(p);
            while let Some(r) = rows.try_next().await? {
                f(vote_row(&r)?);
            }
            Ok(())
        })
    }

    /// A pending battle by id.
    ///
    /// # Errors
    /// The query fails.
    pub async fn battle(&self, id: &str) -> Result<Option<BattleRow>> {
        on_read!(self, |p| {
            let r = sqlx::query(BATTLE_SELECT)
                .bind(id)
                .fetch_optional(p)
                .await?;
            r.as_ref().map(battle_row).transpose()
        })
    }

    /// Whether a vote for `battle_id` is stored.
    ///
    /// # Errors
    /// The query fails.
    pub async fn voted(&self, battle_id: &str) -> Result<bool> {
        on_read!(self, |p| {
            let r: Option<i64> = sqlx::query_scalar("SELECT id FROM votes WHERE battle_id = $1")
                .bind(battle_id)
                .fetch_optional(p)
                .await?;
            Ok(r.is_some())
        })
    }

    /// Deletes battles that expired before `now_ms`; returns how many.
    ///
    /// # Errors
    /// The statement fails.
    pub async fn delete_expired(&self, now_ms: i64) -> Result<u64> {
        on_write!(self, |p| {
            Ok(sqlx::query("DELETE FROM battles WHERE expires_ms < $1")
                .bind(now_ms)
                .execute(p)
                .await?
                .rows_affected())
        })
    }

    /// The value stored under `key` in `arena_meta`, storing `make()` first when there is
    /// none (the first writer wins when two servers start at once).
    ///
    /// # Errors
    /// The statements fail.
    pub async fn meta_or_insert(&self, key: &str, make: impl FnOnce() -> String) -> Result<String> {
        on_write!(self, |p| {
            sqlx::query(
                "INSERT INTO arena_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(make())
            .execute(p)
            .await?;
            Ok(
                sqlx::query_scalar("SELECT value FROM arena_meta WHERE key = $1")
                    .bind(key)
                    .fetch_one(p)
                    .await?,
            )
        })
    }

    /// The admins' decisions on voters, by voter.
    ///
    /// # Errors
    /// The query fails.
    pub async fn voter_flags(&self) -> Result<std::collections::HashMap<String, VoterFlag>> {
        on_read!(self, |p| {
            let rows = sqlx::query("SELECT voter, action, reason, created_ms FROM voter_flags")
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get(0)?,
                        VoterFlag {
                            action: r.try_get(1)?,
                            reason: r.try_get(2)?,
                            created_ms: r.try_get(3)?,
                        },
                    ))
                })
                .collect()
        })
    }

    /// Stores an admin's decision on `voter` (`None`: back to screening).
    ///
    /// # Errors
    /// The statement fails.
    pub async fn set_voter_flag(&self, voter: &str, flag: Option<&VoterFlag>) -> Result<()> {
        on_write!(self, |p| {
            match flag {
                Some(f) => sqlx::query(
                    "INSERT INTO voter_flags (voter, action, reason, created_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (voter) DO UPDATE SET action = excluded.action, reason = excluded.reason,
                     created_ms = excluded.created_ms",
                )
                .bind(voter)
                .bind(&f.action)
                .bind(&f.reason)
                .bind(f.created_ms)
                .execute(p)
                .await?,
                None => sqlx::query("DELETE FROM voter_flags WHERE voter = $1")
                    .bind(voter)
                    .execute(p)
                    .await?,
            };
            Ok(())
        })
    }

    /// Counts: (models, outputs, votes, pending battles).
    ///
    /// # Errors
    /// The query fails.
    pub async fn counts(&self) -> Result<(i64, i64, i64, i64)> {
        on_read!(self, |p| {
            let r = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM models), (SELECT COUNT(*) FROM outputs),
                        (SELECT COUNT(*) FROM votes), (SELECT COUNT(*) FROM battles)",
            )
            .fetch_one(p)
            .await?;
            Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
        })
    }
}

/// One stored output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputRow {
    /// Its id.
    pub id: i64,
    /// The model's id.
    pub model_id: i64,
    /// The prompt's id.
    pub prompt_id: String,
    /// The prompt.
    pub prompt: String,
    /// The model's response.
    pub response: String,
}

/// One stored vote.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteRow {
    /// Its id (commit order).
    pub id: i64,
    /// The battle it closed.
    pub battle_id: String,
    /// The prompt shown.
    pub prompt_id: String,
    /// Model ids in display order (K of them).
    pub models: Vec<i64>,
    /// Rank of each (1 = best).
    pub ranks: Vec<u32>,
    /// `best`, `ranking`, `tie` or `bothbad`.
    pub kind: String,
    /// When it was stored (ms since the Unix epoch).
    pub created_ms: i64,
    /// The voter's pseudonym (`None` for votes stored before voters were kept, and for
    /// votes taken without a client, e.g. from the library).
    pub voter: Option<String>,
    /// Why the vote is not counted, when it was set aside as it was taken (a cap).
    pub flag: Option<String>,
}

/// The columns [`vote_row`] reads, in order.
pub const VOTE_COLUMNS: &str =
    "id, battle_id, prompt_id, k, m0, m1, m2, m3, r0, r1, r2, r3, kind, created_ms, voter, flag";

/// An admin's decision on a voter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VoterFlag {
    /// `exclude` (its votes are left out) or `trust` (never flagged by screening).
    pub action: String,
    /// The admin's reason.
    pub reason: String,
    /// When (ms since the Unix epoch).
    pub created_ms: i64,
}

impl VoterFlag {
    /// Whether the decision leaves the voter's votes out (`exclude`; `trust` keeps them).
    pub fn excludes(&self) -> bool {
        self.action == "exclude"
    }
}

/// One pending battle.
#[derive(Debug, Clone, PartialEq)]
pub struct BattleRow {
    /// Its id.
    pub id: String,
    /// The prompt's id.
    pub prompt_id: String,
    /// Output ids in display order.
    pub outputs: Vec<i64>,
    /// Model ids in display order.
    pub models: Vec<i64>,
    /// When it stops accepting a vote (ms since the Unix epoch).
    pub expires_ms: i64,
}

pub(crate) const BATTLE_SELECT: &str = "SELECT id, k, prompt_id, o0, o1, o2, o3, m0, m1, m2, m3, expires_ms FROM battles WHERE id = $1";

pub(crate) fn battle_row<R: Row>(r: &R) -> Result<BattleRow>
where
    usize: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let k: i64 = r.try_get(1)?;
    let k = k.clamp(2, 4) as usize;
    let get = |base: usize| -> Result<Vec<i64>> {
        (0..k)
            .map(|i| Ok(r.try_get::<Option<i64>, _>(base + i)?.unwrap_or(-1)))
            .collect()
    };
    Ok(BattleRow {
        id: r.try_get(0)?,
        prompt_id: r.try_get(2)?,
        outputs: get(3)?,
        models: get(7)?,
        expires_ms: r.try_get(11)?,
    })
}

pub(crate) fn vote_row<R: Row>(r: &R) -> Result<VoteRow>
where
    usize: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let k: i64 = r.try_get(3)?;
    let k = k.clamp(2, 4) as usize;
    let mut models = Vec::with_capacity(k);
    let mut ranks = Vec::with_capacity(k);
    for i in 0..k {
        models.push(r.try_get::<Option<i64>, _>(4 + i)?.unwrap_or(-1));
        ranks.push(r.try_get::<Option<i64>, _>(8 + i)?.unwrap_or(0) as u32);
    }
    Ok(VoteRow {
        id: r.try_get(0)?,
        battle_id: r.try_get(1)?,
        prompt_id: r.try_get(2)?,
        models,
        ranks,
        kind: r.try_get(12)?,
        created_ms: r.try_get(13)?,
        voter: r.try_get(14)?,
        flag: r.try_get(15)?,
    })
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

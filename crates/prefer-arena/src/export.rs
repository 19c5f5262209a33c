//! Export: every stored vote, in id order, as Chatbot Arena battles (a K-wise vote
//! becomes its K(K−1)/2 battles, positions i < j in display order; equal ranks are a
//! `tie`, or `tie (bothbad)` for a "bad" vote) or as K-wise records (`models`,
//! `ranking`). `prefer rank fit` reads either back; the battles give the leaderboard the
//! arena shows (same battles, same order).
//!
//! Each record names its voter's pseudonym in `judge` (as Chatbot Arena's battles do)
//! and says whether it is `counted`; a vote set aside (past the voter's daily cap, or of
//! a voter an admin excluded) has `counted: false` and the reason in `excluded`, so
//! `prefer rank fit export.jsonl --where counted=true` leaves them out. Screening is not
//! written into the export: it is a function of the votes, rerun by whoever reads them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use prefer_data::{Annotations, Battle, KWise, Record, RecordWriter, Text, Winner, WriteOptions};

use crate::catalog::Catalog;
use crate::db::{Db, VOTE_COLUMNS, VoteRow, VoterFlag, on_read, vote_row};
use crate::error::Result;

/// Which records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Chatbot Arena battles.
    Battles,
    /// K-wise votes.
    Kwise,
}

/// Votes read per query while exporting.
const PAGE: i64 = 20_000;

fn name(catalog: &Catalog, id: i64) -> String {
    catalog
        .model_index(id)
        .map_or_else(|| format!("model-{id}"), |m| catalog.name(m).to_string())
}

/// Why a stored vote is not counted, if it is not: its cap flag, or an admin's exclusion
/// of its voter.
pub fn excluded(v: &VoteRow, admin: &HashMap<String, VoterFlag>) -> Option<String> {
    v.flag.clone().or_else(|| {
        let f = admin.get(v.voter.as_deref()?)?;
        f.excludes()
            .then(|| format!("excluded by an admin: {}", f.reason))
    })
}

fn ann(v: &VoteRow, admin: &HashMap<String, VoterFlag>) -> Annotations {
    let mut extra = serde_json::Map::new();
    let why = excluded(v, admin);
    extra.insert("counted".into(), why.is_none().into());
    if let Some(w) = why {
        extra.insert("excluded".into(), w.into());
    }
    Annotations {
        id: Some(format!("vote-{}", v.id)),
        extra,
        ..Default::default()
    }
}

/// The records of one vote; `admin` holds the admins' decisions on voters.
pub fn records(
    v: &VoteRow,
    catalog: &Catalog,
    kind: Kind,
    admin: &HashMap<String, VoterFlag>,
) -> Vec<Record> {
    let tstamp = Some(v.created_ms as f64 / 1000.0);
    match kind {
        Kind::Battles => {
            let k = v.models.len();
            let mut out = Vec::with_capacity(k * (k - 1) / 2);
            for i in 0..k {
                for j in i + 1..k {
                    let winner = match v.ranks[i].cmp(&v.ranks[j]) {
                        std::cmp::Ordering::Less => Winner::ModelA,
                        std::cmp::Ordering::Greater => Winner::ModelB,
                        std::cmp::Ordering::Equal if v.kind == "bothbad" => Winner::TieBothBad,
                        std::cmp::Ordering::Equal => Winner::Tie,
                    };
                    let mut b = Battle::new(
                        name(catalog, v.models[i]),
                        name(catalog, v.models[j]),
                        winner,
                    );
                    b.tstamp = tstamp;
                    b.judge.clone_from(&v.voter);
                    b.ann = ann(v, admin);
                    out.push(Record::Battle(b));
                }
            }
            out
        }
        Kind::Kwise => {
            let prompt = catalog
                .prompt(&v.prompt_id)
                .map(|p| Text::Plain(p.text.to_string()));
            vec![Record::Kwise(KWise {
                models: v.models.iter().map(|&m| name(catalog, m)).collect(),
                ranking: v.ranks.clone(),
                prompt,
                judge: v.voter.clone(),
                tstamp,
                language: None,
                ann: ann(v, admin),
            })]
        }
    }
}

async fn page(db: &Db, after: i64) -> Result<Vec<VoteRow>> {
    on_read!(db, |p| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VOTE_COLUMNS} FROM votes WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(PAGE)
        .fetch_all(p)
        .await?;
        rows.iter().map(vote_row).collect()
    })
}

/// Writes every vote to `path` (format from the extension: .jsonl, .csv, .parquet);
/// returns the number of records.
///
/// # Errors
/// The database or the file fails.
pub async fn write(db: &Db, catalog: &Catalog, kind: Kind, path: &Path) -> Result<u64> {
    let admin = db.voter_flags().await?;
    let mut w = RecordWriter::create(path, &WriteOptions::default())?;
    let mut after = 0;
    loop {
        let rows = page(db, after).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for v in &rows {
            for r in records(v, catalog, kind, &admin) {
                w.write(&r)?;
            }
        }
    }
    let n = w.count();
    w.finish()?;
    Ok(n)
}

/// Every vote as JSON lines, a page of votes per chunk.
pub fn stream(
    db: Db,
    catalog: Arc<Catalog>,
    kind: Kind,
    admin: HashMap<String, VoterFlag>,
) -> impl futures_util::Stream<Item = std::result::Result<Bytes, crate::error::Error>> + Send + 'static
{
    futures_util::stream::unfold(Some(0i64), move |after| {
        let db = db.clone();
        let catalog = catalog.clone();
        let admin = admin.clone();
        async move {
            let after = after?;
            match page(&db, after).await {
                Err(e) => Some((Err(e), None)),
                Ok(rows) => {
                    let last = rows.last()?.id;
                    let mut buf = Vec::with_capacity(rows.len() * 120);
                    for v in &rows {
                        for r in records(v, &catalog, kind, &admin) {
                            // Serializing a record to a Vec cannot fail.
                            let _ = serde_json::to_writer(&mut buf, &r.to_value());
                            buf.push(b'\n');
                        }
                    }
                    Some((Ok(Bytes::from(buf)), Some(last)))
                }
            }
        }
    })
}

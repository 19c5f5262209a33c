//! Export: every stored vote, in id order, as Chatbot Arena battles (a K-wise vote
//! becomes its K(K−1)/2 battles, positions i < j in display order; equal ranks are a
//! `tie`, or `tie (bothbad)` for a "bad" vote) or as K-wise records (`models`,
//! `ranking`). `prefer rank fit` reads either back; the battles give the leaderboard the
//! arena shows (same battles, same order).

use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use prefer_data::{Annotations, Battle, KWise, Record, RecordWriter, Text, Winner, WriteOptions};

use crate::catalog::Catalog;
use crate::db::{Db, VoteRow, on_read, vote_row};
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

fn ann(v: &VoteRow) -> Annotations {
    Annotations {
        id: Some(format!("vote-{}", v.id)),
        ..Default::default()
    }
}

/// The records of one vote.
pub fn records(v: &VoteRow, catalog: &Catalog, kind: Kind) -> Vec<Record> {
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
                    b.ann = ann(v);
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
                judge: None,
                tstamp,
                language: None,
                ann: ann(v),
            })]
        }
    }
}

async fn page(db: &Db, after: i64) -> Result<Vec<VoteRow>> {
    on_read!(db, |p| {
        let rows = sqlx::query(
            "SELECT id, battle_id, prompt_id, k, m0, m1, m2, m3, r0, r1, r2, r3, kind, created_ms
             FROM votes WHERE id > $1 ORDER BY id LIMIT $2",
        )
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
    let mut w = RecordWriter::create(path, &WriteOptions::default())?;
    let mut after = 0;
    loop {
        let rows = page(db, after).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for v in &rows {
            for r in records(v, catalog, kind) {
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
) -> impl futures_util::Stream<Item = std::result::Result<Bytes, crate::error::Error>> + Send + 'static
{
    futures_util::stream::unfold(Some(0i64), move |after| {
        let db = db.clone();
        let catalog = catalog.clone();
        async move {
            let after = after?;
            match page(&db, after).await {
                Err(e) => Some((Err(e), None)),
                Ok(rows) => {
                    let last = rows.last()?.id;
                    let mut buf = Vec::with_capacity(rows.len() * 120);
                    for v in &rows {
                        for r in records(v, &catalog, kind) {
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

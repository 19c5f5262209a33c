//! The one task that writes: battles, votes and imports arrive on a channel and are
//! committed in batches (group commit: one transaction, one fsync, for everything that
//! queued while the last commit ran). A vote is acknowledged only after its transaction
//! committed, and applied to the in-memory ratings in commit (id) order.
//!
//! A bad vote (unknown, reused or expired battle, a ranking that is not a permutation)
//! is answered with its error and writes nothing; the others in the batch go on. A
//! failed statement or commit fails the whole batch: every caller gets 503 and nothing
//! of the batch is stored or counted.
//!
//! A vote past its voter's `cap_per_day` (votes on one UTC day) is stored and answered
//! like any other, with the reason in its `flag` column; it is never counted.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::Row;
use tokio::sync::mpsc;

use crate::battle::{Choice, LABELS, parse_choice};
use crate::catalog::{Catalog, OutputRecord};
use crate::db::{BATTLE_SELECT, Db, battle_row, now_ms, on_write};
use crate::error::{ApiError, Error, Result};
use crate::ratings::{LoggedVote, day_of};
use crate::state::{Inner, Op};
use crate::view::{ImportReport, Receipt, Revealed};

enum Done {
    Battle,
    /// The vote id, the models, the choice, whether it was capped.
    Vote(Result<(i64, Vec<i64>, Choice, bool), ApiError>),
}

/// Runs the writer until every sender is gone.
pub async fn run(inner: Arc<Inner>, mut rx: mpsc::Receiver<Op>) {
    let max = inner.cfg.max_batch;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < max {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut ops = Vec::with_capacity(batch.len());
        for op in batch {
            match op {
                Op::Import(records, reply) => {
                    // Imports run alone, after what queued before them.
                    if !ops.is_empty() {
                        commit(&inner, std::mem::take(&mut ops)).await;
                    }
                    let r = import_and_reload(&inner, &records).await;
                    let _ = reply.send(r);
                }
                other => ops.push(other),
            }
        }
        if !ops.is_empty() {
            commit(&inner, ops).await;
        }
    }
}

async fn commit(inner: &Inner, ops: Vec<Op>) {
    let now = now_ms();
    let cap = inner.cfg.cap_per_day;
    // Votes each voter of the batch already has today; counted on as the batch goes.
    let mut today: HashMap<&str, u32> = HashMap::new();
    if cap > 0 {
        let r = inner.ratings();
        for op in &ops {
            if let Op::Vote(_, _, voter, _) = op
                && !voter.is_empty()
            {
                today
                    .entry(voter.as_str())
                    .or_insert_with(|| r.votes_on(voter, day_of(now)));
            }
        }
    }
    let result: Result<Vec<Done>> = on_write!(&inner.db, |p| {
        async {
        let mut tx = p.begin().await?;
        let mut done = Vec::with_capacity(ops.len());
        for op in &ops {
            match op {
                Op::Battle(b, _) => {
                    let o = |i: usize| b.outputs.get(i).copied();
                    let m = |i: usize| b.models.get(i).copied();
                    sqlx::query(
                        "INSERT INTO battles (id, k, prompt_id, o0, o1, o2, o3, m0, m1, m2, m3, created_ms, expires_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(&b.id)
                    .bind(b.outputs.len() as i64)
                    .bind(&b.prompt_id)
                    .bind(o(0))
                    .bind(o(1))
                    .bind(o(2))
                    .bind(o(3))
                    .bind(m(0))
                    .bind(m(1))
                    .bind(m(2))
                    .bind(m(3))
                    .bind(b.created_ms)
                    .bind(b.expires_ms)
                    .execute(&mut *tx)
                    .await?;
                    done.push(Done::Battle);
                }
                Op::Vote(id, body, voter, _) => {
                    let row = sqlx::query(BATTLE_SELECT)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else {
                        let voted: Option<i64> =
                            sqlx::query_scalar("SELECT id FROM votes WHERE battle_id = $1")
                                .bind(id)
                                .fetch_optional(&mut *tx)
                                .await?;
                        done.push(Done::Vote(Err(match voted {
                            Some(_) => already_voted(),
                            None => unknown_battle(),
                        })));
                        continue;
                    };
                    let b = battle_row(&row)?;
                    if b.expires_ms <= now {
                        done.push(Done::Vote(Err(ApiError::new(
                            axum::http::StatusCode::GONE,
                            "battle_expired",
                            "this battle expired before the vote; start a new one",
                        ))));
                        continue;
                    }
                    let choice = match parse_choice(body, b.models.len()) {
                        Ok(c) => c,
                        Err(e) => {
                            done.push(Done::Vote(Err(e)));
                            continue;
                        }
                    };
                    // Single use: only the statement that deletes the battle may vote.
                    let gone = sqlx::query("DELETE FROM battles WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if gone != 1 {
                        done.push(Done::Vote(Err(already_voted())));
                        continue;
                    }
                    let k = b.models.len();
                    let ranks = choice.ranks(k);
                    let flag = match today.get_mut(voter.as_str()) {
                        Some(n) => {
                            *n += 1;
                            (*n > cap).then(|| {
                                format!("cap: vote {n} of this voter on this UTC day, past the cap of {cap}")
                            })
                        }
                        None => None,
                    };
                    let m = |i: usize| b.models.get(i).copied();
                    let r = |i: usize| ranks.get(i).map(|&x| i64::from(x));
                    let vid: i64 = sqlx::query(
                        "INSERT INTO votes (battle_id, prompt_id, k, m0, m1, m2, m3, r0, r1, r2, r3, kind, created_ms, voter, flag)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
                    )
                    .bind(id)
                    .bind(&b.prompt_id)
                    .bind(k as i64)
                    .bind(m(0))
                    .bind(m(1))
                    .bind(m(2))
                    .bind(m(3))
                    .bind(r(0))
                    .bind(r(1))
                    .bind(r(2))
                    .bind(r(3))
                    .bind(choice.kind())
                    .bind(now)
                    .bind((!voter.is_empty()).then_some(voter.as_str()))
                    .bind(flag.as_deref())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                    done.push(Done::Vote(Ok((vid, b.models, choice, flag.is_some()))));
                }
                Op::Import(..) => {}
            }
        }
        tx.commit().await?;
        Ok(done)
    }
    .await
    });
    let done = match result {
        Ok(d) => d,
        Err(e) => {
            let err = ApiError::storage(&e);
            for op in ops {
                match op {
                    Op::Battle(_, r) => drop(r.send(Err(err.clone()))),
                    Op::Vote(_, _, _, r) => drop(r.send(Err(err.clone()))),
                    Op::Import(_, r) => drop(r.send(Err(err.clone()))),
                }
            }
            return;
        }
    };
    let catalog = inner.catalog();
    // Apply the stored votes in id order, then answer.
    {
        let mut ratings = inner.ratings_mut();
        for (op, d) in ops.iter().zip(&done) {
            if let (Op::Vote(_, _, voter, _), Done::Vote(Ok((vid, models, choice, capped)))) =
                (op, d)
            {
                let ranks = choice.ranks(models.len());
                if let Some(mut lv) = LoggedVote::from_ids(&catalog, *vid, models, &ranks) {
                    lv.voter = ratings.voter(voter);
                    lv.capped = *capped;
                    ratings.push(lv, now);
                }
            }
        }
    }
    for (op, d) in ops.into_iter().zip(done) {
        match (op, d) {
            (Op::Battle(_, reply), Done::Battle) => {
                let _ = reply.send(Ok(()));
            }
            (Op::Vote(battle_id, _, _, reply), Done::Vote(r)) => {
                let r = r.map(|(vid, models, choice, _)| {
                    let ranks = choice.ranks(models.len());
                    Receipt {
                        vote_id: vid,
                        battle_id,
                        kind: choice.kind().to_string(),
                        models: models
                            .iter()
                            .zip(ranks)
                            .enumerate()
                            .map(|(i, (m, rank))| Revealed {
                                label: LABELS[i].to_string(),
                                model: catalog
                                    .model_index(*m)
                                    .map_or("?", |mi| catalog.name(mi))
                                    .to_string(),
                                rank,
                            })
                            .collect(),
                    }
                });
                let _ = reply.send(r);
            }
            _ => {}
        }
    }
}

fn unknown_battle() -> ApiError {
    ApiError::not_found(
        "unknown_battle",
        "no such battle (the id is wrong, or it expired and was removed)",
    )
}

fn already_voted() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "already_voted",
        "this battle already has its vote; each battle takes one vote",
    )
}

async fn import_and_reload(
    inner: &Inner,
    records: &[OutputRecord],
) -> Result<ImportReport, ApiError> {
    let current = inner.catalog();
    let imported = import(&inner.db, &current, records).await?;
    let fresh = load_catalog(&inner.db)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    let report = ImportReport {
        imported,
        models: fresh.models.len(),
        outputs: fresh.outputs.len(),
    };
    inner.ratings_mut().online.grow(fresh.models.len());
    inner.set_catalog(fresh);
    Ok(report)
}

/// Loads models and outputs.
///
/// # Errors
/// The queries fail.
pub async fn load_catalog(db: &Db) -> Result<Catalog> {
    Ok(Catalog::build(db.models().await?, db.outputs().await?))
}

/// Stores outputs in one transaction (a model is added on its first output; an output
/// already stored for the same model and prompt id is replaced). `current` is checked
/// so a prompt id keeps one prompt text.
///
/// # Errors
/// 422 naming the line when a prompt id already holds another prompt; 503 when the
/// database fails (nothing is stored).
pub async fn import(
    db: &Db,
    current: &Catalog,
    records: &[OutputRecord],
) -> Result<usize, ApiError> {
    let stored: HashMap<&str, &str> = current
        .prompts
        .iter()
        .map(|p| (p.id.as_str(), &*p.text))
        .collect();
    for (i, r) in records.iter().enumerate() {
        if let Some(p) = stored.get(r.prompt_id.as_str())
            && *p != r.prompt
        {
            return Err(ApiError::invalid(
                "prompt_mismatch",
                format!(
                    "line {}: field `prompt`: prompt `{}` is already stored with another text",
                    i + 1,
                    r.prompt_id
                ),
            ));
        }
    }
    let now = now_ms();
    let r: Result<usize> = on_write!(db, |p| {
        async {
        let mut tx = p.begin().await?;
        let mut ids: HashMap<&str, i64> = HashMap::new();
        for r in records {
            let mid = match ids.get(r.model.as_str()) {
                Some(&m) => m,
                None => {
                    sqlx::query(
                        "INSERT INTO models (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(&r.model)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let m: i64 = sqlx::query_scalar("SELECT id FROM models WHERE name = $1")
                        .bind(&r.model)
                        .fetch_one(&mut *tx)
                        .await?;
                    ids.insert(&r.model, m);
                    m
                }
            };
            sqlx::query(
                "INSERT INTO outputs (model_id, prompt_id, prompt, response) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (model_id, prompt_id) DO UPDATE SET prompt = excluded.prompt, response = excluded.response",
            )
            .bind(mid)
            .bind(&r.prompt_id)
            .bind(&r.prompt)
            .bind(&r.response)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok::<usize, Error>(records.len())
    }
    .await
    });
    r.map_err(|e| ApiError::storage(&e))
}

//! The arena: the operations the routes call, and the background tasks (writer,
//! refit, upkeep). Its state is in [`crate::state`], what it shows in [`crate::view`],
//! its routes in [`crate::http`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::battle::{LABELS, VoteBody, draw, new_id};
use crate::catalog::{Catalog, OutputRecord};
use crate::config::ArenaConfig;
use crate::db::{Db, VoteRow, VoterFlag, now_ms};
use crate::error::{ApiError, Error, Result};
use crate::ratings::{LoggedVote, Ratings, Refit, RefitConfig, refit};
use crate::state::{Inner, NewBattle, Op};
use crate::view::{
    BattleView, BoardRow, BoardView, BtCell, Health, ImportReport, KsortCell, Receipt, RefitInfo,
    ResponseView, VoterView, VotersView,
};
use crate::writer;

/// A running arena (cheap to clone).
#[derive(Debug, Clone)]
pub struct Arena {
    /// The shared state.
    pub inner: Arc<Inner>,
}

impl Arena {
    /// Opens (and migrates) the database, loads models, outputs and every vote, and
    /// starts the writer and the background tasks.
    ///
    /// # Errors
    /// Bad settings, or the database cannot be opened or read.
    pub async fn open(url: &str, cfg: ArenaConfig) -> Result<Arena> {
        cfg.validate()?;
        let db = Db::open(url).await?;
        Self::with_db(db, cfg).await
    }

    /// As [`Arena::open`], on an opened database.
    ///
    /// # Errors
    /// Bad settings, or the database cannot be read.
    pub async fn with_db(db: Db, cfg: ArenaConfig) -> Result<Arena> {
        cfg.validate()?;
        let catalog = writer::load_catalog(&db).await?;
        let mut ratings = Ratings::new(catalog.models.len());
        load_votes(&db, &catalog, &mut ratings, 0).await?;
        let salt = db
            .meta_or_insert("voter_salt", || {
                let mut rng = rand::rng();
                (0..32)
                    .map(|_| format!("{:x}", rand::Rng::random_range(&mut rng, 0..16u8)))
                    .collect()
            })
            .await?;
        let flags = db.voter_flags().await?;
        let (tx, rx) = mpsc::channel(4096);
        let inner = Arc::new(Inner::new(db, cfg, catalog, ratings, tx, salt, flags));
        tokio::spawn(writer::run(inner.clone(), rx));
        tokio::spawn(refit_loop(inner.clone()));
        tokio::spawn(upkeep_loop(inner.clone()));
        Ok(Arena { inner })
    }

    async fn send<T>(
        &self,
        op: Op,
        rx: oneshot::Receiver<Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let gone = || {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the vote store is not running; nothing was stored",
            )
        };
        self.inner.writer.send(op).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Starts a battle: K models by matchmaking, a prompt they all answered.
    ///
    /// # Errors
    /// 503 when there are not enough models or the store fails.
    pub async fn new_battle(&self) -> Result<BattleView, ApiError> {
        let catalog = self.inner.catalog();
        let (d, id) = {
            let ratings = self.inner.ratings();
            let mut rng = rand::rng();
            let d = draw(
                &catalog,
                &ratings.online,
                &self.inner.cfg.matching,
                &mut rng,
            )?;
            (d, new_id(&mut rng))
        };
        let created_ms = now_ms();
        let expires_ms = created_ms + self.inner.cfg.battle_ttl().as_millis() as i64;
        let prompt = &catalog.prompts[d.prompt];
        let nb = NewBattle {
            id: id.clone(),
            prompt_id: prompt.id.clone(),
            outputs: d.outputs.clone(),
            models: d.models.iter().map(|&m| catalog.models[m].0).collect(),
            created_ms,
            expires_ms,
        };
        let (tx, rx) = oneshot::channel();
        self.send(Op::Battle(nb, tx), rx).await?;
        Ok(BattleView {
            battle_id: id,
            k: d.models.len(),
            prompt_id: prompt.id.clone(),
            prompt: prompt.text.to_string(),
            responses: d
                .outputs
                .iter()
                .enumerate()
                .map(|(i, o)| ResponseView {
                    label: LABELS[i].to_string(),
                    text: catalog
                        .outputs
                        .get(o)
                        .map_or(String::new(), |x| x.response.to_string()),
                })
                .collect(),
            expires_ms,
        })
    }

    /// A pending battle.
    ///
    /// # Errors
    /// 404 for an unknown id, 409 when it already has its vote, 410 when it expired.
    pub async fn battle(&self, id: &str) -> Result<BattleView, ApiError> {
        check_id(id)?;
        let storage = |e: Error| ApiError::storage(&e);
        let Some(b) = self.inner.db.battle(id).await.map_err(storage)? else {
            return Err(if self.inner.db.voted(id).await.map_err(storage)? {
                ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "already_voted",
                    "this battle already has its vote; each battle takes one vote",
                )
            } else {
                ApiError::not_found("unknown_battle", "no such battle")
            });
        };
        if b.expires_ms <= now_ms() {
            return Err(ApiError::new(
                axum::http::StatusCode::GONE,
                "battle_expired",
                "this battle expired; start a new one",
            ));
        }
        let catalog = self.inner.catalog();
        let prompt = catalog
            .outputs
            .get(&b.outputs[0])
            .map_or(String::new(), |o| {
                catalog.prompts[o.prompt].text.to_string()
            });
        Ok(BattleView {
            battle_id: b.id,
            k: b.outputs.len(),
            prompt_id: b.prompt_id,
            prompt,
            responses: b
                .outputs
                .iter()
                .enumerate()
                .map(|(i, o)| ResponseView {
                    label: LABELS[i].to_string(),
                    text: catalog
                        .outputs
                        .get(o)
                        .map_or(String::new(), |x| x.response.to_string()),
                })
                .collect(),
            expires_ms: b.expires_ms,
        })
    }

    /// Stores a vote; answers after it is committed, revealing the models.
    ///
    /// # Errors
    /// 404 unknown battle, 409 already voted, 410 expired, 422 a bad vote, 503 the
    /// store failed. Nothing is stored on any error.
    pub async fn vote(&self, battle_id: &str, body: VoteBody) -> Result<Receipt, ApiError> {
        self.vote_as(battle_id, body, "").await
    }

    /// [`Arena::vote`] by the voter with pseudonym `voter` (see
    /// [`Inner::voter_of`]; `""` for none: never capped or screened).
    ///
    /// # Errors
    /// As [`Arena::vote`].
    pub async fn vote_as(
        &self,
        battle_id: &str,
        body: VoteBody,
        voter: &str,
    ) -> Result<Receipt, ApiError> {
        check_id(battle_id)?;
        let (tx, rx) = oneshot::channel();
        self.send(
            Op::Vote(battle_id.to_string(), body, voter.to_string(), tx),
            rx,
        )
        .await
    }

    /// Every voter as the last refit screened it, worst agreement first, with the
    /// admins' decisions.
    pub fn voters(&self) -> VotersView {
        let ratings = self.inner.ratings();
        let flags = self.inner.voter_flags();
        let refit = ratings.refit.as_ref();
        VotersView {
            computed_ms: refit.map(|r| r.computed_ms),
            screen: self.inner.cfg.screen,
            cap_per_day: self.inner.cfg.cap_per_day,
            voters: refit.map_or_else(Vec::new, |r| {
                r.voters
                    .iter()
                    .map(|v| VoterView {
                        admin: flags.get(&v.voter).cloned(),
                        report: v.clone(),
                    })
                    .collect()
            }),
        }
    }

    /// Stores an admin's decision on a voter (`None`: back to screening) and refits.
    ///
    /// # Errors
    /// 503 when the store fails.
    pub async fn set_voter_flag(
        &self,
        voter: &str,
        flag: Option<VoterFlag>,
    ) -> Result<(), ApiError> {
        self.inner
            .db
            .set_voter_flag(voter, flag.as_ref())
            .await
            .map_err(|e| ApiError::storage(&e))?;
        self.inner.set_voter_flag(voter, flag);
        self.refit_now().await;
        Ok(())
    }

    /// Imports outputs (one transaction).
    ///
    /// # Errors
    /// 422 for a prompt id with another text, 503 when the store fails.
    pub async fn import(&self, records: Vec<OutputRecord>) -> Result<ImportReport, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Import(records, tx), rx).await
    }

    /// Runs a refit now and waits for it.
    pub async fn refit_now(&self) {
        let done = self.inner.refit_done.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        self.inner.refit_now.notify_one();
        done.await;
    }

    /// The leaderboard now.
    pub fn leaderboard(&self) -> BoardView {
        let catalog = self.inner.catalog();
        let ratings = self.inner.ratings();
        board(&catalog, &ratings)
    }

    /// Status.
    pub fn health(&self) -> Health {
        let catalog = self.inner.catalog();
        let votes = self.inner.ratings().log.len();
        Health {
            status: "ok".into(),
            backend: self.inner.db.backend().into(),
            models: catalog.active().iter().filter(|a| **a).count(),
            prompts: catalog.prompts.len(),
            votes,
            k: self.inner.cfg.matching.k,
        }
    }
}

/// Battle ids are 32 hex digits; anything else is unknown without asking the database.
fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::not_found("unknown_battle", "no such battle"))
    }
}

/// Builds the leaderboard view.
pub fn board(catalog: &Catalog, ratings: &Ratings) -> BoardView {
    let online = &ratings.online;
    let k3 = online.ksort.config.conservative_k;
    let bt = ratings.refit.as_ref().and_then(|r| r.board.as_ref());
    // (BT rank and rating when in the refit, K-Sort score, the row)
    type Keyed = (Option<(usize, f64)>, f64, BoardRow);
    let mut rows: Vec<Keyed> = Vec::new();
    for (m, (_, name)) in catalog.models.iter().enumerate() {
        let votes = online.votes.get(m).copied().unwrap_or(0);
        if votes == 0 && catalog.prompts_of.get(m).is_none_or(Vec::is_empty) {
            continue;
        }
        let skill = online
            .ksort
            .skills
            .get(m)
            .copied()
            .unwrap_or(prefer_rank::ksort::Skill {
                mu: online.ksort.config.mu,
                sigma: online.ksort.config.sigma,
            });
        let b = bt.and_then(|b| b.rows.iter().find(|r| r.model == *name));
        rows.push((
            b.map(|r| (r.rank, r.rating)),
            skill.conservative(k3),
            BoardRow {
                rank: 0,
                model: name.clone(),
                votes,
                bt: b.map(|r| BtCell {
                    rating: r.rating,
                    lower: r.lower,
                    upper: r.upper,
                }),
                elo: online.elo.get(m).copied().unwrap_or(1000.0),
                ksort: KsortCell {
                    mu: skill.mu,
                    sigma: skill.sigma,
                    score: skill.conservative(k3),
                },
            },
        ));
    }
    // Models in the refit first, by rating; the rest by K-Sort score.
    rows.sort_by(|x, y| {
        match (x.0, y.0) {
            (Some(a), Some(b)) => b.1.total_cmp(&a.1),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => y.1.total_cmp(&x.1),
        }
        .then_with(|| x.2.model.cmp(&y.2.model))
    });
    let in_fit = rows.iter().filter(|r| r.0.is_some()).count();
    let mut out: Vec<BoardRow> = Vec::with_capacity(rows.len());
    for (i, (b, _, mut row)) in rows.into_iter().enumerate() {
        row.rank = match b {
            Some((rank, _)) => rank,
            None => in_fit + 1 + (i - in_fit),
        };
        out.push(row);
    }
    BoardView {
        votes: ratings.log.len(),
        refit: ratings.refit.as_ref().map(|r| RefitInfo {
            method: r.method.clone(),
            votes: r.votes,
            bootstrap_rounds: r.bootstrap_rounds,
            computed_ms: r.computed_ms,
            seconds: r.seconds,
            error: r.error.clone(),
            counted: r.counted,
            voters_excluded: r.voters_excluded,
        }),
        rows: out,
    }
}

/// Appends every stored vote with id > `after` (of known models) to `ratings`, as it
/// streams in (a million votes are never held as rows).
async fn load_votes(db: &Db, catalog: &Catalog, ratings: &mut Ratings, after: i64) -> Result<()> {
    db.for_each_vote(after, |v| push_row(ratings, catalog, &v))
        .await
}

/// Appends one stored vote to `ratings`, unless it names a model not in the catalog.
fn push_row(ratings: &mut Ratings, catalog: &Catalog, v: &VoteRow) {
    if let Some(mut lv) = LoggedVote::from_ids(catalog, v.id, &v.models, &v.ranks) {
        lv.voter = ratings.voter(v.voter.as_deref().unwrap_or(""));
        lv.capped = v.flag.is_some();
        ratings.push(lv, v.created_ms);
    }
}

/// Refits when votes arrived, every `refit_every_s`, or at once when asked.
async fn refit_loop(inner: Arc<Inner>) {
    let every = Duration::from_secs_f64(inner.cfg.refit_every_s);
    let mut fitted_at: i64 = -1;
    loop {
        let asked = tokio::select! {
            () = tokio::time::sleep(every) => false,
            () = inner.refit_now.notified() => true,
        };
        let (log, last, voters) = {
            let r = inner.ratings();
            (r.log.clone(), r.last_id(), r.voters.clone())
        };
        let flags = inner.voter_flags();
        let fixed: Vec<Option<bool>> = voters
            .iter()
            .map(|v| flags.get(v).map(VoterFlag::excludes))
            .collect();
        if last == fitted_at && !asked {
            continue;
        }
        let names: Vec<String> = inner.catalog().models.iter().map(|m| m.1.clone()).collect();
        let cfg = RefitConfig {
            rounds: inner.cfg.bootstrap_rounds,
            seed: inner.cfg.seed,
            l2: inner.cfg.bt_l2,
            screen: inner.cfg.screen,
        };
        let votes = log.len();
        let r = if votes == 0 {
            None
        } else {
            let t = Instant::now();
            let res =
                tokio::task::spawn_blocking(move || refit(&log, &names, &voters, &fixed, &cfg))
                    .await;
            let seconds = t.elapsed().as_secs_f64();
            let (fitted, error) = match res {
                Ok(Ok(f)) => (Some(f), None),
                Ok(Err(e)) => (None, Some(e.to_string())),
                Err(e) => (None, Some(format!("refit task failed: {e}"))),
            };
            let counted = fitted.as_ref().map_or(0, |f| f.counted);
            let (board, voters) = fitted.map_or((None, Vec::new()), |f| (Some(f.board), f.voters));
            Some(Refit {
                method: "bt".into(),
                votes,
                bootstrap_rounds: cfg.rounds,
                computed_ms: now_ms(),
                seconds,
                error,
                counted,
                voters_excluded: voters.iter().filter(|v| v.score.excluded).count(),
                board,
                voters,
            })
        };
        if let Some(r) = r {
            inner.ratings_mut().refit = Some(r);
        }
        fitted_at = last;
        inner.refit_done.notify_waiters();
    }
}

/// Removes expired battles; reloads the catalog when another process imported; takes
/// in votes another server on the same database stored.
async fn upkeep_loop(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let _ = inner.db.delete_expired(now_ms()).await;
        if let Ok(v) = inner.db.outputs_version().await
            && v != inner.catalog().version
            && let Ok(c) = writer::load_catalog(&inner.db).await
        {
            inner.ratings_mut().online.grow(c.models.len());
            inner.set_catalog(c);
        }
        let catalog = inner.catalog();
        let last = inner.ratings().last_id();
        // Few votes (another server's last seconds): held as rows, then applied under
        // the lock, which is never held across the query.
        let mut rows = Vec::new();
        if inner.db.for_each_vote(last, |v| rows.push(v)).await.is_ok() {
            let mut r = inner.ratings_mut();
            for v in &rows {
                push_row(&mut r, &catalog, v);
            }
        }
    }
}

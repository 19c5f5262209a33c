//! What the arena shows: the battle a voter sees, the receipt a vote gets, the
//! leaderboard and the status. Plain serializable values, below everything that builds
//! them (server, writer) and everything that renders them (html, http).

use serde::Serialize;

/// A battle as the voter sees it: no model names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BattleView {
    /// The battle's id (single use).
    pub battle_id: String,
    /// K.
    pub k: usize,
    /// The prompt's id.
    pub prompt_id: String,
    /// The prompt.
    pub prompt: String,
    /// The anonymous responses, in display order.
    pub responses: Vec<ResponseView>,
    /// When the battle stops accepting its vote (ms since the Unix epoch).
    pub expires_ms: i64,
}

/// One anonymous response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseView {
    /// `A`, `B`, ...
    pub label: String,
    /// The response.
    pub text: String,
}

/// One leaderboard line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardRow {
    /// Rank: from the refit's intervals when the model is in it, else by K-Sort score.
    pub rank: usize,
    /// The model.
    pub model: String,
    /// Votes it took part in.
    pub votes: u64,
    /// The Bradley-Terry rating (Elo scale) and its bootstrap interval, from the last
    /// refit.
    pub bt: Option<BtCell>,
    /// Online Elo (FastChat's, K = 4).
    pub elo: f64,
    /// K-Sort's Gaussian skill and conservative score μ − 3σ.
    pub ksort: KsortCell,
}

/// A Bradley-Terry rating.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BtCell {
    /// The rating.
    pub rating: f64,
    /// Lower bound of the 95% interval.
    pub lower: Option<f64>,
    /// Upper bound.
    pub upper: Option<f64>,
}

/// A K-Sort skill.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KsortCell {
    /// μ.
    pub mu: f64,
    /// σ.
    pub sigma: f64,
    /// μ − 3σ.
    pub score: f64,
}

/// The leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardView {
    /// Votes stored.
    pub votes: usize,
    /// The last full refit (none before the first votes).
    pub refit: Option<RefitInfo>,
    /// Lines, best first.
    pub rows: Vec<BoardRow>,
}

/// About the last refit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefitInfo {
    /// `bt`.
    pub method: String,
    /// Votes it saw.
    pub votes: usize,
    /// Bootstrap rounds.
    pub bootstrap_rounds: usize,
    /// When (ms since the Unix epoch).
    pub computed_ms: i64,
    /// How long it took (s).
    pub seconds: f64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Votes counted (the rest: past a voter's daily cap, or of an excluded voter).
    pub counted: usize,
    /// Voters whose votes were left out (screened, or by an admin).
    pub voters_excluded: usize,
}

/// `/api/admin/voters`: every voter as the last refit screened it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VotersView {
    /// When the refit ran (ms since the Unix epoch); `None` before the first.
    pub computed_ms: Option<i64>,
    /// The screening settings (`None`: off).
    pub screen: Option<prefer_rank::quality::ScreenConfig>,
    /// The daily cap per voter (0: none).
    pub cap_per_day: u32,
    /// Voters, worst agreement first.
    pub voters: Vec<VoterView>,
}

/// One voter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoterView {
    /// The screening.
    #[serde(flatten)]
    pub report: crate::ratings::VoterReport,
    /// An admin's decision, if any.
    pub admin: Option<crate::db::VoterFlag>,
}

/// Server status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Models with outputs.
    pub models: usize,
    /// Prompts.
    pub prompts: usize,
    /// Votes stored.
    pub votes: usize,
    /// K.
    pub k: usize,
}

/// A stored vote, as the voter sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Receipt {
    /// The vote's id.
    pub vote_id: i64,
    /// The battle it closed.
    pub battle_id: String,
    /// `best`, `tie`, `bothbad` or `ranking`.
    pub kind: String,
    /// The models, now revealed, in display order, with the rank each got.
    pub models: Vec<Revealed>,
}

/// One revealed response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revealed {
    /// Its label.
    pub label: String,
    /// The model behind it.
    pub model: String,
    /// The rank the vote gave it (1 = best).
    pub rank: u32,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// Lines imported (added or replaced).
    pub imported: usize,
    /// Models now stored.
    pub models: usize,
    /// Outputs now stored.
    pub outputs: usize,
}

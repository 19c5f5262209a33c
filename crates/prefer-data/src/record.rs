//! The record types: one per shape of preference data.
//!
//! Field names follow the ones TRL and Hugging Face datasets use, so a file written by
//! those tools deserializes as-is:
//!
//! | shape | fields | used by |
//! |---|---|---|
//! | [`Pair`] | `prompt`, `chosen`, `rejected` | DPO family, reward models |
//! | [`Unpaired`] | `prompt`, `completion`, `label` | KTO, BCO |
//! | [`Ranking`] | `prompt`, `responses` (best first), `ranks` (ties) | PRO, listwise losses |
//! | [`Rating`] | `prompt`, `response`, `scores`, `overall` | UltraFeedback, HelpSteer2, ArmoRM |
//! | [`Stepwise`] | `prompt`, `completions`, `labels` | process reward models |
//! | [`Battle`] | `model_a`, `model_b`, `winner` | Chatbot Arena, leaderboards |
//! | [`KWise`] | `models`, `ranking` | K-Sort Arena |
//!
//! Every record may carry the [`Annotations`] fields (`id`, `user_id`, `context`,
//! `rationale`, `strength`, `margin`, `source`); fields the record does not know are kept
//! in [`Annotations::extra`] and written back unchanged.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One message of a conversation, as in the `messages` lists of Hugging Face chat datasets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "a {role, content} message")]
pub struct Message {
    /// `system`, `user`, `assistant` (or any other role a chat template knows).
    pub role: String,
    /// The message text.
    pub content: String,
}

impl Message {
    /// A message with the given role and content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A prompt or a response: standard text, or a conversation (a list of messages).
///
/// Deserializes from a JSON string or a list of `{role, content}` objects; written back
/// the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Text {
    /// Standard (plain text) format.
    Plain(String),
    /// Conversational format: `[{role, content}, ...]`.
    Chat(Vec<Message>),
}

impl Text {
    /// True when there is no visible content (empty string, no messages, or only
    /// messages whose content is blank).
    pub fn is_blank(&self) -> bool {
        match self {
            Text::Plain(s) => s.trim().is_empty(),
            Text::Chat(m) => m.iter().all(|m| m.content.trim().is_empty()),
        }
    }

    /// Length in characters (Unicode scalar values) of all content.
    pub fn char_len(&self) -> usize {
        match self {
            Text::Plain(s) => s.chars().count(),
            Text::Chat(m) => m.iter().map(|m| m.content.chars().count()).sum(),
        }
    }

    /// All content joined: the string itself, or the messages' contents separated by
    /// a blank line. For lengths and display; chat templates live in prefer-nn.
    pub fn flat(&self) -> String {
        match self {
            Text::Plain(s) => s.clone(),
            Text::Chat(m) => m
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
        }
    }

    /// True for the conversational format.
    pub fn is_chat(&self) -> bool {
        matches!(self, Text::Chat(_))
    }
}

/// A visitor instead of serde's untagged derive: untagged enums buffer every value
/// before trying the variants, and texts are most of a preference file's bytes.
impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of {role, content} messages")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::Plain(v.to_string()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text::Plain(v))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(2));
                while let Some(m) = seq.next_element::<Message>()? {
                    out.push(m);
                }
                Ok(Text::Chat(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::Plain(s.to_string())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::Plain(s)
    }
}

/// Fields every record may carry. All optional; unknown fields land in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Annotations {
    /// A stable identifier of the record (or of the item several annotators labelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who gave the label: a user or annotator id (personalized and pluralistic methods).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "annotator",
        alias = "annotator_id",
        alias = "worker_id"
    )]
    pub user_id: Option<String>,
    /// A context or criterion the label was given under ("which answer is more concise?").
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "criteria",
        alias = "criterion"
    )]
    pub context: Option<String>,
    /// The annotator's (or judge's) stated reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// Preference strength: the probability, in \[0, 1\], that the first (chosen)
    /// response is the better one. 1 is a hard label; 0.5 is indifference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
    /// A real-valued margin between chosen and rejected (TRL RewardTrainer's `margin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// Where the record came from (a dataset, a split, a model family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Any other field of the input, kept and written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A preference pair: `chosen` is preferred to `rejected` for `prompt`.
///
/// Without `prompt` the pair is in *implicit-prompt* format (Anthropic HH-RLHF): chosen
/// and rejected are whole transcripts sharing the prompt as a prefix; see
/// [`crate::convert::explicit_prompt`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// The prompt; absent in implicit-prompt format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Text>,
    /// The preferred response.
    pub chosen: Text,
    /// The dispreferred response.
    pub rejected: Text,
    /// Shared optional fields.
    #[serde(flatten)]
    pub ann: Annotations,
}

/// An unpaired label (KTO): `completion` is desirable (`label = true`) or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unpaired {
    /// The prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Text>,
    /// The response being judged.
    pub completion: Text,
    /// `true` when the completion is desirable.
    pub label: bool,
    /// Shared optional fields.
    #[serde(flatten)]
    pub ann: Annotations,
}

/// A ranked list of responses, best first.
///
/// Ties: `ranks[i]` is the rank of `responses[i]` (1 = best); equal ranks are ties and
/// ranks never decrease along the list. Without `ranks` the order is strict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// The prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Text>,
    /// Responses, best first.
    pub responses: Vec<Text>,
    /// Rank of each response (1 = best); equal values are ties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<Vec<u32>>,
    /// Shared optional fields.
    #[serde(flatten)]
    pub ann: Annotations,
}

impl Ranking {
    /// The rank of each response: `ranks` when given, else 1, 2, 3, ...
    pub fn effective_ranks(&self) -> Vec<u32> {
        match &self.ranks {
            Some(r) => r.clone(),
            None => (1..=self.responses.len() as u32).collect(),
        }
    }
}

/// Absolute scores of one response, per attribute (HelpSteer2's helpfulness,
/// correctness, coherence, complexity, verbosity; UltraFeedback's helpfulness, honesty,
/// instruction following, truthfulness), with optional rationales and overall score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// The prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Text>,
    /// The rated response.
    pub response: Text,
    /// The model that wrote the response, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Score per attribute.
    #[serde(default)]
    pub scores: BTreeMap<String, f64>,
    /// Rationale per attribute (UltraFeedback gives one for each aspect).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rationales: BTreeMap<String, String>,
    /// An overall score, when the source gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overall: Option<f64>,
    /// Shared optional fields.
    #[serde(flatten)]
    pub ann: Annotations,
}

/// Step-level labels of a multi-step completion (process supervision, TRL's stepwise
/// supervision format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stepwise {
    /// The prompt.
    pub prompt: Text,
    /// The steps of the completion.
    pub completions: Vec<String>,
    /// One label per step: `true` when the step is correct.
    pub labels: Vec<bool>,
    /// Shared optional fields.
    #[serde(flatten)]
    pub ann: Annotations,
}

/// The outcome of a two-model battle, as Chatbot Arena writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Winner {
    /// `model_a` won.
    #[serde(rename = "model_a")]
    ModelA,
    /// `model_b` won.
    #[serde(rename = "model_b")]
    ModelB,
    /// A tie (both good).
    #[serde(rename = "tie")]
    Tie,
    /// A tie where both answers were bad.
    #[serde(rename = "tie (bothbad)")]
    TieBothBad,
}

impl Winner {
    /// All values, in the order Chatbot Arena lists them.
    pub const ALL: [Winner; 4] = [
        Winner::ModelA,
        Winner::ModelB,
        Winner::Tie,
        Winner::TieBothBad,
    ];

    /// The string Chatbot Arena writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Winner::ModelA => "model_a",
            Winner::ModelB => "model_b",
            Winner::Tie => "tie",
            Winner::TieBothBad => "tie (bothbad)",
        }
    }

    /// Parses Chatbot Arena's values and the common synonyms (`a`/`b`, `left`/`right`,
    /// `draw`, `bothbad`).
    pub fn parse(s: &str) -> Option<Winner> {
        Some(match s.trim() {
            "model_a" | "a" | "A" | "left" => Winner::ModelA,
            "model_b" | "b" | "B" | "right" => Winner::ModelB,
            "tie" | "draw" | "Tie" => Winner::Tie,
            "tie (bothbad)" | "bothbad" | "both_bad" | "tie(bothbad)" => Winner::TieBothBad,
            _ => return None,
        })
    }

    /// The score of `model_a`: 1 for a win, 0 for a loss, 0.5 for either tie.
    pub fn score_a(self) -> f64 {
        match self {
            Winner::ModelA => 1.0,
            Winner::ModelB => 0.0,
            Winner::Tie | Winner::TieBothBad => 0.5,
        }
    }

    /// True for both kinds of tie.
    pub fn is_tie(self) -> bool {
        matches!(self, Winner::Tie | Winner::TieBothBad)
    }
}

impl fmt::Display for Winner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A two-model battle: which of `model_a` and `model_b` gave the better answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Battle {
    /// The first model shown.
    pub model_a: String,
    /// The second model shown.
    pub model_b: String,
    /// The outcome.
    pub winner: Winner,
    /// Who voted (a user id, or the judge model's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// When, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tstamp: Option<f64>,
    /// The conversation's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Shared optional fields.
    #[serde(flatten)]
    pub ann: Annotations,
}

impl Battle {
    /// A battle with only the three required fields.
    pub fn new(model_a: impl Into<String>, model_b: impl Into<String>, winner: Winner) -> Self {
        Self {
            model_a: model_a.into(),
            model_b: model_b.into(),
            winner,
            judge: None,
            tstamp: None,
            language: None,
            ann: Annotations::default(),
        }
    }
}

/// A K-wise vote: K models were shown and ranked (K-Sort Arena).
///
/// `ranking[i]` is the rank given to `models[i]` (1 = best); equal ranks are ties. A
/// "pick the best" vote ranks the winner 1 and all others 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KWise {
    /// The models shown, in display order.
    pub models: Vec<String>,
    /// The rank of each model (1 = best).
    pub ranking: Vec<u32>,
    /// The prompt, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Text>,
    /// Who voted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// When, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tstamp: Option<f64>,
    /// The conversation's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Shared optional fields.
    #[serde(flatten)]
    pub ann: Annotations,
}

/// A map key, borrowed from the input when it can be (no allocation per key).
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl Annotations {
    /// Reads the value of `key` into the matching annotation field, or into `extra`.
    fn read_field<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match key {
            "id" => self.id = map.next_value()?,
            "user_id" | "annotator" | "annotator_id" | "worker_id" => {
                self.user_id = map.next_value()?;
            }
            "context" | "criteria" | "criterion" => self.context = map.next_value()?,
            "rationale" => self.rationale = map.next_value()?,
            "strength" => self.strength = map.next_value()?,
            "margin" => self.margin = map.next_value()?,
            "source" => self.source = map.next_value()?,
            other => {
                let v: Value = map.next_value()?;
                self.extra.insert(other.to_string(), v);
            }
        }
        Ok(())
    }
}

/// The visitor of a record type with `Annotations` flattened in, written out instead of
/// `#[serde(flatten)]` (which buffers every field) for the shapes read in bulk.
macro_rules! record_visitor {
    ($ty:ident, $what:literal, { $($req:ident : $rty:ty),* }, { $($opt:ident : $oty:ty),* }) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        $(let mut $req: Option<$rty> = None;)*
                        $(let mut $opt: Option<$oty> = None;)*
                        let mut ann = Annotations::default();
                        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                            match k.as_ref() {
                                $(stringify!($req) => $req = Some(map.next_value()?),)*
                                $(stringify!($opt) => $opt = map.next_value()?,)*
                                other => ann.read_field(other, &mut map)?,
                            }
                        }
                        Ok($ty {
                            $($req: $req.ok_or_else(|| serde::de::Error::missing_field(stringify!($req)))?,)*
                            $($opt,)*
                            ann,
                        })
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

record_visitor!(Pair, "a preference pair (prompt, chosen, rejected)", { chosen: Text, rejected: Text }, { prompt: Text });
record_visitor!(
    Battle,
    "a battle (model_a, model_b, winner)",
    { model_a: String, model_b: String, winner: Winner },
    { judge: String, tstamp: f64, language: String }
);

/// Which shape a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// [`Pair`]
    Pair,
    /// [`Unpaired`]
    Unpaired,
    /// [`Ranking`]
    Ranking,
    /// [`Rating`]
    Rating,
    /// [`Stepwise`]
    Stepwise,
    /// [`Battle`]
    Battle,
    /// [`KWise`]
    Kwise,
}

impl Shape {
    /// All shapes.
    pub const ALL: [Shape; 7] = [
        Shape::Pair,
        Shape::Unpaired,
        Shape::Ranking,
        Shape::Rating,
        Shape::Stepwise,
        Shape::Battle,
        Shape::Kwise,
    ];

    /// The name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Pair => "pair",
            Shape::Unpaired => "unpaired",
            Shape::Ranking => "ranking",
            Shape::Rating => "rating",
            Shape::Stepwise => "stepwise",
            Shape::Battle => "battle",
            Shape::Kwise => "kwise",
        }
    }

    /// Parses a name given by [`Shape::name`].
    pub fn parse(s: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The fields that identify this shape in a record.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            Shape::Pair => &["chosen", "rejected"],
            Shape::Unpaired => &["completion", "label"],
            Shape::Ranking => &["responses"],
            Shape::Rating => &["response", "scores"],
            Shape::Stepwise => &["completions", "labels"],
            Shape::Battle => &["model_a", "model_b", "winner"],
            Shape::Kwise => &["models", "ranking"],
        }
    }

    /// Guesses the shape from the field names of one record: the first shape whose
    /// required fields are all present.
    pub fn detect(has: impl Fn(&str) -> bool) -> Option<Shape> {
        Shape::ALL
            .into_iter()
            .find(|s| s.required_fields().iter().all(|f| has(f)))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A record of any shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A preference pair.
    Pair(Pair),
    /// An unpaired label.
    Unpaired(Unpaired),
    /// A ranked list.
    Ranking(Ranking),
    /// Absolute ratings of one response.
    Rating(Rating),
    /// Step-level labels.
    Stepwise(Stepwise),
    /// A two-model battle.
    Battle(Battle),
    /// A K-wise vote.
    Kwise(KWise),
}

/// A record serializes as its inner record (no tag: the file's rows are all one shape).
impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Record::Pair(r) => r.serialize(s),
            Record::Unpaired(r) => r.serialize(s),
            Record::Ranking(r) => r.serialize(s),
            Record::Rating(r) => r.serialize(s),
            Record::Stepwise(r) => r.serialize(s),
            Record::Battle(r) => r.serialize(s),
            Record::Kwise(r) => r.serialize(s),
        }
    }
}

impl Record {
    /// The record's shape.
    pub fn shape(&self) -> Shape {
        match self {
            Record::Pair(_) => Shape::Pair,
            Record::Unpaired(_) => Shape::Unpaired,
            Record::Ranking(_) => Shape::Ranking,
            Record::Rating(_) => Shape::Rating,
            Record::Stepwise(_) => Shape::Stepwise,
            Record::Battle(_) => Shape::Battle,
            Record::Kwise(_) => Shape::Kwise,
        }
    }

    /// The shared optional fields.
    pub fn annotations(&self) -> &Annotations {
        match self {
            Record::Pair(r) => &r.ann,
            Record::Unpaired(r) => &r.ann,
            Record::Ranking(r) => &r.ann,
            Record::Rating(r) => &r.ann,
            Record::Stepwise(r) => &r.ann,
            Record::Battle(r) => &r.ann,
            Record::Kwise(r) => &r.ann,
        }
    }

    /// The record as a JSON value (the same object the JSONL writer writes).
    ///
    /// Equal to `serde_json::to_value(record)`.
    pub fn to_value(&self) -> Value {
        let v = match self {
            Record::Pair(r) => serde_json::to_value(r),
            Record::Unpaired(r) => serde_json::to_value(r),
            Record::Ranking(r) => serde_json::to_value(r),
            Record::Rating(r) => serde_json::to_value(r),
            Record::Stepwise(r) => serde_json::to_value(r),
            Record::Battle(r) => serde_json::to_value(r),
            Record::Kwise(r) => serde_json::to_value(r),
        };
        // Serializing these types cannot fail: every map key is a string and every
        // float is finite or written as null by serde_json.
        v.unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_standard_and_conversational_round_trip() {
        let line = r#"{"prompt":"2+2?","chosen":"4","rejected":"5","source_index":7}"#;
        let p: Pair = serde_json::from_str(line).unwrap();
        assert_eq!(p.chosen, Text::Plain("4".into()));
        assert_eq!(p.ann.extra["source_index"], 7);
        assert_eq!(serde_json::to_string(&p).unwrap(), line);

        let chat = r#"{"prompt":[{"role":"user","content":"hi"}],"chosen":[{"role":"assistant","content":"hello"}],"rejected":[{"role":"assistant","content":"go away"}]}"#;
        let p: Pair = serde_json::from_str(chat).unwrap();
        assert!(p.chosen.is_chat());
        assert_eq!(serde_json::to_string(&p).unwrap(), chat);
    }

    #[test]
    fn winner_values_as_chatbot_arena_writes_them() {
        for w in Winner::ALL {
            let s = serde_json::to_string(&w).unwrap();
            assert_eq!(s, format!("\"{}\"", w.as_str()));
            assert_eq!(serde_json::from_str::<Winner>(&s).unwrap(), w);
            assert_eq!(Winner::parse(w.as_str()), Some(w));
        }
        assert!(serde_json::from_str::<Winner>("\"model_c\"").is_err());
    }

    #[test]
    fn annotator_aliases() {
        let p: Unpaired =
            serde_json::from_str(r#"{"completion":"x","label":true,"annotator":"u7"}"#).unwrap();
        assert_eq!(p.ann.user_id.as_deref(), Some("u7"));
    }

    /// Issue 11: [`Text`] is an untagged enum, but a bad text in any field of any shape
    /// says which field and what a text may be, never "data did not match any variant
    /// of untagged enum Text". Read the way users' files are, through [`crate::Dataset`].
    #[test]
    fn a_bad_text_names_the_field_and_what_it_accepts() {
        const TEXT: &str = "expected a string or a list of {role, content} messages";
        const MESSAGE: &str = "expected a {role, content} message";
        let cases = [
            (
                r#"{"prompt":5,"chosen":"a","rejected":"b"}"#,
                "field `prompt`: invalid type: integer `5`",
                TEXT,
            ),
            (
                r#"{"prompt":"q","chosen":{"role":"user"},"rejected":"b"}"#,
                "field `chosen`: invalid type: map",
                TEXT,
            ),
            (
                r#"{"prompt":"q","chosen":"a","rejected":[1]}"#,
                "field `rejected[0]`: invalid type: integer `1`",
                MESSAGE,
            ),
            (
                r#"{"prompt":"q","chosen":[{"role":7,"content":"x"}],"rejected":"b"}"#,
                "field `chosen[0].role`: invalid type: integer `7`",
                "expected a string",
            ),
            (
                r#"{"prompt":"q","chosen":[{"role":"user"}],"rejected":"b"}"#,
                "field `chosen[0].content`: missing",
                "",
            ),
            (
                r#"{"prompt":"q","completion":null,"label":true}"#,
                "field `completion`: invalid type: null",
                TEXT,
            ),
            (
                r#"{"prompt":"q","responses":["a",false]}"#,
                "field `responses[1]`: invalid type: boolean `false`",
                TEXT,
            ),
            (
                r#"{"prompt":"q","response":3,"scores":{"h":1}}"#,
                "field `response`: invalid type: integer `3`",
                TEXT,
            ),
            (
                r#"{"prompt":{"x":1},"completions":["a"],"labels":[true]}"#,
                "field `prompt`: invalid type: map",
                TEXT,
            ),
            (
                r#"{"prompt":7,"models":["a","b"],"ranking":[1,2]}"#,
                "field `prompt`: invalid type: integer `7`",
                TEXT,
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, (line, field, accepts)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("t{i}.jsonl"));
            std::fs::write(&path, format!("{line}\n")).unwrap();
            let err = crate::Dataset::open(&path, &crate::OpenOptions::default())
                .unwrap()
                .find_map(|r| r.err())
                .unwrap_or_else(|| panic!("{line} was accepted"))
                .to_string();
            assert!(
                err.contains(&format!("t{i}.jsonl:1: {field}")),
                "{line}: {err}"
            );
            assert!(err.contains(accepts), "{line}: {err}");
            assert!(!err.contains("untagged"), "{line}: {err}");
        }
    }

    #[test]
    fn shape_detection() {
        let keys = ["prompt", "chosen", "rejected"];
        assert_eq!(Shape::detect(|f| keys.contains(&f)), Some(Shape::Pair));
        let keys = ["model_a", "model_b", "winner", "judge"];
        assert_eq!(Shape::detect(|f| keys.contains(&f)), Some(Shape::Battle));
        assert_eq!(Shape::detect(|_| false), None);
    }
}

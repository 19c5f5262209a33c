//! Records to token ids: pairs for the DPO family, labelled completions for KTO,
//! completions for SFT; and the seeded order in which a run visits them.
//!
//! A prompt and its completions are tokenized as TRL 1.x does
//! ([`Encoder::prompt_and_completions`]): the prompt alone and the prompt + completion
//! whole, the completion being what follows their common prefix (BOS from the tokenizer,
//! EOS appended once to plain-text completions). Pairs without a prompt
//! (hh-rlhf transcripts) are split at their last shared turn marker first
//! ([`prefer_data::convert::explicit_prompt`]). Conversational records are rendered with
//! the chat template when the tokenizer has one.

use std::path::Path;

use prefer_data::convert::{RankPairs, explicit_prompt, pair_to_unpaired, ranking_to_pairs};
use prefer_data::{Dataset, OpenOptions, Pair, Record, Text, Unpaired};
use prefer_nn::logprobs::{PairIds, SeqIds};
use prefer_nn::tokenizer::{ChatMessage, Tokenizer};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::config::{DataSection, LongPrompts};
use crate::reward::common_prefix_length;
use crate::{Error, Result};

/// One preference pair as token ids, with its optional preference strength (the
/// `soft_preference` loss reads it).
#[derive(Debug, Clone, PartialEq)]
pub struct PairExample {
    /// Prompt, chosen and rejected ids.
    pub ids: PairIds,
    /// P(chosen ≻ rejected) from the record's `strength` (default none: a hard label).
    pub strength: Option<f64>,
}

/// One labelled completion (KTO), with the mismatched completion that estimates KTO's KL
/// term: the completion of the next example in file order, after this prompt (TRL shifts
/// completions by one in the same way).
#[derive(Debug, Clone, PartialEq)]
pub struct UnpairedExample {
    /// Prompt and completion ids.
    pub seq: SeqIds,
    /// Desirable (true) or undesirable.
    pub label: bool,
    /// This prompt with another example's completion.
    pub kl_seq: SeqIds,
}

/// One ranked list (PRO): K completions of one prompt, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedExample {
    /// Prompt ids.
    pub prompt: Vec<u32>,
    /// Completion ids, best first.
    pub responses: Vec<Vec<u32>>,
    /// External scores of the responses, non-increasing (PRO's `reward_gap` temperature):
    /// the record's `scores` field when present, else none.
    pub rewards: Option<Vec<f64>>,
}

/// One prompt of an online run: its ids and its text (what reward sources read).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptExample {
    /// Prompt ids (BOS included; a chat prompt ends with the generation prompt).
    pub ids: Vec<u32>,
    /// The prompt as text (a conversation flattened).
    pub text: String,
    /// Whether it was cut to `batch.max_prompt_length` (`data.long_prompts = "truncate"`).
    pub truncated: bool,
}

/// `ids` cut to `max` tokens: BOS (when `ids` starts with `bos`) and the last tokens, as
/// TRL truncates prompts from the left.
pub fn cut_prompt(ids: &[u32], max: usize, bos: Option<u32>) -> Vec<u32> {
    if ids.len() <= max {
        return ids.to_vec();
    }
    let head = usize::from(bos.is_some() && ids.first() == bos.as_ref() && max > 1);
    let mut out = ids[..head].to_vec();
    out.extend_from_slice(&ids[ids.len() - (max - head)..]);
    out
}

/// The tokenized examples of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Examples {
    /// Prompts alone (online objectives generate the completions).
    Prompts(Vec<PromptExample>),
    /// Prompt + completion (SFT).
    Seqs(Vec<SeqIds>),
    /// Preference pairs.
    Pairs(Vec<PairExample>),
    /// Labelled completions.
    Unpaired(Vec<UnpairedExample>),
    /// Ranked lists.
    Ranked(Vec<RankedExample>),
}

impl Examples {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Examples::Prompts(v) => v.len(),
            Examples::Seqs(v) => v.len(),
            Examples::Pairs(v) => v.len(),
            Examples::Unpaired(v) => v.len(),
            Examples::Ranked(v) => v.len(),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The prompts, when these are prompts.
    pub fn as_prompts(&self) -> Option<&[PromptExample]> {
        if let Examples::Prompts(v) = self {
            Some(v)
        } else {
            None
        }
    }

    /// The sequences, when these are prompt + completion examples.
    pub fn as_seqs(&self) -> Option<&[SeqIds]> {
        if let Examples::Seqs(v) = self {
            Some(v)
        } else {
            None
        }
    }

    /// The pairs, when these are pairs.
    pub fn as_pairs(&self) -> Option<&[PairExample]> {
        if let Examples::Pairs(v) = self {
            Some(v)
        } else {
            None
        }
    }

    /// The labelled completions, when these are unpaired.
    pub fn as_unpaired(&self) -> Option<&[UnpairedExample]> {
        if let Examples::Unpaired(v) = self {
            Some(v)
        } else {
            None
        }
    }

    /// The ranked lists, when these are rankings.
    pub fn as_ranked(&self) -> Option<&[RankedExample]> {
        if let Examples::Ranked(v) = self {
            Some(v)
        } else {
            None
        }
    }

    /// The first `n` examples.
    pub fn truncate(&mut self, n: usize) {
        match self {
            Examples::Prompts(v) => v.truncate(n),
            Examples::Seqs(v) => v.truncate(n),
            Examples::Pairs(v) => v.truncate(n),
            Examples::Unpaired(v) => {
                v.truncate(n);
                relink_kl(v);
            }
            Examples::Ranked(v) => v.truncate(n),
        }
    }

    /// All token ids with separators, for fingerprints.
    pub fn fingerprint_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut push = |xs: &[u32]| {
            out.extend((xs.len() as u32).to_le_bytes());
            for x in xs {
                out.extend(x.to_le_bytes());
            }
        };
        match self {
            Examples::Prompts(v) => v.iter().for_each(|p| push(&p.ids)),
            Examples::Seqs(v) => v.iter().for_each(|s| {
                push(&s.prompt);
                push(&s.completion);
            }),
            Examples::Pairs(v) => v.iter().for_each(|p| {
                push(&p.ids.prompt);
                push(&p.ids.chosen);
                push(&p.ids.rejected);
            }),
            Examples::Unpaired(v) => v.iter().for_each(|u| {
                push(&u.seq.prompt);
                push(&u.seq.completion);
                push(&[u32::from(u.label)]);
                push(&u.kl_seq.completion);
            }),
            Examples::Ranked(v) => v.iter().for_each(|r| {
                push(&r.prompt);
                r.responses.iter().for_each(|c| push(c));
            }),
        }
        out
    }
}

/// Re-links each KL completion to the next example's completion (cyclically).
fn relink_kl(v: &mut [UnpairedExample]) {
    let n = v.len();
    let comps: Vec<Vec<u32>> = v.iter().map(|u| u.seq.completion.clone()).collect();
    for (i, u) in v.iter_mut().enumerate() {
        u.kl_seq = SeqIds {
            prompt: u.seq.prompt.clone(),
            completion: comps[(i + 1) % n].clone(),
        };
    }
}

/// Which examples an objective trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Prompts alone (online objectives).
    Prompts,
    /// Prompt + completion.
    Seqs,
    /// Pairs.
    Pairs,
    /// Labelled completions.
    Unpaired,
    /// Ranked lists (pairs are lists of two).
    Ranked,
}

/// Turns records into token ids.
#[derive(Debug, Clone)]
pub struct Encoder {
    tok: Tokenizer,
    marker: String,
    chat_template: bool,
    long_prompts: crate::config::LongPrompts,
    /// Online prompts' limit and the BOS a cut keeps (see [`Encoder::with_prompt_limit`]).
    prompt_limit: Option<(usize, Option<u32>)>,
}

impl Encoder {
    /// An encoder with `tok`, splitting implicit prompts at `cfg.prompt_marker`.
    pub fn new(tok: Tokenizer, cfg: &DataSection) -> Self {
        Encoder {
            tok,
            marker: cfg.prompt_marker.clone(),
            chat_template: cfg.chat_template,
            long_prompts: cfg.long_prompts,
            prompt_limit: None,
        }
    }

    /// An online prompt within the limit, whether it was cut, or why it is rejected.
    fn limit(&self, ids: Vec<u32>) -> std::result::Result<(Vec<u32>, bool), String> {
        match self.prompt_limit {
            Some((max, _)) if ids.len() > max && self.long_prompts == LongPrompts::Reject => {
                Err(format!(
                    "prompt has {} tokens, more than batch.max_prompt_length = {max}",
                    ids.len()
                ))
            }
            Some((max, bos)) if ids.len() > max => Ok((cut_prompt(&ids, max, bos), true)),
            _ => Ok((ids, false)),
        }
    }

    /// Online prompts longer than `max` tokens are cut (keeping `bos`) or rejected, as
    /// `data.long_prompts` says.
    pub fn with_prompt_limit(mut self, max: Option<usize>, bos: Option<u32>) -> Self {
        self.prompt_limit = max.map(|m| (m, bos));
        self
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tok
    }

    fn chat_text(msgs: &[prefer_data::Message]) -> String {
        msgs.iter()
            .map(|m| {
                let mut role = m.role.clone();
                if let Some(c) = role.get_mut(0..1) {
                    c.make_ascii_uppercase();
                }
                format!("\n\n{role}: {}", m.content)
            })
            .collect()
    }

    /// The chat messages of a conversational record, or `None` for plain text or when
    /// the tokenizer has no chat template (then turns are written as `\n\nRole: content`).
    fn templated(&self, t: &Text) -> Option<Vec<ChatMessage>> {
        match t {
            Text::Chat(m) if self.chat_template && self.tok.chat_template().is_some() => Some(
                m.iter()
                    .map(|m| ChatMessage::new(&m.role, &m.content))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// A prompt as plain text (a conversation without a template: `\n\nRole: content`
    /// turns, ending with `\n\nAssistant:`).
    fn prompt_text(t: &Text) -> String {
        match t {
            Text::Plain(s) => s.clone(),
            Text::Chat(m) => format!("{}\n\nAssistant:", Self::chat_text(m)),
        }
    }

    /// A completion as plain text (the turns' contents, after a space).
    fn completion_text(t: &Text) -> String {
        match t {
            Text::Plain(s) => s.clone(),
            Text::Chat(m) => {
                let text = m
                    .iter()
                    .map(|m| m.content.as_str())
                    .collect::<Vec<_>>()
                    .join("\n\n");
                format!(" {text}")
            }
        }
    }

    /// Prompt ids alone (special tokens added; a chat prompt ends with the generation
    /// prompt).
    pub fn prompt(&self, t: Option<&Text>) -> Result<Vec<u32>> {
        match t {
            None => Ok(self.tok.bos_id().map(|b| vec![b]).unwrap_or_default()),
            Some(t) => match self.templated(t) {
                Some(msgs) => Ok(self.tok.encode_chat(&msgs, true)?),
                None => Ok(self.tok.encode(&Self::prompt_text(t), true)?),
            },
        }
    }

    /// A prompt and its completions as TRL 1.x tokenizes them: the prompt alone and each
    /// prompt + completion are tokenized whole (plain text: with the tokenizer's special
    /// tokens, and EOS appended to the completion unless it ends with one; conversations:
    /// rendered with the chat template, which writes its own special tokens), and the
    /// completion is what follows the longest prefix that the tokenized prompt shares with
    /// every tokenized prompt + completion (TRL's `common_prefix_length`).
    ///
    /// Tokenizing a completion on its own instead would differ wherever the tokenizer is
    /// not additive at the boundary: a sentencepiece tokenizer (Llama 2, Mistral,
    /// stories260K) prepends `▁` to every text it encodes, and words split differently
    /// across the join. Where the tokenizer is additive (byte-level BPE), both give the
    /// same ids, so nothing is special-cased by tokenizer name.
    pub fn prompt_and_completions(
        &self,
        prompt: Option<&Text>,
        completions: &[&Text],
    ) -> Result<(Vec<u32>, Vec<Vec<u32>>)> {
        let prompt_ids = self.prompt(prompt)?;
        let chat_prompt = prompt.and_then(|p| self.templated(p));
        let eos = self.tok.eos_id();
        let mut full = Vec::with_capacity(completions.len());
        for c in completions {
            let ids = match (&chat_prompt, self.templated(c)) {
                (Some(p), Some(cm)) => {
                    let mut msgs = p.clone();
                    msgs.extend(cm);
                    self.tok.encode_chat(&msgs, false)?
                }
                (Some(p), None) => {
                    let text = self.tok.apply_chat_template(p, true)?;
                    self.plain_with_eos(&format!("{text}{}", Self::completion_text(c)), false, eos)?
                }
                (None, _) => {
                    let text = match prompt {
                        Some(p) => Self::prompt_text(p),
                        None => String::new(),
                    };
                    self.plain_with_eos(&format!("{text}{}", Self::completion_text(c)), true, eos)?
                }
            };
            full.push(ids);
        }
        let keep = full
            .iter()
            .map(|f| common_prefix_length(&prompt_ids, f))
            .min()
            .unwrap_or(prompt_ids.len());
        let completions = full.into_iter().map(|f| f[keep..].to_vec()).collect();
        let mut prompt_ids = prompt_ids;
        prompt_ids.truncate(keep);
        Ok((prompt_ids, completions))
    }

    /// Plain text to ids, with `eos` appended unless the ids end with it (TRL appends the
    /// EOS text to plain completions).
    fn plain_with_eos(&self, text: &str, special: bool, eos: Option<u32>) -> Result<Vec<u32>> {
        let mut ids = self.tok.encode(text, special)?;
        if let Some(e) = eos
            && ids.last() != Some(&e)
        {
            ids.push(e);
        }
        Ok(ids)
    }

    /// A pair's ids (its implicit prompt split off first), tokenized as
    /// [`prompt_and_completions`](Self::prompt_and_completions) does.
    pub fn pair(&self, p: Pair) -> std::result::Result<PairExample, String> {
        let p = explicit_prompt(p, &self.marker)?;
        let strength = p.ann.strength;
        let (prompt, mut c) = self
            .prompt_and_completions(p.prompt.as_ref(), &[&p.chosen, &p.rejected])
            .map_err(|e| e.to_string())?;
        let rejected = c.pop().unwrap_or_default();
        let chosen = c.pop().unwrap_or_default();
        Ok(PairExample {
            ids: PairIds {
                prompt,
                chosen,
                rejected,
            },
            strength,
        })
    }

    /// One prompt and one completion.
    fn seq(&self, prompt: Option<&Text>, completion: &Text) -> Result<SeqIds> {
        let (prompt, mut c) = self.prompt_and_completions(prompt, &[completion])?;
        Ok(SeqIds {
            prompt,
            completion: c.pop().unwrap_or_default(),
        })
    }

    fn unpaired(&self, u: &Unpaired) -> Result<(SeqIds, bool)> {
        Ok((self.seq(u.prompt.as_ref(), &u.completion)?, u.label))
    }

    /// Reads and tokenizes a data file for `want`. Records of another usable shape are
    /// converted (pairs → two labelled completions for KTO; pairs → chosen completions
    /// and unpaired → desirable completions for SFT; rankings → all implied pairs). Errors
    /// name the file and the record.
    pub fn load(&self, path: &Path, want: Want, max: Option<usize>) -> Result<Examples> {
        Ok(self.load_lenient(path, want, max, false)?.0)
    }

    /// As [`load`](Self::load); with `skip_invalid`, a record that cannot be read or
    /// converted (a transcript whose chosen and rejected share no turn, an empty
    /// completion) is left out and its error returned beside the examples.
    pub fn load_lenient(
        &self,
        path: &Path,
        want: Want,
        max: Option<usize>,
        skip_invalid: bool,
    ) -> Result<(Examples, Vec<String>)> {
        if want == Want::Prompts {
            return self.load_prompts(path, max, skip_invalid);
        }
        let mut skipped = Vec::new();
        let mut seqs = Vec::new();
        let mut pairs = Vec::new();
        let mut unpaired: Vec<(SeqIds, bool)> = Vec::new();
        let mut ranked: Vec<RankedExample> = Vec::new();
        let full = |n: usize| max.is_some_and(|m| n >= m);
        for item in Dataset::open(path, &OpenOptions::default())? {
            let item = match item {
                Ok(i) => i,
                Err(prefer_data::Error::Record(e)) if skip_invalid => {
                    skipped.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let loc = item.loc.to_string();
            let rec_err = |e: String| Error::Record(format!("{loc}: {e}"));
            let mut recs: Vec<Pair> = Vec::new();
            let mut ups: Vec<Unpaired> = Vec::new();
            match item.record {
                Record::Ranking(r) if want == Want::Ranked => {
                    let scores = r.ann.extra.get("scores").and_then(|v| {
                        v.as_array()?
                            .iter()
                            .map(|x| x.as_f64())
                            .collect::<Option<Vec<f64>>>()
                    });
                    if r.responses.len() < 2
                        || scores
                            .as_ref()
                            .is_some_and(|s| s.len() != r.responses.len())
                    {
                        let e = format!(
                            "a ranking needs ≥ 2 responses (and one score each), has {}",
                            r.responses.len()
                        );
                        if skip_invalid {
                            skipped.push(format!("{loc}: {e}"));
                            continue;
                        }
                        return Err(rec_err(e));
                    }
                    let refs: Vec<&Text> = r.responses.iter().collect();
                    let (prompt, responses) =
                        self.prompt_and_completions(r.prompt.as_ref(), &refs)?;
                    ranked.push(RankedExample {
                        prompt,
                        responses,
                        rewards: scores,
                    });
                }
                Record::Pair(p) if want == Want::Ranked => match self.pair(p) {
                    Ok(x) => ranked.push(RankedExample {
                        prompt: x.ids.prompt,
                        responses: vec![x.ids.chosen, x.ids.rejected],
                        rewards: None,
                    }),
                    Err(e) if skip_invalid => skipped.push(format!("{loc}: {e}")),
                    Err(e) => return Err(rec_err(e)),
                },
                Record::Pair(p) => recs.push(p),
                Record::Ranking(r) => recs.extend(ranking_to_pairs(&r, RankPairs::All)),
                Record::Unpaired(u) => ups.push(u),
                other => {
                    return Err(rec_err(format!(
                        "a {} record; training reads pairs, rankings or unpaired labels",
                        other.shape().name()
                    )));
                }
            }
            for p in recs {
                match want {
                    Want::Ranked | Want::Prompts => {}
                    Want::Pairs => {
                        if full(pairs.len()) {
                            break;
                        }
                        match self.pair(p) {
                            Ok(x) => pairs.push(x),
                            Err(e) if skip_invalid => skipped.push(format!("{loc}: {e}")),
                            Err(e) => return Err(rec_err(e)),
                        }
                    }
                    Want::Unpaired => match explicit_prompt(p, &self.marker) {
                        Ok(p) => ups.extend(pair_to_unpaired(&p)),
                        Err(e) if skip_invalid => skipped.push(format!("{loc}: {e}")),
                        Err(e) => return Err(rec_err(e)),
                    },
                    Want::Seqs => {
                        let p = match explicit_prompt(p, &self.marker) {
                            Ok(p) => p,
                            Err(e) if skip_invalid => {
                                skipped.push(format!("{loc}: {e}"));
                                continue;
                            }
                            Err(e) => return Err(rec_err(e)),
                        };
                        seqs.push(self.seq(p.prompt.as_ref(), &p.chosen)?);
                    }
                }
            }
            for u in ups {
                match want {
                    Want::Pairs | Want::Ranked | Want::Prompts => {
                        return Err(rec_err(
                            "an unpaired record; `dpo` and `pro` need pairs or rankings (use `kto`)".into(),
                        ));
                    }
                    Want::Unpaired => unpaired.push(self.unpaired(&u)?),
                    Want::Seqs => {
                        if u.label {
                            seqs.push(self.unpaired(&u)?.0);
                        }
                    }
                }
            }
            let n = match want {
                Want::Prompts => 0,
                Want::Seqs => seqs.len(),
                Want::Pairs => pairs.len(),
                Want::Unpaired => unpaired.len(),
                Want::Ranked => ranked.len(),
            };
            if full(n) {
                break;
            }
        }
        let mut out = match want {
            // Read by `load_prompts` above.
            Want::Prompts => Examples::Prompts(Vec::new()),
            Want::Ranked => Examples::Ranked(ranked),
            Want::Seqs => Examples::Seqs(seqs),
            Want::Pairs => Examples::Pairs(pairs),
            Want::Unpaired => Examples::Unpaired(
                unpaired
                    .into_iter()
                    .map(|(seq, label)| UnpairedExample {
                        kl_seq: seq.clone(),
                        seq,
                        label,
                    })
                    .collect(),
            ),
        };
        if let Some(m) = max {
            out.truncate(m);
        } else if let Examples::Unpaired(v) = &mut out {
            relink_kl(v);
        }
        if out.is_empty() {
            return Err(Error::Record(format!(
                "{}: no usable records{}",
                path.display(),
                skipped
                    .first()
                    .map_or(String::new(), |e| format!(" (first skipped: {e})"))
            )));
        }
        Ok((out, skipped))
    }
}

impl Encoder {
    /// The prompts of a JSON Lines file for an online objective: one record per line with
    /// a `prompt` field (text or a conversation; TRL's prompt-only format). Other fields
    /// are ignored. A line that is not JSON, lacks `prompt`, or has a blank one is an error
    /// naming the file and line, or with `skip_invalid` is left out and reported.
    pub fn load_prompts(
        &self,
        path: &Path,
        max: Option<usize>,
        skip_invalid: bool,
    ) -> Result<(Examples, Vec<String>)> {
        let text = std::fs::read_to_string(path).map_err(crate::error::io_err(path))?;
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if max.is_some_and(|m| out.len() >= m) {
                break;
            }
            if line.trim().is_empty() {
                continue;
            }
            let loc = format!("{}:{}", path.display(), i + 1);
            let parsed = serde_json::from_str::<serde_json::Value>(line)
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|v| {
                    let p = v
                        .get("prompt")
                        .ok_or_else(|| "field `prompt`: missing".to_string())?;
                    serde_json::from_value::<Text>(p.clone())
                        .map_err(|e| format!("field `prompt`: {e}"))
                })
                .and_then(|t| {
                    if t.is_blank() {
                        Err("field `prompt`: blank".to_string())
                    } else {
                        Ok(t)
                    }
                });
            // A tokenizer failure stops the load; a prompt over the limit is a record
            // problem like the others.
            let parsed = match parsed {
                Ok(t) => {
                    let ids = self.prompt(Some(&t))?;
                    self.limit(ids).map(|(ids, truncated)| (t, ids, truncated))
                }
                Err(e) => Err(e),
            };
            match parsed {
                Ok((t, ids, truncated)) => out.push(PromptExample {
                    ids,
                    text: t.flat(),
                    truncated,
                }),
                Err(e) if skip_invalid => skipped.push(format!("{loc}: {e}")),
                Err(e) => return Err(Error::Record(format!("{loc}: {e}"))),
            }
        }
        if out.is_empty() {
            return Err(Error::Record(format!(
                "{}: no prompts{}",
                path.display(),
                skipped
                    .first()
                    .map_or(String::new(), |e| format!(" (first skipped: {e})"))
            )));
        }
        Ok((Examples::Prompts(out), skipped))
    }
}

/// The order of examples in epoch `epoch`: a seeded permutation (ChaCha8 seeded with
/// `seed` and the epoch), or file order when `shuffle` is false. Resuming a run recomputes
/// it, so the data order needs no state beyond (seed, epoch, position).
pub fn epoch_order(n: usize, seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if shuffle {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
            seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        idx.shuffle(&mut rng);
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_orders_are_permutations_and_reproducible() {
        let a = epoch_order(50, 3, 0, true);
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(50, 3, 0, true));
        assert_ne!(a, epoch_order(50, 3, 1, true));
        assert_eq!(epoch_order(4, 3, 0, false), vec![0, 1, 2, 3]);
    }
}

//! A sentence encoder as sentence-transformers runs one: tokenizer → BERT → pooling →
//! L2 normalization (all-MiniLM-L6-v2: mean pooling, normalized, 256 tokens).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::bert::{Bert, BertConfig, l2_normalize, mean_pool};
use super::fingerprint::Hasher;
use crate::{Error, Result};

/// One batch's index and its embeddings, as a worker returns them.
type BatchRows = (usize, Vec<Vec<f32>>);

/// How token states become one vector (sentence-transformers' `Pooling` modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean over real tokens (`pooling_mode_mean_tokens`).
    Mean,
    /// The first token (`pooling_mode_cls_token`).
    Cls,
}

/// Dense embeddings, one row per text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Embeddings {
    /// Length of each row.
    pub dim: usize,
    /// Row-major values, `len = rows · dim`.
    pub data: Vec<f32>,
}

impl Embeddings {
    /// An empty set of rows of width `dim`.
    pub fn new(dim: usize) -> Self {
        Embeddings {
            dim,
            data: Vec::new(),
        }
    }

    /// Rows from vectors (all of the same length).
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self> {
        let dim = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * dim);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != dim {
                return Err(Error::Invalid(format!(
                    "embedding row {i} has {} values, row 0 has {dim}",
                    r.len()
                )));
            }
            data.extend_from_slice(r);
        }
        Ok(Embeddings { dim, data })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Appends a row (its length must be `dim`).
    pub fn push(&mut self, row: &[f32]) -> Result<()> {
        if row.len() != self.dim {
            return Err(Error::Invalid(format!(
                "embedding of {} values pushed into rows of {}",
                row.len(),
                self.dim
            )));
        }
        self.data.extend_from_slice(row);
        Ok(())
    }

    /// The rows as a `[rows, dim]` f32 tensor.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.data,
            (self.len(), self.dim),
            device,
        )?)
    }
}

/// Options of [`SentenceEncoder::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncodeOptions {
    /// Most texts per forward (default 32, sentence-transformers' default).
    pub batch_size: usize,
    /// Most padded tokens per forward (default 2048): long texts go in smaller batches, so
    /// the activations of one forward stay a few MB and their memory is reused instead of
    /// being mapped and zeroed by the OS anew for every operation.
    pub max_batch_tokens: usize,
    /// Worker threads, each encoding whole batches (default 1). Run them with
    /// `CANDLE_NUM_THREADS=1` so each batch's matmuls stay on one core.
    pub threads: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            batch_size: 32,
            max_batch_tokens: 2048,
            threads: 1,
        }
    }
}

/// A frozen sentence encoder: a BERT and its tokenizer, pooling and normalization.
///
/// # Quickstart
/// ```no_run
/// use prefer_nn::encoder::{EncodeOptions, SentenceEncoder};
/// let enc = SentenceEncoder::load("path/to/all-MiniLM-L6-v2".as_ref())?;
/// let e = enc.encode(&["A man is eating food.", "A cat sleeps."], &EncodeOptions::default())?;
/// assert_eq!((e.len(), e.dim), (2, 384));
/// # Ok::<(), prefer_nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SentenceEncoder {
    name: String,
    bert: Bert,
    tokenizer: tokenizers::Tokenizer,
    max_seq_length: usize,
    pooling: Pooling,
    normalize: bool,
    fingerprint: String,
    source: Option<PathBuf>,
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::File(format!("{}: {e}", path.display())))
}

impl SentenceEncoder {
    /// Loads a sentence-transformers folder: `config.json`, `model.safetensors`,
    /// `tokenizer.json`, and when present `sentence_bert_config.json` (`max_seq_length`),
    /// `1_Pooling/config.json` (pooling mode) and `modules.json` (a `Normalize` module).
    /// Without them: mean pooling, 512 tokens, no normalization (a plain BERT folder).
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::File(format!(
                "{}: no such folder (fetch all-MiniLM-L6-v2 with scripts/fetch_minilm.sh)",
                dir.display()
            )));
        }
        let bert = Bert::load(dir)?;
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = tokenizers::Tokenizer::from_file(&tok_path)
            .map_err(|e| Error::File(format!("{}: {e}", tok_path.display())))?;
        let sb = dir.join("sentence_bert_config.json");
        let mut max_seq_length = bert.config().max_position_embeddings;
        if sb.exists()
            && let Some(m) = read_json(&sb)?
                .get("max_seq_length")
                .and_then(serde_json::Value::as_u64)
        {
            max_seq_length = m as usize;
        }
        let mut pooling = Pooling::Mean;
        let pool_cfg = dir.join("1_Pooling").join("config.json");
        if pool_cfg.exists() {
            let v = read_json(&pool_cfg)?;
            let on = |k: &str| v.get(k).and_then(serde_json::Value::as_bool) == Some(true);
            pooling = if on("pooling_mode_mean_tokens") {
                Pooling::Mean
            } else if on("pooling_mode_cls_token") {
                Pooling::Cls
            } else {
                return Err(Error::File(format!(
                    "{}: only mean and CLS pooling are supported",
                    pool_cfg.display()
                )));
            };
        }
        let mut normalize = false;
        let modules = dir.join("modules.json");
        if modules.exists() {
            let v = read_json(&modules)?;
            normalize = v.as_array().is_some_and(|mods| {
                mods.iter().any(|m| {
                    m.get("type")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|t| t.ends_with("Normalize"))
                })
            });
        }
        // The fingerprint covers everything that changes an embedding: weights,
        // configuration, vocabulary, and the pipeline settings.
        let mut h = Hasher::new();
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            let p = dir.join(f);
            h.file(&p)?;
        }
        h.bytes(format!("{pooling:?}/{normalize}/{max_seq_length}").as_bytes());
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "encoder".into());
        let mut enc = Self::from_parts(name, bert, tokenizer, max_seq_length, pooling, normalize)?;
        enc.fingerprint = h.hex();
        enc.source = Some(dir.to_path_buf());
        Ok(enc)
    }

    /// Assembles an encoder from its parts (the fingerprint then covers the weights and
    /// the tokenizer's serialized form).
    pub fn from_parts(
        name: String,
        bert: Bert,
        tokenizer: tokenizers::Tokenizer,
        max_seq_length: usize,
        pooling: Pooling,
        normalize: bool,
    ) -> Result<Self> {
        if max_seq_length == 0 || max_seq_length > bert.config().max_position_embeddings {
            return Err(Error::Config(format!(
                "max_seq_length {max_seq_length} must be in 1..={}",
                bert.config().max_position_embeddings
            )));
        }
        let mut tokenizer = tokenizer;
        // sentence-transformers truncates to max_seq_length and pads per batch; the
        // tokenizer.json of all-MiniLM-L6-v2 pads and truncates to 128, so both are reset.
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_seq_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Config(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(None);
        let mut h = Hasher::new();
        h.bytes(format!("{:?}", bert.config()).as_bytes());
        let t = tokenizer
            .to_string(false)
            .map_err(|e| Error::Config(format!("tokenizer: {e}")))?;
        h.bytes(t.as_bytes());
        h.bytes(format!("{pooling:?}/{normalize}/{max_seq_length}").as_bytes());
        let probe = Tensor::new(
            &[[1u32.min(bert.config().vocab_size as u32 - 1)]],
            bert.device(),
        )?;
        let probe_h = bert.forward(&probe, None, &Tensor::new(&[[1u8]], bert.device())?)?;
        for v in probe_h.flatten_all()?.to_vec1::<f32>()? {
            h.bytes(&v.to_le_bytes());
        }
        Ok(SentenceEncoder {
            name,
            bert,
            tokenizer,
            max_seq_length,
            pooling,
            normalize,
            fingerprint: h.hex(),
            source: None,
        })
    }

    /// A tiny random BERT (hidden 32, 2 layers) with a character-level WordPiece
    /// vocabulary: runs on any machine without a download. Its embeddings are random
    /// features of the characters of a text, not meaning; the demo uses it only when
    /// all-MiniLM-L6-v2 is absent, and says so.
    pub fn tiny_random(seed: u64) -> Result<Self> {
        let tokenizer = char_wordpiece_tokenizer()?;
        let vocab = tokenizer.get_vocab_size(true);
        let bert = Bert::random(&BertConfig::tiny(vocab), seed)?;
        Self::from_parts(
            format!("tiny-random-bert-{seed}"),
            bert,
            tokenizer,
            128,
            Pooling::Mean,
            true,
        )
    }

    /// A short name (the folder's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it was loaded from.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// A hex digest of the weights, vocabulary and pipeline settings: two encoders give
    /// the same embeddings only if their fingerprints are equal.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Width of the embeddings.
    pub fn dim(&self) -> usize {
        self.bert.config().hidden_size
    }

    /// Longest input in tokens (longer texts are truncated, keeping the start).
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// The BERT.
    pub fn bert(&self) -> &Bert {
        &self.bert
    }

    /// Token ids of a text as the encoder sees it (stripped, special tokens added,
    /// truncated).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text.trim(), true)
            .map_err(|e| Error::Invalid(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Embeds texts, in input order. Texts are sorted by token count and batched, so
    /// padding is small (as sentence-transformers does); each text's embedding does not
    /// depend on its batch.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S], opts: &EncodeOptions) -> Result<Embeddings> {
        let dim = self.dim();
        let mut out = Embeddings {
            dim,
            data: vec![0.0; texts.len() * dim],
        };
        if texts.is_empty() {
            return Ok(out);
        }
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.tokenize(t.as_ref()))
            .collect::<Result<_>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let bs = opts.batch_size.max(1);
        // Batches of texts sorted by length (longest first): at most `bs` texts and
        // `max_batch_tokens` padded tokens each (at least one text).
        let mut chunks: Vec<&[usize]> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let t = ids[order[start]].len().max(1);
            let fit = (opts.max_batch_tokens / t).clamp(1, bs);
            let end = (start + fit).min(order.len());
            chunks.push(&order[start..end]);
            start = end;
        }
        let run = |chunk: &[usize]| -> Result<Vec<Vec<f32>>> {
            let t = chunk
                .iter()
                .map(|&i| ids[i].len())
                .max()
                .unwrap_or(1)
                .max(1);
            let b = chunk.len();
            let mut flat = vec![0u32; b * t];
            let mut mask = vec![0u8; b * t];
            for (r, &i) in chunk.iter().enumerate() {
                for (j, &tok) in ids[i].iter().enumerate() {
                    flat[r * t + j] = tok;
                    mask[r * t + j] = 1;
                }
            }
            let dev = self.bert.device();
            let ids_t = Tensor::from_vec(flat, (b, t), dev)?;
            let mask_t = Tensor::from_vec(mask, (b, t), dev)?;
            let h = self.bert.forward(&ids_t, None, &mask_t)?;
            let pooled = match self.pooling {
                Pooling::Mean => mean_pool(&h, &mask_t)?,
                Pooling::Cls => h.narrow(1, 0, 1)?.squeeze(1)?,
            };
            let pooled = if self.normalize {
                l2_normalize(&pooled)?
            } else {
                pooled
            };
            Ok(pooled.to_vec2::<f32>()?)
        };
        let threads = opts.threads.max(1).min(chunks.len());
        let results: Vec<(usize, Vec<Vec<f32>>)> = if threads <= 1 {
            chunks
                .iter()
                .enumerate()
                .map(|(k, c)| Ok((k, run(c)?)))
                .collect::<Result<_>>()?
        } else {
            // Data parallel: each worker takes the next batch (longest first), so the
            // matmuls stay single-threaded and no core waits on another.
            let next = std::sync::atomic::AtomicUsize::new(0);
            let parts: Vec<Result<Vec<BatchRows>>> = std::thread::scope(|sc| {
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        sc.spawn(|| -> Result<Vec<BatchRows>> {
                            let mut mine = Vec::new();
                            loop {
                                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(c) = chunks.get(k) else { break };
                                mine.push((k, run(c)?));
                            }
                            Ok(mine)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::Invalid("an encoder thread panicked".into()))
                        })
                    })
                    .collect()
            });
            let mut all = Vec::new();
            for p in parts {
                all.extend(p?);
            }
            all
        };
        for (k, rows) in results {
            for (r, &i) in chunks[k].iter().enumerate() {
                out.data[i * dim..(i + 1) * dim].copy_from_slice(&rows[r]);
            }
        }
        Ok(out)
    }
}

/// A BERT-style tokenizer whose WordPiece vocabulary is single characters (ASCII letters
/// and digits, punctuation, each also as a `##` continuation): every text tokenizes
/// without unknown words.
fn char_wordpiece_tokenizer() -> Result<tokenizers::Tokenizer> {
    let mut vocab = serde_json::Map::new();
    let mut add = |s: String| {
        let id = vocab.len();
        vocab.insert(s, id.into());
    };
    for s in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] {
        add(s.to_string());
    }
    let chars: Vec<char> = ('a'..='z')
        .chain('0'..='9')
        .chain("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".chars())
        .collect();
    for c in &chars {
        add(c.to_string());
    }
    for c in &chars {
        add(format!("##{c}"));
    }
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [
            {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 4, "content": "[MASK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
        ],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab}
    });
    let s = json.to_string();
    s.parse::<tokenizers::Tokenizer>()
        .map_err(|e| Error::Config(format!("character tokenizer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f32 rounding when the same text runs in batches of different padded lengths.
    const BATCH_TOL: f32 = 1e-5;

    #[test]
    fn tiny_encoder_is_batch_invariant_and_normalized() -> Result<()> {
        let enc = SentenceEncoder::tiny_random(1)?;
        let texts = [
            "Hello there!",
            "a much longer sentence, with commas; and more words",
            "x",
        ];
        let all = enc.encode(
            &texts,
            &EncodeOptions {
                batch_size: 3,
                ..Default::default()
            },
        )?;
        let ones = enc.encode(
            &texts,
            &EncodeOptions {
                batch_size: 1,
                ..Default::default()
            },
        )?;
        assert_eq!(all.len(), 3);
        for i in 0..3 {
            let n: f32 = all.row(i).iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-5);
            for (a, b) in all.row(i).iter().zip(ones.row(i)) {
                assert!((a - b).abs() < BATCH_TOL);
            }
        }
        // Different texts, different embeddings; same seed, same fingerprint.
        assert!(all.row(0) != all.row(1));
        assert_eq!(
            enc.fingerprint(),
            SentenceEncoder::tiny_random(1)?.fingerprint()
        );
        assert_ne!(
            enc.fingerprint(),
            SentenceEncoder::tiny_random(2)?.fingerprint()
        );
        // Leading/trailing whitespace is stripped, as sentence-transformers does.
        assert_eq!(enc.tokenize("  Hi ")?, enc.tokenize("Hi")?);
        Ok(())
    }

    /// Unit-norm f32 embeddings after 6 layers: PyTorch (MKL) and candle (gemm) sum in
    /// different orders; observed worst case 2.7e-7.
    const PARITY_TOL: f32 = 2e-5;

    #[test]
    fn minilm_matches_sentence_transformers() -> Result<()> {
        let dir = crate::encoder::default_minilm_dir();
        if !dir.join("model.safetensors").exists() {
            println!(
                "skipped: {} absent (scripts/fetch_minilm.sh)",
                dir.display()
            );
            return Ok(());
        }
        let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/minilm/minilm.json");
        let v = read_json(&fx)?;
        let enc = SentenceEncoder::load(&dir)?;
        assert_eq!(
            enc.max_seq_length() as u64,
            v["max_seq_length"].as_u64().unwrap_or(0)
        );
        let cases = v["cases"].as_array().cloned().unwrap_or_default();
        assert!(cases.len() >= 8);
        let texts: Vec<String> = cases
            .iter()
            .map(|c| c["text"].as_str().unwrap_or_default().to_string())
            .collect();
        let got = enc.encode(
            &texts,
            &EncodeOptions {
                batch_size: 3,
                max_batch_tokens: 300,
                threads: 2,
            },
        )?;
        let mut worst = 0f32;
        for (i, c) in cases.iter().enumerate() {
            let ids: Vec<u32> = c["input_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_u64())
                        .map(|x| x as u32)
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(enc.tokenize(&texts[i])?, ids, "token ids of case {i}");
            let want: Vec<f32> = c["embedding"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_f64())
                        .map(|x| x as f32)
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(want.len(), 384);
            for (a, b) in got.row(i).iter().zip(&want) {
                worst = worst.max((a - b).abs());
            }
        }
        println!("worst |prefer - sentence-transformers| = {worst:e}");
        assert!(worst < PARITY_TOL, "worst difference {worst}");
        Ok(())
    }

    #[test]
    fn missing_folder_names_the_fetch_script() {
        let err = crate::encoder::err_text(SentenceEncoder::load("/nonexistent/minilm".as_ref()));
        assert!(err.to_string().contains("fetch_minilm.sh"), "{err}");
    }
}

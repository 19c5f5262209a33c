//! Tokenizers (`tokenizer.json` through the `tokenizers` crate) and chat templates
//! (`tokenizer_config.json`'s Jinja `chat_template`, rendered with minijinja as
//! transformers' `apply_chat_template` does: `trim_blocks` and `lstrip_blocks` on).
//!
//! # Quickstart
//! ```no_run
//! use prefer_nn::tokenizer::{ChatMessage, Tokenizer};
//! let tok = Tokenizer::from_dir("../shared/models/stories260K".as_ref())?;
//! let ids = tok.encode("Once upon a time", true)?; // [1, ...]: BOS added
//! assert_eq!(tok.decode(&ids, true)?, "Once upon a time");
//! # Ok::<(), prefer_nn::Error>(())
//! ```

use std::path::Path;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message of `role` with `content`.
    pub fn new(role: &str, content: &str) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A tokenizer with its special tokens and optional chat template.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bos: Option<(String, u32)>,
    eos: Option<(String, u32)>,
    pad: Option<(String, u32)>,
    unk: Option<String>,
    chat_template: Option<String>,
}

/// A special token in `tokenizer_config.json`: a string or `{"content": ...}`.
fn token_str(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json` (special tokens
    /// and chat template) from a model folder.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut t = Self::from_file(&dir.join("tokenizer.json"))?;
        let cfg_path = dir.join("tokenizer_config.json");
        if cfg_path.exists() {
            let text = std::fs::read_to_string(&cfg_path)
                .map_err(|e| Error::File(format!("{}: {e}", cfg_path.display())))?;
            let cfg: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::File(format!("{}: {e}", cfg_path.display())))?;
            let special = |key: &str| -> Result<Option<(String, u32)>> {
                match token_str(cfg.get(key)) {
                    None => Ok(None),
                    Some(s) => match t.inner.token_to_id(&s) {
                        Some(id) => Ok(Some((s, id))),
                        None => Err(Error::File(format!(
                            "{}: key `{key}`: token {s:?} is not in tokenizer.json",
                            cfg_path.display()
                        ))),
                    },
                }
            };
            t.bos = special("bos_token")?.or(t.bos);
            t.eos = special("eos_token")?.or(t.eos);
            t.pad = special("pad_token")?.or(t.pad);
            t.unk = token_str(cfg.get("unk_token")).or(t.unk);
            t.llama_pretokenizer(&cfg)
                .map_err(|e| Error::File(format!("{}: {e}", cfg_path.display())))?;
            t.chat_template = match cfg.get("chat_template") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Array(list)) => list
                    .iter()
                    .find(|e| e.get("name").and_then(|n| n.as_str()) == Some("default"))
                    .or(list.first())
                    .and_then(|e| e.get("template"))
                    .and_then(|s| s.as_str())
                    .map(str::to_string),
                Some(_) => {
                    return Err(Error::File(format!(
                        "{}: key `chat_template` is neither a string nor a list",
                        cfg_path.display()
                    )));
                }
            };
        }
        // A separate chat_template.jinja (newer transformers) wins when present.
        let jinja = dir.join("chat_template.jinja");
        if jinja.exists() {
            t.chat_template = Some(
                std::fs::read_to_string(&jinja)
                    .map_err(|e| Error::File(format!("{}: {e}", jinja.display())))?,
            );
        }
        Ok(t)
    }

    /// A Llama tokenizer (`tokenizer_class` `LlamaTokenizer` or `LlamaTokenizerFast`) as
    /// transformers 5 builds it, which is what TRL tokenizes with: no normalizer, and a
    /// `Metaspace` pre-tokenizer that prepends `▁` to the first piece only (`legacy`
    /// false, the default), to every piece (`legacy` true) or never (`add_prefix_space`
    /// false). The `tokenizer.json` of Llama 2-era models (stories260K, TinyLlama)
    /// instead has a normalizer that prepends `▁` to every piece, also to text after a
    /// special token: `<s>User:` became `<s> ▁ User:`, one token more than transformers
    /// gives, wherever a chat template writes BOS before text.
    fn llama_pretokenizer(&mut self, cfg: &serde_json::Value) -> Result<()> {
        use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
        let class = cfg.get("tokenizer_class").and_then(|c| c.as_str());
        if !matches!(class, Some("LlamaTokenizer" | "LlamaTokenizerFast")) {
            return Ok(());
        }
        let flag = |key: &str, default: bool| -> Result<bool> {
            match cfg.get(key) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(serde_json::Value::Bool(b)) => Ok(*b),
                Some(v) => Err(Error::Invalid(format!(
                    "key `{key}`: expected true or false, got {v}"
                ))),
            }
        };
        let scheme = if !flag("add_prefix_space", true)? {
            PrependScheme::Never
        } else if flag("legacy", false)? {
            PrependScheme::Always
        } else {
            PrependScheme::First
        };
        self.inner
            .with_normalizer(None::<tokenizers::NormalizerWrapper>)
            .map_err(|e| Error::Invalid(format!("tokenizer: {e}")))?;
        self.inner
            .with_pre_tokenizer(Some(Metaspace::new('▁', scheme, false)));
        Ok(())
    }

    /// Loads a `tokenizer.json` alone (special tokens guessed from `<s>`, `</s>`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
        let find = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| inner.token_to_id(n).map(|id| (n.to_string(), id)))
        };
        let bos = find(&["<s>", "<|begin_of_text|>", "<|endoftext|>"]);
        let eos = find(&["</s>", "<|end_of_text|>", "<|endoftext|>"]);
        Ok(Tokenizer {
            inner,
            bos,
            eos,
            pad: None,
            unk: None,
            chat_template: None,
        })
    }

    /// Token ids of `text`; `add_special_tokens` runs the tokenizer's post-processor
    /// (for Llama: prepends BOS).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| Error::Invalid(format!("tokenize: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| Error::Invalid(format!("detokenize: {e}")))
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token string.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Beginning-of-sequence id.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos.as_ref().map(|b| b.1)
    }

    /// End-of-sequence id.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos.as_ref().map(|b| b.1)
    }

    /// Padding id (`tokenizer_config.json`'s `pad_token`, if any).
    pub fn pad_id(&self) -> Option<u32> {
        self.pad.as_ref().map(|b| b.1)
    }

    /// The Jinja chat template, if the folder has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Sets (or replaces) the chat template.
    pub fn set_chat_template(&mut self, template: &str) {
        self.chat_template = Some(template.to_string());
    }

    /// Renders `messages` with the chat template (as transformers'
    /// `apply_chat_template(tokenize=False)`).
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self
            .chat_template
            .as_deref()
            .ok_or_else(|| Error::Invalid("this tokenizer has no chat template".into()))?;
        render_chat(
            template,
            messages,
            add_generation_prompt,
            &[
                ("bos_token", self.bos.as_ref().map(|b| b.0.clone())),
                ("eos_token", self.eos.as_ref().map(|b| b.0.clone())),
                ("pad_token", self.pad.as_ref().map(|b| b.0.clone())),
                ("unk_token", self.unk.clone()),
            ],
        )
    }

    /// Renders and tokenizes `messages` without adding special tokens again (the
    /// template writes its own BOS: adding one would give two, see
    /// [`crate::logprobs::BatchConfig::bos_id`]).
    pub fn encode_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>> {
        let text = self.apply_chat_template(messages, add_generation_prompt)?;
        self.encode(&text, false)
    }
}

/// Renders a Hugging Face chat template.
pub fn render_chat(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    specials: &[(&str, Option<String>)],
) -> Result<String> {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| Error::Invalid(format!("chat template: {e}")))?;
    env.set_syntax(syntax);
    env.add_function(
        "raise_exception",
        |msg: String| -> std::result::Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.set_unknown_method_callback(py_method);
    let tmpl = env
        .template_from_str(template)
        .map_err(|e| Error::Invalid(format!("chat template: {e}")))?;
    let mut ctx = std::collections::BTreeMap::new();
    ctx.insert(
        "messages".to_string(),
        Value::from(minijinja::value::Serde(messages)),
    );
    ctx.insert(
        "add_generation_prompt".to_string(),
        Value::from(add_generation_prompt),
    );
    for (k, v) in specials {
        if let Some(v) = v {
            ctx.insert((*k).to_string(), Value::from(v.as_str()));
        }
    }
    tmpl.render(ctx)
        .map_err(|e| Error::Invalid(format!("chat template: {e}")))
}

/// Python string and dict methods that chat templates call (`.strip()`, `.items()`, ...).
fn py_method(
    state: &mut minijinja::State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> std::result::Result<Value, minijinja::Error> {
    let unknown = || minijinja::Error::from(ErrorKind::UnknownMethod);
    let arg_str = |i: usize| args.get(i).and_then(|a| a.as_str().map(str::to_string));
    match value.kind() {
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            let chars = arg_str(0);
            let pat = |c: char| match &chars {
                Some(cs) => cs.contains(c),
                None => c.is_whitespace(),
            };
            Ok(match method {
                "strip" => Value::from(s.trim_matches(pat)),
                "lstrip" => Value::from(s.trim_start_matches(pat)),
                "rstrip" => Value::from(s.trim_end_matches(pat)),
                "upper" => Value::from(s.to_uppercase()),
                "lower" => Value::from(s.to_lowercase()),
                "startswith" => {
                    Value::from(s.starts_with(arg_str(0).ok_or_else(unknown)?.as_str()))
                }
                "endswith" => Value::from(s.ends_with(arg_str(0).ok_or_else(unknown)?.as_str())),
                "replace" => {
                    let (a, b) = (
                        arg_str(0).ok_or_else(unknown)?,
                        arg_str(1).ok_or_else(unknown)?,
                    );
                    Value::from(s.replace(&a, &b))
                }
                "split" => match arg_str(0) {
                    Some(sep) => {
                        Value::from(s.split(sep.as_str()).map(Value::from).collect::<Vec<_>>())
                    }
                    None => Value::from(s.split_whitespace().map(Value::from).collect::<Vec<_>>()),
                },
                "title" | "capitalize" => {
                    let mut c = s.chars();
                    Value::from(match c.next() {
                        Some(f) => {
                            f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
                        }
                        None => String::new(),
                    })
                }
                _ => return Err(unknown()),
            })
        }
        ValueKind::Map => match method {
            "items" => state.apply_filter("items", std::slice::from_ref(value)),
            "keys" => Ok(Value::from(value.try_iter()?.collect::<Vec<_>>())),
            "values" => Ok(Value::from(
                value
                    .try_iter()?
                    .map(|k| value.get_item(&k))
                    .collect::<std::result::Result<Vec<_>, _>>()?,
            )),
            "get" => {
                let key = args.first().ok_or_else(unknown)?;
                let v = value.get_item(key)?;
                Ok(if v.is_undefined() {
                    args.get(1).cloned().unwrap_or(Value::from(()))
                } else {
                    v
                })
            }
            _ => Err(unknown()),
        },
        _ => Err(unknown()),
    }
}

//! The judge's request-keyed reply cache: a JSONL file, one line per answered request,
//! so that a rerun of the same judgments sends nothing.
//!
//! A line is `{"key": <sha256 of the request>, "request": <the request>, "reply": …}`; a
//! hit needs the stored request to equal the new one byte for byte, so a hash collision
//! cannot return another request's reply. Lines are appended and flushed one at a time;
//! a line cut short by a killed run is skipped when the file is read again (and counted
//! in [`Cache::skipped_lines`]). Only replies the endpoint actually gave are stored:
//! transport failures are retried by the next run, and a reply that does not parse stays
//! a recorded failure (at temperature 0 the endpoint would give it again).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Result;
use crate::error::io_err;

/// One answer of the endpoint: the reply text and the tokens it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// `choices[0].message.content`.
    pub content: String,
    /// `usage.prompt_tokens` (0 when the endpoint does not say).
    #[serde(default)]
    pub prompt_tokens: u64,
    /// `usage.completion_tokens` (0 when the endpoint does not say).
    #[serde(default)]
    pub completion_tokens: u64,
}

#[derive(Serialize, Deserialize)]
struct Line {
    key: String,
    request: String,
    reply: Reply,
}

/// The cache file and what it holds.
pub struct Cache {
    path: PathBuf,
    map: Mutex<HashMap<String, (String, Reply)>>,
    file: Mutex<File>,
    skipped: usize,
}

/// The cache key of a request body.
pub fn key(request: &str) -> String {
    Sha256::digest(request.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cache {
    /// Opens (or creates) the cache at `path`.
    pub fn open(path: &Path) -> Result<Cache> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let mut map = HashMap::new();
        let mut skipped = 0;
        if path.exists() {
            let f = File::open(path).map_err(io_err(path))?;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(io_err(path))?;
                match serde_json::from_str::<Line>(&line) {
                    Ok(l) => {
                        map.insert(l.key, (l.request, l.reply));
                    }
                    Err(_) if line.trim().is_empty() => {}
                    Err(_) => skipped += 1,
                }
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        // A line cut short by a kill has no newline: start ours on a fresh line.
        if skipped > 0 {
            file.write_all(b"\n").map_err(io_err(path))?;
        }
        Ok(Cache {
            path: path.to_path_buf(),
            map: Mutex::new(map),
            file: Mutex::new(file),
            skipped,
        })
    }

    /// The stored reply to `request`, if any.
    pub fn get(&self, request: &str) -> Option<Reply> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&key(request))
            .filter(|(r, _)| r == request)
            .map(|(_, reply)| reply.clone())
    }

    /// Stores `reply` to `request` (appended to the file and flushed).
    pub fn put(&self, request: &str, reply: &Reply) -> Result<()> {
        let line = Line {
            key: key(request),
            request: request.to_string(),
            reply: reply.clone(),
        };
        let mut text = serde_json::to_string(&line).map_err(|e| {
            crate::Error::Judge(format!("{}: cache line: {e}", self.path.display()))
        })?;
        text.push('\n');
        {
            let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
            f.write_all(text.as_bytes()).map_err(io_err(&self.path))?;
            f.flush().map_err(io_err(&self.path))?;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(line.key, (line.request, line.reply));
        Ok(())
    }

    /// How many replies it holds.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lines of the file that could not be read (cut short by a killed run).
    pub fn skipped_lines(&self) -> usize {
        self.skipped
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test's verdict
mod tests {
    use super::*;

    #[test]
    fn replies_survive_reopening_and_a_cut_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        let r = Reply {
            content: "[[A]]".into(),
            prompt_tokens: 3,
            completion_tokens: 1,
        };
        {
            let c = Cache::open(&p).unwrap();
            assert!(c.get("req1").is_none());
            c.put("req1", &r).unwrap();
            assert_eq!(c.get("req1"), Some(r.clone()));
        }
        // A run killed mid-write leaves half a line.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"key":"ab","requ"#).unwrap();
        drop(f);
        let c = Cache::open(&p).unwrap();
        assert_eq!(c.skipped_lines(), 1);
        assert_eq!(c.get("req1"), Some(r.clone()));
        assert!(c.get("req2").is_none());
        c.put("req2", &r).unwrap();
        let c = Cache::open(&p).unwrap();
        assert_eq!((c.len(), c.skipped_lines()), (2, 1));
        assert_eq!(key("abc").len(), 64);
        assert_eq!(
            key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

//! Helpers shared by the tests.

use std::path::PathBuf;

/// `../shared/models/stories260K` beside the repository root, if present.
pub fn stories_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/stories260K");
    if dir.join("model.safetensors").exists() {
        Some(dir)
    } else {
        println!("skipped: ../shared/models/stories260K is absent");
        None
    }
}

/// A fixture file under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

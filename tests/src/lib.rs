//! Shared helpers for the integration tests: where the conformance vectors
//! live and how to read them.

use std::path::PathBuf;

/// `../shared/vectors` beside the project root.
#[must_use]
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

/// Every case of one `.jsonl` vector file, parsed. Panics (failing the test)
/// when the file is missing, so a misplaced `shared/` cannot pass silently.
#[must_use]
pub fn read_vectors(name: &str) -> Vec<serde_json::Value> {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}")))
        .collect()
}

/// Decodes hex text (whitespace allowed).
#[must_use]
pub fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

//! Reading text as a nested STT map or list, at any depth.
//!
//! A value handed to JavaScript is unescaped once, which makes it the STT
//! text of the map or list it may hold (PROTOCOL.md §3: nesting escapes
//! once more per level). So `readMap(message.el)` opens a nested value, and
//! `readMap(readList(text)[0])` one a level further down, as deep as needed.

use douyu_core::stt::{List, Map, Text};
use js_sys::{Array, JsString};
use wasm_bindgen::prelude::*;

use crate::errors::{self, Family};

fn unescaped(text: Text<'_>) -> JsString {
    let mut s = String::with_capacity(text.raw().len());
    for piece in text.pieces() {
        s.push_str(piece);
    }
    JsString::from(s)
}

/// The pairs of the STT map `text` as `[key, value, key, value, …]`, each
/// unescaped once: every pair in order, or (when `first_only`) the first
/// value of each key.
///
/// # Errors
/// A `DecodeError` (`bad_escape`, `missing_separator`) with `bodyOffset`.
#[wasm_bindgen(js_name = mapPairs)]
pub fn map_pairs(text: &str, first_only: bool) -> Result<Array, JsValue> {
    let out = Array::new();
    let mut seen: Vec<Text<'_>> = Vec::new();
    for pair in Map::new(text).pairs() {
        let (key, value) = pair.map_err(|e| errors::stt(&e, None, Family::Decode))?;
        if first_only {
            // Keys compare unescaped (`Text` equality), as lookups do.
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
        }
        out.push(&unescaped(key));
        out.push(&unescaped(value));
    }
    Ok(out)
}

/// The items of the STT list `text`, each unescaped once.
///
/// # Errors
/// A `DecodeError` (`bad_escape`) with `bodyOffset`.
#[wasm_bindgen(js_name = listItems)]
pub fn list_items(text: &str) -> Result<Array, JsValue> {
    let out = Array::new();
    for item in List::new(text).items() {
        let item = item.map_err(|e| errors::stt(&e, None, Family::Decode))?;
        out.push(&unescaped(item));
    }
    Ok(out)
}

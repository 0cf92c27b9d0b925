//! `douyu decode`: a capture of raw frames to JSON lines, or a summary.

use std::collections::BTreeMap;
use std::io::{self, Write};

use anyhow::{Context, bail};
use douyu_core::frame::{Frame, Frames};
use douyu_core::message::ServerMessage;
use douyu_core::stt::{Map, SttError};
use serde_json::{Value, json};

use crate::render::to_json;

/// Parses hex text (whitespace and line breaks allowed, optional `0x`-free pairs).
pub fn parse_hex(text: &[u8]) -> anyhow::Result<Vec<u8>> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        bail!("odd number of hex digits");
    }
    digits
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let s = std::str::from_utf8(pair).ok().context("not hex")?;
            u8::from_str_radix(s, 16).with_context(|| format!("bad hex {s:?} at digit {}", i * 2))
        })
        .collect()
}

/// Checks a body's pairs; the error, if any, with its offset in the body.
fn check_body(frame: &Frame<'_>) -> Result<(), SttError> {
    Map::new(frame.body).validate().map(drop)
}

fn error_line(offset: usize, class: &str, detail: impl std::fmt::Display) -> Value {
    json!({ "offset": offset, "error": class, "detail": detail.to_string() })
}

/// Writes one JSON line per frame (or error) of `bytes` to `out`, accepting
/// frames up to `max_frame` bytes. Returns whether every frame decoded.
pub fn decode_lines(bytes: &[u8], max_frame: usize, out: &mut impl Write) -> io::Result<bool> {
    let mut clean = true;
    let mut frames = Frames::new(bytes, max_frame);
    for (offset, frame) in frames.by_ref() {
        let line = match frame {
            Err(e) => {
                clean = false;
                error_line(offset, e.class(), e)
            }
            // Parsing checks every pair of the body, whatever its type.
            Ok(frame) => match ServerMessage::parse(frame.body) {
                Ok(message) => json!({
                    "offset": offset,
                    "type": frame.message_type.to_u16(),
                    "message": to_json(&message),
                }),
                Err(e) => {
                    clean = false;
                    let mut line = error_line(offset, e.class(), e);
                    line["type"] = json!(frame.message_type.to_u16());
                    line["body"] = json!(frame.body);
                    line
                }
            },
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    let rest = frames.remainder();
    if !rest.is_empty() {
        clean = false;
        let offset = bytes.len() - rest.len();
        // After a fatal error the remainder is what could not be read; a
        // cut-off frame at the end is reported as incomplete.
        let fatal = Frames::new(rest, max_frame).next().is_some();
        if !fatal {
            let line = error_line(
                offset,
                "incomplete",
                format_args!("{} bytes of an unfinished frame", rest.len()),
            );
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(clean)
}

/// Counts frames, errors and message types of `bytes` (every body is fully
/// checked), writing one JSON object. Returns whether every frame decoded.
pub fn summarize(bytes: &[u8], max_frame: usize, out: &mut impl Write) -> io::Result<bool> {
    let mut types: BTreeMap<&str, u64> = BTreeMap::new();
    let mut errors: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut total = 0u64;
    let mut frames = Frames::new(bytes, max_frame);
    for (_, frame) in frames.by_ref() {
        total += 1;
        let checked = frame.map_err(|e| e.class()).and_then(|frame| {
            check_body(&frame).map_err(|e| e.class())?;
            let kind = Map::new(frame.body).message_type().ok().flatten();
            Ok(kind.map_or("", |k| k.raw()))
        });
        match checked {
            Ok(kind) => *types.entry(kind).or_default() += 1,
            Err(class) => *errors.entry(class).or_default() += 1,
        }
    }
    if !frames.remainder().is_empty() {
        *errors.entry("incomplete").or_default() += 1;
    }
    let clean = errors.is_empty();
    let summary =
        json!({ "frames": total, "bytes": bytes.len(), "types": types, "errors": errors });
    serde_json::to_writer(&mut *out, &summary)?;
    out.write_all(b"\n")?;
    Ok(clean)
}

//! `douyu decode`: a capture of raw frames to JSON lines, or a summary.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use anyhow::{Context, bail};
use douyu_core::frame::{Direction, Frame, FrameError, HEADER_LEN, Header};
use douyu_core::message::ServerMessage;
use douyu_core::stream::Decoder;
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

fn error_line(offset: u64, class: &str, detail: impl std::fmt::Display) -> Value {
    json!({ "offset": offset, "error": class, "detail": detail.to_string() })
}

/// Bytes a frame whose length field says `length` takes in the capture (the
/// arithmetic is the frame layer's; only the length matters to it).
fn wire_len(length: u32) -> u64 {
    let header = Header {
        length,
        direction: Direction::ServerToClient,
        encryption: 0,
        reserved: 0,
    };
    header.frame_len() as u64
}

/// How a capture ended, once [`each_frame`] has read it.
struct Ending {
    /// Bytes read from the capture.
    bytes: u64,
    /// Bytes of a frame the capture cut off (0 if none), whether it was
    /// being read or skipped as too large.
    unfinished: u64,
    /// Whether a fatal error ended the reading (nothing after it can be read).
    fatal: bool,
}

/// Calls `visit` with every frame of `input` (or the error found there) and
/// its offset in the capture, under the rules of
/// [`Frames`](douyu_core::frame::Frames): frames above
/// `max_frame` bytes and bad bodies are reported and stepped over, a fatal
/// error ends the reading.
///
/// The capture is read piece by piece through a buffer of one frame, so a
/// capture of any size costs `max_frame` bytes of memory (reading a 64 MiB
/// file whole first cost more time in page faults than decoding it).
fn each_frame(
    mut input: impl Read,
    max_frame: usize,
    mut visit: impl FnMut(u64, Result<Frame<'_>, FrameError>) -> io::Result<()>,
) -> io::Result<Ending> {
    let mut buf = vec![0u8; max_frame.max(HEADER_LEN)];
    let mut decoder = Decoder::new(&mut buf);
    let mut bytes = 0u64;
    // Where the frame being skipped as too large ends: the decoder drops its
    // bytes as they come, so a capture cut off inside it leaves nothing
    // buffered, and only this says that the end came mid-frame.
    let mut skipped = 0u64..0;
    loop {
        loop {
            let at = decoder.position();
            match decoder.next_frame() {
                Ok(Some(frame)) => visit(at, Ok(frame))?,
                Ok(None) => break,
                Err(e) => {
                    if let FrameError::TooLarge { length, .. } = e.error {
                        skipped = e.offset..e.offset.saturating_add(wire_len(length));
                    }
                    visit(e.offset, Err(e.error))?;
                    if e.error.is_fatal() {
                        return Ok(Ending {
                            bytes,
                            unfinished: decoder.buffered() as u64,
                            fatal: true,
                        });
                    }
                }
            }
        }
        let n = match input.read(decoder.window()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        decoder.commit(n);
        bytes += n as u64;
    }
    let unfinished = if skipped.end > bytes {
        bytes - skipped.start
    } else {
        decoder.buffered() as u64
    };
    Ok(Ending {
        bytes,
        unfinished,
        fatal: false,
    })
}

/// Writes one JSON line per frame (or error) of `input` to `out`, accepting
/// frames up to `max_frame` bytes. Returns whether every frame decoded.
pub fn decode_lines(input: impl Read, max_frame: usize, out: &mut impl Write) -> io::Result<bool> {
    let mut clean = true;
    let ending = each_frame(input, max_frame, |offset, frame| {
        let line = match frame {
            Err(e) => {
                clean = false;
                error_line(offset, e.class(), e)
            }
            // Parsing checks every pair of the body, whatever its type.
            Ok(frame) => match ServerMessage::parse(frame.body) {
                Ok(message) => json!({
                    "offset": offset,
                    "type": frame.direction.to_u16(),
                    "message": to_json(&message),
                }),
                Err(e) => {
                    clean = false;
                    let mut line = error_line(offset, e.class(), e);
                    line["type"] = json!(frame.direction.to_u16());
                    line["body"] = json!(frame.body);
                    line
                }
            },
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")
    })?;
    // After a fatal error the rest is what could not be read; a frame cut
    // off at the end is reported as incomplete.
    if ending.unfinished > 0 && !ending.fatal {
        clean = false;
        let offset = ending.bytes - ending.unfinished;
        let line = error_line(
            offset,
            "incomplete",
            format_args!("{} bytes of an unfinished frame", ending.unfinished),
        );
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(clean && !ending.fatal)
}

/// Counts frames, errors and message types of `input` (every body is fully
/// checked), writing one JSON object. Returns whether every frame decoded.
pub fn summarize(input: impl Read, max_frame: usize, out: &mut impl Write) -> io::Result<bool> {
    let mut types: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut total = 0u64;
    let ending = each_frame(input, max_frame, |_, frame| {
        total += 1;
        let checked = frame.map_err(|e| e.class()).and_then(|frame| {
            check_body(&frame).map_err(|e| e.class())?;
            let kind = Map::new(frame.body).message_type().ok().flatten();
            Ok(kind.map_or("", |k| k.raw()))
        });
        match checked {
            Ok(kind) => match types.get_mut(kind) {
                Some(count) => *count += 1,
                None => {
                    types.insert(kind.to_string(), 1);
                }
            },
            Err(class) => *errors.entry(class).or_default() += 1,
        }
        Ok(())
    })?;
    if ending.unfinished > 0 || ending.fatal {
        *errors.entry("incomplete").or_default() += 1;
    }
    let clean = errors.is_empty();
    let summary =
        json!({ "frames": total, "bytes": ending.bytes, "types": types, "errors": errors });
    serde_json::to_writer(&mut *out, &summary)?;
    out.write_all(b"\n")?;
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte at a time.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let (Some(byte), Some(slot)) = (self.0.first(), buf.first_mut()) else {
                return Ok(0);
            };
            *slot = *byte;
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn reading_in_pieces_changes_nothing() {
        let mut room = douyu_core::sim::Room::new(1, 7);
        let mut capture = Vec::new();
        let mut frame = [0u8; 4096];
        for i in 0..50 {
            let n = room.next_frame(i, &mut frame).unwrap();
            capture.extend_from_slice(&frame[..n]);
        }
        // A bad body, a frame too large for the limit, and a cut-off end.
        capture.extend_from_slice(b"\x0c\0\0\0\x0c\0\0\0\xb2\x02\0\0ab\xff\0");
        capture.extend_from_slice(b"\x00\x20\0\0\x00\x20\0\0\xb2\x02\0\0");
        capture.extend_from_slice(&[b'a'; 0x2000 - 8]);
        capture.extend_from_slice(&frame[..30]);
        let (mut whole, mut trickled) = (Vec::new(), Vec::new());
        let clean = decode_lines(&capture[..], 4096, &mut whole).unwrap();
        let clean_too = decode_lines(Trickle(&capture), 4096, &mut trickled).unwrap();
        assert!(!clean && !clean_too);
        assert_eq!(
            String::from_utf8(whole).unwrap(),
            String::from_utf8(trickled).unwrap()
        );
        let (mut whole, mut trickled) = (Vec::new(), Vec::new());
        summarize(&capture[..], 4096, &mut whole).unwrap();
        summarize(Trickle(&capture), 4096, &mut trickled).unwrap();
        let summary: Value = serde_json::from_slice(&whole).unwrap();
        assert_eq!(summary["bytes"], capture.len());
        assert_eq!(summary["errors"]["invalid_utf8"], 1);
        assert_eq!(summary["errors"]["too_large"], 1);
        assert_eq!(summary["errors"]["incomplete"], 1);
        assert_eq!(whole, trickled);
    }

    #[test]
    fn a_capture_cut_off_inside_a_skipped_frame_is_truncated() {
        // A good frame, then the first 100 bytes of a declared 8 KiB one.
        let mut capture = b"\x14\0\0\0\x14\0\0\0\xb2\x02\0\0type@=mrkl/\0".to_vec();
        let good = capture.len();
        capture.extend_from_slice(b"\x00\x20\0\0\x00\x20\0\0\xb2\x02\0\0");
        capture.resize(good + 100, b'a');
        for reader in [&capture[..], &capture[..good + 12]] {
            let mut out = Vec::new();
            assert!(!decode_lines(reader, 4096, &mut out).unwrap());
            let lines: Vec<Value> = out
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect();
            assert_eq!(lines.len(), 3, "{lines:?}");
            assert_eq!(lines[1]["error"], "too_large");
            assert_eq!(lines[2]["error"], "incomplete");
            assert_eq!(lines[2]["offset"], good);
            let mut summary = Vec::new();
            assert!(!summarize(reader, 4096, &mut summary).unwrap());
            let summary: Value = serde_json::from_slice(&summary).unwrap();
            assert_eq!(summary["errors"]["incomplete"], 1, "{summary}");
        }
        // The same frame whole is skipped, and the capture is not truncated.
        capture.resize(good + 0x2004, b'a');
        let mut summary = Vec::new();
        summarize(&capture[..], 4096, &mut summary).unwrap();
        let summary: Value = serde_json::from_slice(&summary).unwrap();
        assert_eq!(summary["errors"]["incomplete"], Value::Null, "{summary}");
        assert_eq!(summary["errors"]["too_large"], 1, "{summary}");
    }
}

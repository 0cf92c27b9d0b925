//! `douyu decode`: a capture (see [`crate::capture`]) or raw frames to
//! JSON lines, a summary, or danmaku for players (see [`crate::export`]).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

use anyhow::Context;
use douyu_core::frame::{Direction, Frame, FrameError, HEADER_LEN, Header, Status};
use douyu_core::message::ServerMessage;
use douyu_core::stream::Decoder;
use douyu_core::stt::Map;
use serde_json::{Value, json};

use crate::capture::{self, CaptureError, Kind};
use crate::export::{Exporter, Line};
use crate::render::{Event, event_json, message_json};
use crate::time::rfc3339_ms;

/// Parses hex text (whitespace and line breaks allowed between pairs).
pub fn parse_hex(text: &[u8]) -> anyhow::Result<Vec<u8>> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    hex::decode(&digits).context("bad hex text")
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

/// Reads the first bytes of `input` to tell what it is (see
/// [`capture::detect`]); returns that and a reader that still yields every
/// byte.
pub fn sniff<R: Read>(mut input: R) -> io::Result<(capture::Detected, impl Read)> {
    let mut head = vec![0u8; 64];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(got);
    Ok((capture::detect(&head), io::Cursor::new(head).chain(input)))
}

/// Where a frame, an error or an event was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Byte offset: of the frame in a raw capture; of its record in a
    /// capture file.
    pub offset: u64,
    /// When it was received (captures only).
    pub received_ms: Option<i64>,
    /// The room whose connection it came from (captures only).
    pub room: Option<u64>,
}

/// Something that could not be read, as a JSON error line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    /// The error's class (`invalid_utf8`, `incomplete`, `unframed`, …).
    pub class: &'static str,
    /// What exactly.
    pub detail: String,
}

impl Bad {
    fn new(class: &'static str, detail: impl std::fmt::Display) -> Self {
        Self {
            class,
            detail: detail.to_string(),
        }
    }
}

impl From<FrameError> for Bad {
    fn from(e: FrameError) -> Self {
        Self::new(e.class(), e)
    }
}

/// One item of an input.
#[derive(Debug)]
pub enum Item<'a> {
    /// A whole frame.
    Frame(Frame<'a>),
    /// A frame (or bytes) that could not be read.
    Bad(Bad),
    /// A capture's connection opened, to this server.
    Connected(&'a str),
    /// A capture's connection ended, for this reason.
    Closed(&'a str),
}

/// How reading an input went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Bytes read.
    pub bytes: u64,
    /// Whether every frame decoded.
    pub clean: bool,
}

/// Calls `visit` with every item of `input`: raw frames (read as
/// `each_frame` does) or a capture, as `detected` says. Frames above
/// `max_frame` bytes are reported, not read.
pub fn each_item(
    detected: capture::Detected,
    input: impl Read,
    max_frame: usize,
    mut visit: impl FnMut(Place, Item<'_>) -> io::Result<()>,
) -> io::Result<Totals> {
    let mut clean = true;
    if detected != capture::Detected::Capture {
        let raw = |offset| Place {
            offset,
            received_ms: None,
            room: None,
        };
        let ending = each_frame(input, max_frame, |offset, frame| match frame {
            Ok(frame) => visit(raw(offset), Item::Frame(frame)),
            Err(e) => {
                clean = false;
                visit(raw(offset), Item::Bad(e.into()))
            }
        })?;
        // After a fatal error the rest is what could not be read; a frame
        // cut off at the end is reported as incomplete.
        if ending.unfinished > 0 && !ending.fatal {
            clean = false;
            let bad = Bad::new(
                "incomplete",
                format_args!("{} bytes of an unfinished frame", ending.unfinished),
            );
            visit(raw(ending.bytes - ending.unfinished), Item::Bad(bad))?;
        }
        return Ok(Totals {
            bytes: ending.bytes,
            clean: clean && !ending.fatal,
        });
    }
    let mut reader = match capture::Reader::new(input) {
        Ok(reader) => reader,
        Err(CaptureError::Io(e)) => return Err(e),
        Err(e) => {
            let place = Place {
                offset: 0,
                received_ms: None,
                room: None,
            };
            visit(place, Item::Bad(Bad::new("bad_capture", e)))?;
            return Ok(Totals {
                bytes: 0,
                clean: false,
            });
        }
    };
    loop {
        let (offset, record) = match reader.next_record() {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(CaptureError::Io(e)) => return Err(e),
            Err(e) => {
                let offset = match &e {
                    CaptureError::BadRecord { offset, .. } | CaptureError::Truncated { offset } => {
                        *offset
                    }
                    _ => reader.offset(),
                };
                let class = if matches!(e, CaptureError::Truncated { .. }) {
                    "incomplete"
                } else {
                    "bad_record"
                };
                let place = Place {
                    offset,
                    received_ms: None,
                    room: None,
                };
                visit(place, Item::Bad(Bad::new(class, e)))?;
                clean = false;
                break;
            }
        };
        let place = Place {
            offset,
            received_ms: Some(record.time_ms),
            room: Some(record.room),
        };
        let text = || String::from_utf8_lossy(record.payload);
        let item = match record.kind {
            Kind::Connected => {
                visit(place, Item::Connected(&text()))?;
                continue;
            }
            Kind::Closed => {
                visit(place, Item::Closed(&text()))?;
                continue;
            }
            Kind::Bytes => Err(Bad::new(
                "unframed",
                format_args!(
                    "{} bytes received outside any whole frame",
                    record.payload.len()
                ),
            )),
            Kind::Frame => frame_of_record(record.payload, max_frame),
        };
        match item {
            Ok(frame) => visit(place, Item::Frame(frame))?,
            Err(bad) => {
                clean = false;
                visit(place, Item::Bad(bad))?;
            }
        }
    }
    Ok(Totals {
        bytes: reader.offset(),
        clean,
    })
}

/// The one frame a [`Kind::Frame`] record holds.
fn frame_of_record(payload: &[u8], max_frame: usize) -> Result<Frame<'_>, Bad> {
    if payload.len() > max_frame {
        let length = u32::try_from(payload.len().saturating_sub(4)).unwrap_or(u32::MAX);
        return Err(FrameError::TooLarge {
            length,
            capacity: max_frame,
        }
        .into());
    }
    match Frame::decode(payload)? {
        Status::Complete((frame, used)) if used == payload.len() => Ok(frame),
        Status::Complete((_, used)) => Err(Bad::new(
            "bad_record",
            format_args!("{} bytes after the record's frame", payload.len() - used),
        )),
        Status::Incomplete { needed } => Err(Bad::new(
            "incomplete",
            format_args!("{} bytes of a {needed}-byte frame", payload.len()),
        )),
    }
}

/// Rooms whose connections [`decode_lines`] follows to report gaps; more
/// are decoded as well, without gap events.
const MAX_GAP_ROOMS: usize = 4096;

fn error_json(place: Place, bad: &Bad) -> Value {
    let mut line = error_line(place.offset, bad.class, &bad.detail);
    if let Some(ms) = place.received_ms {
        line["received_at"] = json!(rfc3339_ms(ms));
    }
    line
}

/// Writes one JSON line per frame (or error) of `input` to `out`: the same
/// message object `watch --format json` prints (see
/// [`message_json`]) plus its `offset`, and for a capture the
/// connection events (`connected`, `closed`, `gap`). Frames up to
/// `max_frame` bytes. Returns whether every frame decoded.
pub fn decode_lines(
    detected: capture::Detected,
    input: impl Read,
    max_frame: usize,
    out: &mut impl Write,
) -> io::Result<bool> {
    // Per room: when its last frame came, and whether its connection closed.
    let mut rooms: HashMap<u64, (Option<i64>, bool)> = HashMap::new();
    let mut bodies_ok = true;
    let totals = each_item(detected, input, max_frame, |place, item| {
        let room = place.room.unwrap_or_default();
        let at = place.received_ms.unwrap_or_default();
        let line = match item {
            Item::Frame(frame) => {
                if let Some(state) = rooms.get_mut(&room) {
                    state.0 = place.received_ms;
                }
                match ServerMessage::parse(frame.body) {
                    Ok(message) => {
                        let mut line = message_json(&message, place.received_ms);
                        line["offset"] = json!(place.offset);
                        if frame.direction != Direction::ServerToClient {
                            line["frame_type"] = json!(frame.direction.to_u16());
                        }
                        line
                    }
                    Err(e) => {
                        bodies_ok = false;
                        let mut line = error_json(place, &Bad::new(e.class(), e));
                        line["body"] = json!(frame.body);
                        line
                    }
                }
            }
            Item::Bad(bad) => error_json(place, &bad),
            Item::Connected(server) => {
                let before = rooms.get(&room).copied();
                if before.is_some() || rooms.len() < MAX_GAP_ROOMS {
                    rooms.insert(room, (None, false));
                }
                let connected = event_json(room, at, &Event::Connected { server });
                match before {
                    Some((last, true)) => {
                        serde_json::to_writer(&mut *out, &connected)?;
                        out.write_all(b"\n")?;
                        let gap = Event::Gap {
                            from_ms: last.unwrap_or(at),
                            to_ms: at,
                        };
                        event_json(room, at, &gap)
                    }
                    _ => connected,
                }
            }
            Item::Closed(reason) => {
                if let Some(state) = rooms.get_mut(&room) {
                    state.1 = true;
                }
                event_json(room, at, &Event::Closed { reason })
            }
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")
    })?;
    Ok(totals.clean && bodies_ok)
}

/// Keeps the (approximately) most frequent keys in bounded memory: the
/// Space-Saving algorithm with [`TOP_CAPACITY`] counters. Exact while there
/// are no more distinct keys than counters.
#[derive(Debug, Default)]
struct Top {
    counts: HashMap<String, u64>,
    /// Whether a key was ever evicted (the counts are then upper bounds).
    approximate: bool,
}

/// Counters a [`Top`] keeps.
const TOP_CAPACITY: usize = 256;

/// Entries a summary lists per top.
const TOP_SHOWN: usize = 10;

impl Top {
    fn add(&mut self, key: &str, by: u64) {
        if let Some(count) = self.counts.get_mut(key) {
            *count = count.saturating_add(by);
            return;
        }
        let mut base = 0;
        if self.counts.len() >= TOP_CAPACITY {
            // Replace the smallest counter: the newcomer inherits its count.
            let Some((smallest, count)) = self
                .counts
                .iter()
                .min_by_key(|(_, count)| **count)
                .map(|(k, c)| (k.clone(), *c))
            else {
                return;
            };
            self.counts.remove(&smallest);
            self.approximate = true;
            base = count;
        }
        self.counts.insert(key.to_string(), base.saturating_add(by));
    }

    fn to_json(&self, key: &str, count: &str) -> Value {
        let mut entries: Vec<(&String, &u64)> = self.counts.iter().collect();
        entries.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        Value::Array(
            entries
                .into_iter()
                .take(TOP_SHOWN)
                .map(|(k, c)| json!({ key: k, count: c }))
                .collect(),
        )
    }
}

/// Minutes the per-minute rate of a summary holds (31 days); a longer
/// capture's later minutes are left out, and the summary says so.
const MAX_MINUTES: usize = 31 * 24 * 60;

/// Counts frames, errors and message types of `input` (every body is fully
/// checked), and for captures the messages and chat lines per minute; the
/// top chatters and gifts. Writes one JSON object. Returns whether every
/// frame decoded. One pass, in bounded memory.
pub fn summarize(
    detected: capture::Detected,
    input: impl Read,
    max_frame: usize,
    out: &mut impl Write,
) -> io::Result<bool> {
    let mut types: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut minutes: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let mut minutes_cut = false;
    let (mut chatters, mut gifts) = (Top::default(), Top::default());
    let mut total = 0u64;
    let totals = each_item(detected, input, max_frame, |place, item| {
        let frame = match item {
            Item::Frame(frame) => frame,
            Item::Bad(bad) => {
                total += 1;
                *errors.entry(bad.class).or_default() += 1;
                return Ok(());
            }
            Item::Connected(_) | Item::Closed(_) => return Ok(()),
        };
        total += 1;
        let message = match ServerMessage::parse(frame.body) {
            Ok(message) => message,
            Err(e) => {
                *errors.entry(e.class()).or_default() += 1;
                return Ok(());
            }
        };
        let kind = Map::new(frame.body).message_type().ok().flatten();
        let kind = kind.map_or("", |k| k.raw());
        match types.get_mut(kind) {
            Some(count) => *count += 1,
            None => {
                types.insert(kind.to_string(), 1);
            }
        }
        let chat = matches!(message, ServerMessage::Chat(_));
        if let Some(ms) = place.received_ms {
            let minute = ms.div_euclid(60_000);
            if minutes.len() < MAX_MINUTES || minutes.contains_key(&minute) {
                let entry = minutes.entry(minute).or_default();
                entry.0 += 1;
                entry.1 += u64::from(chat);
            } else {
                minutes_cut = true;
            }
        }
        match message {
            ServerMessage::Chat(chat) => {
                if let Some(nn) = chat.nn.or(chat.uid) {
                    chatters.add(&nn.to_string(), 1);
                }
            }
            ServerMessage::Gift(gift) => {
                let count = gift
                    .gfcnt
                    .and_then(|c| c.parse::<u64>())
                    .unwrap_or(1)
                    .max(1);
                if let Some(id) = gift.gfid {
                    gifts.add(&id.to_string(), count);
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    let per_minute: Vec<Value> = minutes
        .iter()
        .map(|(minute, (messages, chat))| {
            let at = rfc3339_ms(minute * 60_000);
            // `2026-11-30T17:55Z`: the minute, without seconds.
            let minute = format!("{}Z", &at[..16]);
            json!({ "minute": minute, "messages": messages, "chat": chat })
        })
        .collect();
    let mut summary = json!({
        "frames": total,
        "bytes": totals.bytes,
        "types": types,
        "errors": errors,
        "top_chatters": chatters.to_json("nn", "messages"),
        "top_gifts": gifts.to_json("gfid", "count"),
    });
    if chatters.approximate || gifts.approximate {
        summary["tops_approximate"] = json!(true);
    }
    if detected == capture::Detected::Capture {
        summary["per_minute"] = json!(per_minute);
        if minutes_cut {
            summary["per_minute_truncated"] = json!(true);
        }
    }
    serde_json::to_writer(&mut *out, &summary)?;
    out.write_all(b"\n")?;
    Ok(totals.clean && errors.is_empty())
}

/// Writes the chat lines of a capture for a danmaku player (see
/// [`crate::export`]), with times relative to `start_ms` or, when `None`,
/// to the first frame; lines before the start are left out. Returns
/// whether every frame decoded.
pub fn export(
    input: impl Read,
    max_frame: usize,
    exporter: &mut dyn Exporter,
    start_ms: Option<i64>,
    out: &mut dyn Write,
) -> io::Result<bool> {
    let mut base = start_ms;
    exporter.begin(out)?;
    let totals = each_item(
        capture::Detected::Capture,
        input,
        max_frame,
        |place, item| {
            let (Item::Frame(frame), Some(ms)) = (item, place.received_ms) else {
                return Ok(());
            };
            let base = *base.get_or_insert(ms);
            let Ok(ServerMessage::Chat(chat)) = ServerMessage::parse(frame.body) else {
                return Ok(());
            };
            if ms < base {
                return Ok(());
            }
            let (nickname, uid, text) = (
                chat.nn.map(|t| t.to_string()).unwrap_or_default(),
                chat.uid.map(|t| t.to_string()),
                chat.txt.map(|t| t.to_string()).unwrap_or_default(),
            );
            let line = Line {
                at: (ms - base) as f64 / 1000.0,
                received_ms: ms,
                nickname: &nickname,
                user: uid.as_deref().unwrap_or(&nickname),
                text: &text,
                rgb: chat.rgb(),
            };
            exporter.line(out, &line)
        },
    )?;
    exporter.end(out)?;
    Ok(totals.clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: capture::Detected = capture::Detected::RawFrames;

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
        let clean = decode_lines(RAW, &capture[..], 4096, &mut whole).unwrap();
        let clean_too = decode_lines(RAW, Trickle(&capture), 4096, &mut trickled).unwrap();
        assert!(!clean && !clean_too);
        assert_eq!(
            String::from_utf8(whole).unwrap(),
            String::from_utf8(trickled).unwrap()
        );
        let (mut whole, mut trickled) = (Vec::new(), Vec::new());
        summarize(RAW, &capture[..], 4096, &mut whole).unwrap();
        summarize(RAW, Trickle(&capture), 4096, &mut trickled).unwrap();
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
            assert!(!decode_lines(RAW, reader, 4096, &mut out).unwrap());
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
            assert!(!summarize(RAW, reader, 4096, &mut summary).unwrap());
            let summary: Value = serde_json::from_slice(&summary).unwrap();
            assert_eq!(summary["errors"]["incomplete"], 1, "{summary}");
        }
        // The same frame whole is skipped, and the capture is not truncated.
        capture.resize(good + 0x2004, b'a');
        let mut summary = Vec::new();
        summarize(RAW, &capture[..], 4096, &mut summary).unwrap();
        let summary: Value = serde_json::from_slice(&summary).unwrap();
        assert_eq!(summary["errors"]["incomplete"], Value::Null, "{summary}");
        assert_eq!(summary["errors"]["too_large"], 1, "{summary}");
    }
}

//! Turning server messages into lines: coloured text for people, JSON for `jq`.
//!
//! Every text field comes from the network, so the text format passes it
//! through [`terminal_safe`] first: a nickname holding ESC could otherwise
//! drive the reader's terminal (retitle it, hide lines, move the cursor), one
//! holding a line break could forge a whole line, and a bidi override could
//! show text in an order other than the one sent. JSON needs none of that:
//! `serde_json` escapes every control character itself, and non-ASCII text
//! stays as it is for `jq`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use douyu_core::message::ServerMessage;
use douyu_core::schema::{self, FieldSchema, FieldShape};
use douyu_core::stt::{Map, Text};
use regex::Regex;
use serde_json::Value;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::time::{rfc3339_ms, time_of_day};

/// Output format of `watch` and `demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned, coloured lines for a person.
    Text,
    /// One JSON object per message, every field, nested ones expanded; and
    /// one per connection event (`"event"` key).
    Json,
}

/// Which messages are shown.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these message types.
    pub only: Option<HashSet<String>>,
    /// Only messages from this nickname or uid.
    pub user: Option<String>,
    /// Only messages whose text (`txt`) matches.
    pub grep: Option<Regex>,
}

impl Filter {
    /// Whether `message`, of type `kind`, passes.
    #[must_use]
    pub fn passes(&self, kind: &str, message: &ServerMessage<'_>) -> bool {
        if let Some(only) = &self.only
            && !only.contains(kind)
        {
            return false;
        }
        if let Some(user) = &self.user {
            // Whoever the message is from: `nn`/`uid`, or the sender of a
            // site-wide gift or a noble title.
            let is = |key: &str| message.field(key).is_some_and(|v| v == user.as_str());
            if !(is("nn") || is("uid") || is("sn") || is("unk")) {
                return false;
            }
        }
        if let Some(grep) = &self.grep {
            let txt = message.field("txt").map(|t| t.to_string());
            if !txt.is_some_and(|t| grep.is_match(&t)) {
                return false;
            }
        }
        true
    }
}

/// A connection event, as the JSON output reports it (`"event"` key), so a
/// consumer knows when messages may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Connected to the server (not yet logged in).
    Connected {
        /// The server's URL.
        server: &'a str,
    },
    /// Logged in and joined the room: messages flow from here on.
    Joined,
    /// Messages sent between `from` and `to` (milliseconds since the Unix
    /// epoch) may be missing: the connection was lost and joined again.
    Gap {
        /// Last time the previous connection was known to receive.
        from_ms: i64,
        /// When the new connection joined.
        to_ms: i64,
    },
    /// The connection ended.
    Closed {
        /// Why, for a person.
        reason: &'a str,
    },
}

impl Event<'_> {
    /// Its `event` name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Connected { .. } => "connected",
            Self::Joined => "joined",
            Self::Gap { .. } => "gap",
            Self::Closed { .. } => "closed",
        }
    }
}

/// The JSON object of a connection event in `room` at `at_ms`:
/// `{"event":"gap","room":42,"at":"…","from":"…","to":"…"}`.
#[must_use]
pub fn event_json(room: u64, at_ms: i64, event: &Event<'_>) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("event".into(), event.name().into());
    object.insert("room".into(), room.into());
    object.insert("at".into(), rfc3339_ms(at_ms).into());
    match event {
        Event::Connected { server } => {
            object.insert("server".into(), (*server).into());
        }
        Event::Joined => {}
        Event::Gap { from_ms, to_ms } => {
            object.insert("from".into(), rfc3339_ms(*from_ms).into());
            object.insert("to".into(), rfc3339_ms(*to_ms).into());
        }
        Event::Closed { reason } => {
            object.insert("reason".into(), (*reason).into());
        }
    }
    Value::Object(object)
}

/// The JSON object of one message, the same for `watch`, `demo` and
/// `decode` (which adds `offset`): the object [`write_message_json`]
/// writes, read back. For callers that add to it; what only prints it
/// calls the writer.
#[must_use]
pub fn message_json(message: &ServerMessage<'_>, received_ms: Option<i64>) -> Value {
    let mut text = Vec::new();
    write_message_json(message, received_ms, &mut text);
    // The writer writes JSON by construction (the properties test reads
    // it back for arbitrary bodies); were it ever not to, the line keeps
    // the text rather than losing the message.
    serde_json::from_slice(&text)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&text).into_owned()))
}

/// One message as a compact JSON object, written straight into `out` (no
/// map, no string per key and value: what `collect` and `watch --format
/// json` spend per message): every field of the message (the first value
/// of a repeated key), with the fields core's schema nests expanded (lists
/// of maps to arrays of objects, maps to objects; a nested field that does
/// not read as its shape stays a string, as every unknown field does);
/// `type` (its STT type, empty if it has none); and `received_at` (RFC
/// 3339 UTC, milliseconds) when the receive time is known. A field of the
/// message named `received_at` is replaced by it, in its place.
pub fn write_message_json(
    message: &ServerMessage<'_>,
    received_ms: Option<i64>,
    out: &mut Vec<u8>,
) {
    let map = message.map();
    let kind = map.message_type().ok().flatten();
    let kind_text = kind.map(|t| {
        t.as_plain()
            .map_or_else(|| t.to_string().into(), Cow::Borrowed)
    });
    let kind_str: &str = kind_text.as_deref().unwrap_or("");
    // Only the type's nested fields need looking at per key: most types
    // have none, the rest one or two.
    let nested: Vec<&FieldSchema> = schema::message(schema::SERVER, kind_str)
        .map(|m| {
            m.fields
                .iter()
                .filter(|field| field.shape != FieldShape::Text)
                .collect()
        })
        .unwrap_or_default();
    let received_at = received_ms.map(rfc3339_ms);
    let mut seen = SeenKeys::default();
    let (mut has_type, mut has_received_at) = (false, false);
    let start = out.len();
    out.push(b'{');
    for (key, value) in map.pairs().flatten() {
        // Nearly every key is plain in both languages: one look at it.
        let key_plain = plain_in_both(key.raw());
        let name = if key_plain {
            Cow::Borrowed(key.raw())
        } else {
            key.as_plain()
                .map_or_else(|| key.to_string().into(), Cow::Borrowed)
        };
        if !seen.insert(name.clone()) {
            continue;
        }
        if out.len() > start + 1 {
            out.push(b',');
        }
        if key_plain {
            quoted(out, &name);
        } else {
            json_str(out, &name);
        }
        out.push(b':');
        has_type |= name == "type";
        // A field of the message named so takes our time, in its place.
        if let (Some(at), "received_at") = (&received_at, &*name) {
            has_received_at = true;
            json_str(out, at);
            continue;
        }
        let mark = out.len();
        let shape = nested.iter().find(|f| f.key == name).map(|f| f.shape);
        let written = match shape {
            Some(FieldShape::ListOfMaps) => write_list_of_maps(value, out),
            Some(FieldShape::Map) => write_map(value.as_map(), out),
            _ => false,
        };
        if !written {
            out.truncate(mark);
            json_text(out, value);
        }
    }
    let more = |out: &mut Vec<u8>, key: &str, value: &str| {
        if out.len() > start + 1 {
            out.push(b',');
        }
        json_str(out, key);
        out.push(b':');
        json_str(out, value);
    };
    if !has_type {
        more(out, "type", "");
    }
    if let (Some(at), false) = (&received_at, has_received_at) {
        more(out, "received_at", at);
    }
    out.push(b'}');
}

/// `value` (unescaped) as a JSON string, escaped piece by piece (no
/// unescaped copy is made).
fn json_text(out: &mut Vec<u8>, value: Text<'_>) {
    if plain_in_both(value.raw()) {
        return quoted(out, value.raw());
    }
    if let Some(plain) = value.as_plain() {
        return json_str(out, plain);
    }
    out.push(b'"');
    for piece in value.pieces() {
        if needs_escape(piece) {
            // serde_json's escape, without the quotes it adds.
            let mark = out.len();
            json_str(out, piece);
            out.pop();
            out.remove(mark);
        } else {
            out.extend_from_slice(piece.as_bytes());
        }
    }
    out.push(b'"');
}

/// `text` as a JSON string, escaped as `serde_json` escapes.
fn json_str(out: &mut Vec<u8>, text: &str) {
    // Nearly all text needs no escape: copied between quotes.
    if !needs_escape(text) {
        return quoted(out, text);
    }
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// `text`, which needs no JSON escape, between quotes.
fn quoted(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// Whether the raw STT `text` holds no escape (no `@`) and nothing JSON
/// escapes (see [`needs_escape`]): then it is its own JSON string body.
/// One pass, 8 bytes at a time: a byte below `0x20` or equal to one of
/// the three is found with the carries of a subtraction, as in the core's
/// scanner.
fn plain_in_both(text: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A high bit in each byte below `n` (exact as to whether there is one).
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH;
    let mut words = text.as_bytes().chunks_exact(8);
    for chunk in &mut words {
        let word = little_endian_word(chunk);
        let flags = below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word ^ (ONES * u64::from(b'@')), 1);
        if flags != 0 {
            return false;
        }
    }
    words
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\' && b != b'@')
}

/// Whether JSON needs an escape in `text`: a control character, `"` or
/// `\` (the bytes `serde_json` escapes). Checked 16 bytes at a time
/// without an early exit inside, which the compiler turns into vector
/// compares.
fn needs_escape(text: &str) -> bool {
    text.as_bytes().chunks(16).any(|chunk| {
        chunk.iter().fold(false, |any, &b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    })
}

/// The keys of one JSON object written so far: the first of a repeated key
/// wins, as in the STT map.
///
/// Messages have a few dozen keys and repeats are rare, so the common
/// question is "is this key new?", answered by a 128-bit filter of the keys
/// seen without comparing any. A key of up to 7 bytes is its own 64-bit
/// word, so a hit among short keys is settled by comparing words; only
/// longer keys compare their text. Past [`SeenKeys::SCAN_LIMIT`] keys (a
/// map made to be large) a hash set takes over, so a map with thousands of
/// distinct keys still costs time in proportion to them.
#[derive(Debug, Default)]
struct SeenKeys<'a> {
    keys: Vec<(u64, Cow<'a, str>)>,
    filter: [u64; 2],
    many: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> SeenKeys<'a> {
    /// Keys kept in the scanned list before the set takes over.
    const SCAN_LIMIT: usize = 64;

    /// Records `key`; `false` if it was seen already.
    fn insert(&mut self, key: Cow<'a, str>) -> bool {
        if let Some(many) = &mut self.many {
            return many.insert(key);
        }
        let word = key_word(&key);
        let spread = word.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let bits = [1u64 << (spread >> 58), 1u64 << ((spread >> 52) & 63)];
        let maybe = self.filter[0] & bits[0] != 0 && self.filter[1] & bits[1] != 0;
        if maybe
            && self
                .keys
                .iter()
                .any(|(w, k)| *w == word && (key.len() < 8 || *k == key))
        {
            return false;
        }
        self.filter[0] |= bits[0];
        self.filter[1] |= bits[1];
        if self.keys.len() == Self::SCAN_LIMIT {
            let mut many: HashSet<Cow<'a, str>> = self.keys.drain(..).map(|(_, k)| k).collect();
            many.insert(key);
            self.many = Some(many);
        } else {
            self.keys.push((word, key));
        }
        true
    }
}

/// Up to 8 bytes as a little-endian word, the missing high bytes zero.
/// Byte by byte into a register: a copy into an array read back as a word
/// would stall on the store.
fn little_endian_word(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |word, &b| (word << 8) | u64::from(b))
}

/// A key as one word: its bytes and length when it has at most 7 (equal
/// words, equal keys), else a hash of them with the top byte at least 8
/// (never a short key's word).
fn key_word(key: &str) -> u64 {
    let bytes = key.as_bytes();
    if bytes.len() < 8 {
        return little_endian_word(bytes) | ((bytes.len() as u64) << 56);
    }
    let mut hash = bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        hash =
            (hash.rotate_left(29) ^ little_endian_word(chunk)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    hash | (0x80 << 56)
}

/// `value` as a JSON array of objects written into `out`; `false` (and
/// something half written, for the caller to cut) if it does not read as a
/// list of maps.
fn write_list_of_maps(value: Text<'_>, out: &mut Vec<u8>) -> bool {
    out.push(b'[');
    for (i, item) in value.as_list().items().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let Ok(item) = item else { return false };
        if !write_map(item.as_map(), out) {
            return false;
        }
    }
    out.push(b']');
    true
}

/// `map` as a JSON object (first value of a repeated key) written into
/// `out`; `false` (something half written) if it does not read.
fn write_map(map: Map<'_>, out: &mut Vec<u8>) -> bool {
    let mut seen = SeenKeys::default();
    let start = out.len();
    out.push(b'{');
    for pair in map.pairs() {
        let Ok((key, value)) = pair else { return false };
        let name = key
            .as_plain()
            .map_or_else(|| key.to_string().into(), Cow::Borrowed);
        if !seen.insert(name.clone()) {
            continue;
        }
        if out.len() > start + 1 {
            out.push(b',');
        }
        json_str(out, &name);
        out.push(b':');
        json_text(out, value);
    }
    out.push(b'}');
    true
}

/// The STT type of `message` (empty if it has none).
#[must_use]
pub fn kind_of(message: &ServerMessage<'_>) -> String {
    message
        .map()
        .message_type()
        .ok()
        .flatten()
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Formats messages as configured.
#[derive(Debug, Clone)]
pub struct Renderer {
    format: Format,
    color: bool,
    utc: bool,
    filter: Filter,
}

const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();
const CYAN: Style = AnsiColor::Cyan.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const MAGENTA: Style = AnsiColor::Magenta.on_default();
const RED: Style = AnsiColor::Red.on_default();

/// Column the chat text starts at, after the nickname: longer names are
/// cut to it, so the text column stays put.
const NICK_WIDTH: usize = 18;

impl Renderer {
    /// A renderer; `filter` says which messages to show.
    #[must_use]
    pub fn new(format: Format, color: bool, filter: Filter) -> Self {
        Self {
            format,
            color,
            utc: false,
            filter,
        }
    }

    /// Text times in UTC instead of local time.
    #[must_use]
    pub fn with_utc(mut self, utc: bool) -> Self {
        self.utc = utc;
        self
    }

    /// The output format.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// Appends the line for `message` (received from `room` at
    /// `received_ms`) to `out`, with its newline; returns `false` when the
    /// message is filtered out.
    pub fn render(
        &self,
        room: u64,
        received_ms: i64,
        message: &ServerMessage<'_>,
        out: &mut String,
    ) -> bool {
        let kind = kind_of(message);
        if !self.filter.passes(&kind, message) {
            return false;
        }
        // Heartbeat traffic is protocol noise to a person.
        if self.filter.only.is_none()
            && self.format == Format::Text
            && matches!(kind.as_str(), "mrkl" | "pingreq")
        {
            return false;
        }
        match self.format {
            Format::Json => {
                let mut line = Vec::new();
                write_message_json(message, Some(received_ms), &mut line);
                out.push_str(&String::from_utf8_lossy(&line));
                out.push('\n');
            }
            Format::Text => self.text(room, received_ms, message, &kind, out),
        }
        true
    }

    /// Appends the line for a connection event, if the format shows it:
    /// JSON shows every one, text only gaps (the log tells the rest).
    pub fn render_event(&self, room: u64, at_ms: i64, event: &Event<'_>, out: &mut String) -> bool {
        match (self.format, event) {
            (Format::Json, _) => {
                out.push_str(&event_json(room, at_ms, event).to_string());
                out.push('\n');
                true
            }
            (Format::Text, Event::Gap { from_ms, to_ms }) => {
                self.stamp(room, at_ms, out);
                let line = format!(
                    "⚠ messages between {} and {} may be missing (reconnected)",
                    time_of_day(*from_ms, self.utc),
                    time_of_day(*to_ms, self.utc)
                );
                self.paint(RED, &line, out);
                out.push('\n');
                true
            }
            (Format::Text, _) => false,
        }
    }

    fn paint(&self, style: Style, text: &str, out: &mut String) {
        if self.color {
            let _ = write!(out, "{style}{text}{style:#}");
        } else {
            out.push_str(text);
        }
    }

    fn stamp(&self, room: u64, at_ms: i64, out: &mut String) {
        self.paint(
            DIM,
            &format!("{} [{room}] ", time_of_day(at_ms, self.utc)),
            out,
        );
    }

    fn text(
        &self,
        room: u64,
        received_ms: i64,
        message: &ServerMessage<'_>,
        kind: &str,
        out: &mut String,
    ) {
        self.stamp(room, received_ms, out);
        let s = |t: Option<Text<'_>>| {
            t.map(|t| terminal_safe(&t.to_string()).into_owned())
                .unwrap_or_default()
        };
        match message {
            ServerMessage::Chat(chat) => {
                let badge = s(chat.bnn);
                // The badge's name is cut, its level kept; the nickname
                // gets the rest of the column.
                let tag = if badge.is_empty() {
                    String::new()
                } else {
                    format!(" [{} {}]", fit_width(&badge, 6), fit_width(&s(chat.bl), 3))
                };
                let nn = fit_width(&s(chat.nn), NICK_WIDTH.saturating_sub(tag.width()).max(4));
                self.paint(BOLD, &nn, out);
                self.paint(CYAN, &tag, out);
                let width = nn.width() + tag.width();
                out.push_str(&" ".repeat(NICK_WIDTH.saturating_sub(width) + 1));
                out.push_str(&s(chat.txt));
            }
            ServerMessage::Enter(enter) => {
                self.paint(GREEN, &format!("→ {} entered the room", s(enter.nn)), out);
            }
            ServerMessage::Leave(leave) => {
                self.paint(DIM, &format!("← {} left the room", s(leave.nn)), out);
            }
            ServerMessage::Gift(gift) => {
                let line = format!(
                    "🎁 {} sent gift {} ×{} (combo {})",
                    s(gift.nn),
                    s(gift.gfid),
                    or(s(gift.gfcnt), "1"),
                    or(s(gift.hits), "1")
                );
                self.paint(YELLOW, &line, out);
            }
            ServerMessage::SiteGift(spbc) => {
                let line = format!(
                    "📣 {} gave {} {} ×{} in room {}",
                    s(spbc.sn),
                    s(spbc.dn),
                    s(spbc.gn),
                    or(s(spbc.gc), "1"),
                    s(spbc.drid)
                );
                self.paint(MAGENTA, &line, out);
            }
            ServerMessage::Noble(noble) => {
                let verb = if noble.is_renewal() {
                    "renewed"
                } else {
                    "opened"
                };
                self.paint(
                    MAGENTA,
                    &format!("👑 {} {verb} noble level {}", s(noble.unk), s(noble.nl)),
                    out,
                );
            }
            ServerMessage::StreamStatus(rss) => {
                let state = if s(rss.ss) == "1" {
                    "stream started"
                } else {
                    "stream stopped"
                };
                self.paint(RED, state, out);
            }
            ServerMessage::Error(error) => {
                self.paint(RED, &format!("server error {}", s(error.code)), out);
            }
            ServerMessage::FanRank(frank) => {
                let mut line = format!("🏆 fan ranking ({} fans):", or(s(frank.fc), "?"));
                for (i, entry) in frank.entries().items().flatten().take(3).enumerate() {
                    let entry = entry.as_map();
                    let _ = write!(
                        line,
                        " {}. {} ({})",
                        i + 1,
                        s(entry.get("nn").ok().flatten()),
                        or(s(entry.get("fs").ok().flatten()), "?")
                    );
                }
                self.paint(CYAN, &line, out);
            }
            ServerMessage::PingReq(ping) => {
                let tick = s(ping.tick);
                let when = tick
                    .parse::<i64>()
                    .map_or(tick, |ms| time_of_day(ms, self.utc));
                self.paint(DIM, &format!("ping from the server ({when})"), out);
            }
            _ => {
                // Any other type: its name, then its fields as key=value,
                // nested ones as compact JSON.
                self.paint(DIM, &format!("{} ", terminal_safe(kind)), out);
                let json = message_json(message, None);
                let mut first = true;
                for (key, value) in json.as_object().into_iter().flatten() {
                    if key == "type" {
                        continue;
                    }
                    if !first {
                        out.push(' ');
                    }
                    first = false;
                    let value = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    let _ = write!(out, "{}={}", terminal_safe(key), terminal_safe(&value));
                }
            }
        }
        out.push('\n');
    }
}

fn or(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value
    }
}

/// `text` cut to `width` terminal columns, with `…` where it was cut.
fn fit_width(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Whether `c` must not reach a terminal as it is: the C0 controls (ESC
/// starts escape sequences, BEL rings, CR and LF break the line), DEL, the
/// C1 controls (U+009B is a one-character CSI on some terminals), the line
/// and paragraph separators, and the bidi embeddings, overrides and
/// isolates (U+202A–U+202E, U+2066–U+2069), which reorder what follows.
fn unsafe_on_terminal(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character a terminal would act on written as a visible
/// escape: `\xNN` for the C0 and C1 controls and DEL (`\x1b` for ESC), and
/// `\u{NNNN}` for the others (`\u{202e}`). Borrowed when nothing needed it,
/// as for almost every line. A backslash stays as it is: the escapes are for
/// a person to read, not a format to parse back (JSON is that).
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_on_terminal) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !unsafe_on_terminal(c) {
            safe.push(c);
        } else if u32::from(c) <= 0xff {
            let _ = write!(safe, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(safe, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(safe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_in_both_agrees_with_a_byte_by_byte_look() {
        let bytes: Vec<u8> = (0u8..=0x7f).chain([0xc3, 0xa9, 0xe6, 0x96, 0x97]).collect();
        let text = "abcdefghijklmnopqrstuvwxyz0123456789 é斗鱼 AZ~";
        // Every byte of interest at every offset of texts of every length
        // up to 24, so that it falls in the words and in the tail.
        for len in 0..24 {
            for at in 0..len.max(1) {
                for &b in &bytes {
                    let mut t: Vec<u8> = text.as_bytes()[..len].to_vec();
                    if len > 0 {
                        t[at] = b;
                    }
                    // Bytes that break a character are no text: skipped.
                    let Ok(t) = String::from_utf8(t) else {
                        continue;
                    };
                    let want = !t
                        .bytes()
                        .any(|b| b < 0x20 || b == b'"' || b == b'\\' || b == b'@');
                    assert_eq!(plain_in_both(&t), want, "{t:?}");
                }
            }
        }
    }

    #[test]
    fn seen_keys_say_new_exactly_when_a_set_does() {
        // Short keys (one word each), long ones that differ only at the
        // end (hashed), empty and non-ASCII ones; enough of them to pass
        // the scanned list's limit, with repeats before and after it.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut keys = Vec::new();
        for _ in 0..600 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = ((x >> 8) % 40) as usize;
            let key = match x % 4 {
                0 => format!("k{}", n % 9),
                1 => format!("a_long_common_prefix_of_keys_{n}"),
                2 => "é".repeat(n % 5),
                _ => format!("{n:x}"),
            };
            keys.push(key);
        }
        let mut seen = SeenKeys::default();
        let mut want = HashSet::new();
        for key in &keys {
            let key = Cow::Borrowed(key.as_str());
            assert_eq!(
                seen.insert(key.clone()),
                want.insert(key.clone()),
                "{key:?}"
            );
        }
        assert!(
            want.len() > SeenKeys::SCAN_LIMIT,
            "past the limit: {}",
            want.len()
        );
    }

    #[test]
    fn json_keeps_first_values_in_order_and_adds_type_and_time() {
        let at = r#""2026-12-01T00:05:09.123Z""#;
        let cases = [
            (
                "type@=chatmsg/nn@=a@Sb/el@=eid@AA=7@AS@S/zz@=1/nn@=second/",
                r#"{"type":"chatmsg","nn":"a/b","el":[{"eid":"7"}],"zz":"1"}"#.to_string(),
                format!(
                    r#"{{"type":"chatmsg","nn":"a/b","el":[{{"eid":"7"}}],"zz":"1","received_at":{at}}}"#
                ),
            ),
            (
                // JSON escapes; a field named `received_at` gives way to the
                // time, in its place.
                "type@=chatmsg/txt@=\"q\" \\ \u{1}\t鱼/received_at@=mine/zz@=1/",
                r#"{"type":"chatmsg","txt":"\"q\" \\ \u0001\t鱼","received_at":"mine","zz":"1"}"#
                    .to_string(),
                format!(
                    r#"{{"type":"chatmsg","txt":"\"q\" \\ \u0001\t鱼","received_at":{at},"zz":"1"}}"#
                ),
            ),
            (
                "uid@=1/nn@=no type/",
                r#"{"uid":"1","nn":"no type","type":""}"#.to_string(),
                format!(r#"{{"uid":"1","nn":"no type","type":"","received_at":{at}}}"#),
            ),
            (
                // One nested item whose key repeats; the second `el` is a
                // repeat too.
                "type@=chatmsg/el@=eid@AA=7@ASeid@AA=8@AS@S/el@=again/",
                r#"{"type":"chatmsg","el":[{"eid":"7"}]}"#.to_string(),
                format!(r#"{{"type":"chatmsg","el":[{{"eid":"7"}}],"received_at":{at}}}"#),
            ),
            (
                // Keys are compared unescaped: these two differ.
                "type@=uenter/n@A@Ak@=escaped key/n@Ak@=dup/",
                r#"{"type":"uenter","n@@k":"escaped key","n@k":"dup"}"#.to_string(),
                format!(
                    r#"{{"type":"uenter","n@@k":"escaped key","n@k":"dup","received_at":{at}}}"#
                ),
            ),
        ];
        for (body, without, with) in cases {
            let message = ServerMessage::parse(body).unwrap();
            for (received, want) in [(None, without), (Some(1_796_083_509_123), with)] {
                let mut out = b"prefix".to_vec();
                write_message_json(&message, received, &mut out);
                assert_eq!(String::from_utf8(out).unwrap(), format!("prefix{want}"));
                assert_eq!(message_json(&message, received).to_string(), want);
            }
        }
    }

    #[test]
    fn json_expands_what_the_schema_nests_and_nothing_else() {
        let cases = [
            // The lists of maps of PROTOCOL.md §6, and this project's `whores`.
            ("type@=uenter/el@=eid@AA=1@AS@S/", r#""el":[{"eid":"1"}]"#),
            ("type@=dgb/el@=eid@AA=2@AS@S/", r#""el":[{"eid":"2"}]"#),
            ("type@=frank/list@=nn@AA=a@AS@S/", r#""list":[{"nn":"a"}]"#),
            ("type@=whores/list@=nn@AA=b@AS@S/", r#""list":[{"nn":"b"}]"#),
            // The same key where the schema nests nothing stays text (its
            // nested escapes then show).
            ("type@=spbc/el@=eid@AA=3@AS@S/", r#""el":"eid@A=3@S/""#),
            ("type@=chatmsg/list@=nn@AA=c@AS@S/", r#""list":"nn@A=c@S/""#),
            // A nested field that does not read as one stays text too.
            ("type@=frank/list@=a@AAb/", r#""list":"a@Ab""#),
        ];
        for (body, want) in cases {
            let json = message_json(&ServerMessage::parse(body).unwrap(), None).to_string();
            assert!(json.contains(want), "{body}: {json}");
        }
    }

    #[test]
    fn text_filters_heartbeats_and_aligns() {
        let r = Renderer::new(Format::Text, false, Filter::default());
        let mut out = String::new();
        assert!(!r.render(
            1,
            0,
            &ServerMessage::parse("type@=mrkl/").unwrap(),
            &mut out
        ));
        assert!(r.render(
            1,
            0,
            &ServerMessage::parse("type@=chatmsg/nn@=鱼丸/txt@=hi/").unwrap(),
            &mut out
        ));
        let line = out.trim_end();
        assert!(
            line.ends_with(&format!("鱼丸{}hi", " ".repeat(NICK_WIDTH - 4 + 1))),
            "{line:?}"
        );
        let only = Filter {
            only: Some(["dgb".to_string()].into()),
            ..Filter::default()
        };
        let only = Renderer::new(Format::Json, false, only);
        assert!(!only.render(
            1,
            0,
            &ServerMessage::parse("type@=chatmsg/").unwrap(),
            &mut out
        ));
    }

    /// Every control a peer could slip into a field, with its escape.
    const HOSTILE: [(&str, &str); 10] = [
        ("\x1b", "\\x1b"),
        ("\x07", "\\x07"),
        ("\r", "\\x0d"),
        ("\n", "\\x0a"),
        ("\x7f", "\\x7f"),
        ("\u{9b}", "\\x9b"),
        ("\u{202e}", "\\u{202e}"),
        ("\u{202a}", "\\u{202a}"),
        ("\u{2066}", "\\u{2066}"),
        ("\u{2029}", "\\u{2029}"),
    ];

    #[test]
    fn terminal_safe_escapes_controls_and_bidi_and_keeps_the_rest() {
        assert!(matches!(terminal_safe("鱼丸 🐟 a\\b"), Cow::Borrowed(_)));
        for (raw, escaped) in HOSTILE {
            assert_eq!(terminal_safe(&format!("a{raw}b")), format!("a{escaped}b"));
        }
        // Marks that reorder nothing, and unassigned neighbours, pass.
        assert_eq!(terminal_safe("\u{200e}x\u{2065}"), "\u{200e}x\u{2065}");
    }

    /// Whether `line` holds anything a terminal would act on.
    fn has_raw_controls(line: &str) -> bool {
        line.chars().any(unsafe_on_terminal)
    }

    #[test]
    fn every_text_line_escapes_what_came_from_the_network() {
        let evil: String = HOSTILE.iter().map(|(raw, _)| *raw).collect();
        // STT escapes only `/` and `@`: controls travel as they are.
        let bodies = [
            format!("type@=chatmsg/nn@={evil}/txt@={evil}/bnn@={evil}/bl@={evil}/"),
            format!("type@=uenter/nn@={evil}/"),
            format!("type@=dgb/nn@={evil}/gfid@={evil}/gfcnt@={evil}/hits@={evil}/"),
            format!("type@=spbc/sn@={evil}/dn@={evil}/gn@={evil}/gc@={evil}/drid@={evil}/"),
            format!("type@=anbc/unk@={evil}/nl@={evil}/"),
            format!("type@=error/code@={evil}/"),
            format!("type@=x{evil}/a@={evil}/"),
        ];
        for color in [false, true] {
            let r = Renderer::new(Format::Text, color, Filter::default());
            for body in &bodies {
                let message = ServerMessage::parse(body).unwrap();
                let mut out = String::new();
                assert!(r.render(1, 0, &message, &mut out), "{body:?}");
                let line = out.strip_suffix('\n').unwrap();
                // Colour codes are ours; take them out before looking.
                let plain = anstream::adapter::strip_str(line).to_string();
                assert!(!has_raw_controls(&plain), "{body:?} gave {line:?}");
                assert!(plain.contains("\\x1b"), "{body:?} gave {line:?}");
            }
        }
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    fn text(body: &str) -> String {
        let r = Renderer::new(Format::Text, false, Filter::default()).with_utc(true);
        let mut out = String::new();
        r.render(1, 0, &ServerMessage::parse(body).unwrap(), &mut out);
        out
    }

    #[test]
    fn wide_names_keep_the_text_column() {
        let short = text("type@=chatmsg/nn@=a/txt@=hi/");
        let wide = text(&format!("type@=chatmsg/nn@={}/txt@=hi/", "鱼".repeat(30)));
        let column = |line: &str| line[..line.find("hi").unwrap()].width();
        assert_eq!(column(&short), column(&wide), "{short}{wide}");
        assert!(wide.contains('…'));
    }

    #[test]
    fn other_types_read_as_key_value() {
        assert_eq!(
            text("type@=frank/fc@=9/list@=nn@AA=a@ASfs@AA=5@AS@S/"),
            "00:00:00 [1] 🏆 fan ranking (9 fans): 1. a (5)\n"
        );
        assert_eq!(
            text("type@=newthing/a@=1/b@=x y/"),
            "00:00:00 [1] newthing a=1 b=x y\n"
        );
        let r = Renderer::new(
            Format::Text,
            false,
            Filter {
                only: Some(["pingreq".to_string()].into()),
                ..Filter::default()
            },
        )
        .with_utc(true);
        let mut out = String::new();
        r.render(
            1,
            0,
            &ServerMessage::parse("type@=pingreq/tick@=1000/").unwrap(),
            &mut out,
        );
        assert_eq!(out, "00:00:00 [1] ping from the server (00:00:01)\n");
    }

    #[test]
    fn json_has_received_at_and_events() {
        let json = message_json(
            &ServerMessage::parse("type@=chatmsg/txt@=a/").unwrap(),
            Some(1),
        );
        assert_eq!(
            json.to_string(),
            r#"{"type":"chatmsg","txt":"a","received_at":"1970-01-01T00:00:00.001Z"}"#
        );
        let gap = event_json(
            7,
            2000,
            &Event::Gap {
                from_ms: 1000,
                to_ms: 2000,
            },
        );
        assert_eq!(gap["event"], "gap");
        assert_eq!(gap["from"], "1970-01-01T00:00:01.000Z");
        assert_eq!(gap["room"], 7);
    }

    #[test]
    fn user_and_grep_filters() {
        let f = Filter {
            user: Some("12".into()),
            grep: Some(Regex::new("^h").unwrap()),
            ..Filter::default()
        };
        fn m(b: &str) -> ServerMessage<'_> {
            ServerMessage::parse(b).unwrap()
        }
        assert!(f.passes("chatmsg", &m("type@=chatmsg/uid@=12/txt@=hi/")));
        assert!(!f.passes("chatmsg", &m("type@=chatmsg/uid@=13/txt@=hi/")));
        assert!(!f.passes("chatmsg", &m("type@=chatmsg/uid@=12/txt@=oh/")));
        assert!(!f.passes("uenter", &m("type@=uenter/uid@=12/")));
    }
}

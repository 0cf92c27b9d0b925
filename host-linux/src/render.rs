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
use std::time::{SystemTime, UNIX_EPOCH};

use douyu_core::message::ServerMessage;
use douyu_core::schema::{self, FieldShape};
use douyu_core::stt::{Map, Text};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

/// Output format of `watch` and `demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned, coloured lines for a person.
    Text,
    /// One JSON object per message, every field, nested ones expanded.
    Json,
}

/// Formats messages as configured.
#[derive(Debug, Clone)]
pub struct Renderer {
    format: Format,
    color: bool,
    only: Option<HashSet<String>>,
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const CYAN: &str = "\x1b[36m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const MAGENTA: &str = "\x1b[35m";
const RED: &str = "\x1b[31m";

/// Column the chat text starts at, after the nickname.
const NICK_WIDTH: usize = 18;

impl Renderer {
    /// A renderer; `only` limits output to those message types.
    pub fn new(format: Format, color: bool, only: Option<HashSet<String>>) -> Self {
        Self {
            format,
            color,
            only,
        }
    }

    /// Appends the line for `message` (received from `room`) to `out`, with
    /// its newline; returns `false` when the message is filtered out.
    pub fn render(&self, room: u64, message: &ServerMessage<'_>, out: &mut String) -> bool {
        let kind = message
            .map()
            .message_type()
            .ok()
            .flatten()
            .map(|t| t.to_string())
            .unwrap_or_default();
        match &self.only {
            Some(only) if !only.contains(&kind) => return false,
            // Heartbeat traffic is protocol noise to a person.
            None if self.format == Format::Text && matches!(kind.as_str(), "mrkl" | "pingreq") => {
                return false;
            }
            _ => {}
        }
        match self.format {
            Format::Json => {
                out.push_str(&to_json(message).to_string());
                out.push('\n');
            }
            Format::Text => self.text(room, message, &kind, out),
        }
        true
    }

    fn paint(&self, color: &str, text: &str, out: &mut String) {
        if self.color {
            let _ = write!(out, "{color}{text}{RESET}");
        } else {
            out.push_str(text);
        }
    }

    fn text(&self, room: u64, message: &ServerMessage<'_>, kind: &str, out: &mut String) {
        self.paint(DIM, &format!("{} [{room}] ", clock()), out);
        let s = |t: Option<Text<'_>>| {
            t.map(|t| terminal_safe(&t.to_string()).into_owned())
                .unwrap_or_default()
        };
        match message {
            ServerMessage::Chat(chat) => {
                let nn = s(chat.nn);
                self.paint(BOLD, &nn, out);
                let badge = s(chat.bnn);
                let mut width = nn.width();
                if !badge.is_empty() {
                    let tag = format!(" [{badge} {}]", s(chat.bl));
                    width += tag.width();
                    self.paint(CYAN, &tag, out);
                }
                out.push_str(&" ".repeat(NICK_WIDTH.saturating_sub(width) + 1));
                out.push_str(&s(chat.txt));
            }
            ServerMessage::Enter(enter) => {
                self.paint(GREEN, &format!("→ {} entered the room", s(enter.nn)), out);
            }
            ServerMessage::Gift(gift) => {
                let line = format!(
                    "🎁 {} sent gift {} ×{} (combo {})",
                    s(gift.nn),
                    s(gift.gfid),
                    s(gift.gfcnt),
                    s(gift.hits)
                );
                self.paint(YELLOW, &line, out);
            }
            ServerMessage::SiteGift(spbc) => {
                let line = format!(
                    "📣 {} gave {} {} ×{} in room {}",
                    s(spbc.sn),
                    s(spbc.dn),
                    s(spbc.gn),
                    s(spbc.gc),
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
                self.paint(RED, &format!("server error {}", s(error.code)), out)
            }
            other => {
                let _ = write!(
                    out,
                    "{}: {}",
                    terminal_safe(kind),
                    terminal_safe(other.map().raw())
                );
            }
        }
        out.push('\n');
    }
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

/// Wall-clock time of day, UTC, as `HH:MM:SS`.
fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// Every field of `message` as a JSON object (first value of a repeated key),
/// with the fields core's schema knows to nest expanded: lists of maps to
/// arrays of objects, maps to objects. A nested field that does not read as
/// its shape stays a string, as every unknown field does.
pub fn to_json(message: &ServerMessage<'_>) -> Value {
    let map = message.map();
    let kind = map
        .message_type()
        .ok()
        .flatten()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut object = serde_json::Map::new();
    for (key, value) in map.pairs().flatten() {
        let key = key.to_string();
        if object.contains_key(&key) {
            continue;
        }
        let json = match schema::server_field(&kind, &key) {
            Some(FieldShape::ListOfMaps) => list_of_maps(value),
            Some(FieldShape::Map) => map_to_json(value.as_map()),
            _ => None,
        };
        let json = json.unwrap_or_else(|| Value::String(value.to_string()));
        object.insert(key, json);
    }
    Value::Object(object)
}

/// A list of maps as JSON, or `None` if the value does not read as one.
fn list_of_maps(value: Text<'_>) -> Option<Value> {
    let mut items = Vec::new();
    for item in value.as_list().items() {
        items.push(map_to_json(item.ok()?.as_map())?);
    }
    Some(Value::Array(items))
}

fn map_to_json(map: Map<'_>) -> Option<Value> {
    let mut object = serde_json::Map::new();
    for pair in map.pairs() {
        let (key, value) = pair.ok()?;
        object
            .entry(key.to_string())
            .or_insert_with(|| Value::String(value.to_string()));
    }
    Some(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_expands_nested_fields_and_keeps_all() {
        let body = "type@=chatmsg/nn@=a@Sb/el@=eid@AA=7@AS@S/zz@=1/nn@=second/";
        let message = ServerMessage::parse(body).unwrap();
        let json = to_json(&message);
        assert_eq!(
            json.to_string(),
            r#"{"type":"chatmsg","nn":"a/b","el":[{"eid":"7"}],"zz":"1"}"#
        );
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
            let json = to_json(&ServerMessage::parse(body).unwrap()).to_string();
            assert!(json.contains(want), "{body}: {json}");
        }
    }

    #[test]
    fn text_filters_heartbeats_and_aligns() {
        let r = Renderer::new(Format::Text, false, None);
        let mut out = String::new();
        assert!(!r.render(1, &ServerMessage::parse("type@=mrkl/").unwrap(), &mut out));
        assert!(r.render(
            1,
            &ServerMessage::parse("type@=chatmsg/nn@=鱼丸/txt@=hi/").unwrap(),
            &mut out
        ));
        let line = out.trim_end();
        assert!(
            line.ends_with(&format!("鱼丸{}hi", " ".repeat(NICK_WIDTH - 4 + 1))),
            "{line:?}"
        );
        let only = Renderer::new(Format::Json, false, Some(["dgb".to_string()].into()));
        assert!(!only.render(
            1,
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
            let r = Renderer::new(Format::Text, color, None);
            for body in &bodies {
                let message = ServerMessage::parse(body).unwrap();
                let mut out = String::new();
                assert!(r.render(1, &message, &mut out), "{body:?}");
                let line = out.strip_suffix('\n').unwrap();
                // Colour codes are ours; take them out before looking.
                let mut plain = line.to_string();
                for code in [RESET, DIM, BOLD, CYAN, GREEN, YELLOW, MAGENTA, RED] {
                    plain = plain.replace(code, "");
                }
                assert!(!has_raw_controls(&plain), "{body:?} gave {line:?}");
                assert!(plain.contains("\\x1b"), "{body:?} gave {line:?}");
            }
        }
    }
}

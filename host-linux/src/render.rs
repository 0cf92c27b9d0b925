//! Turning server messages into lines: coloured text for people, JSON for `jq`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use douyu_core::message::ServerMessage;
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
        let s = |t: Option<Text<'_>>| t.map(|t| t.to_string()).unwrap_or_default();
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
                let _ = write!(out, "{kind}: {}", other.map().raw());
            }
        }
        out.push('\n');
    }
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

/// Fields that hold a list of maps, per message type.
fn nested_list(kind: &str, key: &str) -> bool {
    matches!(
        (kind, key),
        ("chatmsg" | "uenter" | "dgb", "el") | ("frank", "list")
    )
}

/// Every field of `message` as a JSON object (first value of a repeated key),
/// with the known nested fields expanded to arrays of objects.
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
        let json = if nested_list(&kind, &key) {
            list_of_maps(value).unwrap_or_else(|| Value::String(value.to_string()))
        } else {
            Value::String(value.to_string())
        };
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
}

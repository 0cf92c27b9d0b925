//! `douyu decode --format xml|ass`: chat lines for danmaku players.
//!
//! - **xml**: the Bilibili danmaku XML that players and converters (such as
//!   DanmakuFactory) read: `<i>`, then one `<d p="time,mode,size,color,
//!   timestamp,pool,user,id">text</d>` per chat line.
//! - **ass**: Advanced SubStation Alpha subtitles in which every chat line
//!   scrolls across the picture from right to left, for any video player.
//!   Every line gets an event: when all lanes are taken the line goes to the
//!   lane that frees soonest (it may overlap), none is dropped.
//!
//! Both are written as the capture is read, one line at a time: memory does
//! not grow with the capture.

use std::io::{self, Write};

use unicode_width::UnicodeWidthStr;

/// One chat line to export.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// Seconds since the start of the export (the first frame, or `--start`).
    pub at: f64,
    /// When it was received, milliseconds since the Unix epoch.
    pub received_ms: i64,
    /// The sender's nickname.
    pub nickname: &'a str,
    /// The sender's uid (or nickname when there is none).
    pub user: &'a str,
    /// The text.
    pub text: &'a str,
    /// Its colour, `0xRRGGBB`.
    pub rgb: u32,
}

/// An export format's writer.
pub trait Exporter {
    /// Writes what comes before the first line.
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()>;
    /// Writes one chat line.
    fn line(&mut self, out: &mut dyn Write, line: &Line<'_>) -> io::Result<()>;
    /// Writes what comes after the last line.
    fn end(&mut self, out: &mut dyn Write) -> io::Result<()>;
}

/// Whether XML 1.0 allows `c` in a document at all.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `text` escaped for XML text and attribute values; characters XML cannot
/// hold at all (most controls) are dropped, line breaks become spaces.
#[must_use]
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// The Bilibili danmaku XML.
#[derive(Debug)]
pub struct Xml {
    room: Option<u64>,
    count: u64,
}

impl Xml {
    /// A writer for the chat of `room` (if one room).
    #[must_use]
    pub fn new(room: Option<u64>) -> Self {
        Self { room, count: 0 }
    }
}

impl Exporter for Xml {
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(out, "<i>")?;
        writeln!(out, "  <chatserver>douyu</chatserver>")?;
        if let Some(room) = self.room {
            writeln!(out, "  <chatid>{room}</chatid>")?;
        }
        writeln!(out, "  <source>douyu decode</source>")
    }

    fn line(&mut self, out: &mut dyn Write, line: &Line<'_>) -> io::Result<()> {
        self.count += 1;
        // time, mode (1: scrolling), size (25: normal), colour (decimal
        // RGB), Unix time, pool (0: normal), user, row id.
        writeln!(
            out,
            r#"  <d p="{:.3},1,25,{},{},0,{},{}">{}</d>"#,
            line.at.max(0.0),
            line.rgb,
            line.received_ms.div_euclid(1000),
            xml_escape(line.user),
            self.count,
            xml_escape(line.text)
        )
    }

    fn end(&mut self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "</i>")
    }
}

/// Width of the ASS script's canvas.
const PLAY_X: u32 = 1920;
/// Height of the ASS script's canvas.
const PLAY_Y: u32 = 1080;
/// Font size in canvas pixels.
const FONT: u32 = 48;
/// Height of one lane.
const LANE: u32 = FONT + 8;
/// Seconds a line takes to cross the picture.
const SCROLL_SECS: f64 = 8.0;
/// Lanes used: the top two thirds of the picture, as players do.
const LANES: usize = (PLAY_Y * 2 / 3 / LANE) as usize;

/// ASS subtitles with scrolling danmaku.
#[derive(Debug)]
pub struct Ass {
    room: Option<u64>,
    /// Per lane: (start, width in pixels) of its last line.
    lanes: [Option<(f64, f64)>; LANES],
}

impl Ass {
    /// A writer for the chat of `room` (if one room).
    #[must_use]
    pub fn new(room: Option<u64>) -> Self {
        Self {
            room,
            lanes: [None; LANES],
        }
    }

    /// The lane for a line of `width` pixels starting at `at`: the first
    /// whose last line has fully entered and will not be caught up with;
    /// failing that, the one that frees soonest.
    fn lane(&mut self, at: f64, width: f64) -> usize {
        let speed = |w: f64| (f64::from(PLAY_X) + w) / SCROLL_SECS;
        // When a lane's last line leaves room for this one: its tail must
        // have entered the picture, and this line's head must not reach the
        // left edge before that tail has left it.
        let free_at = |(start, w): (f64, f64)| {
            let entered = start + (w + f64::from(FONT)) / speed(w);
            let not_caught = start + SCROLL_SECS - f64::from(PLAY_X) / speed(width);
            entered.max(not_caught)
        };
        let mut best = (0, f64::INFINITY);
        for (i, lane) in self.lanes.iter().enumerate() {
            let free = lane.map_or(f64::NEG_INFINITY, free_at);
            if free <= at {
                best = (i, free);
                break;
            }
            if free < best.1 {
                best = (i, free);
            }
        }
        self.lanes[best.0] = Some((at, width));
        best.0
    }
}

/// `secs` as an ASS time, `H:MM:SS.cc`.
fn ass_time(secs: f64) -> String {
    let cs = (secs.max(0.0) * 100.0).round() as u64;
    format!(
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        cs / 6000 % 60,
        cs / 100 % 60,
        cs % 100
    )
}

/// `text` made safe for an ASS event's text: braces would open an override
/// block and a backslash an escape (`\N`, `\h`), so they are shown as the
/// full-width `｛｝` and as a backslash followed by an invisible word joiner;
/// line breaks and other controls become spaces.
#[must_use]
pub fn ass_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '{' => out.push('｛'),
            '}' => out.push('｝'),
            '\\' => out.push_str("\\\u{2060}"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A nickname for an event's Name field: no commas (they separate the
/// fields) and no controls.
fn ass_name(name: &str) -> String {
    name.chars()
        .map(|c| if c == ',' || c.is_control() { ' ' } else { c })
        .collect()
}

impl Exporter for Ass {
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "[Script Info]")?;
        match self.room {
            Some(room) => writeln!(out, "; Danmaku of Douyu room {room}, by douyu decode")?,
            None => writeln!(out, "; Douyu danmaku, by douyu decode")?,
        }
        writeln!(out, "Title: Douyu danmaku")?;
        writeln!(out, "ScriptType: v4.00+")?;
        writeln!(out, "PlayResX: {PLAY_X}")?;
        writeln!(out, "PlayResY: {PLAY_Y}")?;
        writeln!(out, "WrapStyle: 2")?;
        writeln!(out, "ScaledBorderAndShadow: yes")?;
        writeln!(out)?;
        writeln!(out, "[V4+ Styles]")?;
        writeln!(
            out,
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, \
             BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, \
             BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding"
        )?;
        writeln!(
            out,
            "Style: Danmaku,sans-serif,{FONT},&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,\
             0,0,0,0,100,100,0,0,1,2,0,7,0,0,0,1"
        )?;
        writeln!(out)?;
        writeln!(out, "[Events]")?;
        writeln!(
            out,
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"
        )
    }

    fn line(&mut self, out: &mut dyn Write, line: &Line<'_>) -> io::Result<()> {
        let text = ass_escape(line.text);
        // Full-width characters take a whole em, the others half of one.
        let width = (text.width().max(1) as f64) * f64::from(FONT) / 2.0;
        let lane = self.lane(line.at, width);
        let y = lane as u32 * LANE;
        let colour = if line.rgb == 0xFF_FF_FF {
            String::new()
        } else {
            // ASS colours are &HBBGGRR&.
            let (r, g, b) = (line.rgb >> 16 & 0xff, line.rgb >> 8 & 0xff, line.rgb & 0xff);
            format!("\\c&H{b:02X}{g:02X}{r:02X}&")
        };
        writeln!(
            out,
            "Dialogue: 0,{},{},Danmaku,{},0,0,0,,{{\\move({PLAY_X},{y},{},{y}){colour}}}{text}",
            ass_time(line.at),
            ass_time(line.at + SCROLL_SECS),
            ass_name(line.nickname),
            -(width.ceil() as i64),
        )
    }

    fn end(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at: f64, text: &str) -> Line<'_> {
        Line {
            at,
            received_ms: 1_000_000,
            nickname: "a,b",
            user: "7",
            text,
            rgb: 0xFF0000,
        }
    }

    #[test]
    fn xml_escapes_and_drops_what_xml_cannot_hold() {
        assert_eq!(xml_escape("<b>&\"'\u{1}\n"), "&lt;b&gt;&amp;&quot;&apos; ");
        let mut out = Vec::new();
        let mut xml = Xml::new(Some(9));
        xml.begin(&mut out).unwrap();
        xml.line(&mut out, &line(1.5, "hi <3")).unwrap();
        xml.end(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#"<d p="1.500,1,25,16711680,1000,0,7,1">hi &lt;3</d>"#),
            "{text}"
        );
    }

    #[test]
    fn ass_lines_escape_and_take_lanes() {
        assert_eq!(ass_escape("{\\N}\n"), "｛\\\u{2060}N｝ ");
        assert_eq!(ass_time(3723.456), "1:02:03.46");
        let mut ass = Ass::new(None);
        let mut out = Vec::new();
        ass.line(&mut out, &line(0.0, "first")).unwrap();
        ass.line(&mut out, &line(0.0, "second")).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Dialogue: 0,0:00:00.00,0:00:08.00,Danmaku,a b,"));
        assert!(lines[0].contains("\\move(1920,0,"), "{text}");
        assert!(lines[1].contains("\\move(1920,56,"), "{text}");
        assert!(lines[0].contains("\\c&H0000FF&"), "{text}");
        // Every lane busy: lines still come, none dropped.
        let mut out = Vec::new();
        for _ in 0..LANES * 3 {
            ass.line(&mut out, &line(0.1, "x")).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), LANES * 3);
    }
}

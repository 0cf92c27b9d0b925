//! What the firmware tells its user: a line per decoded chat message
//! (`nn: txt`) and per session event (`event: …`), and the summary the test
//! harness reads.

use core::time::Duration;

use douyu_core::frame::FrameError;
use douyu_core::message::ServerMessage;
use douyu_core::session::{ClientEvent, CloseReason, Instant, SessionError};
use douyu_core::stt::Text;

use crate::semihosting::Console;

/// Counts kept over the run; the summary line prints them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// `loginres` messages (logins accepted).
    pub loginres: u32,
    /// `joingroup`s sent.
    pub joined: u32,
    /// `chatmsg` messages decoded.
    pub chatmsg: u32,
    /// Other server messages decoded.
    pub other: u32,
    /// Heartbeats sent.
    pub heartbeats: u32,
    /// Unreadable input, server errors, dead links and transport failures.
    pub errors: u32,
    /// Logouts sent (the session's clean end).
    pub logout: u32,
}

/// The console and the counts.
#[derive(Default)]
pub struct Report {
    /// Where lines go.
    pub console: Console,
    /// The counts so far.
    pub counts: Counts,
}

impl Report {
    /// A report with nothing counted.
    pub const fn new() -> Self {
        Self {
            console: Console::new(),
            counts: Counts {
                loginres: 0,
                joined: 0,
                chatmsg: 0,
                other: 0,
                heartbeats: 0,
                errors: 0,
                logout: 0,
            },
        }
    }

    /// Prints a line of fixed text.
    pub fn line(&mut self, text: &str) {
        self.console.text(text).end_line();
    }

    /// Starts an event line.
    fn event_start(&mut self) -> &mut Console {
        self.console.text("event: ")
    }

    /// Counts and prints a session event.
    pub fn event(&mut self, event: ClientEvent<'_>) {
        match event {
            ClientEvent::LoggedIn(_) => {
                self.counts.loginres += 1;
                self.event_start().text("logged in").end_line();
            }
            ClientEvent::Joined { room } => {
                self.counts.joined += 1;
                self.event_start().text("joined room ").num(room).end_line();
            }
            ClientEvent::Message(ServerMessage::Chat(chat)) => {
                self.counts.chatmsg += 1;
                unescaped(&mut self.console, chat.nn);
                self.console.text(": ");
                unescaped(&mut self.console, chat.txt);
                self.console.end_line();
            }
            ClientEvent::Message(_) => self.counts.other += 1,
            ClientEvent::ServerError { code } => {
                self.counts.errors += 1;
                let line = self.event_start().text("server error");
                if let Some(code) = code {
                    line.text(" ").int(code);
                }
                line.end_line();
            }
            ClientEvent::Invalid(e) => {
                self.counts.errors += 1;
                let line = self.event_start().text("invalid input: ");
                session_error(line, e);
                line.end_line();
            }
            ClientEvent::Dead { silent_for } => {
                self.counts.errors += 1;
                let line = self.event_start().text("dead link: silent for ");
                line.num(millis(silent_for)).text(" ms").end_line();
            }
            ClientEvent::Closed(reason) => self.closed(reason),
            // The event list may grow; a new kind is shown, not dropped.
            _ => self.event_start().text("unknown event").end_line(),
        }
    }

    fn closed(&mut self, reason: CloseReason) {
        if reason == CloseReason::Logout {
            self.counts.logout += 1;
        }
        let line = self.event_start().text("closed: ");
        match reason {
            CloseReason::Logout => line.text("logged out"),
            CloseReason::Silent { silent_for } => {
                line.text("silent for ").num(millis(silent_for)).text(" ms")
            }
            CloseReason::ServerError { code } => line.text("server error ").int(code.unwrap_or(-1)),
            CloseReason::Refused { code } => line.text("refused with error ").int(code),
            CloseReason::Protocol(e) => session_error(line.text("protocol error: "), e),
            CloseReason::Local => line.text("closed locally"),
            CloseReason::Disconnected => line.text("peer disconnected"),
            _ => line.text("for another reason"),
        }
        .end_line();
    }

    /// Counts and prints a failure of the connection itself.
    pub fn failure(&mut self, what: &str) {
        self.counts.errors += 1;
        self.event_start()
            .text("connection failed: ")
            .text(what)
            .end_line();
    }

    /// Notes heartbeats sent by `now`, as counted by [`crate::link`].
    pub fn heartbeats(&mut self, sent: u32, now: Instant) {
        while self.counts.heartbeats < sent {
            self.counts.heartbeats += 1;
            let line = self.event_start().text("heartbeat sent at ");
            line.num(now.as_millis()).text(" ms").end_line();
        }
    }

    /// Prints the closing lines: device time, bytes received, stack use, the
    /// summary.
    pub fn finish(&mut self, now: Instant) {
        let c = &mut self.console;
        c.text("device time: ")
            .num(now.as_millis())
            .text(" ms")
            .end_line();
        let received = crate::link::bytes_received();
        c.text("received: ")
            .num(received.into())
            .text(" B")
            .end_line();
        let (used, size) = (crate::stack::high_water(), crate::stack::size());
        c.text("stack: high-water ").num(used as u64).text(" B of ");
        c.num(size as u64).text(" B").end_line();
        let n = self.counts;
        c.text("summary: loginres=").num(n.loginres.into());
        c.text(" joined=").num(n.joined.into());
        c.text(" chatmsg=").num(n.chatmsg.into());
        c.text(" other=").num(n.other.into());
        c.text(" heartbeats=").num(n.heartbeats.into());
        c.text(" errors=").num(n.errors.into());
        c.text(" logout=").num(n.logout.into()).end_line();
    }
}

/// Writes a field's unescaped text, or nothing when it is absent.
fn unescaped(console: &mut Console, text: Option<Text<'_>>) {
    for piece in text.iter().flat_map(Text::pieces) {
        console.text(piece);
    }
}

/// Writes what is wrong, by the conformance vectors' class names, with the
/// sizes for the one a device meets by design (a frame beyond its buffer).
fn session_error(console: &mut Console, e: SessionError) -> &mut Console {
    match e {
        SessionError::Stream(e) => match e.error {
            FrameError::TooLarge { length, capacity } => console
                .text("frame of ")
                .num(u64::from(length) + 4)
                .text(" B exceeds the ")
                .num(capacity as u64)
                .text(" B receive buffer"),
            other => console.text("frame: ").text(other.class()),
        },
        SessionError::Stt(e) => console.text("body: ").text(e.class()),
        SessionError::UnexpectedType { found } => console
            .text("unexpected frame type ")
            .num(found.to_u16().into()),
        SessionError::OutOfOrder { message } => console.text(message).text(" out of order"),
        SessionError::BadField { field } => console.text("bad field ").text(field),
        SessionError::BufferFull { .. } => console.text("buffer full"),
        SessionError::NotReady => console.text("not ready"),
        _ => console.text("session error"),
    }
}

/// A duration in whole milliseconds.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

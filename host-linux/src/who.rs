//! `douyu who`: the nicknames online in a room, asked of a server that
//! speaks this project's `whoreq` extension.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use douyu_core::message::ServerMessage;
use douyu_core::session::ClientEvent;
use tracing::warn;

use crate::exit::Classify as _;
use crate::render::terminal_safe;
use crate::watch::{Handler, run_once};
use crate::wire::Endpoint;

/// Who is online, as one reply told it.
#[derive(Debug, Default)]
struct Asker {
    asked: bool,
    logged_in: bool,
    refused: Option<Option<i64>>,
    /// The nicknames listed, and how many are online in all.
    answer: Option<(Vec<String>, u64)>,
}

impl Handler for Asker {
    fn on_event(&mut self, _room: u64, event: &ClientEvent<'_>) -> anyhow::Result<()> {
        match event {
            ClientEvent::LoggedIn(_) => self.logged_in = true,
            ClientEvent::ServerError { code } => self.refused = Some(*code),
            ClientEvent::Message(ServerMessage::Who(who)) if self.answer.is_none() => {
                let mut names = Vec::new();
                for entry in who.entries().items() {
                    let nickname = entry?.as_map().get("nn")?;
                    names.push(nickname.map(|n| n.to_string()).unwrap_or_default());
                }
                let total = who
                    .total
                    .and_then(|t| t.parse())
                    .unwrap_or(names.len() as u64);
                self.answer = Some((names, total));
            }
            _ => {}
        }
        Ok(())
    }

    fn ask_who(&mut self) -> bool {
        let now = self.logged_in && !self.asked;
        self.asked |= now;
        now
    }

    fn finished(&self) -> bool {
        self.answer.is_some()
    }
}

/// Logs in to `room` (as a visitor unless `username` is given), asks who is
/// online, prints one nickname a line, and logs out.
pub async fn who(
    endpoint: &Endpoint,
    room: u64,
    username: Option<String>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut asker = Asker::default();
    let outcome = run_once(endpoint, room, username, timeout, &mut asker).await;
    // A refusal is the answer, however the connection ended after it.
    if let Some(code) = asker.refused {
        let what = code
            .and_then(crate::watch::refusal)
            .unwrap_or_else(|| "the server refused the login".to_string());
        return Err(anyhow::anyhow!("room {room}: {what}")).classify(crate::exit::Failure::Refused);
    }
    let outcome = outcome?;
    let Some((names, total)) = asker.answer else {
        let why = match outcome {
            crate::watch::Outcome::Closed(reason) => reason.to_string(),
            crate::watch::Outcome::Disconnected => "the server closed the connection".to_string(),
        };
        bail!("the session ended before the server answered: {why}");
    };
    let mut stdout = std::io::stdout().lock();
    for name in &names {
        writeln!(stdout, "{}", terminal_safe(name)).context("writing to stdout")?;
    }
    stdout.flush().context("writing to stdout")?;
    if total > names.len() as u64 {
        warn!(
            total,
            listed = names.len(),
            "more are online than one reply lists"
        );
    }
    Ok(())
}

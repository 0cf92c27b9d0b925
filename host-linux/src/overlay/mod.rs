//! `douyu overlay`: a room's live chat as a web page for OBS's browser
//! source, served over HTTP by the binary itself.
//!
//! The room is watched as `watch` watches it (the same session loop,
//! heartbeats, reconnects and backoff); its messages go, as the JSON objects
//! `watch --format json` prints, into a [`feed::Feed`] that every page
//! connected to `/events` follows as Server-Sent Events. The page
//! (`page.html`, `page.js`, `page.css`, compiled in) is configured entirely
//! by its URL, and inserts every field from the network as text.
//!
//! `--demo` serves a simulated room in the same process, and says a few
//! hostile lines into it now and then (markup, scripts, bidi overrides), so
//! a streamer can try styles offline and see that the page shows them as
//! text.

pub mod feed;
pub mod http;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::server::{BoundServer, ServerOptions, Simulation};
use crate::time::{Clock, stopped};
use crate::watch::{Printer, say, watch_room_with};
use crate::wire::Endpoint;

/// Largest `--max-pages`: an overlay is for a streamer's OBS and a few
/// previews, not an audience.
pub const MAX_PAGES: usize = 4096;

/// The room `--demo` simulates.
pub const DEMO_ROOM: u64 = 9999;

/// Chat lines `--demo` says into its room, one every few seconds: what a
/// hostile viewer could send, which the page must show as plain text.
pub const DEMO_HOSTILE: [(&str, &str); 5] = [
    ("<b>粗体</b>", "<img src=x onerror=alert(1)>"),
    ("script_kid", "<script>alert(\"xss\")</script> 你好"),
    ("&amp;entity", "&lt;not markup&gt; &amp; \"quotes\" 'too'"),
    // The server refuses controls in a nickname: the override is in the text.
    ("bidi", "a\u{202e}desrever\u{202c}b javascript:alert(1)"),
    (
        "long",
        "刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏刷屏",
    ),
];

/// `douyu overlay`: watch a room and serve its chat as an OBS overlay page.
#[derive(Debug, Args)]
pub struct OverlayArgs {
    /// Room id (not with --demo).
    #[arg(required_unless_present = "demo", conflicts_with = "demo")]
    pub room: Option<u64>,
    /// Server: tcp://host:port, ws://… or wss://… (WebSocket uses the web login).
    #[arg(long, default_value = "tcp://danmuproxy.douyu.com:8601")]
    pub server: String,
    /// Address the page is served on (http://ADDR/).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Serve a simulated room (with some hostile chat lines) instead: no network needed.
    #[arg(long)]
    pub demo: bool,
    /// Simulated messages per second with --demo.
    #[arg(long, default_value_t = 20.0, requires = "demo")]
    pub rate: f64,
    /// Seconds before the first reconnect to the room (doubling up to 60, as in `watch`).
    #[arg(long, default_value_t = 1.0)]
    pub backoff: f64,
    /// Most pages following the feed at once.
    #[arg(long, default_value_t = http::HttpLimits::default().max_pages)]
    pub max_pages: usize,
}

/// Runs the overlay until `stop` fires.
pub async fn run(args: OverlayArgs, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let backoff = crate::cli::secs(args.backoff, "--backoff")?;
    anyhow::ensure!(
        backoff >= Duration::from_millis(10),
        "bad --backoff: at least 0.01 seconds"
    );
    // Each page is a connection and a task: a typo must not ask for millions.
    anyhow::ensure!(
        (1..=MAX_PAGES).contains(&args.max_pages),
        "bad --max-pages: from 1 to {MAX_PAGES}"
    );
    let limits = http::HttpLimits {
        max_pages: args.max_pages,
        max_connections: args.max_pages.saturating_add(48),
        ..http::HttpLimits::default()
    };
    let listener =
        http::listen(args.http).with_context(|| format!("binding HTTP on {}", args.http))?;
    let addr = listener.local_addr()?;
    info!(%addr, "serving HTTP");
    info!("overlay page: http://{addr}/ (OBS: add a browser source with this URL)");

    // The demo's own server, stopped after the overlay.
    let (server_stop_tx, server_stop) = watch::channel(false);
    let (room, endpoint, server) = if args.demo {
        let rate = crate::cli::simulate_rate(args.rate, "--rate")?;
        let options = ServerOptions {
            tcp: Some("127.0.0.1:0".parse()?),
            simulate: Some(Simulation {
                room: DEMO_ROOM,
                rate,
                probe: false,
            }),
            ..ServerOptions::default()
        };
        let server = BoundServer::bind(options).await?;
        let at = server.tcp_addr().context("no server address")?;
        let endpoint = Endpoint::Tcp(at.to_string());
        tokio::spawn(hostile_lines(endpoint.clone(), stop.clone()));
        let server = tokio::spawn(server.run(server_stop));
        (DEMO_ROOM, endpoint, Some(server))
    } else {
        let room = args.room.context("a room id is needed")?;
        (room, Endpoint::parse(&args.server)?, None)
    };

    let feed = feed::Feed::new();
    let options = crate::cli::watch_options(
        endpoint,
        crate::render::Renderer::new(
            crate::render::Format::Json,
            false,
            crate::render::Filter::default(),
        ),
        None,
        douyu_core::session::HEARTBEAT,
        backoff,
    );
    let watching = tokio::spawn(watch_room_with(
        room,
        options,
        Clock::start(),
        stop.clone(),
        Printer::with_sink(feed.sink()),
    ));
    http::serve(listener, feed, limits, stop).await;
    let watched = watching.await.context("watch task")?;
    let _ = server_stop_tx.send(true);
    if let Some(server) = server {
        server.await.context("server task")??;
    }
    watched
}

/// Says [`DEMO_HOSTILE`]'s lines into the demo room in turn, one every
/// three seconds, each from its own short session, until `stop`.
async fn hostile_lines(endpoint: Endpoint, mut stop: watch::Receiver<bool>) {
    for (name, text) in DEMO_HOSTILE.iter().cycle() {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3)) => {}
            () = stopped(&mut stop) => return,
        }
        let said = say(
            &endpoint,
            DEMO_ROOM,
            text,
            Some((*name).to_string()),
            Duration::from_secs(5),
        );
        tokio::select! {
            result = said => if let Err(e) = result {
                warn!(error = format!("{e:#}"), "demo line not said");
            },
            () = stopped(&mut stop) => return,
        }
    }
}

//! How bytes travel: raw TCP, or binary WebSocket messages (plain or TLS).
//!
//! Protocol-wise both carry the same frames; this module only moves bytes,
//! so the sessions of `douyu-core` never know which one they are on.

use std::future::Future;
use std::io;
use std::task::{self, Poll, ready};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// Where a client connects: `tcp://host:port`, `ws://…` or `wss://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Frames back to back on a TCP stream.
    Tcp(String),
    /// Frames inside binary WebSocket messages; the URL as given.
    WebSocket(String),
}

impl Endpoint {
    /// Parses a server URL.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url).with_context(|| format!("bad server URL {url:?}"))?;
        match parsed.scheme() {
            "tcp" => {
                let host = parsed.host_str().context("tcp URL without host")?;
                let port = parsed.port().context("tcp URL without port")?;
                Ok(Self::Tcp(format!("{host}:{port}")))
            }
            "ws" | "wss" => Ok(Self::WebSocket(url.to_string())),
            other => bail!("unsupported scheme {other:?}: use tcp://, ws:// or wss://"),
        }
    }

    /// Whether the endpoint is a WebSocket one (which expects the web login).
    pub fn is_websocket(&self) -> bool {
        matches!(self, Self::WebSocket(_))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "tcp://{addr}"),
            Self::WebSocket(url) => f.write_str(url),
        }
    }
}

/// An open connection of either kind.
#[derive(Debug)]
pub enum Wire {
    /// A TCP stream.
    Tcp(TcpStream),
    /// A WebSocket, over TCP or TLS.
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
}

/// Largest WebSocket message accepted: generous for many coalesced frames.
const WS_MAX_MESSAGE: usize = 1 << 20;

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(WS_MAX_MESSAGE))
        .max_frame_size(Some(WS_MAX_MESSAGE))
}

impl Wire {
    /// Connects to `endpoint`, giving up after `timeout`.
    pub async fn connect(endpoint: &Endpoint, timeout: Duration) -> anyhow::Result<Self> {
        let connect = async {
            match endpoint {
                Endpoint::Tcp(addr) => {
                    let stream = TcpStream::connect(addr)
                        .await
                        .with_context(|| format!("connecting to {addr}"))?;
                    stream.set_nodelay(true)?;
                    Ok(Self::Tcp(stream))
                }
                Endpoint::WebSocket(url) => {
                    // Native TLS: the live proxies offer only an RSA key
                    // exchange suite, which rustls refuses.
                    let tls = native_tls_connector()?;
                    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
                        url.as_str(),
                        Some(ws_config()),
                        true,
                        Some(Connector::NativeTls(tls)),
                    )
                    .await
                    .with_context(|| format!("WebSocket handshake with {url}"))?;
                    Ok(Self::Ws(Box::new(ws)))
                }
            }
        };
        tokio::time::timeout(timeout, connect)
            .await
            .with_context(|| format!("connecting to {endpoint}: timed out"))?
    }

    /// Accepts a WebSocket client on a fresh TCP connection.
    pub async fn accept_ws(stream: TcpStream) -> anyhow::Result<Self> {
        let ws = tokio_tungstenite::accept_async_with_config(
            MaybeTlsStream::Plain(stream),
            Some(ws_config()),
        )
        .await
        .context("WebSocket handshake")?;
        Ok(Self::Ws(Box::new(ws)))
    }

    /// Waits for input and appends it to `buf`; `Ok(false)` at end of stream.
    ///
    /// Cancel-safe: nothing is lost when the future is dropped unfinished, so
    /// it can race other events in `tokio::select!`. `buf` only grows by
    /// what arrived, so an idle connection holds no buffer; and the future
    /// holds only two references (it polls the socket's readiness instead of
    /// awaiting a readiness future), so an idle connection's task stays small.
    pub fn read<'a>(
        &'a mut self,
        buf: &'a mut Vec<u8>,
    ) -> impl Future<Output = io::Result<bool>> + 'a {
        std::future::poll_fn(move |cx| self.poll_read(cx, buf))
    }

    /// [`Wire::read`] as a poll: appends what arrived to `buf`, or
    /// registers `cx` to be woken when more may have.
    pub fn poll_read(
        &mut self,
        cx: &mut task::Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<io::Result<bool>> {
        match self {
            Self::Tcp(stream) => loop {
                ready!(stream.poll_read_ready(cx))?;
                // Read on the stack and keep only what arrived: a heap
                // buffer sized for the largest read would stay with every
                // connection (malloc keeps what it was given).
                let mut chunk = [0u8; 4096];
                match stream.try_read(&mut chunk) {
                    Ok(0) => return Poll::Ready(Ok(false)),
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        return Poll::Ready(Ok(true));
                    }
                    // Readiness was cleared: the next poll waits for more.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            },
            Self::Ws(ws) => loop {
                match ready!(ws.poll_next_unpin(cx)) {
                    None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(false)),
                    Some(Ok(Message::Binary(data))) => {
                        buf.extend_from_slice(&data);
                        return Poll::Ready(Ok(true));
                    }
                    // Pings are answered by tungstenite; text is not ours.
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                }
            },
        }
    }

    /// Writes as much of `bytes` as the socket takes without waiting: a
    /// prefix on TCP, nothing on a WebSocket (whose messages go out whole
    /// through [`Wire::write`]).
    pub fn try_write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(stream) => match stream.try_write(bytes) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                other => other,
            },
            Self::Ws(_) => Ok(0),
        }
    }

    /// Sends `bytes` (one or more whole frames) and flushes.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Tcp(stream) => stream.write_all(bytes).await,
            Self::Ws(ws) => ws
                .send(Message::binary(bytes.to_vec()))
                .await
                .map_err(io::Error::other),
        }
    }

    /// The peer's address, asked of the socket.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        match self {
            Self::Tcp(stream) => stream.peer_addr(),
            Self::Ws(ws) => match ws.get_ref() {
                MaybeTlsStream::Plain(stream) => stream.peer_addr(),
                MaybeTlsStream::NativeTls(tls) => tls.get_ref().get_ref().get_ref().peer_addr(),
                _ => Err(io::Error::other("unknown stream kind")),
            },
        }
    }

    /// Closes the connection politely (FIN, or a WebSocket close).
    pub async fn shutdown(&mut self) {
        let _ = match self {
            Self::Tcp(stream) => stream.shutdown().await,
            Self::Ws(ws) => ws.close(None).await.map_err(io::Error::other),
        };
    }
}

fn native_tls_connector() -> anyhow::Result<native_tls::TlsConnector> {
    native_tls::TlsConnector::builder()
        .build()
        .context("setting up TLS")
}

/// A wire's peer address for log lines, asked of the socket only when a line
/// is written (`?` once the socket has lost it): a server keeps no copy of it
/// for each idle connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a>(pub &'a Wire);

impl std::fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.peer_addr() {
            Ok(addr) => addr.fmt(f),
            Err(_) => f.write_str("?"),
        }
    }
}

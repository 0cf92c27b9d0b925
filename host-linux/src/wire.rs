//! How bytes travel: raw TCP, or binary WebSocket messages (plain or TLS).
//!
//! Protocol-wise both carry the same frames; this module only moves bytes,
//! so the sessions of `douyu-core` never know which one they are on.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{self, Poll, ready};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::warn;

use crate::throttle::Throttle;

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
    ///
    /// A bare `host:port` is refused with the URL to write instead
    /// (`tcp://host:port`): guessing could pick the wrong transport.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let hint = || {
            if url.contains("://") {
                String::new()
            } else {
                format!(" (did you mean tcp://{url}?)")
            }
        };
        let parsed = match url::Url::parse(url) {
            Ok(parsed) => parsed,
            Err(e) => bail!("bad server URL {url:?}: {e}{}", hint()),
        };
        match parsed.scheme() {
            "tcp" => {
                let host = parsed
                    .host_str()
                    .with_context(|| format!("bad server URL {url:?}: no host"))?;
                let port = parsed.port().with_context(|| {
                    format!("bad server URL {url:?}: no port (Douyu's is 8601)")
                })?;
                Ok(Self::Tcp(format!("{host}:{port}")))
            }
            "ws" | "wss" => Ok(Self::WebSocket(url.to_string())),
            other => bail!(
                "bad server URL {url:?}: unsupported scheme {other:?}, use tcp://, ws:// or wss://{}",
                hint()
            ),
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

/// A server's host name that does not resolve to any address.
#[derive(Debug)]
pub struct Unresolvable {
    /// The `host:port` looked up.
    pub host: String,
    /// What the resolver said.
    pub source: io::Error,
}

impl std::fmt::Display for Unresolvable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot resolve {}: {}", self.host, self.source)
    }
}

impl std::error::Error for Unresolvable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The addresses of `host:port`, or [`Unresolvable`].
async fn resolve(host: &str) -> anyhow::Result<Vec<std::net::SocketAddr>> {
    let unresolvable = |source| Unresolvable {
        host: host.to_string(),
        source,
    };
    let addrs: Vec<_> = tokio::net::lookup_host(host)
        .await
        .map_err(unresolvable)?
        .collect();
    if addrs.is_empty() {
        return Err(unresolvable(io::Error::new(io::ErrorKind::NotFound, "no address")).into());
    }
    Ok(addrs)
}

/// An open connection of either kind.
#[derive(Debug)]
pub enum Wire {
    /// A TCP stream.
    Tcp(TcpStream),
    /// A WebSocket, over TCP or TLS.
    Ws(Box<WebSocket>),
}

/// A WebSocket and the count that keeps its control frames bounded.
#[derive(Debug)]
pub struct WebSocket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Bytes of pongs queued since our pongs last all reached the socket.
    unsent_pongs: usize,
    /// Dropped for going over a limit: no close handshake is owed.
    failed: bool,
}

/// Room, beyond the largest frame, for the small frames a peer may coalesce
/// into the same WebSocket message (a heartbeat, a join): a message carries
/// one or more whole frames.
const WS_COALESCE_SLACK: usize = 4 * 1024;

/// Most bytes one [`Wire::read`] takes from a TCP socket (on the stack).
pub const READ_CHUNK: usize = 4096;

/// What [`Wire::read_waiting`] left in the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Nothing: everything that had arrived was read.
    Nothing,
    /// More than the limit let it read.
    More,
    /// The end of the stream: the peer closed the connection.
    Closed,
}

/// A server's read buffer, allocated with every WebSocket connection: an
/// idle client holds it for as long as it stays, and clients send small
/// frames (a larger one takes a few reads; tungstenite grows the buffer to
/// the frame being read, never past the largest message).
const WS_SERVER_READ_BUFFER: usize = 1024;

/// A watcher's read buffer: it has a few connections and reads broadcasts.
const WS_CLIENT_READ_BUFFER: usize = 16 * 1024;

/// Bytes of pongs that may wait for the socket (the peer pings faster than
/// it reads them): past this it is dropped. Counted in bytes, not pings, so
/// that a burst of small pings from a peer that does read, caught while the
/// kernel's buffers are full of tiny segments, is not mistaken for one.
const WS_MAX_UNSENT_PONGS: usize = 64 * 1024;

/// Largest WebSocket message we write (one or more whole frames), plus room
/// for the control frames the budget above lets wait behind it: a message
/// is written and flushed before the next, so the write buffer holds only
/// that one. A larger write fails and ends the connection.
const WS_MAX_WRITE: usize = (1 << 20) + 16 * 1024;

/// Longest we wait for a polite close to reach a peer: a peer that does not
/// read must not hold the connection open.
const WS_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Log lines about peers dropped for their WebSocket limits: a peer can
/// provoke them.
static WS_LIMIT_LOG: Throttle = Throttle::new(5, Duration::from_secs(1));

/// Limits for a WebSocket whose messages may be up to `max_message` bytes.
fn ws_config(max_message: usize, read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        // Every message is flushed whole at once anyway: no batching buffer.
        .write_buffer_size(0)
        .max_write_buffer_size(WS_MAX_WRITE)
        // A frame's payload can be no longer than its message.
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

/// The largest message a server accepts when its frames may be up to
/// `max_frame` bytes: one such frame plus a few small ones coalesced with
/// it. A message announcing more is refused at its header, before any of
/// its payload is buffered.
pub fn ws_server_max_message(max_frame: usize) -> usize {
    max_frame.saturating_add(WS_COALESCE_SLACK)
}

/// The largest message a watcher accepts when its frames may be up to
/// `rx_capacity` bytes. Servers coalesce whole frames into messages: ours
/// fills a message to 64 KiB and then adds one more batch, so two of the
/// largest frames (plus slack) hold what a server has reason to send.
pub fn ws_client_max_message(rx_capacity: usize) -> usize {
    rx_capacity
        .saturating_mul(2)
        .saturating_add(WS_COALESCE_SLACK)
}

impl WebSocket {
    fn new(stream: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Box<Self> {
        Box::new(Self {
            stream,
            unsent_pongs: 0,
            failed: false,
        })
    }

    /// Ends the connection for going over a limit, with a (throttled) log
    /// line saying which: the error alone reaches no log on the server.
    fn over_limit(&mut self, what: String) -> io::Error {
        self.failed = true;
        let error = io::Error::other(what);
        if let Some(suppressed) = WS_LIMIT_LOG.check() {
            let peer =
                peer_of(self.stream.get_ref()).map_or_else(|_| "?".to_string(), |a| a.to_string());
            warn!(%peer, %error, suppressed, "WebSocket peer over its limits: dropped");
        }
        error
    }

    /// A read error; over-limit ones logged as such.
    fn read_error(&mut self, e: tungstenite::Error) -> io::Error {
        match e {
            tungstenite::Error::Capacity(e) => self.over_limit(e.to_string()),
            e => io::Error::other(e),
        }
    }

    /// Retries the flush of pongs that did not reach the socket at once:
    /// tungstenite itself retries only the ones its own reads could not
    /// flush, so without this a pong could wait for our next write.
    fn flush_pongs(&mut self, cx: &mut task::Context<'_>) -> io::Result<()> {
        if self.unsent_pongs > 0 {
            match Pin::new(&mut self.stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unsent_pongs = 0,
                Poll::Ready(Err(e)) => return Err(io::Error::other(e)),
                // The socket wakes the task when it takes more.
                Poll::Pending => {}
            }
        }
        Ok(())
    }

    /// A ping was read (its pong queued): counts it against the budget
    /// unless every pong so far reaches the socket now.
    fn ponged(&mut self, cx: &mut task::Context<'_>, payload: usize) -> io::Result<()> {
        // A control frame's header is 2 bytes (payloads are < 126).
        self.unsent_pongs += 2 + payload;
        self.flush_pongs(cx)?;
        if self.unsent_pongs > WS_MAX_UNSENT_PONGS {
            let what = format!(
                "pings faster than it reads our pongs ({} bytes unread)",
                self.unsent_pongs
            );
            return Err(self.over_limit(what));
        }
        Ok(())
    }
}

impl Wire {
    /// Connects to `endpoint`, giving up after `timeout`. A WebSocket
    /// refuses messages above [`ws_client_max_message`] of `rx_capacity`,
    /// the largest frame the caller accepts.
    pub async fn connect(
        endpoint: &Endpoint,
        timeout: Duration,
        rx_capacity: usize,
    ) -> anyhow::Result<Self> {
        let connect = async {
            match endpoint {
                Endpoint::Tcp(addr) => {
                    let addrs = resolve(addr).await?;
                    let stream = TcpStream::connect(&addrs[..])
                        .await
                        .with_context(|| format!("connecting to {addr}"))?;
                    stream.set_nodelay(true)?;
                    Ok(Self::Tcp(stream))
                }
                Endpoint::WebSocket(url) => {
                    if let Ok(parsed) = url::Url::parse(url)
                        && let (Some(host), Some(port)) =
                            (parsed.host_str(), parsed.port_or_known_default())
                    {
                        // Resolved here too, only to tell a name that does
                        // not resolve from other failures.
                        resolve(&format!("{host}:{port}")).await?;
                    }
                    // Native TLS: the live proxies offer only an RSA key
                    // exchange suite, which rustls refuses.
                    let tls = native_tls_connector()?;
                    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
                        url.as_str(),
                        Some(ws_config(
                            ws_client_max_message(rx_capacity),
                            WS_CLIENT_READ_BUFFER,
                        )),
                        true,
                        Some(Connector::NativeTls(tls)),
                    )
                    .await
                    .with_context(|| format!("WebSocket handshake with {url}"))?;
                    Ok(Self::Ws(WebSocket::new(ws)))
                }
            }
        };
        tokio::time::timeout(timeout, connect)
            .await
            .with_context(|| format!("connecting to {endpoint}: timed out"))?
    }

    /// Accepts a WebSocket client on a fresh TCP connection; its messages
    /// may be up to [`ws_server_max_message`] of `max_frame`, the largest
    /// frame the server accepts.
    pub async fn accept_ws(stream: TcpStream, max_frame: usize) -> anyhow::Result<Self> {
        let config = ws_config(ws_server_max_message(max_frame), WS_SERVER_READ_BUFFER);
        let ws = tokio_tungstenite::accept_async_with_config(
            MaybeTlsStream::Plain(stream),
            Some(config),
        )
        .await
        .context("WebSocket handshake")?;
        Ok(Self::Ws(WebSocket::new(ws)))
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
                let mut chunk = [0u8; READ_CHUNK];
                let mut short = 0;
                // A read that did not fill the chunk emptied the socket's
                // queue: it is said to have blocked, so that readiness is
                // cleared now rather than by one more read that finds
                // nothing (a system call per message in a quiet room).
                // Data arriving after it raises readiness anew.
                let read =
                    stream.try_io(Interest::READABLE, || match stream.try_read(&mut chunk) {
                        Ok(n) if n > 0 && n < chunk.len() => {
                            short = n;
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        other => other,
                    });
                match read {
                    Ok(0) => return Poll::Ready(Ok(false)),
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        return Poll::Ready(Ok(true));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && short > 0 => {
                        buf.extend_from_slice(&chunk[..short]);
                        return Poll::Ready(Ok(true));
                    }
                    // Readiness was cleared: the next poll waits for more.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            },
            Self::Ws(ws) => loop {
                ws.flush_pongs(cx)?;
                match ready!(ws.stream.poll_next_unpin(cx)) {
                    None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(false)),
                    Some(Ok(Message::Binary(data))) => {
                        buf.extend_from_slice(&data);
                        return Poll::Ready(Ok(true));
                    }
                    // tungstenite queued the pong; it must not pile up.
                    Some(Ok(Message::Ping(data))) => ws.ponged(cx, data.len())?,
                    // Text is not ours; pongs answer no ping of ours.
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Poll::Ready(Err(ws.read_error(e))),
                }
            },
        }
    }

    /// Appends to `buf` what has already arrived, without waiting, until
    /// the socket has nothing more or `buf` holds `limit` bytes (one read
    /// may take it past: a chunk, or a WebSocket message).
    ///
    /// For a session that reads in batches ([`crate::watch::ReadPause`]):
    /// after a read, this takes the rest of what came with it. A TCP read
    /// that emptied the socket already cleared its readiness, so finding
    /// nothing more costs no system call.
    pub fn read_waiting(&mut self, buf: &mut Vec<u8>, limit: usize) -> io::Result<Waiting> {
        // Polled with a waker that does nothing: when this finds nothing,
        // the session's next read polls again with its own.
        let mut cx = task::Context::from_waker(task::Waker::noop());
        while buf.len() < limit {
            match self.poll_read(&mut cx, buf) {
                Poll::Pending => return Ok(Waiting::Nothing),
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => return Ok(Waiting::Closed),
                Poll::Ready(Err(e)) => return Err(e),
            }
        }
        Ok(Waiting::More)
    }

    /// Sets how many bytes must wait in the socket before it is ready to
    /// read (`SO_RCVLOWAT`; 1 is the default).
    ///
    /// For a session pausing between reads ([`crate::watch::ReadPause`]):
    /// each message arriving during the pause would otherwise mark the
    /// socket ready and wake a worker thread from `epoll_wait`, for nobody
    /// to read it until the pause ends. With the threshold raised for the
    /// pause, Linux signals only a backlog that large; lowering it again
    /// signals at once what is waiting (Linux 4.18 and later), and the
    /// read that follows takes it. Over TLS the threshold counts the
    /// socket's bytes, records and all, which changes nothing here.
    pub fn set_ready_at(&self, bytes: usize) -> io::Result<()> {
        use std::os::fd::AsRawFd as _;
        let fd = match self {
            Self::Tcp(stream) => stream.as_raw_fd(),
            Self::Ws(ws) => match ws.stream.get_ref() {
                MaybeTlsStream::Plain(stream) => stream.as_raw_fd(),
                MaybeTlsStream::NativeTls(stream) => stream.as_raw_fd(),
                _ => return Ok(()),
            },
        };
        let value = libc::c_int::try_from(bytes.max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fd` is this wire's socket, open while `self` is borrowed;
        // the option's value is a `c_int` on the stack, passed with its size.
        let done = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&raw const value).cast(),
                libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
                    .unwrap_or(libc::socklen_t::MAX),
            )
        };
        if done == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
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
            Self::Ws(ws) => match ws.stream.send(Message::binary(bytes.to_vec())).await {
                Ok(()) => Ok(()),
                Err(tungstenite::Error::WriteBufferFull(_)) => Err(ws.over_limit(format!(
                    "a message of {} bytes overflows the write buffer",
                    bytes.len()
                ))),
                Err(e) => Err(io::Error::other(e)),
            },
        }
    }

    /// The peer's address, asked of the socket.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        match self {
            Self::Tcp(stream) => stream.peer_addr(),
            Self::Ws(ws) => peer_of(ws.stream.get_ref()),
        }
    }

    /// Closes the connection politely (FIN, or a WebSocket close), but
    /// without waiting on a peer that does not read: a WebSocket dropped
    /// for its limits gets no close frame, and one that does not take the
    /// close frame within a second (`WS_CLOSE_TIMEOUT`) is simply let go.
    pub async fn shutdown(&mut self) {
        match self {
            Self::Tcp(stream) => drop(stream.shutdown().await),
            Self::Ws(ws) if ws.failed => {}
            Self::Ws(ws) => {
                drop(tokio::time::timeout(WS_CLOSE_TIMEOUT, ws.stream.close(None)).await)
            }
        }
    }
}

/// The peer address of a WebSocket's stream.
fn peer_of(stream: &MaybeTlsStream<TcpStream>) -> io::Result<std::net::SocketAddr> {
    match stream {
        MaybeTlsStream::Plain(stream) => stream.peer_addr(),
        MaybeTlsStream::NativeTls(tls) => tls.get_ref().get_ref().get_ref().peer_addr(),
        _ => Err(io::Error::other("unknown stream kind")),
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Two ends of a loopback connection, as `Wire`s: the client over TCP
    /// or a WebSocket, the server end accepted to match.
    async fn pair(websocket: bool) -> (Wire, Wire) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let endpoint = if websocket {
            Endpoint::parse(&format!("ws://{addr}")).unwrap()
        } else {
            Endpoint::parse(&format!("tcp://{addr}")).unwrap()
        };
        let accept = async {
            let (stream, _) = listener.accept().await.unwrap();
            if websocket {
                Wire::accept_ws(stream, 64 * 1024).await.unwrap()
            } else {
                Wire::Tcp(stream)
            }
        };
        let connect = Wire::connect(&endpoint, Duration::from_secs(5), 64 * 1024);
        let (client, server) = tokio::join!(connect, accept);
        (client.unwrap(), server)
    }

    #[tokio::test]
    async fn a_batch_takes_all_that_arrived_then_finds_the_socket_empty() {
        for websocket in [false, true] {
            let (mut client, mut server) = pair(websocket).await;
            for n in 0..3u8 {
                server.write(&[n; 100]).await.unwrap();
            }
            // Everything sent is at the client before the batch starts.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut buf = Vec::new();
            assert!(client.read(&mut buf).await.unwrap());
            let waiting = client.read_waiting(&mut buf, 1 << 20).unwrap();
            assert_eq!(waiting, Waiting::Nothing, "websocket: {websocket}");
            let want: Vec<u8> = (0..3u8).flat_map(|n| [n; 100]).collect();
            assert_eq!(buf, want, "websocket: {websocket}");

            // A limit stops the batch with more left; the rest follows.
            for n in 3..6u8 {
                server.write(&[n; 100]).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut buf = Vec::new();
            assert!(client.read(&mut buf).await.unwrap());
            if websocket {
                assert_eq!(client.read_waiting(&mut buf, 150).unwrap(), Waiting::More);
                assert_eq!(buf.len(), 200);
            }
            assert_eq!(
                client.read_waiting(&mut buf, 1 << 20).unwrap(),
                Waiting::Nothing
            );
            assert_eq!(buf.len(), 300, "websocket: {websocket}");

            // The end of the stream is told apart from an empty socket.
            server.write(&[9; 10]).await.unwrap();
            server.shutdown().await;
            drop(server);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut buf = Vec::new();
            assert!(client.read(&mut buf).await.unwrap());
            assert_eq!(
                client.read_waiting(&mut buf, 1 << 20).unwrap(),
                Waiting::Closed
            );
            assert_eq!(buf, [9; 10], "websocket: {websocket}");
        }
    }

    #[tokio::test]
    async fn a_raised_threshold_holds_readiness_back_and_lowering_it_tells() {
        for websocket in [false, true] {
            let (mut client, mut server) = pair(websocket).await;
            client.set_ready_at(4096).unwrap();
            server.write(&[1; 100]).await.unwrap();
            // 100 bytes (or a 102-byte WebSocket message) are below the
            // threshold: the socket is never signalled ready. (Checked for
            // a while: nothing can end the wait but a signal.)
            let mut buf = Vec::new();
            let held =
                tokio::time::timeout(Duration::from_millis(200), client.read(&mut buf)).await;
            assert!(held.is_err(), "websocket: {websocket}");
            // Lowered, the socket is signalled at once for what waits.
            client.set_ready_at(1).unwrap();
            let read = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf)).await;
            assert!(read.unwrap().unwrap(), "websocket: {websocket}");
            assert_eq!(buf, [1; 100], "websocket: {websocket}");
            // A backlog past the threshold is signalled during the pause.
            client.set_ready_at(150).unwrap();
            server.write(&[2; 100]).await.unwrap();
            server.write(&[3; 100]).await.unwrap();
            let mut buf = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf)).await;
            assert!(read.unwrap().unwrap(), "websocket: {websocket}");
            client.read_waiting(&mut buf, 1 << 20).unwrap();
            let want: Vec<u8> = [[2u8; 100], [3; 100]].concat();
            assert_eq!(buf, want, "websocket: {websocket}");
        }
    }
}

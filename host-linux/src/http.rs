//! The HTTP/1.1 server of `douyu overlay` and `douyu collect --http`: a
//! few static paths, GET only, with every limit a peer can meet stated in
//! [`Limits`]. What a path serves is a [`Site`]'s business.
//!
//! Built on hyper's connection type rather than a framework because the
//! limits are set per connection: how long the request head may take to
//! arrive (a slowloris client trickling headers is cut off), how large it
//! may be, and how many connections are served at once. A write that stalls
//! (a page that stopped reading) is cut off by [`Stalled`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use crate::prometheus::{self, Exposition, Kind};
use crate::time::stopped;

/// The limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most HTTP connections at once; more are closed at once.
    pub max_connections: usize,
    /// Time a request head may take to arrive, from the connection's first
    /// byte or the previous response.
    pub header_timeout: Duration,
    /// Time a write to a client may stall before the connection is dropped.
    pub write_timeout: Duration,
    /// Largest request head in bytes (hyper answers 431 past it); hyper's
    /// smallest allowed is 8 KiB.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 64,
            header_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_head: 8 * 1024,
        }
    }
}

/// A response body: whole, or a stream of chunks.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// What the server serves: its paths, and the answer to a GET of each.
pub trait Site: Send + Sync + 'static {
    /// A path this site serves.
    type Route: Copy + Send;
    /// The route of `path`, or `None` (404). Query strings are not
    /// stripped: `/metrics?x` is no route.
    fn route(&self, path: &str) -> Option<Self::Route>;
    /// The answer to a GET of `route`; `stop` fires at shutdown (for
    /// responses that stream).
    fn get(&self, route: Self::Route, stop: &watch::Receiver<bool>) -> Response<Body>;
    /// Where the server counts its responses and refusals.
    fn counters(&self) -> &HttpCounters;
}

/// How long a shutdown waits for the connections to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// Kernel send buffer of each connection (accepted sockets inherit the
/// listener's): what a page that stops reading can hold in the kernel on
/// our side before its writes stall and [`Stalled`] drops it. Linux's
/// default grows to 4 MiB a socket; 64 KiB is still a few hundred messages.
pub const SEND_BUFFER: u32 = 64 * 1024;

/// A listener on `addr` whose connections have [`SEND_BUFFER`].
pub fn listen(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted server gets its port back
    // while the old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Serves `site` on `listener` until `stop` fires.
pub async fn serve<S: Site>(
    listener: TcpListener,
    site: Arc<S>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let limits = Arc::new(limits);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => {
                // Each connection ends its event stream, or its response,
                // and gives its permit back: wait for them (a little), so
                // that pages see the stream end cleanly, not cut off.
                drop(listener);
                let _ = tokio::time::timeout(SHUTDOWN_WAIT, connections.acquire_many(all)).await;
                return;
            }
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, most likely: waiting lets some close.
                warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            site.counters()
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            debug!(%peer, "HTTP connection refused: too many");
            continue;
        };
        let (site, limits, stop) = (site.clone(), limits.clone(), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            connection(stream, site, limits, stop).await;
        });
    }
}

async fn connection<S: Site>(
    stream: tokio::net::TcpStream,
    site: Arc<S>,
    limits: Arc<Limits>,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Stalled::new(stream, limits.write_timeout));
    let service = {
        let stop = stop.clone();
        hyper::service::service_fn(move |request| {
            let response = answer(&request, &*site, &stop);
            site.counters().responded(response.status().as_u16());
            std::future::ready(Ok::<_, Infallible>(response))
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                debug!(error = %e, "HTTP connection ended");
            }
        }
        () = stopped(&mut stop) => {
            // Event streams end on the same signal; a response being written
            // gets a moment to finish.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_WAIT / 2, conn).await;
        }
    }
}

fn answer<S: Site>(
    request: &Request<Incoming>,
    site: &S,
    stop: &watch::Receiver<bool>,
) -> Response<Body> {
    let Some(route) = site.route(request.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    if request.method() != Method::GET {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    // A GET has no body; one that announces one is refused, unread, and the
    // connection closed (hyper would otherwise read it to reuse it).
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if has_body {
        let mut response = plain(StatusCode::PAYLOAD_TOO_LARGE, "no request body allowed\n");
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    site.get(route, stop)
}

/// A plain-text response.
pub fn plain(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(text.into()).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A `/metrics` response: `text` as the Prometheus exposition.
pub fn metrics(text: String) -> Response<Body> {
    let mut response = plain(StatusCode::OK, text);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(prometheus::CONTENT_TYPE),
    );
    response
}

/// The status codes counted by [`HttpCounters::responded`] (0: any other).
const CODES: [u16; 6] = [200, 404, 405, 413, 503, 0];

/// What the server counts for `/metrics`.
#[derive(Debug)]
pub struct HttpCounters {
    /// HTTP connections closed at once at the cap on connections.
    pub connections_refused: AtomicU64,
    /// HTTP responses by status code (those hyper makes itself, such as
    /// 400 and 431, are not seen here).
    responses: [(u16, AtomicU64); CODES.len()],
}

impl Default for HttpCounters {
    fn default() -> Self {
        Self {
            connections_refused: AtomicU64::new(0),
            responses: CODES.map(|code| (code, AtomicU64::new(0))),
        }
    }
}

impl HttpCounters {
    /// Counts a response with status `code` (codes not listed count as 0).
    pub fn responded(&self, code: u16) {
        let slot = self
            .responses
            .iter()
            .find(|(known, _)| *known == code)
            .unwrap_or(&self.responses[CODES.len() - 1]);
        slot.1.fetch_add(1, Ordering::Relaxed);
    }

    /// `<prefix>_connections_refused_total` and
    /// `<prefix>_http_responses_total`.
    pub fn render(&self, out: &mut Exposition, prefix: &str) {
        out.single(
            &format!("{prefix}_connections_refused_total"),
            Kind::Counter,
            "HTTP connections closed at once at the cap on connections.",
            self.connections_refused.load(Ordering::Relaxed),
        );
        let name = format!("{prefix}_http_responses_total");
        out.family(
            &name,
            Kind::Counter,
            "HTTP responses by status code (\"other\": any other code).",
        );
        for (code, counter) in &self.responses {
            let label = if *code == 0 {
                "other".to_string()
            } else {
                code.to_string()
            };
            out.sample(&name, &[("code", &label)], counter.load(Ordering::Relaxed));
        }
    }
}

/// A socket whose writes fail with `TimedOut` once one has waited longer
/// than its limit: a page that stops reading (or a peer that never reads
/// its response) is dropped instead of holding a connection for ever.
#[derive(Debug)]
pub struct Stalled<S> {
    inner: S,
    limit: Duration,
    /// Set while a write waits; reset by any write that goes through.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Stalled<S> {
    /// `inner`, with writes limited to waiting `limit`.
    pub fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: None,
        }
    }

    fn waited<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.deadline = None;
            return polled;
        }
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                info!(?limit, "HTTP write stalled: dropping the connection");
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "write stalled",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Stalled<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stalled<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.waited(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.waited(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.waited(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stalled_write_fails_after_the_limit() {
        use tokio::io::AsyncWriteExt as _;
        // A pipe of 16 bytes nobody reads.
        let (writer, _reader) = tokio::io::duplex(16);
        let mut stalled = Stalled::new(writer, Duration::from_secs(3));
        stalled.write_all(&[0; 16]).await.unwrap();
        let started = tokio::time::Instant::now();
        let error = stalled.write_all(&[0; 16]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }
}

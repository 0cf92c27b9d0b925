//! The overlay's HTTP/1.1 server: a few static paths, GET only, with every
//! limit a peer can meet stated in [`HttpLimits`].
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
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use super::feed::Feed;
use crate::time::stopped;

/// The page and its assets, compiled into the binary: no CDN, works offline.
const PAGE_HTML: &str = include_str!("page.html");
const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");

/// Content-Security-Policy of the page: scripts only from this server, so
/// that even markup slipped into the page could run nothing. Inline styles
/// stay allowed: OBS injects a browser source's custom CSS as a `<style>`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

/// The limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Most pages following `/events` at once; more get 503.
    pub max_pages: usize,
    /// Most HTTP connections at once (pages included); more are closed at
    /// once.
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

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_pages: 16,
            max_connections: 64,
            header_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_head: 8 * 1024,
        }
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

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
    // As `TcpListener::bind` does: a restarted overlay gets its port back
    // while the old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Serves `listener` until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    feed: Arc<Feed>,
    limits: HttpLimits,
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
            feed.metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            debug!(%peer, "HTTP connection refused: too many");
            continue;
        };
        let (feed, limits, stop) = (feed.clone(), limits.clone(), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            connection(stream, feed, limits, stop).await;
        });
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    feed: Arc<Feed>,
    limits: Arc<HttpLimits>,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Stalled::new(stream, limits.write_timeout));
    let service = {
        let (limits, stop) = (limits.clone(), stop.clone());
        hyper::service::service_fn(move |request| {
            let response = respond(&request, &feed, &limits, &stop);
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

/// What a path serves.
#[derive(Debug, Clone, Copy)]
enum Route {
    Page,
    Script,
    Style,
    Events,
    Health,
    Metrics,
}

fn route(path: &str) -> Option<Route> {
    Some(match path {
        "/" => Route::Page,
        "/overlay.js" => Route::Script,
        "/overlay.css" => Route::Style,
        "/events" => Route::Events,
        "/healthz" => Route::Health,
        "/metrics" => Route::Metrics,
        _ => return None,
    })
}

fn respond(
    request: &Request<Incoming>,
    feed: &Arc<Feed>,
    limits: &HttpLimits,
    stop: &watch::Receiver<bool>,
) -> Response<Body> {
    let response = answer(request, feed, limits, stop);
    feed.metrics.responded(response.status().as_u16());
    response
}

fn answer(
    request: &Request<Incoming>,
    feed: &Arc<Feed>,
    limits: &HttpLimits,
    stop: &watch::Receiver<bool>,
) -> Response<Body> {
    let Some(route) = route(request.uri().path()) else {
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
    match route {
        Route::Page => asset(PAGE_HTML, "text/html; charset=utf-8"),
        Route::Script => asset(PAGE_JS, "text/javascript; charset=utf-8"),
        Route::Style => asset(PAGE_CSS, "text/css; charset=utf-8"),
        Route::Health => plain(
            StatusCode::OK,
            if feed.joined() {
                "ok: joined\n"
            } else {
                "ok: not joined\n"
            },
        ),
        Route::Metrics => {
            let mut response = plain(StatusCode::OK, feed.metrics.render(feed.joined()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        Route::Events => match feed.subscribe(limits.max_pages, stop.clone()) {
            Some(page) => {
                let chunks = futures_util::stream::unfold(page, |mut page| async move {
                    let chunk = page.next_chunk().await?;
                    Some((Ok(Frame::data(chunk)), page))
                });
                let mut response = Response::new(StreamBody::new(chunks).boxed_unsync());
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream; charset=utf-8"),
                );
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            None => {
                let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "too many pages\n");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
        },
    }
}

fn plain(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(text.into()).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn asset(text: &'static str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A new binary may bring a new page: OBS must not keep an old one.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
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

    #[test]
    fn only_the_static_paths_route() {
        for path in [
            "/",
            "/events",
            "/metrics",
            "/healthz",
            "/overlay.js",
            "/overlay.css",
        ] {
            assert!(route(path).is_some(), "{path}");
        }
        for path in [
            "",
            "/index.html",
            "/events/",
            "//",
            "/metrics?x",
            "/../etc/passwd",
        ] {
            assert!(route(path).is_none(), "{path}");
        }
    }
}

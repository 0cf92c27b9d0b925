//! The overlay's site on the shared HTTP server ([`crate::http`]): the
//! page and its assets, the event stream, `/healthz` and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::feed::Feed;
use crate::http::{Body, HttpCounters, Site, plain};

/// The page and its assets, compiled into the binary: no CDN, works offline.
const PAGE_HTML: &str = include_str!("page.html");
const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");

/// Content-Security-Policy of the page: scripts only from this server, so
/// that even markup slipped into the page could run nothing. Inline styles
/// stay allowed: OBS injects a browser source's custom CSS as a `<style>`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

/// The limits of the overlay's HTTP server.
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
        let server = crate::http::Limits::default();
        Self {
            max_pages: 16,
            max_connections: server.max_connections,
            header_timeout: server.header_timeout,
            write_timeout: server.write_timeout,
            max_head: server.max_head,
        }
    }
}

pub use crate::http::listen;

/// Serves the overlay on `listener` until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    feed: Arc<Feed>,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
) {
    let server = crate::http::Limits {
        max_connections: limits.max_connections,
        header_timeout: limits.header_timeout,
        write_timeout: limits.write_timeout,
        max_head: limits.max_head,
    };
    let site = Arc::new(Overlay {
        feed,
        max_pages: limits.max_pages,
    });
    crate::http::serve(listener, site, server, stop).await;
}

/// The overlay's paths over its feed.
struct Overlay {
    feed: Arc<Feed>,
    max_pages: usize,
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

impl Site for Overlay {
    type Route = Route;

    fn route(&self, path: &str) -> Option<Route> {
        route(path)
    }

    fn counters(&self) -> &HttpCounters {
        &self.feed.metrics.http
    }

    fn get(&self, route: Route, stop: &watch::Receiver<bool>) -> Response<Body> {
        let feed = &self.feed;
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
            Route::Metrics => crate::http::metrics(feed.metrics.render(feed.joined())),
            Route::Events => match feed.subscribe(self.max_pages, stop.clone()) {
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! `douyu overlay`'s HTTP server on 127.0.0.1: routes, methods, the limits
//! a peer can meet (oversize requests, slow clients, the cap on pages), and
//! `/metrics` as Prometheus text. Each test is bounded to seconds.

use std::time::{Duration, Instant};

use douyu_tests::{Proc, check_exposition, served_addr};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(30);
/// The overlay's header-read timeout (`HttpLimits::default`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A `douyu serve` simulating room 5 and a `douyu overlay` of it; the
/// overlay's HTTP address.
fn overlay(extra: &[&str]) -> (Proc, Proc, String) {
    overlay_at_rate("50", extra)
}

/// [`overlay`], the room simulated at `rate` messages a second.
fn overlay_at_rate(rate: &str, extra: &[&str]) -> (Proc, Proc, String) {
    let server = Proc::spawn(
        DOUYU,
        &[
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--simulate",
            rate,
            "--room",
            "5",
        ],
    );
    let url = format!("tcp://{}", served_addr(&server, "TCP"));
    let mut args = vec!["overlay", "5", "--server", &url, "--http", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let overlay = Proc::spawn(DOUYU, &args);
    let http = served_addr(&overlay, "HTTP");
    overlay.wait_stderr(Duration::from_secs(10), |l| l.contains("joined"));
    (server, overlay, http)
}

/// A response: status, lowercased head, body.
struct Response {
    status: u16,
    head: String,
    body: String,
}

/// Sends `raw` on a new connection and reads until the server closes it
/// (the requests say `Connection: close`), within 10 s.
async fn exchange(addr: &str, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("response within 10 s")
        .unwrap();
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Response {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Response {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

async fn get(addr: &str, path: &str) -> Response {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    exchange(addr, raw.as_bytes()).await
}

fn run(test: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            tokio::time::timeout(LIMIT, test)
                .await
                .expect("test within its limit");
        });
}

#[test]
fn static_paths_get_only_unknown_404_other_methods_405() {
    let (_server, _overlay, http) = overlay(&[]);
    run(async {
        let page = get(&http, "/?max=10&types=chatmsg").await;
        assert_eq!(page.status, 200);
        assert!(page.head.contains("content-type: text/html"));
        assert!(
            page.head
                .contains("content-security-policy: default-src 'none'")
        );
        assert!(page.body.contains("/overlay.js"));
        for (path, kind) in [
            ("/overlay.js", "text/javascript"),
            ("/overlay.css", "text/css"),
            ("/healthz", "text/plain"),
        ] {
            let response = get(&http, path).await;
            assert_eq!(response.status, 200, "{path}");
            assert!(response.head.contains(kind), "{path}: {}", response.head);
        }
        for path in [
            "/nope",
            "/index.html",
            "/events/x",
            "/../etc/passwd",
            "/favicon.ico",
        ] {
            assert_eq!(get(&http, path).await.status, 404, "{path}");
        }
        for method in ["POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"] {
            for path in ["/", "/events", "/metrics"] {
                let raw =
                    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let response = exchange(&http, raw.as_bytes()).await;
                assert_eq!(response.status, 405, "{method} {path}");
                assert!(response.head.contains("allow: get"), "{method} {path}");
            }
        }
    });
}

#[test]
fn oversize_requests_are_refused_and_the_server_goes_on() {
    let (_server, _overlay, http) = overlay(&[]);
    run(async {
        // A request head past the 8 KiB limit, in the path or in headers.
        let long_path = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000));
        let response = exchange(&http, long_path.as_bytes()).await;
        assert_eq!(response.status, 431, "{}", response.head);
        let many_headers = format!(
            "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
            "X-Filler: 0123456789abcdef0123456789abcdef\r\n".repeat(400)
        );
        let response = exchange(&http, many_headers.as_bytes()).await;
        assert_eq!(response.status, 431, "{}", response.head);
        // A body (announced, never sent): refused unread, connection closed.
        let with_body = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n";
        let response = exchange(&http, with_body).await;
        assert_eq!(response.status, 413);
        assert!(response.head.contains("connection: close"));
        let chunked = b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(exchange(&http, chunked).await.status, 413);
        // Not HTTP at all.
        let garbage = exchange(
            &http,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        )
        .await;
        assert_eq!(garbage.status, 400);
        assert_eq!(get(&http, "/healthz").await.status, 200);
    });
}

#[test]
fn slow_clients_are_cut_off_and_do_not_hold_the_server() {
    let (_server, _overlay, http) = overlay(&[]);
    run(async {
        // Slowloris: a request head one byte every 300 ms, never finished;
        // clients that connect and send nothing; and clients that keep a
        // connection open, idle, after a first request.
        let mut slow = Vec::new();
        for i in 0..21 {
            let addr = http.clone();
            slow.push(tokio::spawn(async move {
                let mut stream = TcpStream::connect(&addr).await.unwrap();
                if i % 3 == 2 {
                    stream
                        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                        .await
                        .unwrap();
                    let mut buf = [0u8; 512];
                    let n = stream.read(&mut buf).await.unwrap();
                    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
                }
                let started = Instant::now();
                if i % 3 == 0 {
                    stream
                        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
                        .await
                        .unwrap();
                    let mut n = 0u64;
                    loop {
                        let byte = [b'a' + (n % 26) as u8];
                        if stream.write_all(&byte).await.is_err() {
                            break;
                        }
                        n += 1;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        // A closed connection shows on read.
                        let mut buf = [0u8; 512];
                        if let Ok(Ok(0) | Err(_)) =
                            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf))
                                .await
                        {
                            break;
                        }
                        assert!(
                            started.elapsed() < Duration::from_secs(15),
                            "slow client still served"
                        );
                    }
                } else {
                    let mut buf = [0u8; 512];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                }
                started.elapsed()
            }));
        }
        // Meanwhile the server answers others at once.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in 0..5 {
            let started = Instant::now();
            assert_eq!(get(&http, "/healthz").await.status, 200);
            assert!(started.elapsed() < Duration::from_secs(1));
        }
        for task in slow {
            let held = task.await.unwrap();
            assert!(
                held >= HEADER_TIMEOUT - Duration::from_millis(500)
                    && held < HEADER_TIMEOUT + Duration::from_secs(3),
                "a slow client was held {held:?}"
            );
        }
    });
}

#[test]
fn events_stream_json_and_pages_are_capped() {
    let (_server, _overlay, http) = overlay(&["--max-pages", "1"]);
    run(async {
        let mut page = TcpStream::connect(&http).await.unwrap();
        page.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("\ndata: {\"type\":") {
            let n = page.read(&mut buf).await.unwrap();
            assert!(n > 0, "stream ended");
            seen.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&seen);
        assert!(text.contains("content-type: text/event-stream"), "{text}");
        assert!(text.contains("retry: 1000\n"));
        assert!(text.contains("event: status\ndata: {\"joined\":true}\n"));
        // Each data line is one JSON object.
        let line = text
            .lines()
            .find(|l| l.starts_with("data: {\"type\":"))
            .unwrap();
        assert!(line.ends_with('}'), "{line}");
        // The one place is taken.
        let second = get(&http, "/events").await;
        assert_eq!(second.status, 503);
        assert!(second.head.contains("retry-after"));
        let metrics = get(&http, "/metrics").await.body;
        assert!(metrics.contains("\ndouyu_overlay_pages 1\n"), "{metrics}");
        assert!(metrics.contains("\ndouyu_overlay_pages_refused_total 1\n"));
        // The page leaves: its place is free again.
        drop(page);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !get(&http, "/metrics")
            .await
            .body
            .contains("\ndouyu_overlay_pages 0\n")
        {
            assert!(
                Instant::now() < deadline,
                "the page's place was not given back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// The value of the unlabelled metric `name` in `/metrics`.
async fn metric(http: &str, name: &str) -> f64 {
    let body = get(http, "/metrics").await.body;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

#[test]
fn a_page_that_stops_reading_is_dropped() {
    let (_server, overlay, http) = overlay_at_rate("300", &[]);
    run(async {
        // A page with a small receive buffer that reads nothing: the
        // overlay's send buffer fills within a second or two, then its
        // write stalls for the 10-s limit.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut page = socket.connect(http.parse().unwrap()).await.unwrap();
        page.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(metric(&http, "douyu_overlay_pages").await, 1.0);
        while metric(&http, "douyu_overlay_pages").await != 0.0 {
            assert!(
                started.elapsed() < Duration::from_secs(25),
                "a stalled page was kept"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let held = started.elapsed();
        assert!(held >= Duration::from_secs(9), "dropped after {held:?}");
        overlay.wait_stderr(Duration::from_secs(1), |l| l.contains("write stalled"));
        drop(page);
    });
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let (_server, _overlay, http) = overlay(&[]);
    run(async {
        // Let the simulated room send a few messages.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let response = get(&http, "/metrics").await;
        assert_eq!(response.status, 200);
        assert!(
            response
                .head
                .contains("content-type: text/plain; version=0.0.4")
        );
        let samples = check_exposition(&response.body);
        let chat = samples
            .iter()
            .find(|(name, labels, _)| {
                name == "douyu_overlay_messages_total" && labels == "type=\"chatmsg\""
            })
            .expect("chat messages counted");
        assert!(chat.2 > 0.0, "{}", response.body);
        for name in [
            "douyu_overlay_pages",
            "douyu_overlay_reconnects_total",
            "douyu_overlay_gaps_total",
            "douyu_overlay_joined",
        ] {
            assert!(samples.iter().any(|(n, _, _)| n == name), "{name}");
        }
    });
}

#[test]
fn the_exposition_checker_catches_broken_text() {
    let good = "# HELP a_total x\n# TYPE a_total counter\na_total{t=\"q\\\"\"} 1\na_total 2\n";
    assert_eq!(check_exposition(good).len(), 2);
    let histogram = "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\n\
        h_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n";
    assert_eq!(check_exposition(histogram).len(), 4);
    for bad in [
        "a 1\n",                                             // no TYPE
        "# TYPE a gauge\na 1\n",                             // no HELP
        "# HELP a x\n# TYPE a gauge\na 1",                   // no final newline
        "# HELP a x\n# TYPE a gauge\na one\n",               // not a number
        "# HELP a x\n# TYPE a gauge\na{t=\"x} 1\n",          // unclosed quote
        "# HELP a x\n# TYPE a gauge\na{1t=\"x\"} 1\n",       // bad label name
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",            // series twice
        "# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n", // TYPE twice
        "# HELP a-b x\n# TYPE a-b gauge\na-b 1\n",           // bad name
        "# HELP a x\n# TYPE a gauge\na{t=\"\\x\"} 1\n",      // bad escape
        // Buckets not cumulative; +Inf not the count; no le.
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket 2\n",
    ] {
        let caught = std::panic::catch_unwind(|| check_exposition(bad));
        assert!(caught.is_err(), "{bad:?} passed");
    }
}

#[test]
fn the_demo_needs_no_network_and_says_hostile_lines() {
    let overlay = Proc::spawn(DOUYU, &["overlay", "--demo", "--http", "127.0.0.1:0"]);
    let http = served_addr(&overlay, "HTTP");
    run(async {
        let mut page = TcpStream::connect(&http).await.unwrap();
        page.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // The first hostile line comes 3 s after the start, among the
        // simulated traffic; serde_json leaves < and > as they are.
        let want = r#""txt":"<img src=x onerror=alert(1)>""#;
        let (mut seen, mut buf) = (String::new(), [0u8; 8192]);
        let mut chat = false;
        while !seen.contains(want) {
            let n = tokio::time::timeout(Duration::from_secs(10), page.read(&mut buf))
                .await
                .expect("events within 10 s")
                .unwrap();
            assert!(n > 0, "stream ended");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            chat |= seen.contains("data: {\"type\":\"chatmsg\"");
            assert!(seen.len() < 16 << 20, "no hostile line in 16 MiB");
        }
        assert!(chat, "simulated chat too");
    });
}

#[test]
fn a_lost_room_is_rejoined_and_counted() {
    let serve = |addr: &str| {
        Proc::spawn(
            DOUYU,
            &["serve", "--tcp", addr, "--simulate", "20", "--room", "5"],
        )
    };
    let server = serve("127.0.0.1:0");
    let tcp = served_addr(&server, "TCP");
    let url = format!("tcp://{tcp}");
    let overlay = Proc::spawn(
        DOUYU,
        &[
            "overlay",
            "5",
            "--server",
            &url,
            "--http",
            "127.0.0.1:0",
            "--backoff",
            "0.2",
        ],
    );
    let http = served_addr(&overlay, "HTTP");
    run(async move {
        let wait_for = |name: &'static str, want: fn(f64) -> bool| {
            let http = http.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    if want(metric(&http, name).await) {
                        return;
                    }
                    assert!(Instant::now() < deadline, "{name} never as wanted");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        wait_for("douyu_overlay_joined", |v| v == 1.0).await;
        assert_eq!(metric(&http, "douyu_overlay_reconnects_total").await, 0.0);
        drop(server);
        wait_for("douyu_overlay_joined", |v| v == 0.0).await;
        wait_for("douyu_overlay_reconnects_total", |v| v >= 1.0).await;
        assert_eq!(get(&http, "/healthz").await.body, "ok: not joined\n");
        // The server back on the same port: the overlay joins again by itself.
        let _server = serve(&tcp);
        wait_for("douyu_overlay_joined", |v| v == 1.0).await;
        assert_eq!(get(&http, "/healthz").await.body, "ok: joined\n");
    });
}

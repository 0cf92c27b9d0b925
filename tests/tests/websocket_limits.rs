//! Hostile WebSocket peers on 127.0.0.1: a peer that pings without reading
//! our pongs, and peers that announce messages larger than the frames we
//! accept, must cost a bounded amount of memory and be dropped. Memory is the
//! growth of the process's peak resident size (`VmHWM`), with a margin wide
//! enough for a noisy machine: the unbounded code grew by hundreds of MB.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use douyu_tests::{Proc, proc_memory, served_addr};

const DOUYU: &str = env!("CARGO_BIN_EXE_douyu-cli");
const LIMIT: Duration = Duration::from_secs(15);
/// How long the attackers keep pinging.
const ATTACK: Duration = Duration::from_secs(3);
/// Most a process may grow while under attack.
const MAX_GROWTH_KB: u64 = 64 * 1024;

/// The peak resident size of process `pid`, in kB.
fn vm_hwm_kb(pid: u32) -> u64 {
    proc_memory(pid, "VmHWM") / 1024
}

fn serve() -> Proc {
    Proc::spawn(
        DOUYU,
        &["serve", "--tcp", "127.0.0.1:0", "--ws", "127.0.0.1:0"],
    )
}

/// Opens a WebSocket by hand: the upgrade request, then the `101` response.
fn ws_handshake(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.set_write_timeout(Some(LIMIT)).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let mut byte = [0u8];
    while !response.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "handshake cut short");
        response.push(byte[0]);
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
    stream
}

/// A client's frame header: FIN, `opcode`, masked, `len` bytes of payload.
fn masked_header(opcode: u8, len: u64) -> Vec<u8> {
    let mut header = vec![0x80 | opcode];
    match len {
        0..=125 => header.push(0x80 | len as u8),
        126..=0xffff => {
            header.push(0x80 | 126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            header.push(0x80 | 127);
            header.extend_from_slice(&len.to_be_bytes());
        }
    }
    // A zero mask leaves the payload as written.
    header.extend_from_slice(&[0; 4]);
    header
}

/// Writes `frames` over and over for [`ATTACK`]; whether the peer dropped
/// us (a write failed) before the time was up.
fn flood(stream: &mut TcpStream, frames: &[u8]) -> bool {
    stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    // Where the next write starts in `frames`: a partial write must not cut
    // a frame, or the peer would drop us for a malformed one instead.
    let mut at = 0;
    while start.elapsed() < ATTACK {
        match stream.write(&frames[at..]) {
            Ok(0) => return true,
            Ok(n) => at = (at + n) % frames.len(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Whether the peer closed `stream` within `limit` (reading what it sends).
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        let left = limit
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(10));
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A client that pings `serve --ws` for 3 s and never reads the pongs costs
/// the server a bounded amount and is dropped; a watcher in the same room
/// keeps getting the room's chat.
#[test]
fn a_client_that_pings_without_reading_is_dropped() {
    let server = serve();
    let addr = served_addr(&server, "WebSocket");
    let url = format!("ws://{addr}");
    let watcher = Proc::spawn(
        DOUYU,
        &[
            "watch", "42", "--server", &url, "--format", "json", "--name", "honest",
        ],
    );
    watcher.wait_stderr(LIMIT, |l| l.contains("joined"));
    let before = vm_hwm_kb(server.pid());

    let mut attacker = ws_handshake(&addr);
    let ping = [masked_header(0x9, 125), vec![b'p'; 125]].concat();
    let dropped = flood(&mut attacker, &ping.repeat(64));
    let growth = vm_hwm_kb(server.pid()).saturating_sub(before);
    eprintln!("server VmHWM growth under the ping flood: {growth} kB");
    assert!(growth < MAX_GROWTH_KB, "the server grew by {growth} kB");
    assert!(dropped, "the attacker was never dropped");
    server.wait_stderr(LIMIT, |l| {
        l.contains("WebSocket peer over its limits") && l.contains("faster than it reads our pongs")
    });
    drop(attacker);

    let mut sayer = Proc::spawn(
        DOUYU,
        &[
            "say",
            "42",
            "still here",
            "--server",
            &url,
            "--name",
            "after",
        ],
    );
    assert_eq!(sayer.wait_exit(LIMIT), Some(0), "{:?}", sayer.stderr());
    watcher.wait_stdout(LIMIT, |l| l.contains("still here"));
}

/// A client that pings and reads its pongs is answered, however fast: the
/// pong to its last ping comes back (earlier ones may be coalesced into it,
/// as RFC 6455 allows) and the connection stays open.
#[test]
fn a_client_that_reads_its_pongs_may_ping() {
    const PINGS: u32 = 2000;
    let server = serve();
    let addr = served_addr(&server, "WebSocket");
    let mut client = ws_handshake(&addr);
    let pings: Vec<u8> = (1..=PINGS)
        .flat_map(|i| [masked_header(0x9, 4), i.to_be_bytes().to_vec()].concat())
        .collect();
    let mut reader = client.try_clone().unwrap();
    let pongs = std::thread::spawn(move || -> std::io::Result<()> {
        let mut pong = [0u8; 6];
        loop {
            reader.read_exact(&mut pong)?;
            assert_eq!(pong[..2], [0x8a, 4], "a pong of 4 bytes");
            if pong[2..] == PINGS.to_be_bytes() {
                return Ok(());
            }
        }
    });
    client.write_all(&pings).unwrap();
    pongs.join().unwrap().expect("the last ping's pong");
    assert!(
        !server
            .stderr()
            .iter()
            .any(|l| l.contains("over its limits")),
        "an honest pinger was dropped"
    );
}

/// `watch ws://` against a server that pings for 3 s and never reads the
/// pongs costs the watcher a bounded amount, and it drops the connection.
#[test]
fn a_watcher_drops_a_server_that_pings_without_reading() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (accepted, connection) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let _ = accepted.send(stream);
        }
        // The listener stays open (unanswered) while the watcher retries.
        std::thread::sleep(LIMIT);
    });
    let watcher = Proc::spawn(DOUYU, &["watch", "5", "--server", &url]);
    let stream = connection
        .recv_timeout(LIMIT)
        .expect("the watcher connects");
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut stream = tokio_tungstenite::tungstenite::accept(stream)
        .expect("WebSocket handshake")
        .into_inner();
    watcher.wait_stderr(LIMIT, |l| l.contains("connected"));
    let before = vm_hwm_kb(watcher.pid());

    // A server's frames are not masked.
    let ping = [vec![0x89, 125], vec![b'p'; 125]].concat();
    let dropped = flood(&mut stream, &ping.repeat(64));
    let growth = vm_hwm_kb(watcher.pid()).saturating_sub(before);
    eprintln!("watcher VmHWM growth under the ping flood: {growth} kB");
    assert!(growth < MAX_GROWTH_KB, "the watcher grew by {growth} kB");
    assert!(dropped, "the watcher never dropped the connection");
    watcher.wait_stderr(LIMIT, |l| l.contains("connection failed"));
}

/// 150 clients each announce a 1 MiB binary message (far above the largest
/// frame the server accepts), send part of it and hold: the server refuses
/// each message at its header, closing the connection, and stays small.
#[test]
fn messages_above_the_frame_limit_are_refused() {
    const CLIENTS: usize = 150;
    const MESSAGE: u64 = 1 << 20;
    let server = serve();
    let addr = served_addr(&server, "WebSocket");
    let before = vm_hwm_kb(server.pid());

    let part = vec![0u8; (MESSAGE as usize) * 3 / 4];
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| ws_handshake(&addr)).collect();
    for client in &mut clients {
        client
            .set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        // A refused client is cut off mid-write: that is the point.
        let _ = client.write_all(&masked_header(0x2, MESSAGE));
        let _ = client.write_all(&part);
    }
    // Let the server read what it will of the partial messages.
    std::thread::sleep(Duration::from_millis(500));
    let growth = vm_hwm_kb(server.pid()).saturating_sub(before);
    eprintln!("server VmHWM growth with {CLIENTS} partial 1 MiB messages: {growth} kB");
    assert!(growth < MAX_GROWTH_KB, "the server grew by {growth} kB");

    let start = Instant::now();
    for (i, client) in clients.iter_mut().enumerate() {
        let left = Duration::from_secs(5).saturating_sub(start.elapsed());
        assert!(closed_within(client, left), "client {i} was not refused");
    }
}

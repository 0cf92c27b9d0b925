//! A Douyu server that misbehaves on purpose, and a tap that watches a real
//! one, for the device tests of `host-cortex-m/test.sh`: what the server
//! side saw (heartbeats and when, the logout, the chat sent) comes from
//! here, not from the device's own claims. Every frame is built and read
//! with `douyu-core`.
//!
//! ```text
//! douyu-scripted scenario pieces|oversize|error|silent [--chats N]
//! douyu-scripted tap --upstream HOST:PORT
//! ```
//!
//! Both listen on 127.0.0.1 at a free port, print `listening PORT`, serve
//! one connection, and end with one `server: …` line of what they saw.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use douyu_core::frame::{Direction, OVERHEAD, encode_with};
use douyu_core::message::{ClientMessage, ServerMessage};
use douyu_core::stream::Decoder;
use douyu_core::stt::{MapWriter, SttError};

/// Largest frame either side of the tap reassembles.
const MAX_FRAME: usize = 1 << 16;

/// The receive buffer of the firmware (`host-cortex-m/src/lib.rs`'s `RX`)
/// is 2048 bytes; the oversized frame is twice that.
const OVERSIZE_BODY: usize = 4096;

/// What the server side saw of the client.
#[derive(Default)]
struct Seen {
    /// When each heartbeat arrived, in ms since the login request.
    heartbeats: Vec<u64>,
    logouts: u32,
    /// `chatmsg` frames sent to the client before its logout arrived.
    chat_sent: u32,
    /// Where each of them ends in the byte stream sent to the client, so
    /// that the test can tell which ones had reached it when it logged out.
    chat_ends: Vec<u64>,
    login_at: Option<Instant>,
}

impl Seen {
    fn line(&self) -> String {
        let list = |values: &[u64]| match values {
            [] => "-".to_string(),
            _ => values
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        };
        format!(
            "server: heartbeats={} heartbeat_ms={} logout={} chat_sent={} chat_ends={}",
            self.heartbeats.len(),
            list(&self.heartbeats),
            self.logouts,
            self.chat_sent,
            list(&self.chat_ends)
        )
    }
}

/// Encodes a server frame whose body `build` writes.
fn server_frame(build: impl FnOnce(&mut MapWriter<'_, '_>) -> Result<(), SttError>) -> Vec<u8> {
    let mut out = vec![0u8; OVERSIZE_BODY * 2];
    let n = encode_with(&mut out, Direction::ServerToClient, build).expect("frame fits");
    out.truncate(n);
    out
}

fn chat(i: usize) -> Vec<u8> {
    server_frame(|m| {
        m.pair("type", "chatmsg")?
            .pair("rid", "1")?
            .pair("nn", &format!("viewer/{i}"))?
            .pair("txt", &format!("line {i} with @ and / escaped"))?;
        Ok(())
    })
}

/// Reads client frames from `stream` and hands each parsed message to `on`,
/// until the stream ends or `on` says stop. Returns whether it ended.
fn read_client(
    stream: &mut TcpStream,
    decoder: &mut Decoder<'_>,
    mut on: impl FnMut(ClientMessage<'_>) -> bool,
) -> bool {
    loop {
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    if let Ok(message) = ClientMessage::parse(frame.body)
                        && !on(message)
                    {
                        return false;
                    }
                }
                Ok(None) => break,
                Err(e) if e.is_fatal() => return true,
                Err(_) => {}
            }
        }
        let window = decoder.window();
        match stream.read(window) {
            Ok(0) | Err(_) => return true,
            Ok(n) => decoder.commit(n),
        }
    }
}

/// Notes a heartbeat or logout from the client.
fn note(seen: &Mutex<Seen>, message: &ClientMessage<'_>) {
    let mut seen = seen.lock().unwrap();
    match message {
        ClientMessage::Login(_) => seen.login_at = Some(Instant::now()),
        ClientMessage::Heartbeat(_) => {
            let since = seen.login_at.map_or(0, |t| t.elapsed().as_millis() as u64);
            seen.heartbeats.push(since);
        }
        ClientMessage::Logout(_) => seen.logouts += 1,
        _ => {}
    }
}

/// A small deterministic generator, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn scenario(name: &str, chats: usize, mut stream: TcpStream) -> Seen {
    let seen = Mutex::new(Seen::default());
    let mut buf = vec![0u8; MAX_FRAME];
    let mut decoder = Decoder::new(&mut buf);
    let mut out = stream.try_clone().unwrap();
    // The login and the join, answered as any server does.
    read_client(&mut stream, &mut decoder, |m| {
        note(&seen, &m);
        if matches!(m, ClientMessage::Login(_)) {
            let loginres = server_frame(|m| {
                m.pair("type", "loginres")?.pair("userid", "0")?;
                Ok(())
            });
            let _ = out.write_all(&loginres);
        }
        !matches!(m, ClientMessage::JoinGroup(_))
    });
    let mut sent = 0u32;
    match name {
        "pieces" => {
            // Every chat line in one byte stream, written in random pieces:
            // some cut a header or a body, some hold several frames.
            let wire: Vec<u8> = (0..chats).flat_map(chat).collect();
            let mut rng = Rng(0x5eed_1234_abcd_ef01);
            let mut at = 0;
            while at < wire.len() {
                let n = match rng.below(4) {
                    0 => 1 + rng.below(3),
                    1 => 1 + rng.below(40),
                    _ => 100 + rng.below(400),
                }
                .min(wire.len() - at);
                let _ = out.write_all(&wire[at..at + n]);
                at += n;
                std::thread::sleep(Duration::from_millis(rng.below(3) as u64));
            }
            sent = chats as u32;
        }
        "oversize" => {
            let _ = out.write_all(&chat(0));
            let long = "x".repeat(OVERSIZE_BODY);
            let big = server_frame(|m| {
                m.pair("type", "chatmsg")?
                    .pair("nn", "big")?
                    .pair("txt", &long)?;
                Ok(())
            });
            let _ = out.write_all(&big);
            let _ = out.write_all(&chat(1));
            sent = 3;
        }
        "error" => {
            let error = server_frame(|m| {
                m.pair("type", "error")?.pair("code", "51")?;
                Ok(())
            });
            let _ = out.write_all(&error);
        }
        "silent" => {}
        other => panic!("unknown scenario {other}"),
    }
    seen.lock().unwrap().chat_sent = sent;
    // Answer heartbeats (but for the silent server) until the client goes.
    let silent = name == "silent";
    read_client(&mut stream, &mut decoder, |m| {
        note(&seen, &m);
        if matches!(m, ClientMessage::Heartbeat(_)) && !silent {
            let reply = server_frame(|m| m.pair("type", "mrkl").map(drop));
            let _ = out.write_all(&reply);
        }
        !matches!(m, ClientMessage::Logout(_))
    });
    seen.into_inner().unwrap()
}

/// Relays one direction, decoding what passes with `on_frame`, which is
/// also told where the frame ends in the stream.
fn relay(mut from: TcpStream, mut to: TcpStream, mut on_frame: impl FnMut(&str, u64) + Send) {
    let mut buf = vec![0u8; MAX_FRAME];
    let mut decoder = Decoder::new(&mut buf);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&chunk[..n]).is_err() {
            break;
        }
        let mut rest = &chunk[..n];
        while !rest.is_empty() {
            let taken = decoder.feed(rest);
            rest = &rest[taken..];
            loop {
                // A frame starts where the decoder stands (the tap's buffer
                // holds any frame, so none is being skipped).
                let start = decoder.position();
                match decoder.next_frame() {
                    Ok(Some(frame)) => {
                        let end = start + (OVERHEAD + frame.body.len()) as u64;
                        on_frame(frame.body, end);
                    }
                    Ok(None) => break,
                    Err(e) if e.is_fatal() => return,
                    Err(_) => {}
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn tap(upstream: &str, client: TcpStream) -> Seen {
    let server = TcpStream::connect(upstream).expect("connecting upstream");
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let up = {
        let (from, to, seen) = (
            client.try_clone().unwrap(),
            server.try_clone().unwrap(),
            seen.clone(),
        );
        std::thread::spawn(move || {
            relay(from, to, |body, _| {
                if let Ok(m) = ClientMessage::parse(body) {
                    note(&seen, &m);
                }
            });
        })
    };
    let down = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            relay(server, client, |body, end| {
                // Chat relayed after the logout is left out: the client
                // had stopped reading.
                let mut seen = seen.lock().unwrap();
                if let (Ok(ServerMessage::Chat(_)), 0) = (ServerMessage::parse(body), seen.logouts)
                {
                    seen.chat_sent += 1;
                    seen.chat_ends.push(end);
                }
            });
        })
    };
    let _ = up.join();
    let _ = down.join();
    Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: douyu-scripted scenario NAME [--chats N] | tap --upstream HOST:PORT";
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    println!("listening {}", listener.local_addr().unwrap().port());
    let (stream, _) = listener.accept().expect("accepting");
    let _ = stream.set_nodelay(true);
    let seen = match args.first().map(String::as_str) {
        Some("scenario") => {
            let name = args.get(1).expect(usage);
            let chats = match args.get(2).map(String::as_str) {
                Some("--chats") => args.get(3).and_then(|n| n.parse().ok()).expect(usage),
                _ => 40,
            };
            scenario(name, chats, stream)
        }
        Some("tap") if args.get(1).map(String::as_str) == Some("--upstream") => {
            tap(args.get(2).expect(usage), stream)
        }
        _ => panic!("{usage}"),
    };
    println!("{}", seen.line());
}

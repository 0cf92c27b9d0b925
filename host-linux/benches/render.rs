//! The JSON writer of `watch --format json` and `collect`, against the
//! limit: copying the same STT bodies (on demand, not a test).
//!
//! Makes `--messages` frames with the core's simulated room, parses each
//! once, then times, best of `--rounds`: a `memcpy` of every body into one
//! buffer (the floor for any writer that reads each byte once), and
//! [`write_message_json`] of every message with its receive time. Prints
//! both and their ratio; the machine is shared, so only the ratio within a
//! run means much.
//!
//! ```sh
//! cargo bench -p douyu-host --bench render
//! cargo bench -p douyu-host --bench render -- --messages 20000 --rounds 20
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use douyu_core::frame::Frame;
use douyu_core::message::ServerMessage;
use douyu_core::sim::Room;
use douyu_host::render::write_message_json;

fn main() {
    let mut messages = 10_000usize;
    let mut rounds = 15usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || args.next().and_then(|v| v.parse().ok()).expect("a number");
        match arg.as_str() {
            "--messages" => messages = number(),
            "--rounds" => rounds = number(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let mut room = Room::new(288_016, 7);
    let mut wire = vec![0u8; 64 * 1024];
    let start_ms = 1_764_000_000_000u64;
    let bodies: Vec<String> = (0..messages as u64)
        .map(|i| {
            let n = room.next_frame(start_ms + i * 7, &mut wire).expect("fits");
            let (frame, _) = Frame::decode(&wire[..n]).expect("valid").unwrap();
            frame.body.to_owned()
        })
        .collect();
    let parsed: Vec<ServerMessage<'_>> = bodies
        .iter()
        .map(|body| ServerMessage::parse(body).expect("the simulator writes STT"))
        .collect();
    let total: usize = bodies.iter().map(String::len).sum();
    let mut copy = Vec::with_capacity(total);
    let mut json = Vec::with_capacity(total * 2);
    let best = |f: &mut dyn FnMut()| -> Duration {
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let memcpy = best(&mut || {
        copy.clear();
        for body in &bodies {
            copy.extend_from_slice(black_box(body.as_bytes()));
        }
        black_box(&copy);
    });
    let mut out_len = 0;
    let render = best(&mut || {
        json.clear();
        for (i, message) in parsed.iter().enumerate() {
            write_message_json(
                black_box(message),
                Some((start_ms + i as u64 * 7) as i64),
                &mut json,
            );
            json.push(b'\n');
        }
        out_len = json.len();
        black_box(&json);
    });
    let per = |d: Duration| d.as_secs_f64() * 1e9 / messages as f64;
    println!(
        "{messages} messages, {:.0} B body and {:.0} B JSON on average, best of {rounds}",
        total as f64 / messages as f64,
        out_len as f64 / messages as f64
    );
    println!("memcpy of the bodies   {:>9.1} ns a message", per(memcpy));
    println!("write_message_json     {:>9.1} ns a message", per(render));
    println!(
        "ratio                  {:>9.3} (memcpy time / JSON time)",
        memcpy.as_secs_f64() / render.as_secs_f64()
    );
}

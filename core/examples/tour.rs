//! A tour of `douyu-core`: decode a stream, read typed and nested fields,
//! build a frame, and drive a client session. The README quotes this file.
//!
//! `cargo run -p douyu-core --example tour`

use douyu_core::frame::{MessageType, encode_with};
use douyu_core::message::ServerMessage;
use douyu_core::session::{Client, ClientConfig, ClientEvent, Instant};
use douyu_core::stream::Decoder;

fn main() -> Result<(), Box<dyn core::error::Error>> {
    // Build a server frame: nested values are escaped once more per level.
    let mut wire = [0u8; 256];
    let n = encode_with(&mut wire, MessageType::ServerToClient, |m| {
        m.pair("type", "chatmsg")?
            .pair("nn", "鱼丸/@")?
            .pair("txt", "主播好 🐟")?;
        m.list("el", |l| l.map(|e| e.pair("eid", "7").map(drop)).map(drop))?;
        Ok(())
    })?;

    // Reassemble frames from bytes in any pieces, in a fixed buffer.
    let mut buf = [0u8; 1024];
    let mut decoder = Decoder::new(&mut buf);
    for piece in wire[..n].chunks(5) {
        decoder.feed(piece);
        while let Some(frame) = decoder.next_frame()? {
            // A typed, zero-copy view; nested fields opened in place.
            if let ServerMessage::Chat(chat) = ServerMessage::parse(frame.body)? {
                let (nn, txt) = (chat.nn.unwrap_or_default(), chat.txt.unwrap_or_default());
                println!("{nn}: {txt}");
                for effect in chat.effects().items() {
                    println!(
                        "  effect {}",
                        effect?.as_map().get("eid")?.unwrap_or_default()
                    );
                }
            }
        }
    }

    // A client session: bytes and time in, bytes and events out.
    let mut rx = [0u8; 4096];
    let mut tx = [0u8; 256];
    let mut client = Client::new(ClientConfig::new(288_016), &mut rx, Instant::from_millis(0));
    while let Some(n) = client.poll_transmit(&mut tx)? {
        println!("send {} bytes", n); // socket.write_all(&tx[..n])
    }
    let login_reply = b"\x22\0\0\0\x22\0\0\0\xb2\x02\0\0type@=loginres/userid@=1/\0";
    client.handle_input(Instant::from_millis(20), login_reply);
    while let Some(event) = client.poll_event() {
        if let ClientEvent::LoggedIn(_) = event {
            println!("logged in");
        }
    }
    // ... and when `client.poll_timeout()` passes: `client.handle_timeout(now)`.
    Ok(())
}

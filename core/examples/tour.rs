//! A tour of `douyu-core`: decode a stream, read typed and nested fields,
//! build a frame, and drive a client session. The README quotes this file.
//!
//! `cargo run -p douyu-core --example tour`

use douyu_core::frame::{Direction, encode_with};
use douyu_core::message::ServerMessage;
use douyu_core::session::{Client, ClientConfig, ClientEvent, Instant};
use douyu_core::stream::Decoder;

fn main() -> Result<(), Box<dyn core::error::Error>> {
    // Build a server frame: nested values are escaped once more per level.
    let mut wire = [0u8; 256];
    let n = encode_with(&mut wire, Direction::ServerToClient, |m| {
        m.pair("type", "chatmsg")?
            .pair("nn", "鱼丸/@")?
            .pair("txt", "主播好 🐟")?;
        m.list("el", |l| l.map(|e| e.pair("eid", "7").map(drop)).map(drop))?;
        Ok(())
    })?;

    // Reassemble frames from bytes in any pieces, in a fixed buffer.
    let mut buf = [0u8; 1024];
    let mut decoder = Decoder::new(&mut buf);
    for mut piece in wire[..n].chunks(5) {
        // `feed` takes what fits; take frames out to make room for the rest.
        while !piece.is_empty() {
            piece = &piece[decoder.feed(piece)..];
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
    }

    // A client session: bytes and time in, bytes and events out.
    let mut rx = [0u8; 4096];
    let mut tx = [0u8; 256];
    let mut client = Client::new(ClientConfig::new(288_016), &mut rx, Instant::from_millis(0));
    while let Some(n) = client.poll_transmit(&mut tx)? {
        println!("send {} bytes", n); // socket.write_all(&tx[..n])
    }
    let now = Instant::from_millis(20);
    let mut bytes_read: &[u8] = b"\x22\0\0\0\x22\0\0\0\xb2\x02\0\0type@=loginres/userid@=1/\0";
    while !bytes_read.is_empty() {
        let taken = client.handle_input(now, bytes_read);
        bytes_read = &bytes_read[taken..];
        while let Some(event) = client.poll_event() {
            if let ClientEvent::LoggedIn(_) = event {
                println!("logged in");
            }
        }
    }
    // `None` means never: compare inside the option, not with `Some(now)`.
    if client.poll_timeout().is_some_and(|t| t <= now) {
        client.handle_timeout(now);
    }
    Ok(())
}

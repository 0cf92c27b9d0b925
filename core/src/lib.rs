//! The Douyu danmaku protocol, allocation-free.
//!
//! Douyu (斗鱼) sends viewer chat ("danmaku"), gifts and room events over one
//! connection: binary [frames](frame) around a text serialization called
//! [STT](stt). This crate parses and builds both in caller-provided buffers,
//! reassembles frames from a byte [stream], gives typed [message] views, and
//! holds the client and server [session] rules as sans-IO state machines:
//! the caller moves the bytes and passes the time in.
//!
//! It is `#![no_std]` with no allocator, and builds for microcontrollers
//! (`thumbv7em-none-eabihf` is checked in CI).
//!
//! ```
//! use douyu_core::frame::Frame;
//! use douyu_core::message::ServerMessage;
//!
//! let wire = b"\x29\0\0\0\x29\0\0\0\xb2\x02\0\0type@=chatmsg/nn@=\xe9\xb1\xbc/txt@=hi@S/\0";
//! // `Status::unwrap`: this input is known to be whole; a network read
//! // would match `Status::Incomplete { needed }` and read more.
//! let (frame, _used) = Frame::decode(wire)?.unwrap();
//! match ServerMessage::parse(frame.body)? {
//!     ServerMessage::Chat(chat) => {
//!         assert!(chat.nn.unwrap() == "鱼");
//!         assert!(chat.txt.unwrap() == "hi/");
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # Errors and panics
//! Every decoder accepts any bytes: short input is
//! [`Status::Incomplete`](frame::Status), anything malformed is a typed error
//! ([`frame::FrameError`], [`stt::SttError`], [`session::SessionError`]) with
//! the offsets and values involved. Nothing panics on input from the network;
//! the fuzz targets in `fuzz/` hold the crate to that.
#![no_std]
// `unsafe` is denied but for three small items, each allowed where it
// stands with the measurement that justifies it: the SSE2 (in builds that
// enable AVX2, the AVX2) byte classifier
// in `stt::block` (it calls `#[target_feature]` intrinsics and dereferences
// no pointer), and in `stt::read` the slicing of keys and values at offsets
// the scanner proved to be character boundaries, and the `str` view of
// bytes copied from `str`s. CI runs the crate's tests under Miri.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

// Unit tests may use the standard library; the crate itself never does.
#[cfg(test)]
extern crate std;

pub mod frame;
pub mod message;
pub mod schema;
pub mod session;
#[cfg(feature = "sim")]
pub mod sim;
pub mod stream;
pub mod stt;

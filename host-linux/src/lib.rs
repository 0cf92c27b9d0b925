//! The `douyu` command's machinery: `douyu-core` sessions on tokio sockets.
//!
//! No protocol logic lives here: framing, STT and the session rules come from
//! `douyu-core`; this crate moves bytes and time, and prints.

pub mod alarm;
pub mod capture;
pub mod cli;
pub mod collect;
pub mod decode;
pub mod exit;
pub mod export;
pub mod http;
pub mod overlay;
pub mod prometheus;
pub mod render;
pub mod rooms;
pub mod server;
pub mod throttle;
pub mod time;
pub mod watch;
pub mod who;
pub mod wire;

//! The WebAssembly host of `douyu-core`: a thin `#[wasm_bindgen]` layer that
//! moves bytes and time between the core and JavaScript.
//!
//! The JavaScript package (`js/`) wraps these bindings: it turns the
//! [batches](batch) of decoded pairs into plain objects and adds `watch`, a
//! loop around [`client::Client`] over the standard `WebSocket` API. Protocol
//! knowledge (framing, escapes, which field means what, the session's rules)
//! stays in the core; nothing here or in `js/` parses a frame or a body.
//! The batch unescapes with the core's `Text::unescape_words`, made for an
//! arena like its own: in WebAssembly a copy call per text leaves the
//! module (src/batch.rs).
//!
//! Errors reach JavaScript as exceptions of the classes in `js/errors.js`
//! ([`errors`]), carrying the core's offsets and values. Nothing a peer sends
//! can panic: the core promises it, and this layer indexes nothing itself.

pub mod batch;
pub mod client;
pub mod decoder;
pub mod encode;
pub mod errors;
pub mod nested;

use wasm_bindgen::prelude::*;

/// The decoder's default buffer, the largest frame accepted (64 KiB), the
/// same in every host.
#[wasm_bindgen(js_name = defaultMaxFrame)]
#[must_use]
pub fn default_max_frame() -> u32 {
    // 64 KiB fits in u32 on every target.
    douyu_core::stream::DEFAULT_CAPACITY as u32
}

/// The module's memory, where `js/` reads a decoder's batch in place.
#[wasm_bindgen(js_name = wasmMemory)]
#[must_use]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// The smallest `maxFrame`: a frame header (12 bytes).
#[wasm_bindgen(js_name = minMaxFrame)]
#[must_use]
pub fn min_max_frame() -> u32 {
    douyu_core::frame::HEADER_LEN as u32
}

/// The largest `maxFrame` accepted (16 MiB): the buffer is allocated whole,
/// and Douyu's largest frames are a few KiB.
pub const MAX_MAX_FRAME: u32 = 16 << 20;

/// A receive buffer of `max_frame` bytes, or a `RangeError`.
pub(crate) fn buffer(max_frame: u32) -> Result<Box<[u8]>, JsValue> {
    let min = min_max_frame();
    if !(min..=MAX_MAX_FRAME).contains(&max_frame) {
        let msg = format!("maxFrame must be {min} to {MAX_MAX_FRAME} bytes, not {max_frame}");
        return Err(js_sys::RangeError::new(&msg).into());
    }
    Ok(vec![0u8; max_frame as usize].into_boxed_slice())
}

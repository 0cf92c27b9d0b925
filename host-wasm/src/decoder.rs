//! `Decoder`: the core's stream decoder, owning its buffer.

use douyu_core::stream::{Decoder as CoreDecoder, StreamError};
use wasm_bindgen::prelude::*;

use crate::batch::Batch;
use crate::errors::{self, Family};

/// The core's decoder borrows its buffer; a JavaScript object owns both.
#[ouroboros::self_referencing]
struct Rx {
    buf: Box<[u8]>,
    #[borrows(mut buf)]
    #[covariant]
    decoder: CoreDecoder<'this>,
}

/// What one step of the core decoder gave.
enum Step {
    /// A frame, added to the batch.
    Added,
    /// A frame whose body is malformed, at this stream offset.
    BadBody(douyu_core::stt::SttError, u64),
    NeedBytes,
    Error(StreamError),
}

/// Reassembles frames from a byte stream (sans-IO): bytes in, messages out.
///
/// Memory is bounded by the buffer (`maxFrame` bytes), the input and the
/// batch of the last call, and, after an error, the rest of the bytes of
/// that call.
#[wasm_bindgen(js_name = RawDecoder)]
pub struct Decoder {
    rx: Rx,
    batch: Batch,
    /// Where `js/` writes the bytes of a call: see [`Decoder::input`].
    input: Vec<u8>,
    /// Bytes given and not yet taken: those behind a bad frame wait here
    /// for the next call.
    pending: Vec<u8>,
    /// The error that ended the last call, thrown by `js/` after it has
    /// built the messages before it.
    error: Option<JsValue>,
    /// Where the last call's batch is, for `js/` to read from the module's
    /// memory: see [`Decoder::feed`].
    out: [u32; 12],
}

/// An input or batch this large (bytes) is freed after its call: one large
/// chunk does not hold its memory for good.
const KEEP: usize = 1 << 20;

#[wasm_bindgen(js_class = RawDecoder)]
impl Decoder {
    /// A decoder accepting whole frames of up to `max_frame` bytes.
    ///
    /// # Errors
    /// A `RangeError` for a size outside 12 bytes to 16 MiB.
    #[wasm_bindgen(constructor)]
    pub fn new(max_frame: u32) -> Result<Decoder, JsValue> {
        let buf = crate::buffer(max_frame)?;
        Ok(Self {
            rx: Rx::new(buf, |buf| CoreDecoder::new(buf)),
            batch: Batch::numbered(),
            input: Vec::new(),
            pending: Vec::new(),
            error: None,
            out: [0; 12],
        })
    }

    /// The address in the module's memory of a window of at least `len`
    /// bytes, for `js/` to write the bytes of the next [`Decoder::feed`]
    /// into. The window stays until a call says otherwise (the last two
    /// words of `feed`'s answer), so a stream of small chunks pays neither
    /// this call nor an allocation per chunk, as wasm-bindgen's passing of
    /// a `&[u8]` would (an allocation and a free per call).
    #[allow(clippy::cast_possible_truncation)]
    pub fn input(&mut self, len: u32) -> u32 {
        let len = len as usize;
        if self.input.len() < len {
            self.input = Vec::new();
            self.input.resize(len, 0);
        }
        self.input.as_ptr() as u32
    }

    /// Takes the first `len` bytes of the input window and decodes every
    /// frame they complete into the batch. Stops at the first bad frame,
    /// whose error `takeError()` then gives.
    ///
    /// Returns the address in the module's memory of twelve words: the
    /// address and length (in words) of the batch's index, of its `text`
    /// and its `wide` text (in bytes, UTF-8) and of its bodies (bytes); 1
    /// when `takeError()` has an error; 1 when the batch's tables of keys
    /// and shapes were emptied (after the batch); the input window's
    /// address and length now. One call per chunk: `js/` reads the batch
    /// in place, and it stays there until the next call.
    #[allow(clippy::cast_possible_truncation)]
    pub fn feed(&mut self, len: u32) -> u32 {
        self.batch.clear();
        self.error = None;
        let staged = core::mem::take(&mut self.input);
        // `js/` reserved the window before writing `len` bytes into it.
        let bytes = staged.get(..len as usize).unwrap_or_default();
        let mut input = core::mem::take(&mut self.pending);
        let mut rest: &[u8] = if input.is_empty() {
            bytes
        } else {
            input.extend_from_slice(bytes);
            &input
        };
        loop {
            match self.step() {
                Step::Added => {}
                Step::NeedBytes => {
                    if rest.is_empty() {
                        break;
                    }
                    let n = self.rx.with_decoder_mut(|d| d.feed(rest));
                    if n == 0 {
                        // Cannot happen (the window is never empty while
                        // the decoder waits), but never loop on it.
                        self.pending.extend_from_slice(rest);
                        break;
                    }
                    rest = &rest[n..];
                }
                Step::BadBody(e, offset) => {
                    self.error = Some(errors::stt(&e, Some(offset), Family::Decode));
                    self.pending.extend_from_slice(rest);
                    break;
                }
                Step::Error(e) => {
                    self.error = Some(errors::stream(&e));
                    // A fatal error repeats on every call: what follows it
                    // can never be read, so it is not kept.
                    if !e.is_fatal() {
                        self.pending.extend_from_slice(rest);
                    }
                    break;
                }
            }
        }
        drop(input);
        if staged.len() <= KEEP {
            self.input = staged;
        }
        let b = &self.batch;
        // Addresses and lengths in a 32-bit memory.
        let words = [
            b.index.as_ptr() as u32,
            b.index.len() as u32,
            b.text.as_bytes().as_ptr() as u32,
            b.text.as_bytes().len() as u32,
            b.wide.as_bytes().as_ptr() as u32,
            b.wide.as_bytes().len() as u32,
            b.bodies.as_ptr() as u32,
            b.bodies.len() as u32,
            u32::from(self.error.is_some()),
            u32::from(b.reset),
            self.input.as_ptr() as u32,
            self.input.len() as u32,
        ];
        self.out = words;
        self.out.as_ptr() as u32
    }

    /// The error that ended the last `feed`, if one did (once).
    #[wasm_bindgen(js_name = takeError)]
    pub fn take_error(&mut self) -> Option<JsValue> {
        self.error.take()
    }

    /// The largest frame accepted, in bytes.
    #[wasm_bindgen(getter, js_name = maxFrame)]
    pub fn max_frame(&self) -> u32 {
        // Built from a u32.
        u32::try_from(self.rx.borrow_decoder().capacity()).unwrap_or(u32::MAX)
    }

    /// Bytes received and not yet returned as messages.
    #[wasm_bindgen(getter)]
    #[allow(clippy::cast_precision_loss)]
    pub fn buffered(&self) -> f64 {
        (self.rx.borrow_decoder().buffered() + self.pending.len()) as f64
    }

    /// Stream offset of the next byte to decode.
    #[wasm_bindgen(getter)]
    #[allow(clippy::cast_precision_loss)]
    pub fn position(&self) -> f64 {
        self.rx.borrow_decoder().position() as f64
    }
}

impl Decoder {
    fn step(&mut self) -> Step {
        let Self { rx, batch, .. } = self;
        rx.with_decoder_mut(|d| {
            let (len, added) = match d.next_frame() {
                Ok(Some(frame)) => {
                    let len = frame.encoded_len() as u64;
                    // The offset is known once the frame is consumed; the
                    // batch takes a placeholder, fixed below.
                    (len, batch.push(crate::batch::head(&frame), 0, frame.body))
                }
                Ok(None) => return Step::NeedBytes,
                Err(e) => return Step::Error(e),
            };
            let offset = d.position() - len;
            match added {
                Ok(()) => {
                    batch.set_last_offset(offset);
                    Step::Added
                }
                Err(e) => Step::BadBody(e, offset),
            }
        })
    }
}

//! `douyu.Decoder`: the core's stream decoder, owning its buffer.

use douyu_core::stream::{Decoder as CoreDecoder, StreamError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors;
use crate::views::Message;
use crate::{Input, buffer};

/// The core's decoder borrows its buffer; a Python object must own both.
#[ouroboros::self_referencing]
struct Rx {
    buf: Box<[u8]>,
    #[borrows(mut buf)]
    #[covariant]
    decoder: CoreDecoder<'this>,
}

/// One step of the core decoder, with the frame copied out of its buffer.
enum Step {
    Frame {
        direction: u16,
        body: Box<str>,
        offset: u64,
    },
    NeedBytes,
    Error(StreamError),
}

/// Reassembles frames from a byte stream (sans-IO): bytes in, messages out.
///
/// The decoder's buffer holds `max_frame` bytes, the largest frame accepted;
/// a larger frame is reported (`douyu.TooLarge`) and skipped as its bytes
/// arrive, and the frames after it decode normally.
#[pyclass(module = "douyu", name = "Decoder")]
pub(crate) struct Decoder {
    rx: Rx,
    input: Input,
    /// Set once the core reported a fatal error: it repeats it from then on,
    /// so bytes given later are dropped rather than kept.
    fatal: bool,
}

impl Decoder {
    fn step(&mut self) -> Step {
        self.rx.with_decoder_mut(|d| match d.next_frame() {
            Ok(Some(frame)) => {
                let direction = frame.direction.to_u16();
                let body: Box<str> = frame.body.into();
                let len = frame.encoded_len() as u64;
                Step::Frame {
                    direction,
                    body,
                    offset: d.position() - len,
                }
            }
            Ok(None) => Step::NeedBytes,
            Err(e) => Step::Error(e),
        })
    }

    fn next<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, Message>>> {
        loop {
            match self.step() {
                Step::Frame {
                    direction,
                    body,
                    offset,
                } => return Message::new(py, direction, body, Some(offset)).map(Some),
                Step::NeedBytes => {
                    let Self { rx, input, .. } = self;
                    if input.offer(|bytes| rx.with_decoder_mut(|d| d.feed(bytes))) == 0 {
                        return Ok(None);
                    }
                }
                Step::Error(e) => {
                    if e.is_fatal() {
                        self.fatal = true;
                        self.input.clear();
                    }
                    return Err(errors::stream(e).into_err(py));
                }
            }
        }
    }
}

#[pymethods]
impl Decoder {
    /// A decoder accepting frames of up to `max_frame` bytes (header and
    /// terminator included); the default is the core's `DEFAULT_CAPACITY`.
    #[new]
    #[pyo3(signature = (max_frame = douyu_core::stream::DEFAULT_CAPACITY))]
    fn py_new(max_frame: usize) -> PyResult<Self> {
        let buf = buffer(max_frame)?;
        Ok(Self {
            rx: Rx::new(buf, |buf| CoreDecoder::new(buf)),
            input: Input::default(),
            fatal: false,
        })
    }

    /// Takes bytes received; read the messages with `next_message()`.
    fn receive_data(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if !self.fatal {
            self.input.push(data)?;
        }
        Ok(())
    }

    /// The next message, or `None` until more bytes arrive. Raises a
    /// `douyu.DecodeError` for a bad frame; unless the error is `fatal`, the
    /// next call goes on with the frames after it.
    fn next_message<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, Message>>> {
        self.next(py)
    }

    /// Takes bytes received and returns the messages they complete, in order.
    ///
    /// On a bad frame raises a `douyu.DecodeError` whose `messages` holds the
    /// messages decoded before it; the bytes after the bad frame wait, and
    /// the next call (`feed(b"")` will do) goes on with them unless the
    /// error is `fatal`.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.receive_data(data)?;
        let out = PyList::empty(py);
        loop {
            match self.next(py) {
                Ok(Some(message)) => out.append(message)?,
                Ok(None) => return Ok(out),
                Err(e) => {
                    e.value(py).setattr("messages", out)?;
                    return Err(e);
                }
            }
        }
    }

    /// The largest frame accepted, in bytes (the buffer's size).
    #[getter]
    fn max_frame(&self) -> usize {
        self.rx.borrow_decoder().capacity()
    }

    /// Bytes received and not yet returned as messages: an unfinished frame
    /// (and, after an error, the bytes waiting behind it).
    #[getter]
    fn buffered(&self) -> usize {
        self.rx.borrow_decoder().buffered() + self.input.len()
    }

    /// Stream offset of the next byte to decode.
    #[getter]
    fn position(&self) -> u64 {
        self.rx.borrow_decoder().position()
    }
}

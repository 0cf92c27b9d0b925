//! `douyu._douyu`: the Python module's native half, a thin host of
//! `douyu-core`.
//!
//! Every rule of the protocol (frames, STT, the session) is the core's; this
//! crate owns the buffers the core borrows, copies what Python keeps out of
//! them, and turns the core's errors into Python exceptions. The pure-Python
//! half (`python/douyu`) adds the exception and event classes and the
//! asyncio loop.

use douyu_core::frame::HEADER_LEN;
use pyo3::exceptions::{PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};

mod client;
mod decoder;
mod encode;
mod errors;
mod views;

/// A zeroed buffer of `len` bytes for the core's decoder, refused with a
/// Python error (not an abort) when too small for the core or too large
/// for memory.
pub(crate) fn buffer(len: usize) -> PyResult<Box<[u8]>> {
    if len < HEADER_LEN {
        return Err(PyValueError::new_err(format!(
            "max_frame must be at least {HEADER_LEN} bytes (a frame header)"
        )));
    }
    let mut buf = Vec::new();
    buf.try_reserve_exact(len)
        .map_err(|_| PyMemoryError::new_err(format!("cannot allocate {len} bytes")))?;
    buf.resize(len, 0);
    Ok(buf.into_boxed_slice())
}

/// Bytes received and not yet taken by the core, whose buffer takes only
/// what fits: the rest waits here until frames are taken out.
#[derive(Debug, Default)]
pub(crate) struct Input {
    bytes: Vec<u8>,
    taken: usize,
}

impl Input {
    /// Appends `data` (`bytes`, `bytearray` or `memoryview`); returns how
    /// many bytes it held.
    pub(crate) fn push(&mut self, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        if self.taken > 0 {
            self.bytes.drain(..self.taken);
            self.taken = 0;
        }
        let before = self.bytes.len();
        if let Ok(b) = data.cast::<PyBytes>() {
            self.bytes.extend_from_slice(b.as_bytes());
        } else if let Ok(b) = data.cast::<PyByteArray>() {
            self.bytes.extend_from_slice(&b.to_vec());
        } else if data.is_instance_of::<PyMemoryView>() {
            let b = data.py().get_type::<PyBytes>().call1((data,))?;
            self.bytes
                .extend_from_slice(b.cast::<PyBytes>()?.as_bytes());
        } else {
            return Err(PyTypeError::new_err(format!(
                "expected bytes, bytearray or memoryview, not {}",
                data.get_type().name()?
            )));
        }
        Ok(self.bytes.len() - before)
    }

    /// Offers the waiting bytes to `take`, which returns how many it took.
    pub(crate) fn offer(&mut self, take: impl FnOnce(&[u8]) -> usize) -> usize {
        if self.taken == self.bytes.len() {
            return 0;
        }
        let n = take(&self.bytes[self.taken..]);
        self.taken += n;
        if self.taken == self.bytes.len() {
            self.clear();
        }
        n
    }

    /// Bytes waiting.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() - self.taken
    }

    /// Drops the waiting bytes.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.taken = 0;
    }
}

/// The native module: classes, `encode`, and the core's constants.
#[pymodule]
fn _douyu(m: &Bound<'_, PyModule>) -> PyResult<()> {
    use douyu_core::{session, stt};
    m.add_class::<views::Map>()?;
    m.add_class::<views::Message>()?;
    m.add_class::<views::List>()?;
    m.add_class::<decoder::Decoder>()?;
    m.add_class::<client::Client>()?;
    m.add_function(wrap_pyfunction!(encode::encode, m)?)?;
    m.add("DEFAULT_MAX_FRAME", douyu_core::stream::DEFAULT_CAPACITY)?;
    m.add("MIN_MAX_FRAME", HEADER_LEN)?;
    m.add("HEARTBEAT", session::HEARTBEAT.as_secs_f64())?;
    m.add("DEAD_AFTER", session::DEAD_AFTER.as_secs_f64())?;
    m.add("CHAT_QUEUE", session::CHAT_QUEUE)?;
    m.add("NICKNAME_MAX", session::NICKNAME_MAX)?;
    // STT's spelling, for code beside the package that reads bodies by
    // hand (the benchmark's baselines): the core's, not a second copy.
    let spelled = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    m.add("STT_END", spelled(&[stt::END]))?;
    m.add("STT_KEY_END", spelled(&stt::KEY_END))?;
    m.add("STT_ESCAPED_MARK", spelled(&stt::ESCAPED_MARK))?;
    m.add("STT_ESCAPED_END", spelled(&stt::ESCAPED_END))?;
    Ok(())
}

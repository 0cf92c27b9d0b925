//! The stream decoder (PROTOCOL.md §5): window, commit, next frame.

use core::mem::ManuallyDrop;

use douyu_core::frame::HEADER_LEN;
use douyu_core::stream::Decoder;

use crate::error::{Failure, douyu_error, douyu_result};
use crate::frame::douyu_frame;
use crate::guard::{run, run_plain};
use crate::ptr::{Out, OwnedBuf, arg, arg_mut, bytes, free_handle, into_handle};

/// A stream decoder and the buffer it reassembles frames in (opaque; made
/// by [`douyu_decoder_new`], released by [`douyu_decoder_free`]).
///
/// Memory: the buffer (`capacity` bytes) plus this struct (104 bytes on x86-64),
/// both allocated by `douyu_decoder_new` and never again.
pub struct douyu_decoder {
    /// Borrows `buf`; dropped before it.
    decoder: ManuallyDrop<Decoder<'static>>,
    buf: OwnedBuf,
    /// Length of the last window handed out, which bounds the next commit.
    window: usize,
}

impl Drop for douyu_decoder {
    fn drop(&mut self) {
        // SAFETY: the decoder, the buffer's only borrower, goes first and is
        // not used again.
        unsafe {
            ManuallyDrop::drop(&mut self.decoder);
            self.buf.free();
        }
    }
}

/// Makes a decoder accepting whole frames of up to `capacity` bytes (at
/// least `DOUYU_FRAME_HEADER_LEN`; a few KiB suits a device, 64 KiB the live
/// service), written to `*decoder_out`.
///
/// Fails with `DOUYU_INVALID_ARGUMENT` for a capacity below 12 or above
/// the largest frame (`2^32 + 3` bytes), and with `DOUYU_OUT_OF_MEMORY`.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_decoder_new(
    capacity: usize,
    decoder_out: *mut *mut douyu_decoder,
) -> douyu_result {
    // SAFETY: the caller's contract.
    let decoder_out = unsafe { Out::new(decoder_out) };
    run_plain(|| {
        let decoder_out = decoder_out?;
        if capacity < HEADER_LEN {
            return Err(Failure::code(douyu_result::DOUYU_INVALID_ARGUMENT));
        }
        let mut buf = OwnedBuf::new(capacity)?;
        // SAFETY: lent once; the handle drops the decoder before the buffer.
        let decoder = Decoder::new(unsafe { buf.lend() });
        decoder_out.set(into_handle(douyu_decoder {
            decoder: ManuallyDrop::new(decoder),
            buf,
            window: 0,
        }));
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Frees a decoder and its buffer. NULL is ignored.
///
/// # Safety
/// `decoder` is NULL or a handle from [`douyu_decoder_new`] not yet freed;
/// frames taken from it are invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_decoder_free(decoder: *mut douyu_decoder) {
    let _ = run_plain(|| {
        // SAFETY: the caller's contract.
        unsafe { free_handle(decoder) };
        Ok(douyu_result::DOUYU_OK)
    });
}

/// The free space to read into: `*window_out` and `*len_out`. Write received
/// bytes at its start, then call [`douyu_decoder_commit`] with their number.
///
/// Never empty while the decoder waits for bytes. It may move buffered
/// bytes: frames taken earlier are invalid after this call.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_decoder_window(
    decoder: *mut douyu_decoder,
    window_out: *mut *mut u8,
    len_out: *mut usize,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (decoder, window_out, len_out) =
        unsafe { (arg_mut(decoder), Out::new(window_out), Out::new(len_out)) };
    run_plain(|| {
        let (d, window_out, len_out) = (decoder?, window_out?, len_out?);
        let window = d.decoder.window();
        d.window = window.len();
        window_out.set(window.as_mut_ptr());
        len_out.set(window.len());
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Declares that `n` bytes were written at the start of the last window.
///
/// Fails with `DOUYU_INVALID_ARGUMENT` (and takes nothing) when `n` is
/// larger than that window, or when the window was already committed or a
/// frame taken since it was asked for: ask for a window before each commit.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_decoder_commit(
    decoder: *mut douyu_decoder,
    n: usize,
) -> douyu_result {
    // SAFETY: the caller's contract.
    let decoder = unsafe { arg_mut(decoder) };
    run_plain(|| {
        let d = decoder?;
        if n > d.window {
            return Err(Failure::code(douyu_result::DOUYU_INVALID_ARGUMENT));
        }
        d.decoder.commit(n);
        d.window = 0;
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Copies as much of `bytes` as fits, commits it and writes how many bytes
/// were taken to `*taken_out` (take frames out to make room for the rest).
///
/// # Safety
/// See the crate's rules; `bytes` may be NULL when `len` is 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_decoder_feed(
    decoder: *mut douyu_decoder,
    bytes_in: *const u8,
    len: usize,
    taken_out: *mut usize,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (decoder, input, taken_out) =
        unsafe { (arg_mut(decoder), bytes(bytes_in, len), Out::new(taken_out)) };
    run_plain(|| {
        let (d, input, taken_out) = (decoder?, input?, taken_out?);
        let taken = d.decoder.feed(input);
        d.window = 0;
        taken_out.set(taken);
        Ok(douyu_result::DOUYU_OK)
    })
}

/// The next complete frame, in `*frame_out` (its body points into the
/// decoder's buffer, valid until the next call with this decoder).
///
/// - `DOUYU_OK`: a frame.
/// - `DOUYU_INCOMPLETE`: no whole frame yet; read more into the window.
/// - a frame error at `error_out->stream_offset`. `DOUYU_TOO_LARGE` and the
///   body errors are stepped over: call again for the frames after it. When
///   `error_out->fatal` (disagreeing lengths), the decoder repeats the
///   error: close the connection.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_decoder_next_frame(
    decoder: *mut douyu_decoder,
    frame_out: *mut douyu_frame,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (decoder, frame_out, error_out) = unsafe {
        (
            arg_mut(decoder),
            Out::new(frame_out),
            Out::optional(error_out),
        )
    };
    run(error_out, || {
        let (d, frame_out) = (decoder?, frame_out?);
        // A window handed out before this call is stale: refuse its commit.
        d.window = 0;
        match d.decoder.next_frame()? {
            Some(frame) => {
                frame_out.set(douyu_frame::of(&frame));
                Ok(douyu_result::DOUYU_OK)
            }
            None => Ok(douyu_result::DOUYU_INCOMPLETE),
        }
    })
}

/// Bytes received and not yet returned as frames, in `*buffered_out`.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_decoder_buffered(
    decoder: *const douyu_decoder,
    buffered_out: *mut usize,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (decoder, out) = unsafe { (arg(decoder), Out::new(buffered_out)) };
    run_plain(|| {
        out?.set(decoder?.decoder.buffered());
        Ok(douyu_result::DOUYU_OK)
    })
}

/// The stream offset of the next byte not yet consumed, in `*position_out`.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_decoder_position(
    decoder: *const douyu_decoder,
    position_out: *mut u64,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (decoder, out) = unsafe { (arg(decoder), Out::new(position_out)) };
    run_plain(|| {
        out?.set(decoder?.decoder.position());
        Ok(douyu_result::DOUYU_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::douyu_result::*;
    use core::ptr::null_mut;

    const MRKL: &[u8] = b"\x14\0\0\0\x14\0\0\0\xb2\x02\0\0type@=mrkl/\0";

    fn blank() -> douyu_frame {
        douyu_frame {
            direction: 0,
            encryption: 0,
            reserved: 0,
            body: core::ptr::null(),
            body_len: 0,
        }
    }

    #[test]
    fn window_commit_next_frame_in_pieces() {
        let mut d = null_mut();
        // SAFETY: valid pointers; the handle is freed at the end.
        unsafe {
            assert_eq!(douyu_decoder_new(32, &mut d), DOUYU_OK);
            let mut bodies = Vec::new();
            for piece in MRKL.chunks(5).chain(MRKL.chunks(7)) {
                let (mut w, mut len) = (null_mut(), 0);
                assert_eq!(douyu_decoder_window(d, &mut w, &mut len), DOUYU_OK);
                assert!(len >= piece.len());
                core::ptr::copy_nonoverlapping(piece.as_ptr(), w, piece.len());
                assert_eq!(douyu_decoder_commit(d, piece.len()), DOUYU_OK);
                let mut f = blank();
                match douyu_decoder_next_frame(d, &mut f, null_mut()) {
                    DOUYU_OK => {
                        bodies.push(core::slice::from_raw_parts(f.body, f.body_len).to_vec())
                    }
                    r => assert_eq!(r, DOUYU_INCOMPLETE),
                }
            }
            assert_eq!(bodies, [b"type@=mrkl/".to_vec(), b"type@=mrkl/".to_vec()]);
            let mut pos = 0;
            assert_eq!(douyu_decoder_position(d, &mut pos), DOUYU_OK);
            assert_eq!(pos, 48);
            douyu_decoder_free(d);
        }
    }

    #[test]
    fn commits_beyond_the_window_are_refused() {
        let mut d = null_mut();
        // SAFETY: valid pointers; the handle is freed at the end.
        unsafe {
            assert_eq!(douyu_decoder_new(16, &mut d), DOUYU_OK);
            assert_eq!(douyu_decoder_commit(d, 1), DOUYU_INVALID_ARGUMENT);
            let (mut w, mut len) = (null_mut(), 0);
            assert_eq!(douyu_decoder_window(d, &mut w, &mut len), DOUYU_OK);
            assert_eq!(len, 16);
            assert_eq!(douyu_decoder_commit(d, 17), DOUYU_INVALID_ARGUMENT);
            assert_eq!(douyu_decoder_commit(d, 10), DOUYU_OK);
            // Committed already: a new window first.
            assert_eq!(douyu_decoder_commit(d, 6), DOUYU_INVALID_ARGUMENT);
            let mut buffered = 0;
            assert_eq!(douyu_decoder_buffered(d, &mut buffered), DOUYU_OK);
            assert_eq!(buffered, 10);
            douyu_decoder_free(d);
        }
    }

    #[test]
    fn bad_arguments() {
        let mut d = null_mut();
        // SAFETY: NULL and out-of-range arguments are what is tested.
        unsafe {
            assert_eq!(douyu_decoder_new(11, &mut d), DOUYU_INVALID_ARGUMENT);
            assert_eq!(
                douyu_decoder_new(usize::MAX, &mut d),
                DOUYU_INVALID_ARGUMENT
            );
            assert!(d.is_null(), "not written on failure");
            assert_eq!(douyu_decoder_new(64, null_mut()), DOUYU_NULL_POINTER);
            assert_eq!(douyu_decoder_commit(null_mut(), 0), DOUYU_NULL_POINTER);
            douyu_decoder_free(null_mut());
        }
    }

    #[test]
    fn a_fatal_error_is_repeated_with_its_offset() {
        let mut d = null_mut();
        let mut bytes = MRKL.to_vec();
        bytes.extend_from_slice(b"\x14\0\0\0\x15\0\0\0");
        // SAFETY: valid pointers; the handle is freed at the end.
        unsafe {
            assert_eq!(douyu_decoder_new(64, &mut d), DOUYU_OK);
            let mut taken = 0;
            assert_eq!(
                douyu_decoder_feed(d, bytes.as_ptr(), bytes.len(), &mut taken),
                DOUYU_OK
            );
            assert_eq!(taken, bytes.len());
            let mut f = blank();
            assert_eq!(douyu_decoder_next_frame(d, &mut f, null_mut()), DOUYU_OK);
            for _ in 0..2 {
                let mut e = douyu_error::default();
                assert_eq!(
                    douyu_decoder_next_frame(d, &mut f, &mut e),
                    DOUYU_LENGTH_MISMATCH
                );
                assert_eq!(
                    (e.fatal, e.stream_offset, e.length, e.other_length),
                    (true, 24, 20, 21)
                );
            }
            douyu_decoder_free(d);
        }
    }
}

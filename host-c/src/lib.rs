//! A C ABI for `douyu-core`: `libdouyu.a`, `libdouyu.so` and `include/douyu.h`.
//!
//! The functions mirror the core and add nothing to the protocol: [frames]
//! decoded from and encoded into caller buffers, the [stream] decoder
//! (window, commit, next frame), [STT](stt) views (pairs, lookup, unescape,
//! nested lists and maps) and the [client] session (input, transmit, events,
//! timeouts). Every symbol is prefixed `douyu_`.
//!
//! # The rules of the boundary
//! - Every function returns a [`douyu_result`]; [`douyu_result_message`]
//!   gives its text. Details of a failure (offsets, lengths) go to an
//!   optional [`douyu_error`] out-parameter.
//! - Every pointer is checked for NULL ([`douyu_result::DOUYU_NULL_POINTER`]).
//! - Out-parameters are written only on success; on failure only the
//!   `douyu_error`, if given, is.
//! - No panic crosses the boundary: each function runs inside a guard that
//!   turns one into [`douyu_result::DOUYU_PANIC`].
//! - Handles ([`douyu_decoder`], [`douyu_client`]) are made by `_new` and
//!   released by `_free`; they own their buffers, allocated once at creation.
//!   Nothing else allocates: decoding, iterating and polling work in place.
//! - Views ([`douyu_frame`], [`douyu_map`], [`douyu_list`], [`douyu_text`])
//!   and iterators ([`douyu_pairs`], [`douyu_items`]) are small structs the
//!   caller holds by value. They borrow the bytes they were made from, which
//!   must stay unchanged while they are used.
//!
//! [frames]: frame
//!
//! The Rust functions are `unsafe` because C calls them with raw pointers;
//! their one safety rule is the C contract above, said once here: each
//! pointer is NULL or valid for what its documentation says, for the call.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
// The C names (`douyu_frame`, `DOUYU_OK`) are the API.
#![allow(non_camel_case_types)]

pub mod client;
mod error;
pub mod frame;
mod guard;
mod ptr;
pub mod stream;
pub mod stt;

pub use client::*;
pub use error::{douyu_error, douyu_result, douyu_result_message};
pub use frame::*;
pub use ptr::{DOUYU_ITER_WORDS, DOUYU_VIEW_WORDS, douyu_iter_storage, douyu_view_storage};
pub use stream::*;
pub use stt::*;

// The guard catches panics by unwinding; with `panic = "abort"` a panic would
// kill the C program instead, so such a build is refused.
#[cfg(not(panic = "unwind"))]
compile_error!("douyu-c needs panic = \"unwind\": its panic guard catches panics by unwinding");

/// The crate's version, NUL-terminated, made from Cargo.toml's.
const VERSION: &core::ffi::CStr =
    match core::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes())
    {
        Ok(version) => version,
        Err(_) => panic!("a version holds no NUL"),
    };

/// The library's version (the crate's), as a static NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn douyu_version() -> *const core::ffi::c_char {
    VERSION.as_ptr()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_string_is_the_crates() {
        // SAFETY: `douyu_version` returns a static NUL-terminated string.
        let v = unsafe { core::ffi::CStr::from_ptr(super::douyu_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}

#[cfg(test)]
mod sizes {
    use super::*;
    use core::mem::size_of;

    /// The memory README.md states per object, on a 64-bit target: a change
    /// of the core that grows them shows here.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn objects_are_the_size_the_readme_says() {
        let sizes = [
            ("douyu_decoder", size_of::<douyu_decoder>()),
            ("douyu_client", size_of::<douyu_client>()),
            ("douyu_frame", size_of::<douyu_frame>()),
            ("douyu_map", size_of::<douyu_map>()),
            ("douyu_pairs", size_of::<douyu_pairs>()),
            ("douyu_event", size_of::<douyu_event>()),
        ];
        println!("{sizes:?}");
        assert_eq!(
            sizes,
            [
                ("douyu_decoder", 104),
                ("douyu_client", 1208),
                ("douyu_frame", 24),
                ("douyu_map", 56),
                ("douyu_pairs", 136),
                ("douyu_event", 168),
            ]
        );
    }
}

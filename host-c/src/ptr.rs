//! Every raw pointer C hands in becomes a Rust reference here, and nowhere
//! else: the `unsafe` of the crate is these small functions (and the handle
//! and view storage they serve), each with the contract it relies on.

use core::ffi::{CStr, c_char};
use core::mem::{MaybeUninit, align_of, needs_drop, size_of};
use core::ptr::NonNull;

use crate::error::{Failure, douyu_result};

/// `DOUYU_NULL_POINTER`.
fn null() -> Failure {
    Failure::code(douyu_result::DOUYU_NULL_POINTER)
}

/// `*p` borrowed for the call.
///
/// # Safety
/// `p` is NULL or points to a valid, initialised `T` that nothing else
/// writes during the call.
pub(crate) unsafe fn arg<'a, T>(p: *const T) -> Result<&'a T, Failure> {
    // SAFETY: per this function's contract.
    unsafe { p.as_ref() }.ok_or_else(null)
}

/// `*p` borrowed mutably for the call (a handle or an iterator).
///
/// # Safety
/// `p` is NULL or points to a valid `T` that nothing else reads or writes
/// during the call.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T) -> Result<&'a mut T, Failure> {
    // SAFETY: per this function's contract.
    unsafe { p.as_mut() }.ok_or_else(null)
}

/// The `len` bytes at `p`; NULL is accepted for an empty input.
///
/// # Safety
/// Unless `len` is 0, `p` is NULL or valid for reads of `len` bytes that
/// nothing writes during the call (nor, for a view made from them, while the
/// view is used: the caller's side of the borrow the view documents).
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null());
    }
    // SAFETY: non-NULL, and valid for `len` bytes per the contract.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// The `len` writable bytes at `p`; NULL is accepted for an empty buffer.
///
/// # Safety
/// Unless `len` is 0, `p` is NULL or valid for reads and writes of `len`
/// bytes that nothing else touches during the call.
pub(crate) unsafe fn bytes_mut<'a>(p: *mut u8, len: usize) -> Result<&'a mut [u8], Failure> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(null());
    }
    // SAFETY: non-NULL, and valid for `len` bytes per the contract.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// The UTF-8 text of the NUL-terminated string at `p`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that nothing writes
/// during the call.
pub(crate) unsafe fn c_str<'a>(p: *const c_char) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(null());
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(Failure::utf8)
}

/// An out-parameter, checked for NULL when the call starts and written only
/// when it succeeds.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// The out-parameter `p`, which must not be NULL.
    ///
    /// # Safety
    /// `p` is NULL or valid for a write of a `T` during the call.
    pub(crate) unsafe fn new(p: *mut T) -> Result<Self, Failure> {
        NonNull::new(p).map(Self).ok_or_else(null)
    }

    /// The optional out-parameter `p` (NULL: not wanted).
    ///
    /// # Safety
    /// As for [`Out::new`].
    pub(crate) unsafe fn optional(p: *mut T) -> Option<Self> {
        NonNull::new(p).map(Self)
    }

    /// Writes the result; the previous contents are not read or dropped
    /// (they may be uninitialised C memory).
    pub(crate) fn set(self, value: T) {
        // SAFETY: valid for a write, as promised when `self` was made.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// Moves `value` to the heap and hands C the pointer: the handle of `_new`.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle made by [`into_handle`]; NULL is a no-op, like `free`.
///
/// # Safety
/// `p` is NULL or a pointer [`into_handle`] returned for a `T` and not yet
/// freed; it is not used again.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: made by `Box::into_raw` and freed once, per the contract.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// A byte buffer owned by a handle, allocated once, and lent to a core type
/// that borrows it for the handle's life (the decoder, the client).
///
/// The core types take `&'b mut [u8]`; a handle holds both the buffer and
/// its borrower, which Rust's lifetimes cannot say, so the buffer is kept as
/// a raw allocation and lent once as `&'static mut`. The owner must drop the
/// borrower before the buffer ([`OwnedBuf::free`]).
pub(crate) struct OwnedBuf(NonNull<[u8]>);

impl OwnedBuf {
    /// A zeroed buffer of `len` bytes, or `DOUYU_OUT_OF_MEMORY`.
    ///
    /// No frame is larger than `u32::MAX + 4` bytes (the length field), so a
    /// larger buffer could never be used: `DOUYU_INVALID_ARGUMENT`.
    pub(crate) fn new(len: usize) -> Result<Self, Failure> {
        if u64::try_from(len).map_or(true, |len| len > u64::from(u32::MAX) + 4) {
            return Err(Failure::code(douyu_result::DOUYU_INVALID_ARGUMENT));
        }
        let mut v = Vec::new();
        v.try_reserve_exact(len)
            .map_err(|_| Failure::code(douyu_result::DOUYU_OUT_OF_MEMORY))?;
        v.resize(len, 0);
        Ok(Self(NonNull::from(Box::leak(v.into_boxed_slice()))))
    }

    /// The buffer, lent for as long as the owner keeps it.
    ///
    /// # Safety
    /// Called once per buffer; the reference is dropped before
    /// [`OwnedBuf::free`].
    pub(crate) unsafe fn lend(&mut self) -> &'static mut [u8] {
        // SAFETY: a live allocation from `Box::leak`, lent only this once.
        unsafe { self.0.as_mut() }
    }

    /// Returns the buffer to the allocator.
    ///
    /// # Safety
    /// The reference from [`OwnedBuf::lend`] is no longer used.
    pub(crate) unsafe fn free(&mut self) {
        // SAFETY: made by `Box::leak` in `new`, freed once (the owner's
        // `Drop`), and no longer borrowed per the contract.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// Words of storage in a view ([`douyu_view_storage`]): the core's views
/// take 4 on a 64-bit target; the rest is room to grow without changing the
/// ABI.
pub const DOUYU_VIEW_WORDS: usize = 6;

/// Words of storage in an iterator ([`douyu_iter_storage`]): the core's
/// take 10 on a 64-bit target.
pub const DOUYU_ITER_WORDS: usize = 16;

/// Storage for a core view inside a struct C holds by value (private: only
/// this library reads or writes it).
///
/// The value is written by this library only, with a tag naming its type;
/// a struct C zeroed or made otherwise (or a view of another type) fails the
/// tag check with `DOUYU_INVALID_ARGUMENT` instead of being read.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct douyu_view_storage {
    _tag: u64,
    _data: MaybeUninit<[u64; DOUYU_VIEW_WORDS]>,
}

/// Storage for a core iterator, as [`douyu_view_storage`] is for a view.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct douyu_iter_storage {
    _tag: u64,
    _data: MaybeUninit<[u64; DOUYU_ITER_WORDS]>,
}

/// What [`hold`], [`get`] and [`get_mut`] need of the two storages.
pub(crate) trait Storage: Sized {
    /// The words of data.
    type Words;
    /// Storage with this tag and data.
    fn new(tag: u64, data: MaybeUninit<Self::Words>) -> Self;
    /// The tag and the data.
    fn parts(&mut self) -> (u64, &mut MaybeUninit<Self::Words>);
}

impl Storage for douyu_view_storage {
    type Words = [u64; DOUYU_VIEW_WORDS];
    fn new(_tag: u64, _data: MaybeUninit<Self::Words>) -> Self {
        Self { _tag, _data }
    }
    fn parts(&mut self) -> (u64, &mut MaybeUninit<Self::Words>) {
        (self._tag, &mut self._data)
    }
}

impl Storage for douyu_iter_storage {
    type Words = [u64; DOUYU_ITER_WORDS];
    fn new(_tag: u64, _data: MaybeUninit<Self::Words>) -> Self {
        Self { _tag, _data }
    }
    fn parts(&mut self) -> (u64, &mut MaybeUninit<Self::Words>) {
        (self._tag, &mut self._data)
    }
}

/// A core type that storage `S` can hold: data with no `Drop`, small and
/// aligned enough (checked at compile time in [`hold`]).
pub(crate) trait Held<S: Storage>: Sized {
    /// The tag that marks storage holding this type.
    const TAG: u64;
}

/// Storage holding `value`.
pub(crate) fn hold<S: Storage, T: Held<S>>(value: T) -> S {
    const {
        assert!(size_of::<T>() <= size_of::<S::Words>(), "storage too small");
        assert!(
            align_of::<T>() <= align_of::<S::Words>(),
            "storage under-aligned"
        );
        // Copies C makes (by value, memcpy) must not duplicate ownership.
        assert!(!needs_drop::<T>(), "held types own nothing");
    }
    let mut data = MaybeUninit::<S::Words>::uninit();
    // SAFETY: the storage is large and aligned enough (checked above).
    unsafe { data.as_mut_ptr().cast::<T>().write(value) };
    S::new(T::TAG, data)
}

/// The value held, mutably (an iterator advancing), if `storage` holds a `T`.
pub(crate) fn get_mut<S: Storage, T: Held<S>>(storage: &mut S) -> Result<&mut T, Failure> {
    let (tag, data) = storage.parts();
    if tag != T::TAG {
        return Err(Failure::code(douyu_result::DOUYU_INVALID_ARGUMENT));
    }
    // SAFETY: only `hold::<S, T>` writes the tag `T::TAG`, together with a
    // `T`; C may copy the bytes but has no other way to make them.
    Ok(unsafe { &mut *data.as_mut_ptr().cast::<T>() })
}

/// A copy of the value held, if `storage` holds a `T`.
pub(crate) fn get<S: Storage + Copy, T: Held<S> + Copy>(storage: &S) -> Result<T, Failure> {
    let mut copy = *storage;
    get_mut::<S, T>(&mut copy).copied()
}

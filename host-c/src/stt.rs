//! STT views (PROTOCOL.md §3): pairs, lookup, unescaping, nested lists and
//! maps, read in place with no allocation.
//!
//! A view or iterator is a struct C holds by value (on its stack, in its own
//! structs) and may copy. It borrows the text it was made from: a frame
//! body in the caller's input, in a decoder's or a client's buffer. It is
//! valid while those bytes are; for a decoder or client, until the next call
//! that changes it.

use core::ffi::c_char;

use douyu_core::stt::{Items, List, Map, Pairs, Text};

use crate::error::{Failure, douyu_error, douyu_result};
use crate::guard::{run, run_plain};
use crate::ptr::{
    Held, Out, arg, arg_mut, bytes, bytes_mut, c_str, douyu_iter_storage, douyu_view_storage, get,
    get_mut, hold,
};

/// An escaped string (a key, value or list item), read in place. Made by
/// this library only; copy it freely.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct douyu_text {
    _private: douyu_view_storage,
}

/// An STT map (a message body, or a nested map value), read in place. Made
/// by this library only; copy it freely.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct douyu_map {
    _private: douyu_view_storage,
}

/// An STT list, read in place. Made by this library only; copy it freely.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct douyu_list {
    _private: douyu_view_storage,
}

/// An iterator over a map's pairs ([`douyu_map_pairs`], [`douyu_pairs_next`]).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct douyu_pairs {
    _private: douyu_iter_storage,
}

/// An iterator over a list's items ([`douyu_list_items`], [`douyu_items_next`]).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct douyu_items {
    _private: douyu_iter_storage,
}

// Each held type's tag: "dyTEXT", "dyMAP", … in ASCII, so a dump shows them.
impl Held<douyu_view_storage> for Text<'static> {
    const TAG: u64 = 0x6479_5445_5854_0001;
}
impl Held<douyu_view_storage> for Map<'static> {
    const TAG: u64 = 0x6479_4d41_5000_0002;
}
impl Held<douyu_view_storage> for List<'static> {
    const TAG: u64 = 0x6479_4c49_5354_0003;
}
impl Held<douyu_iter_storage> for Pairs<'static> {
    const TAG: u64 = 0x6479_5041_4952_0004;
}
impl Held<douyu_iter_storage> for Items<'static> {
    const TAG: u64 = 0x6479_4954_454d_0005;
}

impl douyu_text {
    pub(crate) fn of(text: Text<'_>) -> Self {
        Self {
            _private: hold(erase_text(text)),
        }
    }
    fn get(&self) -> Result<Text<'static>, Failure> {
        get(&self._private)
    }
}

impl douyu_map {
    pub(crate) fn of(map: Map<'_>) -> Self {
        Self {
            _private: hold(erase_map(map)),
        }
    }
    fn get(&self) -> Result<Map<'static>, Failure> {
        get(&self._private)
    }
}

impl douyu_list {
    fn of(list: List<'_>) -> Self {
        Self {
            _private: hold(erase_list(list)),
        }
    }
    fn get(&self) -> Result<List<'static>, Failure> {
        get(&self._private)
    }
}

// A view handed to C outlives the Rust borrow it came from: its lifetime is
// the C caller's to keep (see the module docs), so it is erased here, at the
// one place each kind of view crosses over.

/// `text` with its borrow's lifetime erased.
fn erase_text(text: Text<'_>) -> Text<'static> {
    // SAFETY: only the lifetime changes; C keeps the bytes alive while it
    // uses the view (the documented contract of every view).
    unsafe { core::mem::transmute::<Text<'_>, Text<'static>>(text) }
}

/// `map` with its borrow's lifetime erased.
fn erase_map(map: Map<'_>) -> Map<'static> {
    // SAFETY: as in `erase_text`.
    unsafe { core::mem::transmute::<Map<'_>, Map<'static>>(map) }
}

/// `list` with its borrow's lifetime erased.
fn erase_list(list: List<'_>) -> List<'static> {
    // SAFETY: as in `erase_text`.
    unsafe { core::mem::transmute::<List<'_>, List<'static>>(list) }
}

/// UTF-8 text C gave, as a `str` borrowed for as long as C keeps it.
///
/// # Safety
/// `p` is NULL or valid for `len` bytes that stay unchanged while views
/// made from them are used.
unsafe fn text_arg(p: *const u8, len: usize) -> Result<&'static str, Failure> {
    // SAFETY: per this function's contract.
    let bytes = unsafe { bytes(p, len) }?;
    core::str::from_utf8(bytes).map_err(Failure::utf8)
}

/// Makes `*map_out` the map held by a body: the `body_len` bytes at `body`
/// (a frame's `body`, or any UTF-8 text; checked).
///
/// Fails with `DOUYU_INVALID_UTF8` (`error_out->offset`: the valid prefix).
///
/// # Safety
/// See the crate's rules; the body stays unchanged while the map is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_map_new(
    body: *const u8,
    body_len: usize,
    map_out: *mut douyu_map,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (body, out, error_out) = unsafe {
        (
            text_arg(body, body_len),
            Out::new(map_out),
            Out::optional(error_out),
        )
    };
    run(error_out, || {
        let (body, out) = (body?, out?);
        out.set(douyu_map::of(Map::new(body)));
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Starts an iteration over the pairs of `*map`, in order, in `*pairs_out`.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_map_pairs(
    map: *const douyu_map,
    pairs_out: *mut douyu_pairs,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (map, out) = unsafe { (arg(map), Out::new(pairs_out)) };
    run_plain(|| {
        let (map, out) = (map?.get()?, out?);
        out.set(douyu_pairs {
            _private: hold(map.pairs()),
        });
        Ok(douyu_result::DOUYU_OK)
    })
}

/// The next pair: `DOUYU_OK` with `*key_out` and `*value_out` (still
/// escaped), `DOUYU_DONE` at the end, or the STT error that ends the pairs
/// (`DOUYU_BAD_ESCAPE`, `DOUYU_MISSING_SEPARATOR`, with its offset in the
/// body); the pairs before it were good.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_pairs_next(
    pairs: *mut douyu_pairs,
    key_out: *mut douyu_text,
    value_out: *mut douyu_text,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (pairs, key_out, value_out, error_out) = unsafe {
        (
            arg_mut(pairs),
            Out::new(key_out),
            Out::new(value_out),
            Out::optional(error_out),
        )
    };
    run(error_out, || {
        let (pairs, key_out, value_out) = (pairs?, key_out?, value_out?);
        let it: &mut Pairs<'static> = get_mut(&mut pairs._private)?;
        match it.next() {
            Some(pair) => {
                let (key, value) = pair?;
                key_out.set(douyu_text::of(key));
                value_out.set(douyu_text::of(value));
                Ok(douyu_result::DOUYU_OK)
            }
            None => Ok(douyu_result::DOUYU_DONE),
        }
    })
}

/// The value of the first pair whose key is `key` (a NUL-terminated UTF-8
/// string, compared with the unescaped key): `DOUYU_OK` with `*value_out`,
/// `DOUYU_NOT_FOUND`, or the STT error met before it.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_map_get(
    map: *const douyu_map,
    key: *const c_char,
    value_out: *mut douyu_text,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (map, key, out, error_out) = unsafe {
        (
            arg(map),
            c_str(key),
            Out::new(value_out),
            Out::optional(error_out),
        )
    };
    run(error_out, || {
        let (map, key, out) = (map?.get()?, key?, out?);
        match map.get(key)? {
            Some(value) => {
                out.set(douyu_text::of(value));
                Ok(douyu_result::DOUYU_OK)
            }
            None => Ok(douyu_result::DOUYU_NOT_FOUND),
        }
    })
}

/// Checks every pair of `*map`, writing how many there are to `*count_out`.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_map_validate(
    map: *const douyu_map,
    count_out: *mut usize,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (map, out, error_out) =
        unsafe { (arg(map), Out::new(count_out), Out::optional(error_out)) };
    run(error_out, || {
        let (map, out) = (map?.get()?, out?);
        out.set(map.validate()?);
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Makes `*list_out` the list given as its own (unescaped) text, such as
/// `a@Sb/c/`: the `len` bytes at `text` (UTF-8; checked).
///
/// # Safety
/// See the crate's rules; the text stays unchanged while the list is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_list_new(
    text: *const u8,
    len: usize,
    list_out: *mut douyu_list,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (text, out, error_out) = unsafe {
        (
            text_arg(text, len),
            Out::new(list_out),
            Out::optional(error_out),
        )
    };
    run(error_out, || {
        out?.set(douyu_list::of(List::new(text?)));
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Starts an iteration over the items of `*list`, in `*items_out`.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_list_items(
    list: *const douyu_list,
    items_out: *mut douyu_items,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (list, out) = unsafe { (arg(list), Out::new(items_out)) };
    run_plain(|| {
        let (list, out) = (list?.get()?, out?);
        out.set(douyu_items {
            _private: hold(list.items()),
        });
        Ok(douyu_result::DOUYU_OK)
    })
}

/// The next item: `DOUYU_OK` with `*item_out`, `DOUYU_DONE` at the end, or
/// the STT error that ends the items.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_items_next(
    items: *mut douyu_items,
    item_out: *mut douyu_text,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (items, out, error_out) =
        unsafe { (arg_mut(items), Out::new(item_out), Out::optional(error_out)) };
    run(error_out, || {
        let (items, out) = (items?, out?);
        let it: &mut Items<'static> = get_mut(&mut items._private)?;
        match it.next() {
            Some(item) => {
                out.set(douyu_text::of(item?));
                Ok(douyu_result::DOUYU_OK)
            }
            None => Ok(douyu_result::DOUYU_DONE),
        }
    })
}

/// The item at `index`: `DOUYU_OK` with `*item_out`, `DOUYU_NOT_FOUND` when
/// the list is shorter, or the STT error met before it.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_list_get(
    list: *const douyu_list,
    index: usize,
    item_out: *mut douyu_text,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (list, out, error_out) =
        unsafe { (arg(list), Out::new(item_out), Out::optional(error_out)) };
    run(error_out, || {
        let (list, out) = (list?.get()?, out?);
        match list.get(index)? {
            Some(item) => {
                out.set(douyu_text::of(item));
                Ok(douyu_result::DOUYU_OK)
            }
            None => Ok(douyu_result::DOUYU_NOT_FOUND),
        }
    })
}

/// Opens `*text` as a nested map (its unescaped text read as STT), in
/// `*map_out`; no copy.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_text_as_map(
    text: *const douyu_text,
    map_out: *mut douyu_map,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (text, out) = unsafe { (arg(text), Out::new(map_out)) };
    run_plain(|| {
        out?.set(douyu_map::of(text?.get()?.as_map()));
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Opens `*text` as a nested list, in `*list_out`; no copy.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_text_as_list(
    text: *const douyu_text,
    list_out: *mut douyu_list,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (text, out) = unsafe { (arg(text), Out::new(list_out)) };
    run_plain(|| {
        out?.set(douyu_list::of(text?.get()?.as_list()));
        Ok(douyu_result::DOUYU_OK)
    })
}

/// The text as it stands in the body, escapes included: `*ptr_out`,
/// `*len_out` (not NUL-terminated).
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_text_raw(
    text: *const douyu_text,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (text, ptr_out, len_out) = unsafe { (arg(text), Out::new(ptr_out), Out::new(len_out)) };
    run_plain(|| {
        let (raw, ptr_out, len_out) = (text?.get()?.raw(), ptr_out?, len_out?);
        ptr_out.set(raw.as_ptr());
        len_out.set(raw.len());
        Ok(douyu_result::DOUYU_OK)
    })
}

/// The text itself, borrowed with no copy, when it holds no escape (the
/// common case; numbers never do): `DOUYU_OK` with `*ptr_out`, `*len_out`
/// (not NUL-terminated), or `DOUYU_NOT_FOUND` when it must be unescaped.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_text_plain(
    text: *const douyu_text,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (text, ptr_out, len_out) = unsafe { (arg(text), Out::new(ptr_out), Out::new(len_out)) };
    run_plain(|| {
        let (text, ptr_out, len_out) = (text?.get()?, ptr_out?, len_out?);
        match text.as_plain() {
            Some(plain) => {
                ptr_out.set(plain.as_ptr());
                len_out.set(plain.len());
                Ok(douyu_result::DOUYU_OK)
            }
            None => Ok(douyu_result::DOUYU_NOT_FOUND),
        }
    })
}

/// Byte offset of the text in the body it was read from, in `*offset_out`.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_text_offset(
    text: *const douyu_text,
    offset_out: *mut usize,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (text, out) = unsafe { (arg(text), Out::new(offset_out)) };
    run_plain(|| {
        out?.set(text?.get()?.offset());
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Length in bytes of the unescaped text (without a terminator), in
/// `*len_out`.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_text_unescaped_len(
    text: *const douyu_text,
    len_out: *mut usize,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (text, out) = unsafe { (arg(text), Out::new(len_out)) };
    run_plain(|| {
        out?.set(text?.get()?.unescaped_len());
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Writes the unescaped text and a NUL after it into `buf` (`buf_len`
/// bytes), and its length (without the NUL) to `*len_out`.
///
/// Needs the unescaped length + 1 bytes; with fewer, fails with
/// `DOUYU_BUFFER_FULL` (`error_out->needed`: exactly that) and writes
/// nothing. The text holds no NUL of its own (no frame body can).
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_text_unescape(
    text: *const douyu_text,
    buf: *mut u8,
    buf_len: usize,
    len_out: *mut usize,
    error_out: *mut douyu_error,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (text, buf, out, error_out) = unsafe {
        (
            arg(text),
            bytes_mut(buf, buf_len),
            Out::new(len_out),
            Out::optional(error_out),
        )
    };
    run(error_out, || {
        let (text, buf, out) = (text?.get()?, buf?, out?);
        // Measured first so that a short buffer is refused untouched.
        let len = text.unescaped_len();
        let Some(room) = buf.get_mut(..=len) else {
            return Err(Failure::buffer_full(len + 1, buf_len));
        };
        let (room, nul) = room.split_at_mut(len);
        let written = text.unescape_into(room)?.len();
        nul[0] = 0;
        out.set(written);
        Ok(douyu_result::DOUYU_OK)
    })
}

/// Whether the unescaped text equals the `len` bytes at `s`, in
/// `*equal_out`; no buffer needed. `s` may be NULL when `len` is 0.
///
/// # Safety
/// See the crate's rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn douyu_text_equals(
    text: *const douyu_text,
    s: *const u8,
    len: usize,
    equal_out: *mut bool,
) -> douyu_result {
    // SAFETY: the caller's contract, for each pointer.
    let (text, s, out) = unsafe { (arg(text), bytes(s, len), Out::new(equal_out)) };
    run_plain(|| {
        let (text, s, out) = (text?.get()?, s?, out?);
        // Bytes that are not UTF-8 equal no text.
        out.set(core::str::from_utf8(s).is_ok_and(|s| text == s));
        Ok(douyu_result::DOUYU_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::douyu_result::*;
    use core::mem::MaybeUninit;
    use core::ptr::null_mut;

    /// Makes a view by calling `f` with an out-pointer; asserts success.
    fn made<T>(f: impl FnOnce(*mut T) -> douyu_result) -> T {
        let mut v = MaybeUninit::<T>::uninit();
        assert_eq!(f(v.as_mut_ptr()), DOUYU_OK);
        // SAFETY: written on success.
        unsafe { v.assume_init() }
    }

    fn unescaped(t: &douyu_text) -> String {
        let mut buf = [0xffu8; 64];
        let mut len = 0;
        // SAFETY: valid pointers to locals.
        let r = unsafe { douyu_text_unescape(t, buf.as_mut_ptr(), 64, &mut len, null_mut()) };
        assert_eq!(r, DOUYU_OK);
        assert_eq!(buf[len], 0, "NUL-terminated");
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn pairs_lookup_and_nested_access() {
        let body = "type@=chatmsg/nn@=a@Sb/el@=eid@AA=7@AS@Seid@AA=8@AS@S/";
        // SAFETY: valid pointers; `body` outlives every view.
        unsafe {
            let map: douyu_map = made(|o| douyu_map_new(body.as_ptr(), body.len(), o, null_mut()));
            let mut pairs: douyu_pairs = made(|o| douyu_map_pairs(&map, o));
            let mut got = Vec::new();
            loop {
                let (mut k, mut v) = (MaybeUninit::uninit(), MaybeUninit::uninit());
                match douyu_pairs_next(&mut pairs, k.as_mut_ptr(), v.as_mut_ptr(), null_mut()) {
                    DOUYU_OK => got.push((
                        unescaped(k.assume_init_ref()),
                        unescaped(v.assume_init_ref()),
                    )),
                    r => break assert_eq!(r, DOUYU_DONE),
                }
            }
            assert_eq!(got[1], ("nn".into(), "a/b".into()));
            assert_eq!(got.len(), 3);
            let el: douyu_text = made(|o| douyu_map_get(&map, c"el".as_ptr(), o, null_mut()));
            let list: douyu_list = made(|o| douyu_text_as_list(&el, o));
            let second: douyu_text = made(|o| douyu_list_get(&list, 1, o, null_mut()));
            let inner: douyu_map = made(|o| douyu_text_as_map(&second, o));
            let eid: douyu_text = made(|o| douyu_map_get(&inner, c"eid".as_ptr(), o, null_mut()));
            let mut equal = false;
            assert_eq!(
                douyu_text_equals(&eid, b"8".as_ptr(), 1, &mut equal),
                DOUYU_OK
            );
            assert!(equal);
            let mut t = MaybeUninit::uninit();
            assert_eq!(
                douyu_list_get(&list, 2, t.as_mut_ptr(), null_mut()),
                DOUYU_NOT_FOUND
            );
            assert_eq!(
                douyu_map_get(&map, c"x".as_ptr(), t.as_mut_ptr(), null_mut()),
                DOUYU_NOT_FOUND
            );
            let nn: douyu_text = made(|o| douyu_map_get(&map, c"nn".as_ptr(), o, null_mut()));
            let (mut p, mut n) = (core::ptr::null(), 0);
            assert_eq!(douyu_text_plain(&nn, &mut p, &mut n), DOUYU_NOT_FOUND);
            assert_eq!(douyu_text_raw(&nn, &mut p, &mut n), DOUYU_OK);
            assert_eq!(core::slice::from_raw_parts(p, n), b"a@Sb");
        }
    }

    #[test]
    fn unescape_refuses_a_short_buffer_untouched() {
        let body = "nn@=a@Sb/";
        // SAFETY: valid pointers; `body` outlives every view.
        unsafe {
            let map: douyu_map = made(|o| douyu_map_new(body.as_ptr(), body.len(), o, null_mut()));
            let nn: douyu_text = made(|o| douyu_map_get(&map, c"nn".as_ptr(), o, null_mut()));
            let mut buf = [9u8; 3];
            let (mut len, mut e) = (0, douyu_error::default());
            let r = douyu_text_unescape(&nn, buf.as_mut_ptr(), 3, &mut len, &mut e);
            assert_eq!(
                (r, e.needed, e.capacity, buf),
                (DOUYU_BUFFER_FULL, 4, 3, [9; 3])
            );
        }
    }

    #[test]
    fn malformed_pairs_end_with_their_offset() {
        let body = "type@=x/garbage/";
        // SAFETY: valid pointers; `body` outlives every view.
        unsafe {
            let map: douyu_map = made(|o| douyu_map_new(body.as_ptr(), body.len(), o, null_mut()));
            let (mut n, mut e) = (0, douyu_error::default());
            assert_eq!(
                douyu_map_validate(&map, &mut n, &mut e),
                DOUYU_MISSING_SEPARATOR
            );
            assert_eq!(e.offset, 8, "where `garbage/` starts");
        }
    }

    #[test]
    fn views_not_made_here_are_refused() {
        // SAFETY: an all-zero struct is a valid C value; it must be refused.
        let zeroed: douyu_map = unsafe { core::mem::zeroed() };
        let mut pairs = MaybeUninit::uninit();
        // SAFETY: valid pointers.
        let r = unsafe { douyu_map_pairs(&zeroed, pairs.as_mut_ptr()) };
        assert_eq!(r, DOUYU_INVALID_ARGUMENT);
        // A list is not a map, whatever its bytes.
        let text = "a/b/";
        // SAFETY: valid pointers; `text` outlives the views.
        unsafe {
            let list: douyu_list =
                made(|o| douyu_list_new(text.as_ptr(), text.len(), o, null_mut()));
            let as_map = core::mem::transmute::<douyu_list, douyu_map>(list);
            assert_eq!(
                douyu_map_pairs(&as_map, pairs.as_mut_ptr()),
                DOUYU_INVALID_ARGUMENT
            );
        }
    }

    #[test]
    fn bodies_that_are_not_utf8_are_refused() {
        let mut e = douyu_error::default();
        let mut m = MaybeUninit::uninit();
        // SAFETY: valid pointers.
        let r = unsafe { douyu_map_new(b"a@=\xff".as_ptr(), 4, m.as_mut_ptr(), &mut e) };
        assert_eq!((r, e.offset), (DOUYU_INVALID_UTF8, 3));
    }
}

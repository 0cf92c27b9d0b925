//! The decode path allocates nothing: frames, the stream decoder, STT views
//! and the client's input, events and transmits, counted by a global
//! allocator. Only `_new` may allocate (and `_free` release).

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::MaybeUninit;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering};

use douyu::douyu_result::*;
use douyu::*;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn frame(direction: u16, body: &str) -> Vec<u8> {
    let len = (body.len() + 9) as u32;
    let mut v = Vec::new();
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&direction.to_le_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(body.as_bytes());
    v.push(0);
    v
}

/// Reads every pair, every value as a nested list and its items as maps,
/// unescaping everything into `buf`.
///
/// # Safety
/// `map` was made by the library from bytes still alive.
unsafe fn walk(map: &douyu_map, buf: &mut [u8]) -> usize {
    let mut seen = 0;
    // SAFETY: valid pointers to locals; views of live bytes.
    unsafe {
        let mut pairs = MaybeUninit::uninit();
        assert_eq!(douyu_map_pairs(map, pairs.as_mut_ptr()), DOUYU_OK);
        let mut pairs = pairs.assume_init();
        let (mut k, mut v) = (MaybeUninit::uninit(), MaybeUninit::uninit());
        let mut n = 0;
        while douyu_pairs_next(&mut pairs, k.as_mut_ptr(), v.as_mut_ptr(), null_mut()) == DOUYU_OK {
            seen += 1;
            let value = v.assume_init_ref();
            assert_eq!(
                douyu_text_unescape(value, buf.as_mut_ptr(), buf.len(), &mut n, null_mut()),
                DOUYU_OK
            );
            let mut list = MaybeUninit::uninit();
            assert_eq!(douyu_text_as_list(value, list.as_mut_ptr()), DOUYU_OK);
            let mut items = MaybeUninit::uninit();
            assert_eq!(
                douyu_list_items(list.as_ptr(), items.as_mut_ptr()),
                DOUYU_OK
            );
            let mut items = items.assume_init();
            let mut item = MaybeUninit::uninit();
            while douyu_items_next(&mut items, item.as_mut_ptr(), null_mut()) == DOUYU_OK {
                let mut inner = MaybeUninit::uninit();
                assert_eq!(
                    douyu_text_as_map(item.as_ptr(), inner.as_mut_ptr()),
                    DOUYU_OK
                );
                let mut count = 0;
                let _ = douyu_map_validate(inner.as_ptr(), &mut count, null_mut());
            }
        }
        let mut t = MaybeUninit::uninit();
        let _ = douyu_map_get(map, c"txt".as_ptr(), t.as_mut_ptr(), null_mut());
    }
    seen
}

#[test]
fn decoding_and_polling_allocate_nothing() {
    let chat = "type@=chatmsg/nn@=a@Sb/txt@=hi@A/el@=eid@AA=7@ASetp@AA=1@AS@S/";
    let mut input = frame(690, "type@=loginres/userid@=0/");
    input.extend(frame(690, chat));
    input.extend(frame(690, "type@=mrkl/"));
    let mut buf = vec![0u8; 4096];
    let mut tx = vec![0u8; 512];
    let (mut decoder, mut client) = (null_mut(), null_mut());
    let mut config = MaybeUninit::uninit();
    // SAFETY: valid pointers; the handles are freed at the end.
    unsafe {
        assert_eq!(douyu_decoder_new(1024, &mut decoder), DOUYU_OK);
        assert_eq!(douyu_client_config_init(7, config.as_mut_ptr()), DOUYU_OK);
        assert_eq!(
            douyu_client_new(config.as_ptr(), 0, &mut client, null_mut()),
            DOUYU_OK
        );
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut pairs_seen = 0;
    // SAFETY: valid pointers to locals and live handles.
    unsafe {
        // A frame decoded from the input, and its body walked.
        let (mut f, mut used) = (MaybeUninit::uninit(), 0);
        let r = douyu_frame_decode(
            input.as_ptr(),
            input.len(),
            f.as_mut_ptr(),
            &mut used,
            null_mut(),
        );
        assert_eq!(r, DOUYU_OK);
        let f = f.assume_init();
        let mut map = MaybeUninit::uninit();
        assert_eq!(
            douyu_map_new(f.body, f.body_len, map.as_mut_ptr(), null_mut()),
            DOUYU_OK
        );
        pairs_seen += walk(map.assume_init_ref(), &mut buf);
        let mut n = 0;
        assert_eq!(
            douyu_frame_encode(&f, tx.as_mut_ptr(), tx.len(), &mut n, null_mut()),
            DOUYU_OK
        );
        // The stream decoder, through its window.
        for piece in input.chunks(5) {
            let (mut w, mut room) = (null_mut(), 0);
            assert_eq!(douyu_decoder_window(decoder, &mut w, &mut room), DOUYU_OK);
            std::ptr::copy_nonoverlapping(piece.as_ptr(), w, piece.len());
            assert_eq!(douyu_decoder_commit(decoder, piece.len()), DOUYU_OK);
            let mut f = MaybeUninit::uninit();
            while douyu_decoder_next_frame(decoder, f.as_mut_ptr(), null_mut()) == DOUYU_OK {
                let f = f.assume_init_ref();
                let mut map = MaybeUninit::uninit();
                assert_eq!(
                    douyu_map_new(f.body, f.body_len, map.as_mut_ptr(), null_mut()),
                    DOUYU_OK
                );
                pairs_seen += walk(map.assume_init_ref(), &mut buf);
            }
        }
        // The client: transmit, input, events, timeouts.
        while douyu_client_poll_transmit(client, tx.as_mut_ptr(), tx.len(), &mut n, null_mut())
            == DOUYU_OK
        {}
        let mut taken = 0;
        assert_eq!(
            douyu_client_handle_input(client, 1, input.as_ptr(), input.len(), &mut taken),
            DOUYU_OK
        );
        let mut ev = MaybeUninit::<douyu_event>::uninit();
        while douyu_client_poll_event(client, ev.as_mut_ptr()) == DOUYU_OK {
            pairs_seen += walk(&ev.assume_init_ref().message, &mut buf);
        }
        let mut deadline = 0;
        assert_eq!(douyu_client_poll_timeout(client, &mut deadline), DOUYU_OK);
        assert_eq!(douyu_client_handle_timeout(client, deadline), DOUYU_OK);
        assert_eq!(
            douyu_client_queue_chat(client, c"hi".as_ptr(), null_mut()),
            DOUYU_OK
        );
        while douyu_client_poll_transmit(client, tx.as_mut_ptr(), tx.len(), &mut n, null_mut())
            == DOUYU_OK
        {}
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    // 3 frames read twice (decode once, stream) and 3 events: 2 + 5 + 1 pairs a round.
    assert!(pairs_seen >= 16, "walked {pairs_seen} pairs");
    assert_eq!(allocations, 0, "the decode path allocated");
    // SAFETY: handles from `_new`, freed once.
    unsafe {
        douyu_decoder_free(decoder);
        douyu_client_free(client);
    }
}

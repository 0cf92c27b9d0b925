//! Byte-at-a-time `memcpy`, `memmove`, `memset` and `memcmp`, and the
//! ARM EABI entry points (`__aeabi_memcpy*`, `__aeabi_memmove*`,
//! `__aeabi_memset*`, `__aeabi_memclr*`) that the compiler calls.
//!
//! `compiler_builtins` defines these with weak linkage, unrolled word by
//! word for speed: about 3.3 KiB of flash, a seventh of the image. These
//! strong definitions replace them in about 100 B. They copy a byte per
//! iteration (about 5 cycles a byte on the Cortex-M4: 2 KiB, the whole
//! receive buffer, in 0.4 ms at 25 MHz), which this firmware, moving a few
//! kilobytes a second, never notices. A firmware that moves bulk data
//! should drop this module and take the word-wise versions back.
//!
//! Written in assembly, not Rust: a byte loop in Rust is what LLVM turns
//! back into a call to `memcpy`, which would then call itself.

core::arch::global_asm!(
    ".syntax unified",
    ".thumb",
    // memmove(dst r0, src r1, n r2) -> dst; the EABI forms return nothing
    // and may be given any alignment, so they share the body.
    ".section .text.douyu_memmove,\"ax\",%progbits",
    ".global memmove, __aeabi_memmove, __aeabi_memmove4, __aeabi_memmove8",
    ".type memmove,%function",
    ".type __aeabi_memmove,%function",
    ".type __aeabi_memmove4,%function",
    ".type __aeabi_memmove8,%function",
    ".thumb_func",
    "memmove:",
    ".thumb_func",
    "__aeabi_memmove:",
    ".thumb_func",
    "__aeabi_memmove4:",
    ".thumb_func",
    "__aeabi_memmove8:",
    // A destination at or below the source is safe to copy forwards.
    "    cmp r0, r1",
    "    bls memcpy",
    // Otherwise backwards, from the last byte.
    "1:  cbz r2, 2f",
    "    subs r2, r2, #1",
    "    ldrb r3, [r1, r2]",
    "    strb r3, [r0, r2]",
    "    b 1b",
    "2:  bx lr",
    // memcpy(dst r0, src r1, n r2) -> dst: forwards, r3 the index.
    ".global memcpy, __aeabi_memcpy, __aeabi_memcpy4, __aeabi_memcpy8",
    ".type memcpy,%function",
    ".type __aeabi_memcpy,%function",
    ".type __aeabi_memcpy4,%function",
    ".type __aeabi_memcpy8,%function",
    ".thumb_func",
    "memcpy:",
    ".thumb_func",
    "__aeabi_memcpy:",
    ".thumb_func",
    "__aeabi_memcpy4:",
    ".thumb_func",
    "__aeabi_memcpy8:",
    "    movs r3, #0",
    "1:  cmp r3, r2",
    "    beq 2f",
    "    ldrb r12, [r1, r3]",
    "    strb r12, [r0, r3]",
    "    adds r3, r3, #1",
    "    b 1b",
    "2:  bx lr",
    // __aeabi_memclr(dst r0, n r1): memset with zero.
    ".global __aeabi_memclr, __aeabi_memclr4, __aeabi_memclr8",
    ".type __aeabi_memclr,%function",
    ".type __aeabi_memclr4,%function",
    ".type __aeabi_memclr8,%function",
    ".thumb_func",
    "__aeabi_memclr:",
    ".thumb_func",
    "__aeabi_memclr4:",
    ".thumb_func",
    "__aeabi_memclr8:",
    "    movs r2, #0",
    // __aeabi_memset(dst r0, n r1, value r2): the C order swaps the last two.
    ".global __aeabi_memset, __aeabi_memset4, __aeabi_memset8",
    ".type __aeabi_memset,%function",
    ".type __aeabi_memset4,%function",
    ".type __aeabi_memset8,%function",
    ".thumb_func",
    "__aeabi_memset:",
    ".thumb_func",
    "__aeabi_memset4:",
    ".thumb_func",
    "__aeabi_memset8:",
    "    mov r3, r1",
    "    mov r1, r2",
    "    mov r2, r3",
    // memset(dst r0, value r1, n r2) -> dst.
    ".global memset",
    ".type memset,%function",
    ".thumb_func",
    "memset:",
    "    movs r3, #0",
    "1:  cmp r3, r2",
    "    beq 2f",
    "    strb r1, [r0, r3]",
    "    adds r3, r3, #1",
    "    b 1b",
    "2:  bx lr",
    // memcmp(a r0, b r1, n r2) -> the difference of the first unequal
    // bytes (as unsigned), or 0; bcmp is the same.
    ".global memcmp, bcmp",
    ".type memcmp,%function",
    ".type bcmp,%function",
    ".thumb_func",
    "memcmp:",
    ".thumb_func",
    "bcmp:",
    "    mov r12, r0",
    "    movs r0, #0",
    "1:  cbz r2, 2f",
    "    ldrb r0, [r12], #1",
    "    ldrb r3, [r1], #1",
    "    subs r0, r0, r3",
    "    bne 2f",
    "    subs r2, r2, #1",
    "    b 1b",
    "2:  bx lr",
);

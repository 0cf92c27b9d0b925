"""Every error class, with the core's offsets, and what the stream does next."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import douyu

MRKL = douyu.encode({"type": "mrkl"}, "server")


def frame(body: bytes, *, first=None, second=None, end=b"\0", kind=690) -> bytes:
    """A frame built by hand, so that it can break any rule."""
    length = 8 + len(body) + len(end)
    return (
        struct.pack("<IIHBB", first or length, second or length, kind, 0, 0) + body + end
    )


# (bytes, exception class, error class, fatal, attributes)
CASES = [
    (frame(b"type@=mrkl/", second=21), douyu.LengthMismatch, "length_mismatch", True,
     {"first": 20, "second": 21}),
    (struct.pack("<IIHBB", 8, 8, 690, 0, 0), douyu.TooShort, "too_short", True, {"length": 8}),
    (frame(b"type@=mrkl/", end=b"X"), douyu.MissingTerminator, "missing_terminator", False,
     {"found": ord("X")}),
    (frame(b"type@=m\0rkl/"), douyu.NulInBody, "nul_in_body", False, {"body_offset": 7}),
    (frame(b"type@=\xff\xfe/"), douyu.InvalidUtf8, "invalid_utf8", False, {"valid_up_to": 6}),
    (frame(b"type@=x/nn@=a@Qb/"), douyu.BadEscape, "bad_escape", False, {"body_offset": 13}),
    (frame(b"type@=x/garbage/"), douyu.MissingSeparator, "missing_separator", False,
     {"body_offset": 8}),
]


@pytest.mark.parametrize("data,cls,name,fatal,attrs", CASES, ids=[c[2] for c in CASES])
def test_each_error_class_after_a_good_frame(data, cls, name, fatal, attrs):
    decoder = douyu.Decoder()
    with pytest.raises(cls) as info:
        decoder.feed(MRKL + data + MRKL)
    e = info.value
    assert isinstance(e, douyu.DecodeError) and isinstance(e, ValueError)
    assert e.error_class == name
    assert e.offset == len(MRKL)
    assert e.fatal is fatal
    for key, value in attrs.items():
        assert getattr(e, key) == value, key
    # The message before the bad frame is not lost.
    assert [m.type for m in e.messages] == ["mrkl"]
    if fatal:
        # No boundary left: the error repeats and nothing more is kept.
        with pytest.raises(cls):
            decoder.feed(MRKL)
        with pytest.raises(cls):
            decoder.next_message()
    else:
        # Stepped over: the frame after it decodes.
        assert [m.type for m in decoder.feed(b"")] == ["mrkl"]
        assert decoder.buffered == 0
        assert decoder.position == 2 * len(MRKL) + len(data)


def test_too_large_is_skipped_byte_by_byte_and_memory_stays_bounded():
    big = douyu.encode({"type": "chatmsg", "txt": "x" * 5000}, "server")
    decoder = douyu.Decoder(max_frame=256)
    data = MRKL + big + MRKL
    got, errors = [], []
    for i in range(len(data)):
        try:
            got += decoder.feed(data[i : i + 1])
        except douyu.TooLarge as e:
            errors.append(e)
            got += e.messages
        assert decoder.buffered <= 256
    assert [m.type for m in got] == ["mrkl", "mrkl"]
    (e,) = errors
    assert (e.offset, e.length, e.capacity, e.fatal) == (len(MRKL), len(big) - 4, 256, False)
    assert decoder.position == len(data)


def test_the_largest_declared_length_is_not_trusted():
    decoder = douyu.Decoder(max_frame=64)
    with pytest.raises(douyu.TooLarge) as info:
        decoder.feed(b"\xff" * 8 + b"\xb2\x02\0\0rest")
    assert info.value.length == 2**32 - 1
    assert decoder.feed(b"") == []


def test_next_message_goes_on_after_an_error():
    decoder = douyu.Decoder()
    decoder.receive_data(MRKL + frame(b"type@=x/nn@=a@Qb/") + MRKL)
    assert decoder.next_message().type == "mrkl"
    with pytest.raises(douyu.BadEscape):
        decoder.next_message()
    assert decoder.next_message().type == "mrkl"
    assert decoder.next_message() is None


def test_nested_values_raise_decode_errors():
    message = douyu.Map("type@=x/el@=a@AQ/")
    with pytest.raises(douyu.BadEscape) as info:
        message.list("el")
    assert info.value.offset is None
    with pytest.raises(KeyError):
        message.map("missing")
    with pytest.raises(douyu.MissingSeparator):
        douyu.Map("type@=x/").map("type")


def test_usage_errors_are_plain_python_errors():
    with pytest.raises(ValueError):
        douyu.Decoder(max_frame=douyu.MIN_MAX_FRAME - 1)
    with pytest.raises(TypeError):
        douyu.Decoder().feed("type@=mrkl/")  # str, not bytes
    with pytest.raises(TypeError):
        douyu.Decoder().feed(12)
    with pytest.raises(ValueError):
        douyu.encode({"type": "x"}, "sideways")
    with pytest.raises(TypeError):
        douyu.encode({"ok": True})
    with pytest.raises(TypeError):
        douyu.encode("type@=x/")
    with pytest.raises(ValueError):
        loop: list = []
        loop.append(loop)
        douyu.encode({"l": loop})


def test_encode_errors():
    with pytest.raises(douyu.EncodeError) as info:
        douyu.encode({"type": "chatmsg", "txt": "a\0b"})
    assert info.value.error_class == "nul_byte"


def test_bytes_like_input():
    decoder = douyu.Decoder()
    assert [m.type for m in decoder.feed(bytearray(MRKL))] == ["mrkl"]
    assert [m.type for m in decoder.feed(memoryview(MRKL))] == ["mrkl"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=8), st.integers(12, 300))
def test_any_bytes_raise_nothing_but_decode_errors(chunks, max_frame):
    decoder = douyu.Decoder(max_frame=max_frame)
    for chunk in chunks:
        data = chunk
        # Bounded: a loop over non-fatal errors ends, each steps over a frame.
        for _ in range(len(chunk) + 2):
            try:
                for message in decoder.feed(data):
                    message.pairs()
                    assert isinstance(message.type, str)
                break
            except douyu.DecodeError as e:
                if e.fatal:
                    return
                data = b""
        else:
            pytest.fail("decoder kept raising without progress")
        assert decoder.buffered < max_frame + len(chunk) + 1

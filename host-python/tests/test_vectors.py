"""Every case of ../shared/vectors, exactly."""

from __future__ import annotations

import pytest
from conftest import read_vectors
from hypothesis import given, settings
from hypothesis import strategies as st

import douyu

FRAMES = read_vectors("frames.jsonl")
BODIES = read_vectors("real_bodies.jsonl")
STREAMS = read_vectors("real_streams.jsonl")
NESTED = read_vectors("stt_nested.jsonl")


def test_the_vectors_are_all_there():
    assert len(FRAMES) >= 20
    assert len(BODIES) == 64
    assert len(STREAMS) >= 5
    assert len(NESTED) >= 4


@pytest.mark.parametrize("case", FRAMES, ids=[c["name"] for c in FRAMES])
def test_frames(case):
    data = bytes.fromhex(case["hex"])
    decoder = douyu.Decoder()
    error = case.get("error")
    if error == "incomplete":
        # Not an error for a stream decoder: it waits for more bytes.
        assert decoder.feed(data) == []
        assert decoder.buffered == len(data)
        return
    if error is not None:
        with pytest.raises(douyu.DecodeError) as info:
            decoder.feed(data)
        assert info.value.error_class == error
        assert info.value.offset == 0
        return
    (message,) = decoder.feed(data)
    assert decoder.buffered == 0
    assert message.direction == case["type"]
    assert message.body == case["body"]
    assert message.pairs() == [tuple(p) for p in case["pairs"]]
    if "encryption" not in case and "reserved" not in case and case["body"].endswith("/"):
        # Encoding the pairs gives back the same bytes.
        assert douyu.encode(message.pairs(), message.direction) == data


@pytest.mark.parametrize("case", BODIES, ids=[c["source"] for c in BODIES])
def test_real_bodies(case):
    pairs = [tuple(p) for p in case["pairs"]]
    as_map = douyu.Map(case["body"])
    assert as_map.pairs() == pairs
    assert as_map["type"] == case["type"]
    # Through a frame and the decoder, too.
    frame = douyu.encode(pairs, "server")
    (message,) = douyu.Decoder().feed(frame)
    assert message.pairs() == pairs
    assert message.type == case["type"]
    if case["body"].endswith("/"):
        assert message.body == case["body"]
    # The mapping holds each key's first value.
    first: dict[str, str] = {}
    for key, value in pairs:
        first.setdefault(key, value)
    assert dict(message) == first
    assert len(message) == len(first)


def run_stream(data: bytes, cuts: list[int]) -> tuple[list[tuple[int, str]], int]:
    decoder = douyu.Decoder()
    got = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        got += [(m.direction, m.body) for m in decoder.feed(data[start:cut])]
        start = cut
    return got, decoder.buffered


def expected(case) -> list[tuple[int, str]]:
    return [(f["type"], f["body"]) for f in case["complete_frames"]]


@pytest.mark.parametrize("case", STREAMS, ids=[c["what"] for c in STREAMS])
@pytest.mark.parametrize("piece", [0, 1, 7])
def test_real_streams(case, piece):
    data = bytes.fromhex(case["hex"])
    cuts = list(range(piece, len(data), piece)) if piece else []
    got, leftover = run_stream(data, cuts)
    assert got == expected(case)
    assert leftover == case["leftover_bytes"]


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_real_streams_cut_anywhere(data):
    for case in STREAMS:
        raw = bytes.fromhex(case["hex"])
        cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
        got, leftover = run_stream(raw, cuts)
        assert got == expected(case)
        assert leftover == case["leftover_bytes"]


def check_nested(case, value: douyu.List):
    if "list" in case:
        assert list(value) == case["list"]
        assert value == case["list"]
    if "items_as_maps" in case:
        got = [value.map(i).pairs() for i in range(len(value))]
        assert got == [[tuple(p) for p in m] for m in case["items_as_maps"]]
    if "deep" in case:
        # The single item is a map whose one value is a list.
        item = value.map(0)
        (key,) = item.keys()
        assert list(item.list(key)) == case["deep"]


@pytest.mark.parametrize("case", NESTED, ids=[c["name"] for c in NESTED])
def test_nested(case):
    # As given (already unescaped once) ...
    check_nested(case, douyu.List(case["value"]))
    # ... and inside a body, escaped once more.
    frame = douyu.encode({"v": case["value"]}, "server")
    (message,) = douyu.Decoder().feed(frame)
    assert message["v"] == case["value"]
    check_nested(case, message.list("v"))
    if "wire" in case:
        assert message.body == f"v@={case['wire']}/"


def test_the_stt_spelling_is_what_encode_writes():
    # The constants are the core's: a body written with them is the body
    # `encode` writes, and reads back.
    frame = douyu.encode({"k": "a@b/"}, "server")
    body = frame[douyu.MIN_MAX_FRAME : -1].decode()
    escaped = "a" + douyu.STT_ESCAPED_MARK + "b" + douyu.STT_ESCAPED_END
    assert body == "k" + douyu.STT_KEY_END + escaped + douyu.STT_END
    assert douyu.Decoder().feed(frame)[0]["k"] == "a@b/"

"""Messages survive any chunking and any text; encode and decode agree."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import douyu

# Any text but NUL (no frame can carry it); '@' and '/' are the escapes' test.
text = st.text(st.characters(blacklist_characters="\0", codec="utf-8"), max_size=30)
tricky = st.text(alphabet="@/AS=x鱼🐟", max_size=12)
value = st.one_of(text, tricky)
pairs = st.lists(st.tuples(st.one_of(text, tricky), value), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(pairs, min_size=1, max_size=6), st.data())
def test_any_messages_cut_anywhere(messages, data):
    wire = b"".join(douyu.encode(p, "server") for p in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    decoder = douyu.Decoder()
    got = []
    start = 0
    for cut in [*cuts, len(wire)]:
        got += decoder.feed(wire[start:cut])
        start = cut
    assert [m.pairs() for m in got] == messages
    assert all(m.direction == 690 for m in got)
    assert decoder.buffered == 0 and decoder.position == len(wire)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.tuples(tricky, value), max_size=4), max_size=4), tricky)
def test_nested_lists_of_maps_round_trip(items, key):
    frame = douyu.encode([("type", "x"), ("el", [dict(i) for i in items])], "server")
    (message,) = douyu.Decoder().feed(frame)
    el = message.list("el")
    assert len(el) == len(items)
    for i, item in enumerate(items):
        assert dict(el.map(i)) == dict(dict(item))
    # Three levels: a map holding a list holding a map.
    frame = douyu.encode({"m": {key: [{"k": key}]}})
    (message,) = douyu.Decoder().feed(frame)
    assert message.map("m").list(key).map(0)["k"] == key


def test_mapping_behaviour():
    (m,) = douyu.Decoder().feed(douyu.encode([("type", "a"), ("k", "1"), ("k", "2")]))
    assert m["k"] == "1" and m.get("k") == "1" and m.get("nope") is None
    assert m.get("nope", "d") == "d"
    assert "k" in m and "nope" not in m and 3 not in m
    assert list(m) == m.keys() == ["type", "k"]
    assert m.items() == [("type", "a"), ("k", "1")]
    assert m.to_dict() == dict(m) == {"type": "a", "k": "1"}
    assert m.pairs() == [("type", "a"), ("k", "1"), ("k", "2")]
    assert isinstance(m, douyu.Map) and m.direction == 689
    assert m == douyu.Map(m.body)
    # Re-encoding a decoded message keeps every pair.
    (again,) = douyu.Decoder().feed(douyu.encode(m, "client"))
    assert again.pairs() == m.pairs()
    lst = douyu.List("a/b/c/")
    assert lst[0] == "a" and lst[-1] == "c" and lst[1:] == ["b", "c"] and len(lst) == 3
    (no_type,) = douyu.Decoder().feed(douyu.encode({"k": "v"}))
    assert no_type.type == ""

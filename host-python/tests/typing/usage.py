"""Typed use of the package: mypy --strict must accept it (see test_typing.py)."""

import douyu, douyu.aio
d = douyu.Decoder()
ms: list[douyu.Message] = d.feed(b"")
for m in ms:
    t: str = m.type
    v: str | None = m.get("txt")
    l: douyu.List = m.list("el")
    s: str = l[0]
c = douyu.Client(1)
e = c.next_event()
if isinstance(e, douyu.Closed):
    r: str = e.reason
b: bytes = douyu.encode({"type": "x", "n": 1, "l": [{"a": "b"}]}, "server")
async def f() -> None:
    async for msg in douyu.aio.watch(1, ("127.0.0.1", 1)):
        x: str = msg.type
    async for item in douyu.aio.watch(1, events=True):
        if isinstance(item, douyu.aio.Reconnecting):
            y: float = item.delay

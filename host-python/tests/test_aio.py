"""douyu.aio.watch against `douyu serve`, through a server restart."""

from __future__ import annotations

import asyncio

import pytest

import douyu
from douyu.aio import Reconnecting, watch


def run(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_watch_yields_the_rooms_messages(serve):
    srv = serve(room=777, rate=100)

    async def main():
        got = []
        async for message in watch(777, srv.address):
            got.append(message)
            if len(got) == 20:
                break
        return got

    got = run(main())
    assert all(isinstance(m, douyu.Message) and m.direction == 690 for m in got)
    assert {m["rid"] for m in got if "rid" in m} == {"777"}


def test_watch_reconnects_after_the_server_restarts(serve):
    srv = serve(room=778, rate=100)

    async def main():
        seen = []
        restarted = False
        async for item in watch(
            778, f"127.0.0.1:{srv.port}", events=True, initial_backoff=0.05, max_backoff=0.5
        ):
            seen.append(item)
            if isinstance(item, douyu.Message) and not restarted:
                # A crash, then the server comes back on the same port.
                restarted = True
                srv.kill()
                await asyncio.sleep(0.3)
                await asyncio.to_thread(srv.start)
            joins = [e for e in seen if isinstance(e, douyu.Joined)]
            if len(joins) == 2 and isinstance(item, douyu.Message):
                return seen

    seen = run(main())
    kinds = [type(e).__name__ for e in seen]
    # Joined, messages, the connection lost, reconnects, joined again, messages.
    first_closed = kinds.index("Closed")
    assert "Joined" in kinds[:first_closed] and "Message" in kinds[:first_closed]
    assert "Reconnecting" in kinds[first_closed:]
    assert kinds[-1] == "Message" and kinds.count("Joined") == 2
    closed = seen[first_closed]
    assert closed.reason == "disconnected"
    delays = [e.delay for e in seen if isinstance(e, Reconnecting)]
    assert all(0 < d <= 0.5 for d in delays)


def test_watch_logs_out_when_the_caller_stops():
    """A scripted server records what the watcher sends."""

    async def main():
        received = douyu.Decoder()
        heard: list[str] = []
        hung_up = asyncio.Event()

        async def handle(reader, writer):
            while data := await reader.read(65536):
                for message in received.feed(data):
                    heard.append(message.type)
                    if message.type == "loginreq":
                        writer.write(douyu.encode({"type": "loginres"}, "server"))
                    if message.type == "joingroup":
                        writer.write(douyu.encode({"type": "chatmsg", "txt": "hi"}, "server"))
            hung_up.set()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            async for message in watch(1, ("127.0.0.1", port)):
                assert message["txt"] == "hi"
                break
            await asyncio.wait_for(hung_up.wait(), 5)
        return heard

    assert run(main()) == ["loginreq", "joingroup", "logout"]


def test_bad_server_address():
    with pytest.raises(ValueError):
        run(watch(1, "no-port").__anext__())

"""asyncio on top of the sans-IO ``douyu.Client``: ``watch`` a room.

This module moves bytes between a TCP connection and ``Client`` and passes
the time in; the session's rules (login, join, heartbeats, dead link) are the
core's. What it adds is the transport's: connecting, reconnecting with
backoff, and a clean logout when the caller stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Literal, TypeVar, overload

from ._douyu import DEFAULT_MAX_FRAME, Client, Message
from ._errors import DecodeError
from ._events import Closed, Event, Joined

__all__ = ["DEFAULT_SERVER", "Reconnecting", "watch"]

log = logging.getLogger("douyu.aio")

_T = TypeVar("_T")

#: The public TCP endpoint (PROTOCOL.md section 1).
DEFAULT_SERVER = "danmuproxy.douyu.com:8601"

#: Bytes asked of each read: what the socket has, up to this.
READ_SIZE = 64 * 1024


class Reconnecting:
    """Yielded by ``watch(..., events=True)`` before each reconnect: the
    ``delay`` in seconds and why the last connection ended."""

    __slots__ = ("delay", "cause")

    def __init__(self, delay: float, cause: str) -> None:
        self.delay = delay
        self.cause = cause

    def __repr__(self) -> str:
        return f"Reconnecting(delay={self.delay:.3f}, cause={self.cause!r})"


def _address(server: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(server, tuple):
        return server
    host, sep, port = server.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"server must be 'host:port' or (host, port), not {server!r}")
    return host.strip("[]"), int(port)


async def _within(awaitable: Awaitable[_T], timeout: float | None) -> _T:
    """``awaitable``'s result, or ``asyncio.TimeoutError`` after ``timeout``.

    Not ``asyncio.wait_for``: before Python 3.12 it can swallow the caller's
    cancellation when the awaited thing completes at the same moment, and a
    ``watch`` being stopped would then go on for ever.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:
        task.cancel()
        raise
    if not done:
        task.cancel()
        # Its exception, if any, is not wanted; taking it keeps asyncio quiet.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        raise asyncio.TimeoutError
    return task.result()


class _Backoff:
    """Reconnect delays doubling from ``initial`` up to ``maximum``; they
    start over only after a session that stayed joined ``maximum`` seconds,
    so a server that accepts and drops at once is not hammered."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.following = initial

    def next(self, joined_for: float | None) -> float:
        if joined_for is not None and joined_for >= self.maximum:
            self.following = self.initial
        delay = self.following
        self.following = min(self.following * 2, self.maximum)
        # Jitter spreads out clients that lost the same server at once.
        return delay * random.uniform(0.5, 1.0)


async def _session(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    client: Client,
    joined: list[float],
) -> AsyncGenerator[Message | Event, None]:
    """Runs one connection until its session closes; yields what it hears.
    ``joined`` receives the time the room was joined."""
    # One read stays pending across timeouts: a heartbeat due does not
    # cancel it, so no bytes are lost and no cancellation races.
    read: asyncio.Future[bytes] | None = None
    try:
        while True:
            out = client.data_to_send()
            if out:
                writer.write(out)
                await writer.drain()
            try:
                event = client.next_event()
            except DecodeError as e:
                # Reported and stepped over by the session; a fatal one is
                # followed by a Closed event.
                log.warning("room %d: %s", client.room, e)
                continue
            if event is not None:
                if isinstance(event, Joined):
                    joined.append(time.monotonic())
                yield event
                if isinstance(event, Closed):
                    return
                continue
            deadline = client.timeout()
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                client.handle_timeout(time.monotonic())
                continue
            if read is None:
                read = asyncio.ensure_future(reader.read(READ_SIZE))
            done, _ = await asyncio.wait({read}, timeout=wait)
            if not done:
                client.handle_timeout(time.monotonic())
                continue
            try:
                data = read.result()
            except OSError as e:
                log.warning("room %d: read failed: %s", client.room, e)
                data = b""
            read = None
            client.receive_data(data, time.monotonic())
    finally:
        if read is not None:
            read.cancel()


async def _logout(writer: asyncio.StreamWriter, client: Client) -> None:
    """Sends ``logout`` (best effort, briefly) and closes the connection."""
    try:
        if not client.is_closed:
            client.close()
            writer.write(client.data_to_send())
            await _within(writer.drain(), 1.0)
    except (OSError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()
        try:
            await _within(writer.wait_closed(), 1.0)
        except (OSError, asyncio.TimeoutError):
            pass


@overload
def watch(
    room: int,
    server: str | tuple[str, int] = ...,
    *,
    events: Literal[False] = ...,
    username: str | None = ...,
    heartbeat: float | None = ...,
    max_frame: int = ...,
    initial_backoff: float = ...,
    max_backoff: float = ...,
    connect_timeout: float = ...,
) -> AsyncIterator[Message]: ...


@overload
def watch(
    room: int,
    server: str | tuple[str, int] = ...,
    *,
    events: Literal[True],
    username: str | None = ...,
    heartbeat: float | None = ...,
    max_frame: int = ...,
    initial_backoff: float = ...,
    max_backoff: float = ...,
    connect_timeout: float = ...,
) -> AsyncIterator[Message | Event | Reconnecting]: ...


async def watch(
    room: int,
    server: str | tuple[str, int] = DEFAULT_SERVER,
    *,
    events: bool = False,
    username: str | None = None,
    heartbeat: float | None = None,
    max_frame: int = DEFAULT_MAX_FRAME,
    initial_backoff: float = 1.0,
    max_backoff: float = 60.0,
    connect_timeout: float = 10.0,
) -> AsyncIterator[Message | Event | Reconnecting]:
    """Watches ``room`` on ``server`` ("host:port" or ``(host, port)``),
    yielding each ``douyu.Message`` the server broadcasts, for ever.

    Whenever the connection fails or the session ends (the server closes,
    goes silent past the dead window, or sends ``error``) it reconnects and
    logs in again, after a delay doubling from ``initial_backoff`` up to
    ``max_backoff`` seconds (with jitter). With ``events=True`` the session's
    other events (``LoggedIn``, ``Joined``, ``Closed``, ...) and a
    ``Reconnecting`` before each reconnect are yielded too.

    Stop by leaving the ``async for`` (or cancelling the task): the session
    logs out and the connection is closed.
    """
    host, port = _address(server)
    backoff = _Backoff(initial_backoff, max_backoff)
    while True:
        joined: list[float] = []
        cause = "closed"
        try:
            reader, writer = await _within(
                asyncio.open_connection(host, port), connect_timeout
            )
        except (OSError, asyncio.TimeoutError) as e:
            cause = f"cannot connect: {e!r}"
            log.warning("room %d: %s", room, cause)
        else:
            client = Client(
                room,
                now=time.monotonic(),
                username=username,
                heartbeat=heartbeat,
                max_frame=max_frame,
            )
            try:
                # Closed here, not when collected, if the caller stops.
                session = contextlib.aclosing(_session(reader, writer, client, joined))
                async with session as items:
                    async for item in items:
                        if isinstance(item, Message) or events:
                            yield item
                        if isinstance(item, Closed):
                            cause = f"{item.reason}: {item.detail}"
            except OSError as e:
                cause = f"connection failed: {e!r}"
                log.warning("room %d: %s", room, cause)
            finally:
                await _logout(writer, client)
        joined_for = time.monotonic() - joined[0] if joined else None
        delay = backoff.next(joined_for)
        log.info("room %d: reconnecting in %.2f s (%s)", room, delay, cause)
        if events:
            yield Reconnecting(delay, cause)
        await asyncio.sleep(delay)

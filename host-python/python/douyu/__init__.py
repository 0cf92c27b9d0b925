"""The Douyu (斗鱼) danmaku protocol, sans-IO, on douyu-core.

- ``Decoder``: bytes in, ``Message`` objects out (frames reassembled across
  calls, bounded by ``max_frame``);
- ``encode``: a mapping or pairs to a frame;
- ``Client``: the client session (login, join, heartbeats, dead-link
  detection, logout) in the manner of h11: ``receive_data()``,
  ``data_to_send()``, ``next_event()``, ``timeout()``, ``handle_timeout()``;
- ``douyu.aio.watch``: an asyncio loop around ``Client`` with reconnects.

Every protocol rule is the Rust core's; this package only moves bytes and
time. Errors are ``douyu.Error`` subclasses; see ``DecodeError``.
"""

from __future__ import annotations

from ._douyu import (
    CHAT_QUEUE,
    DEAD_AFTER,
    DEFAULT_MAX_FRAME,
    HEARTBEAT,
    MIN_MAX_FRAME,
    NICKNAME_MAX,
    STT_END,
    STT_ESCAPED_END,
    STT_ESCAPED_MARK,
    STT_KEY_END,
    Client,
    Decoder,
    List,
    Map,
    Message,
    encode,
)
from ._errors import (
    BadEscape,
    DecodeError,
    EncodeError,
    Error,
    FrameError,
    InvalidUtf8,
    LengthMismatch,
    MissingSeparator,
    MissingTerminator,
    NulInBody,
    SessionError,
    SttError,
    TooLarge,
    TooShort,
    UnexpectedMessage,
)
from ._events import Closed, Dead, Event, Joined, LoggedIn, ServerError

__all__ = [
    "CHAT_QUEUE",
    "DEAD_AFTER",
    "DEFAULT_MAX_FRAME",
    "HEARTBEAT",
    "MIN_MAX_FRAME",
    "NICKNAME_MAX",
    "STT_END",
    "STT_ESCAPED_END",
    "STT_ESCAPED_MARK",
    "STT_KEY_END",
    "BadEscape",
    "Client",
    "Closed",
    "Dead",
    "DecodeError",
    "Decoder",
    "EncodeError",
    "Error",
    "Event",
    "FrameError",
    "InvalidUtf8",
    "Joined",
    "LengthMismatch",
    "List",
    "LoggedIn",
    "Map",
    "Message",
    "MissingSeparator",
    "MissingTerminator",
    "NulInBody",
    "ServerError",
    "SessionError",
    "SttError",
    "TooLarge",
    "TooShort",
    "UnexpectedMessage",
    "encode",
]

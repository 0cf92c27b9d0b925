"""Type stubs of the native module (the Rust half of ``douyu``)."""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

from ._events import Closed, Dead, Joined, LoggedIn, ServerError

_T = TypeVar("_T")

DEFAULT_MAX_FRAME: int
"""The decoder's default buffer, the largest frame accepted: 64 KiB."""
MIN_MAX_FRAME: int
"""The smallest ``max_frame``: a frame header, 12 bytes."""
HEARTBEAT: float
"""Seconds between heartbeats, as the service expects (45)."""
DEAD_AFTER: float
"""Seconds of silence after which a connection counts as dead (90)."""
CHAT_QUEUE: int
"""Bytes of chat text a ``Client`` holds until they are sent."""
NICKNAME_MAX: int
"""Longest ``username`` a ``Client`` takes, in bytes."""
STT_END: str
"""What ends an STT pair or list item (``/``)."""
STT_KEY_END: str
"""What ends an STT key (``@=``)."""
STT_ESCAPED_MARK: str
"""``@`` escaped once (``@A``)."""
STT_ESCAPED_END: str
"""``/`` escaped once (``@S``)."""

class Map:
    """A read-only mapping over an STT map: each key's first value.

    ``pairs()`` gives every pair in order (duplicate keys included);
    ``list(key)`` and ``map(key)`` read a value as a nested list or map.
    """

    def __init__(self, text: str) -> None:
        """Reads an STT map from its text; raises ``douyu.SttError``."""
    def __getitem__(self, key: str) -> str: ...
    def __contains__(self, key: object) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def __eq__(self, other: object) -> bool: ...
    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: _T) -> str | _T: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[str]: ...
    def items(self) -> list[tuple[str, str]]: ...
    def to_dict(self) -> dict[str, str]:
        """A new dict of each key's first value (quicker than ``dict(m)``)."""
    def pairs(self) -> list[tuple[str, str]]:
        """Every (key, value) pair in order, duplicates included."""
    def list(self, key: str) -> List:
        """The value of ``key`` read as an STT list (``KeyError`` if absent)."""
    def map(self, key: str) -> Map:
        """The value of ``key`` read as an STT map (``KeyError`` if absent)."""
    @property
    def text(self) -> str:
        """The STT text the map was read from, escapes included."""

class Message(Map):
    """A message decoded from a frame."""

    @property
    def direction(self) -> int:
        """The frame's type field: 689 client to server, 690 server to client."""
    @property
    def type(self) -> str:
        """The body's ``type`` (``""`` when it has none)."""
    @property
    def body(self) -> str:
        """The frame body as received (STT, escapes included)."""

class List(Sequence[str]):
    """An STT list of strings; ``map(i)`` and ``list(i)`` read an item as a
    nested map or list."""

    def __init__(self, text: str) -> None:
        """Reads an STT list from its text; raises ``douyu.SttError``."""
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __iter__(self) -> Iterator[str]: ...
    def __eq__(self, other: object) -> bool: ...
    def tolist(self) -> list[str]: ...
    def list(self, index: int) -> List: ...
    def map(self, index: int) -> Map: ...
    @property
    def text(self) -> str: ...

_Bytes = bytes | bytearray | memoryview

class Decoder:
    """Reassembles frames from a byte stream: bytes in, messages out.

    Memory is bounded by ``max_frame``: a larger frame raises
    ``douyu.TooLarge`` and is skipped; the frames after it decode normally.
    """

    def __init__(self, max_frame: int = ...) -> None: ...
    def feed(self, data: _Bytes) -> list[Message]:
        """Takes bytes and returns the messages they complete. On a bad frame
        raises ``douyu.DecodeError`` (with ``messages`` decoded before it); the
        next call goes on after it unless the error is ``fatal``."""
    def receive_data(self, data: _Bytes) -> None: ...
    def next_message(self) -> Message | None: ...
    @property
    def max_frame(self) -> int: ...
    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as messages."""
    @property
    def position(self) -> int:
        """Stream offset of the next byte to decode."""

def encode(
    message: Mapping[str, Any] | Iterable[tuple[str, Any]] | Map,
    direction: Literal["client", "server"] | int = "client",
) -> bytes:
    """One frame carrying ``message``; nested mappings and sequences become
    STT maps and lists. Raises ``douyu.EncodeError`` for a NUL in any text."""

class Client:
    """The client session over one connection (sans-IO, in the manner of h11).

    ``now`` arguments are seconds of a monotonic clock (``time.monotonic()``
    when omitted); ``timeout()`` answers in the same clock.
    """

    def __init__(
        self,
        room: int,
        *,
        now: float | None = None,
        username: str | None = None,
        heartbeat: float | None = None,
        max_frame: int = ...,
        web_uid: int | None = None,
    ) -> None: ...
    def receive_data(self, data: _Bytes, now: float | None = None) -> None:
        """Bytes from the server; ``b""`` when the server closed."""
    def data_to_send(self) -> bytes: ...
    def next_event(
        self,
    ) -> Message | LoggedIn | Joined | ServerError | Dead | Closed | None:
        """The next event; raises ``douyu.DecodeError`` for unreadable input
        (the session goes on unless a ``Closed`` follows)."""
    def timeout(self) -> float | None: ...
    def handle_timeout(self, now: float | None = None) -> None: ...
    def queue_chat(self, text: str) -> None: ...
    def request_who(self) -> None: ...
    def close(self) -> None: ...
    @property
    def room(self) -> int: ...
    @property
    def is_closed(self) -> bool: ...

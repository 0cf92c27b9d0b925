"""Events of ``douyu.Client.next_event()`` besides messages (which are
``douyu.Message`` objects themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._douyu import Message


@dataclass(frozen=True)
class LoggedIn:
    """The server accepted the login; ``message`` is its ``loginres``."""

    message: Message


@dataclass(frozen=True)
class Joined:
    """The ``joingroup`` went out: the room's broadcasts follow."""

    room: int


@dataclass(frozen=True)
class ServerError:
    """The server sent an ``error`` message; a ``Closed`` follows."""

    code: int | None


@dataclass(frozen=True)
class Dead:
    """Nothing arrived for longer than the dead window; a ``Closed`` follows."""

    silent_for: float


@dataclass(frozen=True)
class Closed:
    """The session is over: close the connection.

    ``reason`` is one of ``"logout"``, ``"silent"``, ``"server_error"``,
    ``"refused"``, ``"protocol"``, ``"local"``, ``"disconnected"``,
    ``"other"``; ``code`` the server's error code, if any; ``detail`` says it
    in words.
    """

    reason: str
    code: int | None = None
    detail: str = ""


Event = LoggedIn | Joined | ServerError | Dead | Closed

"""The exceptions of the douyu package.

The native module raises them through ``_make``, with the core's error class
name (``"too_large"``, ``"bad_escape"``, ...), its message, the stream offset
of the frame involved, whether the stream is lost, and the values the core's
error carries, which become attributes.
"""

from __future__ import annotations

from typing import Any


class Error(Exception):
    """Base class of every error this package raises."""

    #: The core's name for the error (``"length_mismatch"``, ...).
    error_class: str = "error"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        for key, value in details.items():
            setattr(self, key, value)


class DecodeError(Error, ValueError):
    """Input from a peer that could not be read.

    ``offset`` is the stream offset of the frame involved (``None`` where no
    stream is involved, as for a ``douyu.Map`` read from a string); ``fatal``
    says the stream has no trustworthy frame boundary left and the connection
    should be closed; ``messages`` holds the messages a ``Decoder.feed`` call
    decoded before the error.
    """

    offset: int | None = None
    fatal: bool = False
    messages: list[Any] = []  # replaced on each instance by the native module


class FrameError(DecodeError):
    """A frame that breaks the framing rules (PROTOCOL.md section 2)."""


class LengthMismatch(FrameError):
    """The two length fields differ (fatal)."""

    error_class = "length_mismatch"
    first: int
    second: int


class TooShort(FrameError):
    """The length field is below the minimum (fatal)."""

    error_class = "too_short"
    length: int


class TooLarge(FrameError):
    """The frame is larger than the decoder's ``max_frame``; it is skipped."""

    error_class = "too_large"
    length: int
    capacity: int


class MissingTerminator(FrameError):
    """The frame does not end with a NUL byte."""

    error_class = "missing_terminator"
    found: int


class NulInBody(FrameError):
    """The body holds a NUL byte."""

    error_class = "nul_in_body"
    body_offset: int


class InvalidUtf8(FrameError):
    """The body is not UTF-8."""

    error_class = "invalid_utf8"
    valid_up_to: int


class SttError(DecodeError):
    """A body (or nested value) that is not well-formed STT."""

    body_offset: int


class BadEscape(SttError):
    """An ``@`` not followed by a valid escape."""

    error_class = "bad_escape"


class MissingSeparator(SttError):
    """A pair without the separator between its key and its value."""

    error_class = "missing_separator"


class UnexpectedMessage(DecodeError):
    """A well-formed frame the client session cannot take: the wrong type
    field (``found``), a message out of order, or a missing field."""


class EncodeError(Error, ValueError):
    """A message that cannot be written as a frame (a NUL in its text, or a
    body longer than a frame can declare)."""


class SessionError(Error):
    """A session call refused: ``not_ready`` (closing or closed) or
    ``buffer_full`` (the chat queue is full; ``needed``, ``capacity``)."""


_DECODE: dict[str, type[DecodeError]] = {
    cls.error_class: cls
    for cls in (
        LengthMismatch,
        TooShort,
        TooLarge,
        MissingTerminator,
        NulInBody,
        InvalidUtf8,
        BadEscape,
        MissingSeparator,
    )
}


def _make(
    kind: str,
    error_class: str,
    message: str,
    offset: int | None,
    fatal: bool,
    details: dict[str, int],
) -> Error:
    cls: type[Error]
    if kind == "decode":
        if error_class in ("unexpected_type", "out_of_order", "bad_field"):
            cls = UnexpectedMessage
        else:
            cls = _DECODE.get(error_class, DecodeError)
    elif kind == "encode":
        cls = EncodeError
    else:
        cls = SessionError
    error = cls(message, **details)
    error.error_class = error_class
    if isinstance(error, DecodeError):
        error.offset = offset
        error.fatal = fatal
        error.messages = []
    return error

"""douyu.Client: sans-IO alone, then against `douyu serve` over a socket."""

from __future__ import annotations

import socket
import time

import pytest

import douyu


def sent(client: douyu.Client) -> list[douyu.Message]:
    """What the client sends now, decoded."""
    return douyu.Decoder().feed(client.data_to_send())


def server(pairs) -> bytes:
    return douyu.encode(pairs, "server")


def drain(client: douyu.Client) -> list:
    events = []
    while (event := client.next_event()) is not None:
        events.append(event)
    return events


def test_login_join_heartbeat_logout_without_io():
    client = douyu.Client(288016, now=0.0)
    (login,) = sent(client)
    assert login.pairs() == [("type", "loginreq"), ("roomid", "288016")]
    assert login.direction == 689
    assert client.data_to_send() == b""
    client.receive_data(server({"type": "loginres", "userid": "0"}), now=1.0)
    (logged_in,) = drain(client)
    assert isinstance(logged_in, douyu.LoggedIn)
    assert logged_in.message.type == "loginres" and logged_in.message["userid"] == "0"
    (join,) = sent(client)
    assert dict(join) == {"type": "joingroup", "rid": "288016", "gid": "-9999"}
    assert drain(client) == [douyu.Joined(room=288016)]
    # The heartbeat falls due at the core's interval.
    assert client.timeout() == douyu.HEARTBEAT
    client.handle_timeout(douyu.HEARTBEAT - 0.5)
    assert client.data_to_send() == b""
    client.handle_timeout(douyu.HEARTBEAT)
    assert [m.type for m in sent(client)] == ["mrkl"]
    # Broadcasts are messages; a chat line queued goes out.
    client.receive_data(server({"type": "chatmsg", "txt": "hi/@"}), now=50.0)
    (chat,) = drain(client)
    assert isinstance(chat, douyu.Message) and chat["txt"] == "hi/@"
    client.queue_chat("主播好")
    assert [dict(m) for m in sent(client)] == [{"type": "chatmsg", "txt": "主播好"}]
    # The longest line the queue takes, every byte escaped, goes out whole.
    longest = "@/" * (douyu.CHAT_QUEUE // 2 - 1) + "@"
    assert len(longest) == douyu.CHAT_QUEUE - 1
    client.queue_chat(longest)
    data = client.data_to_send()
    assert len(data) > 2 * len(longest)
    assert [dict(m) for m in douyu.Decoder().feed(data)] == [{"type": "chatmsg", "txt": longest}]
    client.close()
    assert [m.type for m in sent(client)] == ["logout"]
    (closed,) = drain(client)
    assert closed.reason == "logout"
    assert client.is_closed and client.timeout() is None
    with pytest.raises(douyu.SessionError) as info:
        client.queue_chat("late")
    assert info.value.error_class == "not_ready"


def test_silence_is_death():
    client = douyu.Client(1, now=10.0, heartbeat=1.0)
    client.data_to_send()
    client.handle_timeout(10.0 + 2 * 1.0)
    dead, closed = drain(client)
    assert isinstance(dead, douyu.Dead) and dead.silent_for == pytest.approx(2.0)
    assert closed.reason == "silent"
    assert client.timeout() is None


def test_server_error_closes():
    client = douyu.Client(1, now=0.0)
    client.receive_data(server({"type": "error", "code": "1001"}), now=0.1)
    assert drain(client) == [
        douyu.ServerError(code=1001),
        douyu.Closed("server_error", 1001, "server error 1001"),
    ]


def test_bad_input_raises_and_the_session_goes_on():
    client = douyu.Client(1, now=0.0)
    wrong_way = douyu.encode({"type": "mrkl"}, "client")
    client.receive_data(wrong_way + server({"type": "mrkl"}), now=0.1)
    with pytest.raises(douyu.UnexpectedMessage) as info:
        client.next_event()
    assert info.value.found == 689 and info.value.error_class == "unexpected_type"
    assert client.next_event().type == "mrkl"
    # A fatal stream error closes the session.
    client.receive_data(b"\x14\0\0\0\x15\0\0\0" + b"x" * 20, now=0.2)
    with pytest.raises(douyu.LengthMismatch) as info:
        client.next_event()
    assert info.value.fatal
    assert client.next_event().reason == "protocol"
    assert client.next_event() is None


def test_end_of_stream_closes():
    client = douyu.Client(1, now=0.0)
    client.receive_data(b"", now=1.0)
    assert drain(client) == [douyu.Closed("disconnected", None, "peer disconnected")]


def test_input_larger_than_the_buffer_waits_for_events_to_be_read():
    client = douyu.Client(1, now=0.0, max_frame=64)
    many = b"".join(server({"type": "mrkl", "n": str(i)}) for i in range(50))
    client.receive_data(many, now=0.5)
    assert [m["n"] for m in drain(client)] == [str(i) for i in range(50)]


def test_usage_errors():
    with pytest.raises(ValueError):
        douyu.Client(1, now=-1.0)
    with pytest.raises(ValueError):
        douyu.Client(1, heartbeat=0)
    with pytest.raises(ValueError):
        douyu.Client(1, username="x" * (douyu.NICKNAME_MAX + 1))
    client = douyu.Client(1, now=0.0)
    with pytest.raises(douyu.EncodeError):
        client.queue_chat("a\0b")
    with pytest.raises(douyu.SessionError) as info:
        client.queue_chat("x" * (douyu.CHAT_QUEUE + 1))
    assert info.value.error_class == "buffer_full"


class Connection:
    """A blocking socket loop around a Client: the test's own tiny host."""

    def __init__(self, address, room: int, **kwargs) -> None:
        self.sock = socket.create_connection(address, timeout=5)
        self.client = douyu.Client(room, now=time.monotonic(), **kwargs)
        self.events: list = []

    def pump(self, until, timeout: float = 10.0):
        """Moves bytes until ``until(event)`` holds for an event; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.client.data_to_send()
            if out:
                self.sock.sendall(out)
            while (event := self.client.next_event()) is not None:
                self.events.append(event)
                if until(event):
                    self.sock.sendall(self.client.data_to_send())
                    return event
            self.sock.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                self.client.handle_timeout(time.monotonic())
                continue
            self.client.receive_data(data, time.monotonic())
        raise AssertionError(f"timed out; events: {self.events[-5:]}")

    def close(self) -> None:
        self.sock.close()


def test_client_against_douyu_serve(serve):
    srv = serve(room=4242, rate=50)
    watcher = Connection(srv.address, 4242)
    talker = Connection(srv.address, 4242, username="pytest")
    try:
        logged_in = watcher.pump(lambda e: isinstance(e, douyu.LoggedIn))
        assert logged_in.message.type == "loginres"
        assert watcher.pump(lambda e: isinstance(e, douyu.Joined)).room == 4242
        # The simulated room's broadcasts arrive.
        first = watcher.pump(lambda e: isinstance(e, douyu.Message))
        assert first.direction == 690 and first.type
        talker.pump(lambda e: isinstance(e, douyu.Joined))
        talker.client.queue_chat("hello @/ 鱼")
        (chat_out,) = douyu.Decoder().feed(out := talker.client.data_to_send())
        assert chat_out["txt"] == "hello @/ 鱼"
        talker.sock.sendall(out)
        chat = watcher.pump(
            lambda e: isinstance(e, douyu.Message)
            and e.type == "chatmsg"
            and e.get("txt") == "hello @/ 鱼"
        )
        assert chat["nn"] == "pytest"
        # Logout: the logout goes out, the session closes, the server hangs up.
        watcher.client.close()
        closed = watcher.pump(lambda e: isinstance(e, douyu.Closed))
        assert closed.reason == "logout"
        deadline = time.monotonic() + 10
        watcher.sock.settimeout(5)
        while watcher.sock.recv(65536):
            assert time.monotonic() < deadline, "the server did not hang up"
    finally:
        watcher.close()
        talker.close()

"""Fixtures: the conformance vectors and `douyu serve` on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def vectors_dir() -> Path:
    """``../shared/vectors`` beside the repository (DOUYU_VECTORS overrides)."""
    return Path(os.environ.get("DOUYU_VECTORS", ROOT.parent / "shared" / "vectors"))


def read_vectors(name: str) -> list[dict]:
    path = vectors_dir() / name
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def douyu_bin() -> Path:
    """The debug build of the `douyu` binary (DOUYU_BIN overrides)."""
    return Path(os.environ.get("DOUYU_BIN", ROOT / "target" / "debug" / "douyu"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`douyu serve` on 127.0.0.1:port, started and stopped by the test."""

    def __init__(self, port: int, room: int, rate: float | None) -> None:
        self.port = port
        self.room = room
        self.rate = rate
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> None:
        args = [str(douyu_bin()), "serve", "--tcp", f"127.0.0.1:{self.port}"]
        if self.rate is not None:
            args += ["--simulate", str(self.rate), "--room", str(self.room)]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"douyu serve exited with {self.proc.returncode}")
            try:
                socket.create_connection(self.address, timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("douyu serve did not start listening")

    def kill(self) -> None:
        """Stops the server abruptly, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def serve():
    """A factory: ``serve(room=..., rate=...)`` starts a server; every
    server started is stopped after the test."""
    if not douyu_bin().exists():
        pytest.fail(f"{douyu_bin()} missing: cargo build -p douyu-host --locked")
    servers: list[Server] = []

    def start(room: int = 288016, rate: float | None = None) -> Server:
        server = Server(free_port(), room, rate)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()

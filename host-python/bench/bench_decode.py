"""Decode throughput of douyu.Decoder against pure-Python STT parsers.

Run on demand (not a test):

    target/py-venv/bin/python host-python/bench/bench_decode.py [--megabytes 16]

The corpus is `douyu generate` output (simulated server traffic: 70 %
chatmsg, 15 % uenter, 10 % dgb, 5 % other), fed in 4 KiB pieces as socket
reads return it. The baselines are written the way Douyu danmaku scripts
commonly parse: reassemble frames with ``struct`` on a ``bytearray``, then
either split the body on ``/`` and ``@=`` or run a regular expression over it,
unescaping ``@S`` and ``@A``, into a ``dict``. They skip every check the core
makes (lengths that disagree, terminators, UTF-8 is checked by ``decode``
only), so the comparison flatters them.
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import douyu

ROOT = Path(__file__).resolve().parents[2]
PIECE = 4096


def corpus(megabytes: int) -> bytes:
    binary = ROOT / "target" / "debug" / "douyu"
    with tempfile.NamedTemporaryFile() as f:
        subprocess.run(
            [str(binary), "generate", "--megabytes", str(megabytes), "--output", f.name],
            check=True,
        )
        return Path(f.name).read_bytes()


# The spelling of STT, from the package (its core), not written again here.
END, KEY_END = douyu.STT_END, douyu.STT_KEY_END
ESCAPED_END, ESCAPED_MARK = douyu.STT_ESCAPED_END, douyu.STT_ESCAPED_MARK
MARK = ESCAPED_MARK[0]
HEADER = douyu.MIN_MAX_FRAME


def unescape(s: str) -> str:
    return s.replace(ESCAPED_END, END).replace(ESCAPED_MARK, MARK)


def split_parser(pieces: list[bytes]) -> int:
    """Frames by struct, bodies by str.split: the most common script."""
    buf = bytearray()
    n = 0
    for piece in pieces:
        buf += piece
        while len(buf) >= HEADER:
            (length,) = struct.unpack_from("<I", buf, 0)
            if len(buf) < length + 4:
                break
            body = buf[HEADER : length + 3].decode("utf-8")
            del buf[: length + 4]
            message = {}
            for item in body.split(END):
                if item:
                    key, _, value = item.partition(KEY_END)
                    message.setdefault(unescape(key), unescape(value))
            n += 1
    return n


PAIR = re.compile(f"(.*?){re.escape(KEY_END)}(.*?){re.escape(END)}")


def regex_parser(pieces: list[bytes]) -> int:
    """Frames by struct, bodies by a regular expression."""
    buf = bytearray()
    n = 0
    for piece in pieces:
        buf += piece
        while len(buf) >= HEADER:
            (length,) = struct.unpack_from("<I", buf, 0)
            if len(buf) < length + 4:
                break
            body = buf[HEADER : length + 3].decode("utf-8")
            del buf[: length + 4]
            message = {}
            for key, value in PAIR.findall(body):
                message.setdefault(unescape(key), unescape(value))
            n += 1
    return n


def douyu_feed(pieces: list[bytes]) -> int:
    """douyu.Decoder: messages decoded and checked, fields read on demand."""
    decoder = douyu.Decoder()
    n = 0
    for piece in pieces:
        n += len(decoder.feed(piece))
    return n


def douyu_dict(pieces: list[bytes]) -> int:
    """douyu.Decoder, then every message turned into a dict, as the
    baselines do: the like-for-like figure."""
    decoder = douyu.Decoder()
    n = 0
    for piece in pieces:
        for message in decoder.feed(piece):
            message.to_dict()
            n += 1
    return n


def douyu_field(pieces: list[bytes]) -> int:
    """douyu.Decoder, reading the two fields a chat recorder reads."""
    decoder = douyu.Decoder()
    n = 0
    for piece in pieces:
        for message in decoder.feed(piece):
            message.type
            message.get("txt")
            n += 1
    return n


def best_of(fn, pieces, repeat: int) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = fn(pieces)
        best = min(best, time.perf_counter() - start)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = corpus(args.megabytes)
    pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)]
    mb = len(data) / 1e6
    print(f"corpus: {mb:.1f} MB of `douyu generate`, {PIECE}-byte reads, "
          f"best of {args.repeat}, Python {sys.version.split()[0]}")
    results = {}
    for name, fn in [
        ("python split", split_parser),
        ("python regex", regex_parser),
        ("douyu feed", douyu_feed),
        ("douyu feed + 2 fields", douyu_field),
        ("douyu feed + to_dict", douyu_dict),
    ]:
        seconds, count = best_of(fn, pieces, args.repeat)
        results[name] = (seconds, count)
        print(f"{name:24} {mb / seconds:8.1f} MB/s  {count / seconds / 1e3:8.0f} k msg/s")
    counts = {count for _, count in results.values()}
    assert len(counts) == 1, f"parsers disagree on the message count: {results}"
    base = results["python split"][0]
    regex = results["python regex"][0]
    for name in ("douyu feed", "douyu feed + 2 fields", "douyu feed + to_dict"):
        s = results[name][0]
        print(f"{name:24} x{base / s:.1f} the split parser, x{regex / s:.1f} the regex parser")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds the seed corpus of every fuzz target from ../../shared/vectors.

Usage: seed.py CORPUS_DIR   (writes CORPUS_DIR/<target>/seed-*)
"""
import json
import pathlib
import struct
import sys

VECTORS = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "vectors"


def cases(name):
    with open(VECTORS / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def frame(kind, body):
    data = body.encode()
    length = len(data) + 9
    return struct.pack("<IIHBB", length, length, kind, 0, 0) + data + b"\0"


def main():
    root = pathlib.Path(sys.argv[1])
    seeds = {t: [] for t in ("frame", "stream", "stt", "roundtrip", "client", "server")}
    frames = [bytes.fromhex(c["hex"]) for c in cases("frames.jsonl")]
    streams = [bytes.fromhex(c["hex"]) for c in cases("real_streams.jsonl")]
    bodies = [c["body"].encode() for c in cases("real_bodies.jsonl")]
    bodies += [c["body"].encode() for c in cases("frames.jsonl") if "body" in c]
    bodies += [c["value"].encode() for c in cases("stt_nested.jsonl")]
    seeds["frame"] += frames + streams
    seeds["stream"] += [bytes([64]) + s for s in streams] + [bytes([16]) + b"".join(frames)]
    seeds["stt"] += bodies
    seeds["roundtrip"] += bodies[:16]
    server_frames = b"".join(f for f in frames if f[8:10] == b"\xb2\x02")
    login = frame(690, "type@=loginres/userid@=1/nickname@=x/")
    for piece, step in ((255, 0), (1, 1), (7, 90)):
        seeds["client"] += [bytes([piece, step, 200]) + login + s for s in streams]
        seeds["client"].append(bytes([piece, step, 3]) + login + server_frames)
    session = [
        frame(689, "type@=loginreq/roomid@=288016/username@=a@Sb/"),
        frame(689, "type@=joingroup/rid@=288016/gid@=-9999/"),
        frame(689, "type@=whoreq/"),
        # A bare `/` in the text: the pair after it has no `@=`, which ends
        # the session.
        frame(689, "type@=chatmsg/txt@=hi @A / 🐟/"),
        frame(689, "type@=mrkl/"),
        frame(689, "type@=keeplive/tick@=1/"),
        frame(689, "type@=logout/"),
    ]
    # Byte 2 of a server input: the chat limit and a full registry.
    fish = frame(689, "type@=loginreq/roomid@=288016/username@=fish/")
    for piece, step, limits in ((255, 0, 0), (1, 1, 1), (13, 100, 0), (13, 0, 4)):
        seeds["server"].append(bytes([piece, step, limits]) + b"".join(session))
        seeds["server"].append(bytes([piece, step, limits]) + frame(689, "type@=loginreq/roomid@=1/username@=taken/"))
        # Accepted (a nickname without `/`), so what needs a login is reached.
        seeds["server"].append(bytes([piece, step, limits]) + fish + b"".join(session[1:]))
    # A visitor's name asked for; chat hammered at one instant until the
    # session is refused for flooding (one line a second, burst 0), and
    # under no limit or a limit of 0 lines a second.
    visitor = frame(689, "type@=loginreq/roomid@=288016/username@=visitor42/")
    seeds["server"].append(bytes([255, 0, 1]) + visitor + b"".join(session[1:]))
    flood = fish + session[1] + frame(689, "type@=chatmsg/txt@=hi/") * 24
    for limits in (2, 2 | 8 | 128, 1, 3):
        seeds["server"].append(bytes([255, 0, limits]) + flood)
    for target, items in seeds.items():
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(items):
            (folder / f"seed-{i:03}").write_bytes(data)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Rewrites the conformance vectors (JSON Lines) as tab-separated lines that
tests/vectors.c reads without a JSON parser. Every string is hex-encoded, so
no byte of it can be mistaken for a separator; numbers are decimal.

    F  name  hex  error|-  type  encryption  reserved  body  npairs  (key value)*
    B  source  body  type  npairs  (key value)*
    N  name  value  wire|-  list|-  maps|-  deep|-
         list: count item*   maps: count (npairs (key value)*)*   deep: count item*
    S  what  hex  leftover  nframes  (type body)*

A section that a case lacks is a single "-". The first line, "C  count",
says how many cases follow; the C program fails unless it checked exactly
that many, so that a case it never reads cannot pass silently.

Usage: vectors_to_lines.py VECTORS_DIR > cases.txt
"""

import json
import pathlib
import sys


def h(s):
    return s.encode("utf-8").hex()


def pairs(ps):
    return [str(len(ps))] + [h(x) for p in ps for x in p]


def items(xs):
    return [str(len(xs))] + [h(x) for x in xs]


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    root = pathlib.Path(sys.argv[1])
    out = []
    for c in read(root / "frames.jsonl"):
        if "error" in c:
            out.append(["F", h(c["name"]), c["hex"], c["error"]])
        else:
            out.append(
                ["F", h(c["name"]), c["hex"], "-", str(c["type"]),
                 str(c.get("encryption", 0)), str(c.get("reserved", 0)), h(c["body"])]
                + pairs(c["pairs"])
            )
    for c in read(root / "real_bodies.jsonl"):
        out.append(["B", h(c["source"]), h(c["body"]), h(c["type"])] + pairs(c["pairs"]))
    for c in read(root / "stt_nested.jsonl"):
        row = ["N", h(c["name"]), h(c["value"]), h(c["wire"]) if "wire" in c else "-"]
        row += items(c["list"]) if "list" in c else ["-"]
        if "items_as_maps" in c:
            row.append(str(len(c["items_as_maps"])))
            for m in c["items_as_maps"]:
                row += pairs(m)
        else:
            row.append("-")
        row += items(c["deep"]) if "deep" in c else ["-"]
        out.append(row)
    for c in read(root / "real_streams.jsonl"):
        row = ["S", h(c["what"]), c["hex"], str(c["leftover_bytes"]), str(len(c["complete_frames"]))]
        for f in c["complete_frames"]:
            row += [str(f["type"]), h(f["body"])]
        out.append(row)
    print("C\t%d" % len(out))
    for row in out:
        print("\t".join(row))


if __name__ == "__main__":
    main()

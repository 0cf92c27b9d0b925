#!/usr/bin/env python3
"""How late `douyu collect` delivers messages, for collect-bench.sh (PROBE=1).

Subscribes to douyu.> on a nats-server (plain NATS protocol, standard library
only) for SECONDS and reads each chat line of `douyu serve --simulate R
--probe`, whose text is its scheduled send time in microseconds. For every
line it takes two delays from that time: until the collector read it (the
message's `received_at`) and until it reached this subscriber (published by
the collector and routed by nats-server; JetStream's ack of the same publish
follows the store). Prints count, mean, p50, p99 and max of each.

    python3 host-linux/collect-latency.py nats://127.0.0.1:4222 SECONDS
"""

import datetime
import json
import socket
import sys
import time


def percentiles(values):
    values = sorted(values)
    n = len(values)
    if n == 0:
        return "no messages"
    pick = lambda q: values[min(n - 1, int(q * n))]
    return "{} messages: mean {:.1f} ms, p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms".format(
        n, sum(values) / n, pick(0.50), pick(0.99), values[-1]
    )


def main():
    url, seconds = sys.argv[1], float(sys.argv[2])
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(
        b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":false}\r\n'
        b"SUB douyu.*.chatmsg 1\r\nPING\r\n"
    )
    buf = b""
    read_delays, seen_delays = [], []
    end = time.time() + seconds
    sock.settimeout(0.5)
    while time.time() < end:
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            continue
        if not data:
            raise SystemExit("nats-server closed the connection")
        now_ms = time.time() * 1000
        buf += data
        while True:
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                break
            line = buf[:line_end].split()
            if not line:
                buf = buf[line_end + 2 :]
                continue
            op = line[0].upper()
            if op in (b"MSG", b"HMSG"):
                # MSG subject sid [reply] size / HMSG subject sid [reply] hsize size
                size = int(line[-1])
                headers = int(line[-2]) if op == b"HMSG" else 0
                start = line_end + 2
                if len(buf) < start + size + 2:
                    break  # the payload is not all here yet
                payload = buf[start + headers : start + size]
                buf = buf[start + size + 2 :]
                message = json.loads(payload)
                sent_ms = int(message["txt"]) / 1000
                received = datetime.datetime.fromisoformat(message["received_at"])
                read_delays.append(received.timestamp() * 1000 - sent_ms)
                seen_delays.append(now_ms - sent_ms)
                continue
            if op == b"PING":
                sock.sendall(b"PONG\r\n")
            elif op == b"-ERR":
                raise SystemExit("nats-server: " + buf[:line_end].decode())
            buf = buf[line_end + 2 :]
    print("server send -> collector read: " + percentiles(read_delays))
    print("server send -> published (seen by a subscriber): " + percentiles(seen_delays))


if __name__ == "__main__":
    main()

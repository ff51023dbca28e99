#!/usr/bin/env python3
"""Hostile load for the C service's benchmark, measured from a well-behaved client's side.

Holds SLOWLORIS connections that send a request head one header line every 2 s and never finish
it (reconnecting whenever the server closes one, as an attacker would), plus SLOW_READERS
connections that pipeline 400 requests each and never read. Meanwhile a fresh connection asks
GET /healthz every INTERVAL seconds for DURATION seconds, like a load balancer's health check,
and the script prints the latency percentiles of those checks and how many were not 200.

Usage: attack.py PORT [--slowloris 1500] [--slow-readers 8] [--duration 30] [--interval 0.1]
"""

import argparse
import selectors
import socket
import time


def percentile(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    k = min(len(sorted_ms) - 1, max(0, int(round(p / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def fresh_healthz(port, timeout):
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    except OSError:
        status = 0
    return status, (time.monotonic() - t0) * 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--slowloris", type=int, default=1500)
    ap.add_argument("--slow-readers", type=int, default=8)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=0.1)
    args = ap.parse_args()

    sel = selectors.DefaultSelector()
    loris = set()
    reconnects = 0

    def open_loris():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", args.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            return
        sel.register(s, selectors.EVENT_WRITE, "connect")
        loris.add(s)

    def drop(s):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        loris.discard(s)
        s.close()

    for _ in range(args.slowloris):
        open_loris()

    readers = []
    pipeline = b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n" * 400
    for _ in range(args.slow_readers):
        r = socket.create_connection(("127.0.0.1", args.port))
        r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        r.setblocking(False)
        try:
            r.send(pipeline)
        except BlockingIOError:
            pass
        readers.append(r)

    samples = []
    start = time.monotonic()
    next_check = start + 1.0  # let the swarm fill the connection cap first
    next_trickle = start + 2.0
    while time.monotonic() - start < args.duration + 1.0:
        now = time.monotonic()
        if now >= next_check:
            samples.append(fresh_healthz(args.port, 5.0))
            next_check += args.interval
        if now >= next_trickle:
            for s in list(loris):
                try:
                    s.send(b"X-a: b\r\n")
                except BlockingIOError:
                    pass
                except OSError:
                    drop(s)
            next_trickle = now + 2.0
        for key, _ in sel.select(timeout=0.01):
            s = key.fileobj
            if key.data == "connect":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    drop(s)
                    reconnects += 1
                    open_loris()
                    continue
                try:
                    s.send(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")
                except OSError:
                    drop(s)
                    continue
                sel.modify(s, selectors.EVENT_READ, "read")
            else:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:  # closed by the server: come back
                    drop(s)
                    reconnects += 1
                    open_loris()

    for s in list(loris):
        drop(s)
    for r in readers:
        r.close()
    ms = sorted(m for _, m in samples)
    not_ok = sum(1 for st, _ in samples if st != 200)
    print(
        "fresh /healthz under %d slowloris + %d slow readers: n=%d non200=%d p50=%.2fms p90=%.2fms "
        "p99=%.2fms max=%.2fms attacker_reconnects=%d"
        % (
            args.slowloris,
            args.slow_readers,
            len(samples),
            not_ok,
            percentile(ms, 50),
            percentile(ms, 90),
            percentile(ms, 99),
            ms[-1] if ms else float("nan"),
            reconnects,
        )
    )


if __name__ == "__main__":
    main()

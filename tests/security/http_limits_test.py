#!/usr/bin/env python3
"""HTTP robustness against the real binary: slow clients (slowloris) are cut off after --web.request-timeout and
never block other clients for longer; oversized headers and URIs are refused; concurrent requests beyond
--web.max-requests get 503, never a hang; 405 for non-GET on /metrics, 404 elsewhere; idle keep-alive
connections are closed. Every page of metrics it gets goes through the exposition check (tests/lib/prom_text.py).

usage: http_limits_test.py <epc_exporter> <fixture rootfs>
"""
import os
import re
import socket
import sys
import tempfile
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import ExpositionError, Exporter, ParseError, checked_page, fail  # noqa: E402

exporter, fixture = sys.argv[1], sys.argv[2]
TIMEOUT_S = 2  # --web.request-timeout
MAX_REQ = 4


def ok(msg):
    print(f"ok: {msg}")


work = tempfile.mkdtemp()
try:
    exp = Exporter(exporter, [f"--path.rootfs={fixture}", "--no-collector.ebpf", f"--web.request-timeout={TIMEOUT_S}s",
                              f"--web.max-requests={MAX_REQ}"], work).start()
except RuntimeError as e:
    fail(str(e))
proc, port = exp.proc, exp.port


def request(raw, timeout=15.0):
    """Sends raw bytes, returns (status or None, seconds, bytes received) after the server closes or answers."""
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
            if m and b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                cl = re.search(rb"(?i)content-length: *(\d+)", head)
                if cl and len(body) >= int(cl.group(1)):
                    break
                if raw.startswith(b"HEAD"):
                    break
        m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        return (int(m.group(1)) if m else None), time.time() - t0, data
    finally:
        s.close()


BROKEN_PAGES = []  # pages of metrics that failed the exposition check (scrapes run on threads too)


def get(path, method="GET", extra=b""):
    st, took, data = request(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode() + extra +
                             b"\r\n")
    if st == 200 and method == "GET" and path.split("?")[0] == "/metrics":
        try:
            checked_page(data.partition(b"\r\n\r\n")[2], f"GET {path}")
        except (ExpositionError, ParseError) as e:
            BROKEN_PAGES.append(str(e))
    return st, took, data


try:
    # Methods and paths
    assert get("/metrics")[0] == 200, "GET /metrics"
    for method, path, want in (("POST", "/metrics", 405), ("PUT", "/", 405), ("DELETE", "/metrics", 405),
                               ("GET", "/nope", 404), ("GET", "/metrics/x", 404), ("POST", "/healthz", 405)):
        st = get(path, method)[0]
        if st != want:
            fail(f"{method} {path}: {st}, want {want}")
    st, _, data = get("/metrics", "HEAD")
    if st != 200 or data.partition(b"\r\n\r\n")[2]:
        fail("HEAD /metrics must answer 200 without a body")
    ok("405 for non-GET, 404 for unknown paths, HEAD without body")

    # Oversized header and URI: refused, the server stays up
    st, _, _ = get("/metrics", extra=b"X-Big: " + b"a" * 20000 + b"\r\n")
    if st == 200:
        fail("a 20 KB header was accepted")
    st2, _, _ = get("/metrics?" + "a" * 12000)
    if st2 == 200:
        fail("a 12 KB URI was accepted")
    if get("/healthz")[0] != 200:
        fail("server not healthy after oversized requests")
    ok(f"20 KB header -> {st or 'closed'}, 12 KB URI -> {st2 or 'closed'}; still serving")

    # Slow clients: more half-sent requests than worker threads
    slow = []
    for _ in range(MAX_REQ + 4):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        slow.append(s)
    time.sleep(0.2)
    st, took, _ = get("/healthz")
    if st != 200:
        fail(f"/healthz under slowloris: {st}")
    if took > 2 * TIMEOUT_S + 2:
        fail(f"/healthz waited {took:.1f}s behind slow clients")
    closed_after = []
    for s in slow:
        s.settimeout(3 * TIMEOUT_S + 5)
        t0 = time.time()
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        closed_after.append(time.time() - t0)
        s.close()
    if max(closed_after) > 3 * TIMEOUT_S + 4:
        fail(f"a slow client was held {max(closed_after):.1f}s")
    ok(f"{len(slow)} slow clients: /healthz answered in {took:.2f}s, slow clients closed within "
       f"{max(closed_after):.1f}s (request timeout {TIMEOUT_S}s)")

    # Idle keep-alive connection is closed by the server
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(3 * TIMEOUT_S + 5)
    t0 = time.time()
    got = b""
    try:
        while True:
            c = s.recv(4096)
            if not c:
                break
            got += c
    except (ConnectionResetError, socket.timeout):
        pass
    idle = time.time() - t0
    s.close()
    if not got.startswith(b"HTTP/1.1 200") or idle > 3 * TIMEOUT_S + 4:
        fail(f"keep-alive: answer {got[:20]!r}, closed after {idle:.1f}s")
    ok(f"idle keep-alive connection closed after {idle:.1f}s")

    # Concurrency cap: 3x the limit at once, each 200 or 503, none hangs
    results = []
    lock = threading.Lock()

    def one():
        st, took, _ = get("/metrics")
        with lock:
            results.append((st, took))

    threads = [threading.Thread(target=one) for _ in range(3 * MAX_REQ)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=4 * TIMEOUT_S + 10)
    if len(results) != len(threads):
        fail("concurrent requests hung")
    codes = sorted(st for st, _ in results)
    if any(c not in (200, 503) for c in codes) or 200 not in codes:
        fail(f"concurrent requests: {codes}")
    ok(f"{len(threads)} concurrent scrapes with --web.max-requests={MAX_REQ}: {codes.count(200)}x200, "
       f"{codes.count(503)}x503, slowest {max(t for _, t in results):.2f}s")

    if proc.poll() is not None:
        fail("exporter died")
    if BROKEN_PAGES:
        fail(f"{len(BROKEN_PAGES)} pages failed the exposition check; the first: {BROKEN_PAGES[0]}")
    print("http_limits_test: all checks passed")
finally:
    exp.stop()

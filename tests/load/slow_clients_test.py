#!/usr/bin/env python3
"""Slow clients never stop scrapes: the exporter and Debian's node_exporter side by side, each held by 1,000 open
connections that send nothing useful, while both are scraped every 0.2 s. Plain HTTP first, then TLS.

The connections are a mix of three kinds, a third each:
  idle        connects and sends nothing (with TLS: not even a ClientHello);
  slow-header sends half a request line ("GET /metr") and then nothing;
  slow-body   sends "POST /" with complete headers and Content-Length: 4000 (below any body limit), then one body
              byte per second (to /, not to /metrics: node_exporter runs a scrape for any method as soon as the
              headers are in, and 333 of those at once keep it at its 40-request limit, answering 503).
A connection the server closes is opened again at once, so the pressure stays at 1,000 for the whole run (the
exporter closes each of them after --web.request-timeout).

Fails when fewer than 99 % of the exporter's scrapes (a new connection each, Accept-Encoding: gzip) complete with
200 within 1 s, when any page fails the exposition check (tests/lib/prom_text.py; node_exporter's pages too), or when its thread count or RSS goes beyond the bounds below. node_exporter's figures are printed
beside for comparison; they are not asserted. Exits 77 (skip) when node_exporter, openssl or the descriptors for
the connections are missing.

usage: slow_clients_test.py <epc_exporter> <fixture rootfs> [seconds per phase=20] [connections=1000]
"""
import os
import resource
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import (ExpositionError, Exporter, NodeExporter, ParseError, fail,  # noqa: E402
                         node_exporter_binary, percentile as pct, proc_status, skip, timed_scrape)

exporter, fixture = sys.argv[1], sys.argv[2]
PHASE_S = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
CONNS = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
SCRAPE_EVERY_S = 0.2
SCRAPE_DEADLINE_S = 1.0
WANT_OK = 0.99
# The exporter's own bounds: one I/O thread, at most 4 request workers, main; a few hundred bytes per plain
# connection and asio's two 17 KiB TLS record buffers per TLS connection.
MAX_THREADS = 12
MAX_RSS_KIB = {"plain": 48 * 1024, "tls": 128 * 1024}
SKIP = 77


node_exporter = node_exporter_binary()
if not node_exporter:
    skip("prometheus-node-exporter not installed (scripts/install-deps.sh test installs it)")
if not shutil.which("openssl"):
    skip("openssl not installed")
# Two targets at a time, each with CONNS slow connections, plus scrapes, plus the servers' own descriptors.
need_fds = 2 * CONNS + 512
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < need_fds:
    skip(f"RLIMIT_NOFILE hard limit {hard} < {need_fds} needed for {CONNS} connections to each of two servers")
resource.setrlimit(resource.RLIMIT_NOFILE, (need_fds if hard == resource.RLIM_INFINITY else hard, hard))

work = tempfile.mkdtemp(prefix="slow_clients.")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{work}/k.pem",
                "-out", f"{work}/c.pem", "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
with open(f"{work}/web.yml", "w") as f:
    f.write(f"tls_server_config:\n  cert_file: {work}/c.pem\n  key_file: {work}/k.pem\n")


class Server:
    """A server under test, ready when start() returns: the exporter once it answers /healthz, node_exporter at once
    (socket activation)."""

    def __init__(self, name, tls):
        self.name, self.tls, self.proc, self.port = name, tls, None, None
        self.label = f"{name}-{'tls' if tls else 'plain'}"

    def start(self):
        args = [f"--web.config.file={work}/web.yml"] if self.tls else []
        if self.name == "epc_exporter":
            self.server = Exporter(exporter, [f"--path.rootfs={fixture}", "--no-collector.ebpf"] + args, work,
                                   name=self.label, tls=self.tls)
        else:
            self.server = NodeExporter(node_exporter, args, work, name=self.label, tls=self.tls)
        try:
            self.server.start()  # the exporter: /healthz answers (generous deadline); node_exporter: at once
        except RuntimeError as e:
            fail(f"{self.name}: {e}")
        self.proc, self.port, self.log = self.server.proc, self.server.port, self.server.log_path
        return self

    def stop(self):
        self.server.stop(15)


CLIENT_TLS = ssl.create_default_context()
CLIENT_TLS.check_hostname = False
CLIENT_TLS.verify_mode = ssl.CERT_NONE


class SlowPool:
    """CONNS slow connections per server, all driven by one selector loop on its own thread."""

    KINDS = ("idle", "slow-header", "slow-body")
    PAYLOAD = {"idle": b"", "slow-header": b"GET /metr",
               "slow-body": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n"}

    def __init__(self, servers):
        self.sel = selectors.DefaultSelector()
        self.servers = servers
        self.stop_flag = threading.Event()
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.established = {s.name: 0 for s in servers}
        self.reopened = {s.name: 0 for s in servers}
        self.failed_opens = {s.name: 0 for s in servers}
        self.conns = {}  # socket -> dict(server, kind, state)
        self.pending_open = [(s, self.KINDS[i % 3]) for s in servers for i in range(CONNS)]
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, server, kind):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", server.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            self.failed_opens[server.name] += 1
            return
        self.conns[s] = {"server": server, "kind": kind, "state": "connecting", "up": False}
        self.sel.register(s, selectors.EVENT_WRITE)

    def drop(self, s, reopen=True):
        c = self.conns.pop(s, None)
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        if c is None:
            return
        if c["up"]:
            with self.lock:
                self.established[c["server"].name] -= 1
        if reopen and not self.stop_flag.is_set():
            self.reopened[c["server"].name] += 1
            self.pending_open.append((c["server"], c["kind"]))

    def up(self, s, c):
        c["state"], c["up"] = "waiting", True
        self.sel.modify(s, selectors.EVENT_READ)
        with self.lock:
            self.established[c["server"].name] += 1
            if all(n >= CONNS for n in self.established.values()):
                self.ready.set()

    def send_payload(self, s, c):
        data = self.PAYLOAD[c["kind"]]
        try:
            if data:
                s.send(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            pass  # a few bytes into an empty socket buffer: does not happen; if it did, the client is just slower
        except OSError:
            return self.drop(s)
        self.up(s, c)

    def step(self, s, c):
        if c["state"] == "connecting":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.drop(s)
            if c["server"].tls and c["kind"] != "idle":
                self.sel.unregister(s)
                tls = CLIENT_TLS.wrap_socket(s, server_hostname="localhost", do_handshake_on_connect=False)
                self.conns[tls] = self.conns.pop(s)
                self.sel.register(tls, selectors.EVENT_WRITE)
                c["state"] = "handshake"
                return self.step(tls, c)
            return self.send_payload(s, c)
        if c["state"] == "handshake":
            try:
                s.do_handshake()
            except ssl.SSLWantReadError:
                return self.sel.modify(s, selectors.EVENT_READ)
            except ssl.SSLWantWriteError:
                return self.sel.modify(s, selectors.EVENT_WRITE)
            except (OSError, ssl.SSLError):
                return self.drop(s)
            return self.send_payload(s, c)
        # Waiting: readable means the server answered or closed; either way this one is replaced.
        try:
            if s.recv(4096):
                return self.drop(s)
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except (OSError, ssl.SSLError):
            pass
        self.drop(s)

    def trickle(self):
        for s, c in list(self.conns.items()):
            if c["kind"] == "slow-body" and c["up"]:
                try:
                    s.send(b"x")
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
                except OSError:
                    self.drop(s)

    def run(self):
        next_trickle = time.monotonic() + 1.0
        while not self.stop_flag.is_set():
            # At most 200 new connections per round, so a server that closes everything cannot spin this loop.
            batch, self.pending_open = self.pending_open[:200], self.pending_open[200:]
            for server, kind in batch:
                self.open(server, kind)
            for key, _ in self.sel.select(0.05):
                c = self.conns.get(key.fileobj)
                if c is not None:
                    self.step(key.fileobj, c)
            if time.monotonic() >= next_trickle:
                self.trickle()
                next_trickle += 1.0
        for s in list(self.conns):
            self.drop(s, reopen=False)

    def counts(self):
        with self.lock:
            return dict(self.established)


BROKEN_PAGES = []  # every page that failed the exposition check, whichever thread scraped it


def scrape(server):
    """One scrape on a new connection, as Prometheus asks for it: (ok, seconds, why); a page that fails the
    exposition check counts as a failed scrape and is kept in BROKEN_PAGES."""
    try:
        return timed_scrape(server.port, CLIENT_TLS if server.tls else None, timeout=5)
    except (ExpositionError, ParseError) as e:
        BROKEN_PAGES.append(str(e))
        return False, 0.0, str(e)


def phase(tls):
    mode = "tls" if tls else "plain"
    servers = [Server("epc_exporter", tls).start(), Server("node_exporter", tls).start()]
    pool = SlowPool(servers)
    results = {}
    try:
        t0 = time.monotonic()
        pool.thread.start()
        # All connections up (an overloaded server may never get there: then the scrapes show it).
        pool.ready.wait(timeout=20)
        setup_s = time.monotonic() - t0
        at_start = pool.counts()
        stats = {s.name: {"lat": [], "ok": 0, "n": 0, "threads": 0, "rss": 0, "fds": 0, "why": ""} for s in servers}

        def scraper(server):
            st = stats[server.name]
            end = time.monotonic() + PHASE_S
            next_at = time.monotonic()
            while time.monotonic() < end:
                ok, took, why = scrape(server)
                st["n"] += 1
                if why and not st["why"]:
                    st["why"] = why
                st["lat"].append(took)
                if ok and took <= SCRAPE_DEADLINE_S:
                    st["ok"] += 1
                ps = proc_status(server.proc.pid)
                st["threads"] = max(st["threads"], ps.get("Threads", 0))
                st["rss"] = max(st["rss"], ps.get("VmRSS", 0))
                st["fds"] = max(st["fds"], ps.get("fds", 0))
                next_at += SCRAPE_EVERY_S
                pool.stop_flag.wait(max(0.0, next_at - time.monotonic()))  # pacing, not synchronisation

        threads = [threading.Thread(target=scraper, args=(s,)) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in servers:
            st = stats[s.name]
            if s.proc.poll() is not None:
                fail(f"{s.name} ({mode}) died during the run (log: {s.log})")
            results[s.name] = st
            print(f"{mode:5} {s.name:13}: {st['ok']}/{st['n']} scrapes 200 within {SCRAPE_DEADLINE_S:.0f} s "
                  f"({100.0 * st['ok'] / max(1, st['n']):.1f} %), latency p50 {pct(st['lat'], 50) * 1000:.0f} ms "
                  f"p99 {pct(st['lat'], 99) * 1000:.0f} ms max {max(st['lat'], default=0) * 1000:.0f} ms; "
                  f"slow connections up {at_start[s.name]}/{CONNS} after {setup_s:.1f} s, "
                  f"{pool.reopened[s.name]} reopened after the server closed them; "
                  f"max threads {st['threads']}, RSS {st['rss']} KiB, fds {st['fds']}"
                  + (f"; first failure: {st['why']}" if st["why"] else ""))
    finally:
        pool.stop_flag.set()
        if pool.thread.is_alive():
            pool.thread.join(timeout=30)
        for s in servers:
            s.stop()
    return results


failures = []
for tls in (False, True):
    mode = "tls" if tls else "plain"
    r = phase(tls)["epc_exporter"]
    share = r["ok"] / max(1, r["n"])
    if r["n"] < 10:
        failures.append(f"{mode}: only {r['n']} scrapes ran")
    if share < WANT_OK:
        failures.append(f"{mode}: {r['ok']}/{r['n']} scrapes within {SCRAPE_DEADLINE_S:.0f} s "
                        f"({100 * share:.1f} % < {100 * WANT_OK:.0f} %)")
    if r["threads"] > MAX_THREADS:
        failures.append(f"{mode}: {r['threads']} threads > {MAX_THREADS}")
    if r["rss"] > MAX_RSS_KIB[mode]:
        failures.append(f"{mode}: RSS {r['rss']} KiB > {MAX_RSS_KIB[mode]} KiB")
shutil.rmtree(work, ignore_errors=True)
if BROKEN_PAGES:
    failures.append(f"{len(BROKEN_PAGES)} pages failed the exposition check; the first: {BROKEN_PAGES[0]}")
if failures:
    fail("; ".join(failures))
print("slow_clients_test: passed")

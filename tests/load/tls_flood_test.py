#!/usr/bin/env python3
"""A TLS connection flood cannot take the exporter past the DaemonSet's memory limit (issue 23, item 3): CONNS
clients complete a TLS handshake (no credentials needed) and hold their connections open, a new one whenever the
server closes one, while an authorized scraper (TLS + basic auth, bcrypt cost 10, a new connection each) scrapes
every 0.2 s. Then every flood connection closes.

The exporter runs in a memory cgroup limited like deploy/base/daemonset.yaml (128 MiB), where it finds its own
limit and derives its TLS connection cap from it; where no cgroup can be made (not root) it runs without one and
the same limit is checked against its RSS. Debian's node_exporter runs the same flood with the same web config
(without a cgroup: its figures are for comparison, not asserted).

Fails when the exporter dies, its peak memory (cgroup peak where there is one, else VmHWM) reaches the limit, an
authorized scrape is not 200 within the ServiceMonitor's scrapeTimeout (10 s), one open TLS connection costs
more than the bytes per connection it sizes its cap with (from its log), or 10 s after the flood's end it has not
given back at least two thirds of the memory the flood took. Prints per server: connections held, RSS before /
with the flood / peak / after, the share of scrapes 200 within 1 s and 10 s, latency.

usage: tls_flood_test.py <epc_exporter> <fixture rootfs> [connections=2000] [seconds held=15]
Exit 0 passed, 1 failed, 77 skipped (openssl or the descriptors for the connections missing).
"""
import base64
import os
import re
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
import warnings
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import (ExpositionError, Exporter, MemoryCgroup, NodeExporter, ParseError, fail,  # noqa: E402
                         node_exporter_binary, percentile as pct, proc_status, skip, timed_scrape)

exporter, fixture = sys.argv[1], os.path.abspath(sys.argv[2])
CONNS = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
HOLD_S = float(sys.argv[4]) if len(sys.argv) > 4 else 15.0
LIMIT = 128 << 20  # deploy/base/daemonset.yaml resources.limits.memory
SCRAPE_EVERY_S, DEADLINE_S, TIMEOUT_S = 0.2, 1.0, 10.0  # TIMEOUT_S: deploy/base/servicemonitor.yaml scrapeTimeout
SETTLE_S = 10.0  # the flood's end to "RSS after"
GOOD = "Basic " + base64.b64encode(b"prometheus:s3cret").decode()

if not shutil.which("openssl"):
    skip("openssl not installed")
need_fds = CONNS + 512
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < need_fds:
    skip(f"RLIMIT_NOFILE hard limit {hard} < {need_fds} needed for {CONNS} connections")
resource.setrlimit(resource.RLIMIT_NOFILE, (need_fds if hard == resource.RLIM_INFINITY else hard, hard))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt
    HASH = crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))

work = tempfile.mkdtemp(prefix="tls_flood.")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{work}/k.pem",
                "-out", f"{work}/c.pem", "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
with open(f"{work}/web.yml", "w") as f:
    f.write(f"tls_server_config:\n  cert_file: {work}/c.pem\n  key_file: {work}/k.pem\n"
            f"basic_auth_users:\n  prometheus: '{HASH}'\n")
CLIENT = ssl.create_default_context()
CLIENT.check_hostname = False
CLIENT.verify_mode = ssl.CERT_NONE


class Flood:
    """CONNS TLS connections that complete their handshake and then send nothing, driven by one selector loop;
    one the server closes is opened again (at most 200 new ones per round)."""

    def __init__(self, port):
        self.port, self.sel, self.conns = port, selectors.DefaultSelector(), {}
        self.stop_flag, self.ready = threading.Event(), threading.Event()
        self.up, self.handshakes, self.closed_by_server, self.to_open = 0, 0, 0, CONNS
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open_one(self):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            self.to_open += 1
            return
        try:
            t = CLIENT.wrap_socket(s, server_hostname="localhost", do_handshake_on_connect=False)
        except OSError:  # refused already (a server that died): tried again next round
            s.close()
            self.to_open += 1
            return
        self.conns[t] = "handshake"
        self.sel.register(t, selectors.EVENT_WRITE)

    def drop(self, t, reopen):
        state = self.conns.pop(t, None)
        try:
            self.sel.unregister(t)
        except (KeyError, ValueError):
            pass
        t.close()
        if state == "up":
            self.up -= 1
        if reopen and not self.stop_flag.is_set():
            self.closed_by_server += state == "up"
            self.to_open += 1

    def step(self, t):
        if self.conns[t] == "handshake":
            try:
                t.do_handshake()
            except ssl.SSLWantReadError:
                return self.sel.modify(t, selectors.EVENT_READ)
            except ssl.SSLWantWriteError:
                return self.sel.modify(t, selectors.EVENT_WRITE)
            except (OSError, ssl.SSLError):
                return self.drop(t, True)
            self.conns[t] = "up"
            self.up += 1
            self.handshakes += 1
            self.sel.modify(t, selectors.EVENT_READ)
            if self.up >= CONNS:
                self.ready.set()
            return
        try:  # readable while up: the server closed it (or sent a ticket: read and keep it)
            if t.recv(4096):
                return
        except ssl.SSLWantReadError:
            return
        except (OSError, ssl.SSLError):
            pass
        self.drop(t, True)

    def run(self):
        while not self.stop_flag.is_set():
            n, self.to_open = min(self.to_open, 200), max(0, self.to_open - 200)
            for _ in range(n):
                self.open_one()
            for key, _ in self.sel.select(0.05):
                if key.fileobj in self.conns:
                    self.step(key.fileobj)
        for t in list(self.conns):
            self.drop(t, False)


def scrape(port):
    """One authorized scrape over TLS on a new connection: (ok, seconds, why)."""
    return timed_scrape(port, CLIENT, {"Authorization": GOOD})


def phase(server, cgroup):
    try:
        server.start()
    except RuntimeError as e:
        fail(f"{server.name}: {e}")
    pid = server.proc.pid
    r = {"name": server.name}
    try:
        ok, _, why = scrape(server.port)
        if not ok:
            fail(f"{server.name}: first authorized scrape failed: {why}")
        base = proc_status(pid)
        r["rss0"], r["fds0"] = base.get("VmRSS", 0), base.get("fds", 0)
        flood = Flood(server.port)
        t0 = time.monotonic()
        flood.thread.start()
        flood.ready.wait(60)  # every connection up (bounded: a server at its cap never gets there)
        r["setup_s"], r["up_at_start"] = time.monotonic() - t0, flood.up
        at_full = proc_status(pid)
        r["rss_full"] = at_full.get("VmRSS", 0)
        lat, good, in_time, n, first_why, rss_max = [], 0, 0, 0, "", r["rss_full"]
        end = time.monotonic() + HOLD_S
        next_at = time.monotonic()
        while time.monotonic() < end:
            ok, took, why = scrape(server.port)
            n += 1
            lat.append(took)
            good += ok and took <= DEADLINE_S
            in_time += ok and took <= TIMEOUT_S
            if not (ok and took <= DEADLINE_S) and not first_why:
                first_why = why or f"{took:.2f} s"
            rss_max = max(rss_max, proc_status(pid).get("VmRSS", 0))
            next_at += SCRAPE_EVERY_S
            flood.stop_flag.wait(max(0.0, next_at - time.monotonic()))
        r.update(good=good, in_time=in_time, n=n, lat=lat, why=first_why, held=flood.up, reopened=flood.closed_by_server,
                 handshakes=flood.handshakes)
        flood.stop_flag.set()
        flood.thread.join(30)
        closed_at = time.monotonic()
        # After: polled until SETTLE_S after the flood's end (a measurement window, not a synchronisation).
        while time.monotonic() - closed_at < SETTLE_S:
            st = proc_status(pid)
            r["rss_after"], r["fds_after"] = st.get("VmRSS", 0), st.get("fds", 0)
            if server.proc.poll() is not None:
                break
            time.sleep(0.1)
        r["hwm"] = proc_status(pid).get("VmHWM", 0)
        r["rss_max"] = max(rss_max, r["hwm"])
        r["cgroup_peak"] = cgroup.peak() if cgroup else None
        r["died"] = server.proc.poll() is not None
    finally:
        server.stop()
    return r


def report(r):
    mib = lambda kib: kib / 1024
    peak = f", cgroup peak {r['cgroup_peak'] / 2**20:.1f} MiB" if r.get("cgroup_peak") else ""
    print(f"{r['name']:13}: {r['up_at_start']}/{CONNS} TLS connections up after {r['setup_s']:.1f} s, "
          f"{r['held']} held at the end, {r['reopened']} closed by the server and reopened; "
          f"RSS before {mib(r['rss0']):.1f} MiB, with the flood {mib(r['rss_full']):.1f} MiB, peak (VmHWM) "
          f"{mib(r['hwm']):.1f} MiB{peak}, {SETTLE_S:.0f} s after {mib(r['rss_after']):.1f} MiB; "
          f"authorized scrapes 200 within {DEADLINE_S:.0f} s: {r['good']}/{r['n']} "
          f"({100.0 * r['good'] / max(1, r['n']):.1f} %), within {TIMEOUT_S:.0f} s: {r['in_time']}/{r['n']}, p50 {pct(r['lat'], 50) * 1e3:.0f} ms "
          f"p99 {pct(r['lat'], 99) * 1e3:.0f} ms" + (f"; first failure: {r['why']}" if r["why"] else "")
          + ("; DIED" if r["died"] else ""), flush=True)


cgroup = MemoryCgroup(f"epc-tls-flood-{os.getpid()}", LIMIT).create()
where = (f"in a cgroup v{cgroup.version} memory cgroup limited to {LIMIT >> 20} MiB ({cgroup.path})" if cgroup else
         f"without a cgroup ({MemoryCgroup('x', 0).create() or 'none'}: RSS checked against {LIMIT >> 20} MiB)")
print(f"TLS flood: {CONNS} connections complete a handshake and stay open for {HOLD_S:.0f} s, an authorized scrape "
      f"(TLS + basic auth) every {SCRAPE_EVERY_S} s; {os.cpu_count()} CPUs; the exporter {where}", flush=True)
failures = []
try:
    exp = Exporter(exporter, [f"--path.rootfs={fixture}", "--no-collector.ebpf", f"--web.config.file={work}/web.yml"],
                   work, name="epc_exporter", tls=True, preexec=cgroup.join if cgroup else None)
    ours = phase(exp, cgroup)
    report(ours)
    log = exp.log_text()
    ne = node_exporter_binary()
    if ne:
        report(phase(NodeExporter(ne, [f"--web.config.file={work}/web.yml"], work, tls=True), None))
    else:
        print("note: prometheus-node-exporter not installed: no reference figures")
except (ExpositionError, ParseError) as e:
    fail(str(e))
finally:
    if cgroup:
        cgroup.remove()

m = re.search(r'msg="TLS connection cap".* max_tls_connections=(\d+) .*bytes_per_connection=(\d+)', log)
if ours["died"]:
    failures.append("the exporter died under the flood (OOM-killed at its cgroup limit?)")
peak = ours["cgroup_peak"] or ours["hwm"] * 1024
if peak >= LIMIT:
    failures.append(f"peak memory {peak >> 20} MiB reached the {LIMIT >> 20} MiB limit")
if ours["n"] < 10 or ours["in_time"] != ours["n"]:
    failures.append(f"{ours['n'] - ours['in_time']} of {ours['n']} authorized scrapes not 200 within {TIMEOUT_S:.0f} s")
if not m:
    failures.append("no 'TLS connection cap' line in the exporter's log")
else:
    cap, per = int(m.group(1)), int(m.group(2))
    print(f"the exporter's TLS connection cap: {cap} (sized at {per} bytes per connection)")
    held = min(ours["up_at_start"], cap)
    if held >= 100:
        cost = (ours["rss_full"] - ours["rss0"]) * 1024 / held
        print(f"one open TLS connection costs the exporter {cost / 1024:.1f} KiB ({held} held)")
        if cost > per:
            failures.append(f"an open TLS connection costs {cost:.0f} bytes, more than the {per} its cap assumes")
# What the flood took, and what is kept: pages pinned by the few blocks that outlive a connection (asio keeps the
# descriptor state of every socket it has seen for reuse) between the freed ones; malloc_trim returns the rest.
took, kept = ours["rss_full"] - ours["rss0"], ours["rss_after"] - ours["rss0"]
print(f"memory the flood took: {took / 1024:.1f} MiB; kept {SETTLE_S:.0f} s after it: {kept / 1024:.1f} MiB")
if kept * 3 > took:
    failures.append(f"{kept / 1024:.1f} MiB of the {took / 1024:.1f} MiB the flood took still held "
                    f"{SETTLE_S:.0f} s after it (more than a third)")
shutil.rmtree(work, ignore_errors=True)
if failures:
    fail("; ".join(failures))
print("tls_flood_test: passed")

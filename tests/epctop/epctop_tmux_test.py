#!/usr/bin/env python3
"""epctop under tmux against the real exporter on the aks-dcsv3 fixture node.

The exporter runs on a random loopback port with the fixture rootfs, its CPUID dump and a copy of the eBPF replay
file whose counters this test advances at known per-workload rates (so rates are non-zero and their ratios known).
epctop runs in detached tmux sessions (80x24 and 160x40) on a private tmux server; keys are sent with send-keys and
the screen read with capture-pane. Every wait polls the screen until the expected text appears, with a deadline
(EPCTOP_TEST_DEADLINE seconds, default 20): no fixed sleep is used to synchronise, so a loaded machine only makes
the test slower.

Checked: values, sort order per key, rates after two scrapes (ranges and exact ratios between workloads), the
namespace filter, pod/container/enclave levels (the enclave level without per-enclave data says so), help, pause,
the error line while the exporter is stopped and the recovery when it is back with reset counters, identity columns
when sgx_enclave_info is present, --once and --batch output, and bad input (HTML, a page without sgx_ series,
truncated and huge bodies, a hanging server, an unreachable port): a message on the screen, retries, no crash.

  epctop_tmux_test.py --epctop BIN --exporter BIN --source-dir DIR [--keep]
Exit 0 pass, 1 fail, 77 skip (tmux or a binary missing).
"""
import argparse
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import ExpositionError, ParseError, free_port, scrape, stop_process  # noqa: E402

DEADLINE = float(os.environ.get("EPCTOP_TEST_DEADLINE", "20"))

# Counter increments per second, per workload of the replay file (matched by a substring of its cgroup path).
DB, WEB, QUOTE = "pod3f1c2a9e", "podb7e4d2c1", "podc0ffee00"
TICK = {
    DB: {"evicted_pages": 100, "loaded_back_pages": 80, "page_faults": 300, "page_fault_ns": 500_000_000},
    WEB: {"evicted_pages": 500, "loaded_back_pages": 400, "page_faults": 150, "page_fault_ns": 0},
    "node": {"reclaim_ksgxd": 4, "reclaim_direct": 1},
}


class Results:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok    {what}")
        else:
            self.failed += 1
            print(f"FAIL  {what}" + (f"\n{detail}" if detail else ""))
        return cond


class TickingReplay:
    """Rewrites a copy of the replay file every 0.05 s with the counters advanced by TICK per second since t0
    (atomic rename: the exporter re-reads it on every scrape). rebase(zero=True) makes counters restart from 0,
    as a restarted exporter's would."""

    def __init__(self, src, dst):
        # Without the fixture's enclave records: the screens below are those of an exporter without per-enclave
        # series; the identity columns and the enclave level are driven by the fake server's "identity" mode.
        with open(src) as fh:
            self.lines = [l for l in fh.read().splitlines() if not l.startswith("enclave ")]
        self.dst = dst
        self.t0 = time.monotonic()
        self.zero = False
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()  # rebase() writes from the test's thread while run() ticks: one tmp file
        self.stop = threading.Event()
        self.write()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def rebase(self, zero):
        with self.lock:
            self.t0 = time.monotonic()
            self.zero = zero
        self.write()

    def render(self):
        with self.lock:
            dt, zero = time.monotonic() - self.t0, self.zero
        out = []
        for line in self.lines:
            words = line.split(" ")
            if words and words[0] in ("workload", "node"):
                key = "node" if words[0] == "node" else next((k for k in TICK if k in words[1]), None)
                for i, w in enumerate(words):
                    k, eq, v = w.partition("=")
                    if not eq or not v.isdigit():
                        continue
                    counter = k in ("evicted_pages", "loaded_back_pages", "page_faults", "page_fault_ns",
                                    "reclaim_ksgxd", "reclaim_direct")
                    base = 0 if (zero and counter) else int(v)
                    rate = TICK.get(key, {}).get(k, 0) if key else 0
                    words[i] = f"{k}={base + int(rate * dt)}"
            out.append(" ".join(words))
        return "\n".join(out) + "\n"

    def write(self):
        tmp = self.dst + ".tmp"
        with self.write_lock:
            with open(tmp, "w") as fh:
                fh.write(self.render())
            os.replace(tmp, self.dst)

    def run(self):
        while not self.stop.wait(0.05):
            self.write()


class Exporter:
    def __init__(self, binary, fixture, replay, port, logdir):
        self.cmd = [binary, f"--web.listen-address=127.0.0.1:{port}", f"--path.rootfs={fixture}",
                    f"--collector.platform.cpuid-file={fixture}/cpuid.txt",
                    f"--collector.ebpf.replay-file={replay}", "--log.level=warn"]
        self.port, self.logdir, self.proc, self.starts = port, logdir, None, 0

    def start(self):
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:  # the port may be held a moment after a stop
            self.starts += 1
            log = open(os.path.join(self.logdir, f"exporter-{self.starts}.log"), "w")
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                        if r.status == 200:
                            return
                except OSError:
                    time.sleep(0.05)
            time.sleep(0.1)
        raise RuntimeError("exporter did not come up: " + " ".join(self.cmd))

    def stop(self):
        stop_process(self.proc)


class BadServer(http.server.ThreadingHTTPServer):
    """Serves what `mode` says on every path; counts requests (to see epctop retry)."""
    daemon_threads = True

    def __init__(self, upstream):
        self.mode, self.requests, self.upstream, self.release = "html", 0, upstream, threading.Event()
        self.broken = []  # upstream pages that failed the exposition check (main() fails on any)
        super().__init__(("127.0.0.1", 0), BadHandler)

    def upstream_page(self):
        """The exporter's page as bytes, taken through the exposition check like every scrape of the tests."""
        try:
            status, text, _ = scrape(self.upstream, timeout=5)
        except (ExpositionError, ParseError) as e:
            self.broken.append(str(e))
            raise
        if status != 200:
            raise OSError(f"upstream answered {status}")
        return text.encode()


class BadHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, body, ctype="text/plain; version=0.0.4", length=None):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        srv = self.server
        srv.requests += 1
        m = srv.mode
        try:
            if m == "html":
                self.send(b"<!DOCTYPE html>\n<html><body>Grafana</body></html>\n", "text/html; charset=utf-8")
            elif m == "html-as-text":
                self.send(b"<!DOCTYPE html>\n<html><body>Grafana</body></html>\n")
            elif m == "not-exporter":
                self.send(b"# TYPE node_load1 gauge\nnode_load1 0.5\nnode_load5 0.4\n")
            elif m == "truncated-length":  # Content-Length promises more than is sent
                body = srv.upstream_page()
                self.send(body[: len(body) // 2], length=len(body))
                self.close_connection = True
            elif m == "truncated-close":  # no Content-Length, connection closed in the middle of a sample line
                body = srv.upstream_page()
                cut = body.index(b"\nsgx_epc_resident_bytes{") + 12
                self.send(body[:cut])
                self.close_connection = True
            elif m == "huge":  # 64 MiB of valid-looking samples, more than the 16 MiB cap
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                chunk = b"sgx_enclaves{cgroup=\"x\"} 1\n" * 4096
                for _ in range(64 * 1024 * 1024 // len(chunk)):
                    self.wfile.write(chunk)
            elif m == "hang":
                srv.release.wait(60)
            elif m == "proxy":
                self.send(srv.upstream_page())
            elif m == "long-names":  # the exporter's page with a long namespace and long pod names
                body = srv.upstream_page()
                for old, new in LONG_NAMES.items():
                    body = body.replace(old.encode(), new.encode())
                self.send(body)
            elif m == "identity":  # the exporter's page plus enclave identity and a per-enclave series
                body = srv.upstream_page()
                body += (b'sgx_enclave_info{namespace="sgx-apps",pod="enclave-db-0",container="db",'
                         b'mrenclave="c0ffee0123456789abcdef",mrsigner="5151515151515151aa",isv_svn="7",debug="false"} 1\n'
                         b'sgx_enclave_info{namespace="sgx-apps",pod="attest-web-7d9f8c6b5-xk2lp",container="web",'
                         b'mrenclave="beef00112233445566",mrsigner="5151515151515151aa",isv_svn="2",debug="true"} 1\n'
                         b'sgx_epc_resident_bytes{namespace="sgx-apps",pod="enclave-db-0",container="db",'
                         b'mrenclave="c0ffee0123456789abcdef"} 1073741824\n')
                self.send(body)
        except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
            pass  # ValueError: a page that failed the check, recorded in srv.broken


LONG_NAMES = {'namespace="sgx-apps"': 'namespace="confidential-computing-prod"',
              'pod="attest-web-7d9f8c6b5-xk2lp"': 'pod="attestation-frontend-web-7d9f8c6b5-xk2lp"',
              'pod="enclave-db-0"': 'pod="confidential-enclave-db-0"'}


class Tmux:
    """A private tmux server (own socket): never touches the user's sessions."""

    def __init__(self, tmpdir):
        self.sock = os.path.join(tmpdir, "tmux.sock")
        self.tmpdir = tmpdir

    def run(self, *args, check=True):
        return subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True,
                              check=check, timeout=30)

    def start(self, name, cmd, w, h):
        if os.path.exists(self.status_file(name)):
            os.unlink(self.status_file(name))
        env = {"TERM": "screen", "LANG": "C.UTF-8"}
        self.run("new-session", "-d", "-s", name, "-x", str(w), "-y", str(h),
                 *sum((["-e", f"{k}={v}"] for k, v in env.items()), []), "sh", "-c",
                 # A crash leaves a core in the test's directory (kept with --keep). The shell records epctop's exit
                 # status itself: tmux's pane_dead_status stays empty when it sees the pty close before it reaps
                 # the process (seen once in ~14 runs under load).
                 f"ulimit -c unlimited 2>/dev/null; cd {self.tmpdir}; {cmd}; echo $? > {self.status_file(name)}")
        self.run("set-option", "-t", name, "remain-on-exit", "on")

    def screen(self, name):
        return self.run("capture-pane", "-p", "-t", name).stdout

    def keys(self, name, *keys):
        self.run("send-keys", "-t", name, *keys)

    def status_file(self, name):
        return os.path.join(self.tmpdir, f"{name}.exit-status")

    def dead(self, name):
        """(exited, status): status "0".."127", "signal N", or "" while epctop runs (the shell writes the file)."""
        try:
            with open(self.status_file(name)) as fh:
                code = fh.read().strip()
        except OSError:
            code = ""
        if code:
            return True, (f"signal {int(code) - 128}" if code.isdigit() and int(code) > 128 else code)
        r = self.run("display-message", "-p", "-t", name, "#{pane_dead}", check=False)
        if r.returncode != 0 or r.stdout.strip() == "1":
            return True, "?"  # the pane (or its shell) went away without a status: a failure
        return False, ""

    def why(self, name):
        """The pane's process as the kernel sees it, for a failure message."""
        pid = self.run("display-message", "-p", "-t", name, "#{pane_pid}", check=False).stdout.strip()
        try:
            with open(f"/proc/{pid}/status") as fh:
                st = [l for l in fh.read().splitlines() if l.startswith(("State", "Threads"))]
            return f"pid {pid}: " + ", ".join(st)
        except OSError:
            cores = [f for f in os.listdir(self.tmpdir) if f.startswith("core")]
            return f"pid {pid} gone; cores in {self.tmpdir}: {cores}"

    def kill(self):
        self.run("kill-server", check=False)


def wait_screen(tm, name, pred, what, res, deadline=None):
    """Polls the screen until pred(screen) holds; records the check; returns the last screen."""
    end = time.monotonic() + (deadline or DEADLINE)
    scr = ""
    while time.monotonic() < end:
        scr = tm.screen(name)
        try:
            if pred(scr):
                res.check(True, what)
                return scr
        except (ValueError, KeyError, IndexError):
            pass
        if tm.dead(name)[0]:
            break
        time.sleep(0.1)
    dead, status = tm.dead(name)
    res.check(False, what, f"--- screen ({'pane exited ' + status if dead else 'after deadline'}) ---\n{scr}")
    return scr


# Column titles: epctop writes the long ones where they fit and short ones (each column as wide as its numbers)
# on a narrow screen.
SHORT = {"RESID": "RESIDENT", "SWAP": "SWAPPED", "EVICT": "EVICT/s", "LOADB": "LOADB/s", "FAULT": "FAULT/s",
         "STALL": "STALL/s"}


def table(scr):
    """WORKLOAD table rows: name -> {column title (long form): cell}; and the names in screen order."""
    lines = scr.splitlines()
    rows = {}
    order = []
    start = next(i for i, l in enumerate(lines) if l.startswith("WORKLOAD"))
    titles = [SHORT.get(t, t) for t in lines[start].split()[1:]]
    for l in lines[start + 1:]:
        if not l.strip() or l.startswith("..."):
            break
        f = l.split()
        rows[f[0]] = dict(zip(titles, f[1:]))
        order.append(f[0])
    return rows, order


def error_text(scr):
    """The status area's error, its wrapped lines joined ("" when there is none)."""
    lines = scr.rstrip("\n").splitlines()
    at = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("ERROR: ")), None)
    return "" if at is None else " ".join(l.strip() for l in lines[at:])


def num(s):
    m = re.fullmatch(r"(-?[0-9.]+)([kMG]?)", s)
    if not m:
        raise ValueError(s)
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]


COLS = ["ENCL", "RESIDENT", "SWAPPED", "EVICT/s", "LOADB/s", "FAULT/s", "STALL/s"]


def col(rows, name, c):
    return rows[name][c]


def near(v, want, tol):
    return abs(v - want) <= tol * want


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epctop", required=True)
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("SKIP: tmux not installed (Debian package tmux; scripts/install-deps.sh test installs it)")
        return 77
    for b in (args.epctop, args.exporter):
        if not os.access(b, os.X_OK):
            print(f"SKIP: {b} not built")
            return 77
    src = os.path.abspath(args.source_dir)
    fixture = os.path.join(src, "tests/fixtures/aks-dcsv3")
    tmp = tempfile.mkdtemp(prefix="epctop-tmux-")
    res = Results()
    tm = Tmux(tmp)
    ticking = TickingReplay(os.path.join(src, "tests/fixtures/ebpf/aks-dcsv3.txt"), os.path.join(tmp, "replay.txt"))
    port = free_port()
    exp = Exporter(args.exporter, fixture, ticking.dst, port, tmp)
    url = f"http://127.0.0.1:{port}/metrics"
    bad = BadServer(url)
    threading.Thread(target=bad.serve_forever, daemon=True).start()
    bad_url = f"http://127.0.0.1:{bad.server_address[1]}/metrics"
    top = os.path.abspath(args.epctop)
    try:
        exp.start()
        run_live_80x24(tm, res, top, url, exp, ticking)
        run_long_names_80x24(tm, res, top, bad, bad_url)
        run_wide_identity(tm, res, top, bad, bad_url)
        run_batch(res, top, url)
        run_bad_input(tm, res, top, bad, bad_url)
        run_tls(tm, res, top, args.exporter, fixture, ticking.dst, tmp)
        # What epctop read, as the tests read it: one more page through the exposition check.
        try:
            res.check(scrape(url)[0] == 200, "the exporter's page passes the exposition check")
        except (ExpositionError, ParseError) as e:
            res.check(False, "the exporter's page passes the exposition check", str(e))
        res.check(not bad.broken, "every upstream page the test server relayed passes the exposition check",
                  "\n".join(bad.broken[:3]))
    except Exception as e:  # a harness failure is a test failure, with the reason
        import traceback
        traceback.print_exc()
        res.check(False, f"harness: {e}")
    finally:
        tm.kill()
        bad.release.set()
        bad.shutdown()
        exp.stop()
        ticking.stop.set()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


def run_live_80x24(tm, res, top, url, exp, ticking):
    s = "live"
    tm.start(s, f"{top} -d 1 {url}", 80, 24)
    # Every name whole at 80 columns: the numbers' columns are as wide as the numbers, the names get the rest.
    db, web, quote = "sgx-apps/enclave-db-0/db", "sgx-apps/attest-web-7d9f8c6b5-xk2lp/web", "default/sgx-quote-job-9tq4z/quote"

    scr = wait_screen(tm, s, lambda x: db in x, "80x24: first scrape shows the workloads", res)
    rows, order = table(scr)
    res.check(col(rows, db, "RESIDENT") == "2.0G" and col(rows, db, "SWAPPED") == "512M"
              and col(rows, web, "RESIDENT") == "256M" and col(rows, web, "ENCL") == "2",
              "80x24: resident, swapped and enclaves of the fixture's pods", scr)
    res.check(order == [db, web, quote, "system.slice/aesmd.service", "-/d4c3b2a1-0f9e-4d8c-b7a6-958473625140/~"],
              "80x24: default sort is RESIDENT descending; pod names whole (the pod uid's container cut to ~)",
              "\n".join(order))
    res.check(all(c in rows[db] for c in COLS), "80x24: no column hidden", scr)
    res.check(scr.rstrip("\n").splitlines()[-1] == "h help  q quit  / namespace  1 2 3 level  sort: n e r w v b f t",
              "80x24: the whole key hint on the status line", scr)
    lines = scr.splitlines()
    res.check(lines[0].startswith(f"epctop 127.0.0.1:{exp.port}  in-kernel SGX1 SGX2 FLC  exporter 0.1.0"),
              "80x24: header names node, driver and exporter", lines[0])
    res.check(lines[1].startswith("EPC 64G  used 2.3G  free 62G ["), "80x24: EPC capacity, used, free, bar", lines[1])
    res.check(lines[2] == "NUMA  0: 32G  1: 32G  (used/free node-wide only)", "80x24: NUMA capacity line", lines[2])
    probes = [l for l in ticking.lines if l.startswith("probe ")]
    attached = sum(1 for l in probes if l.endswith(" attached"))
    res.check(f"vEPC 4.0M  probes {attached}/{len(probes)}" in lines[3], "80x24: vEPC and probes attached (the "
              f"fixture's {attached} of {len(probes)})", lines[3])
    res.check(len(lines) <= 24 and all(len(l) <= 80 for l in lines), "80x24: screen fits", scr)

    # Rates after two scrapes: per TICK, db evicts 100/s and web 500/s; the ratio does not depend on the interval.
    def rates_ready(x):
        r, _ = table(x)
        return num(col(r, db, "EVICT/s")) > 0 and num(col(r, web, "EVICT/s")) > 0
    scr = wait_screen(tm, s, rates_ready, "80x24: rates appear after two scrapes", res)
    rows, _ = table(scr)
    ev_db, ev_web = num(col(rows, db, "EVICT/s")), num(col(rows, web, "EVICT/s"))
    res.check(near(ev_db, 100, 0.3) and near(ev_web, 500, 0.3), f"80x24: evictions/s near 100 and 500 ({ev_db}, {ev_web})", scr)
    res.check(near(ev_web / ev_db, 5, 0.15), f"80x24: evictions/s ratio web/db = 5 ({ev_web / ev_db:.3f})")
    lb, flt, st = num(col(rows, db, "LOADB/s")), num(col(rows, db, "FAULT/s")), num(col(rows, db, "STALL/s"))
    res.check(near(lb, 80, 0.3) and near(flt, 300, 0.3) and near(st, 0.5, 0.3),
              f"80x24: load-backs/s, faults/s, stall s/s of db near 80, 300, 0.5 ({lb}, {flt}, {st})", scr)
    res.check(col(rows, quote, "EVICT/s") == "0", "80x24: a workload that does not page shows 0/s", scr)
    m = re.search(r"reclaim/s ksgxd (\S+) direct (\S+)", scr)
    res.check(m and near(num(m.group(1)), 4, 0.35) and near(num(m.group(2)), 1, 0.6),
              f"80x24: reclaim passes/s near 4 (ksgxd) and 1 (direct): {m.group(0) if m else None}", scr)

    # Sorting.
    tm.keys(s, "v")
    scr = wait_screen(tm, s, lambda x: "sort EVICT/s desc" in x, "key v: sort by evictions/s", res)
    _, order = table(scr)
    res.check(order[:2] == [web, db], "key v: web (500/s) above db (100/s)", "\n".join(order))
    tm.keys(s, "v")
    scr = wait_screen(tm, s, lambda x: "sort EVICT/s asc" in x, "key v again: ascending", res)
    _, order = table(scr)
    res.check(order[-2:] == [db, web], "key v again: db and web last", "\n".join(order))
    tm.keys(s, "n")
    scr = wait_screen(tm, s, lambda x: "sort WORKLOAD asc" in x, "key n: sort by name", res)
    _, order = table(scr)
    res.check(order == sorted(order), "key n: rows in name order", "\n".join(order))
    tm.keys(s, "t")
    scr = wait_screen(tm, s, lambda x: "sort STALL/s desc" in x, "key t: sort by stall", res)
    res.check(table(scr)[1][0] == db, "key t: db (0.5 s/s) first", scr)
    tm.keys(s, "r")
    wait_screen(tm, s, lambda x: "sort RESIDENT desc" in x, "key r: back to resident", res)

    # Namespace filter.
    tm.keys(s, "/")
    wait_screen(tm, s, lambda x: "namespace filter: _" in x, "key /: filter prompt", res)
    tm.keys(s, "-l", "sgx-apps")
    tm.keys(s, "Enter")
    scr = wait_screen(tm, s, lambda x: "ns sgx-apps  2 rows" in x, "filter sgx-apps: 2 rows", res)
    res.check(set(table(scr)[1]) == {db, web}, "filter sgx-apps: only that namespace's rows", scr)
    tm.keys(s, "/")
    wait_screen(tm, s, lambda x: "namespace filter: sgx-apps_" in x, "key /: prompt holds the filter", res)
    tm.keys(s, *["BSpace"] * 8, "Enter")
    wait_screen(tm, s, lambda x: "ns all  5 rows" in x, "empty filter: all rows back", res)

    # Levels.
    tm.keys(s, "1")
    scr = wait_screen(tm, s, lambda x: "level pod" in x, "key 1: pod level", res)
    rows, _ = table(scr)
    res.check("sgx-apps/enclave-db-0" in rows and db not in rows, "pod level: one row per pod", scr)
    tm.keys(s, "3")
    scr = wait_screen(tm, s, lambda x: "no per-enclave data" in x, "key 3: enclave level without data says so", res)
    res.check("enclave level: no per-enclave series" in scr.rstrip("\n").splitlines()[-1], "key 3: status line explains",
              scr)
    tm.keys(s, "2")
    wait_screen(tm, s, lambda x: "level container" in x and db in x, "key 2: container level", res)

    # Help.
    tm.keys(s, "h")
    scr = wait_screen(tm, s, lambda x: "epctop keys" in x and "reverse the sort order" in x, "key h: help", res)
    res.check("was reset, its new value is what it counted since. '-': no data (yet)." in scr
              and "  /                namespace filter: Enter applies, Esc cancels, empty clears" in scr,
              "key h: help lines whole at 80 columns", scr)
    tm.keys(s, "x")
    wait_screen(tm, s, lambda x: "epctop keys" not in x and db in x, "any key closes help", res)

    # Pause: the data stops updating (its age grows past the interval), resumes after.
    def age(x):
        m = re.search(r"scrape ([0-9.]+)s ago", x)
        return float(m.group(1)) if m else -1
    tm.keys(s, "p")
    wait_screen(tm, s, lambda x: "PAUSED" in x.splitlines()[0] and age(x) >= 3, "key p: paused, data ages", res)
    tm.keys(s, "p")
    wait_screen(tm, s, lambda x: "PAUSED" not in x and 0 <= age(x) < 2.5, "key p again: live again", res)

    # Exporter stopped: error line, last data kept; back with reset counters: recovers, rates not negative.
    exp.stop()
    scr = wait_screen(tm, s, lambda x: "connect" in error_text(x).lower() and "data shown is" in error_text(x),
                      "exporter stopped: error lines, nothing of them cut", res)
    res.check(re.search(r"Couldn't connect to server; retry in \d+s; data shown is \S+ old$", error_text(scr)),
              "exporter stopped: the whole error with retry and the data's age", scr)
    res.check(db in scr, "exporter stopped: last data still shown", scr)
    res.check(not tm.dead(s)[0], "exporter stopped: epctop still running")
    ticking.rebase(zero=True)
    exp.start()

    def recovered(x):
        r, _ = table(x)
        return not error_text(x) and "scrape" in x and age(x) < 2.5 and col(r, db, "EVICT/s") != "-"
    scr = wait_screen(tm, s, recovered, "exporter back: error gone, data fresh", res)
    rows, _ = table(scr)
    v = col(rows, db, "EVICT/s")
    res.check(not v.startswith("-") and num(v) < 2000, f"counter reset: rate from the new value, not negative ({v})", scr)
    scr = wait_screen(tm, s, lambda x: near(num(col(table(x)[0], db, "EVICT/s")), 100, 0.3),
                      "after the reset: rates settle at the tick rate again", res)

    tm.keys(s, "q")
    end = time.monotonic() + DEADLINE
    # tmux marks the pane dead when the pty closes and fills in the status when it has reaped the process.
    while time.monotonic() < end and not tm.dead(s)[1]:
        time.sleep(0.05)
    res.check(tm.dead(s) == (True, "0"), f"key q: exits 0 ({tm.dead(s)})", tm.why(s))


def run_long_names_80x24(tm, res, top, bad, bad_url):
    """Long namespace and pod names at 80x24: every pod name whole (the namespace is cut first, then the least useful
    column hidden), every line within 80 columns, the status line whole."""
    s = "long"
    bad.mode = "long-names"
    tm.start(s, f"{top} -d 1 {bad_url}", 80, 24)
    pods = ["attestation-frontend-web-7d9f8c6b5-xk2lp", "confidential-enclave-db-0", "sgx-quote-job-9tq4z"]
    scr = wait_screen(tm, s, lambda x: "confidential-enclave-db-0" in x, "long names 80x24: first scrape", res)
    rows, order = table(scr)
    for pod in pods:
        res.check(any(f"/{pod}/" in name for name in order), f"long names 80x24: pod {pod} whole", scr)
    res.check(any(name.startswith("confidential-com~/confidential-enclave-db-0/") for name in order),
              "long names 80x24: the namespace is what gets cut", "\n".join(order))
    lines = scr.rstrip("\n").splitlines()
    res.check(len(lines) <= 24 and all(len(l) <= 80 for l in lines), "long names 80x24: screen fits", scr)
    res.check(lines[-1] in ("1 column hidden (wider terminal)  h help  q quit",
                            "h help  q quit  / namespace  1 2 3 level  sort: n e r w v b f t"),
              "long names 80x24: status line whole", lines[-1])
    res.check(all(c in rows[order[0]] for c in ("RESIDENT", "EVICT/s", "FAULT/s", "STALL/s")),
              "long names 80x24: resident and the rates stay", scr)
    tm.keys(s, "q")


def run_wide_identity(tm, res, top, bad, bad_url):
    s = "wide"
    bad.mode = "identity"
    tm.start(s, f"{top} -d 1 {bad_url}", 160, 40)
    scr = wait_screen(tm, s, lambda x: "sgx-apps/attest-web-7d9f8c6b5-xk2lp/web" in x,
                      "160x40: full names, not truncated", res)
    header = next(l for l in scr.splitlines() if l.startswith("WORKLOAD"))
    res.check(header.split() == ["WORKLOAD"] + COLS + ["MRENCLAVE", "MRSIGNER", "SVN", "DBG"],
              "160x40: identity columns appear with sgx_enclave_info", header)
    rows, _ = table(scr)
    ident = ["MRENCLAVE", "MRSIGNER", "SVN", "DBG"]
    res.check([rows["sgx-apps/enclave-db-0/db"][c] for c in ident] == ["c0ffee012345", "515151515151", "7", "no"],
              "160x40: identity values of db (debug=\"false\": no)", scr)
    res.check(rows["sgx-apps/attest-web-7d9f8c6b5-xk2lp/web"]["DBG"] == "yes", "160x40: debug=\"true\": yes", scr)
    res.check(rows["sgx-apps/enclave-db-0/db"]["RESIDENT"] == "2.0G", "160x40: per-enclave series not added to the "
              "container", scr)
    res.check([rows["default/sgx-quote-job-9tq4z/quote"][c] for c in ident] == ["-", "-", "-", "-"],
              "160x40: no identity: '-'", scr)
    tm.keys(s, "3")
    scr = wait_screen(tm, s, lambda x: "level enclave" in x and "sgx-apps/enclave-db-0/db/c0ffee012345" in x,
                      "160x40: enclave level rows", res)
    rows, _ = table(scr)
    res.check(rows["sgx-apps/enclave-db-0/db/c0ffee012345"]["RESIDENT"] == "1.0G", "enclave level: per-enclave resident",
              scr)
    res.check(len(rows) == 2, "enclave level: one row per enclave", scr)
    tm.keys(s, "m")
    wait_screen(tm, s, lambda x: "sort MRENCLAVE desc" in x, "key m: sort by MRENCLAVE", res)
    tm.keys(s, "q")


def run_batch(res, top, url):
    # Not a terminal (a pipe): the lines are as wide as the content, nothing cut.
    r = subprocess.run([top, "--once", url], capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    res.check(r.returncode == 0 and len(lines) == 11 and lines[5].split() == ["WORKLOAD"] + COLS
              and lines[6].startswith("sgx-apps/enclave-db-0/db")
              and "-/d4c3b2a1-0f9e-4d8c-b7a6-958473625140/92d7eda35489" in r.stdout and "~" not in r.stdout
              and max(len(l) for l in lines) == len(lines[0]),
              "--once into a pipe: one snapshot as wide as its content, nothing cut, exit 0", r.stdout + r.stderr)
    r = subprocess.run([top, "--once", "--width", "80", url], capture_output=True, text=True, timeout=60)
    res.check(r.returncode == 0 and all(len(l) <= 80 for l in r.stdout.splitlines())
              and "sgx-apps/attest-web-7d9f8c6b5-xk2lp/web" in r.stdout,
              "--once --width 80: 80 columns, names whole", r.stdout + r.stderr)
    r = subprocess.run([top, "--batch", "-n", "2", "-d", "1", "--width", "160", "--level", "pod", "--sort", "evict", url],
                       capture_output=True, text=True, timeout=60)
    frames = r.stdout.split("\n\n")
    ok = r.returncode == 0 and len(frames) == 2
    if ok:
        rows, order = table(frames[1])
        ok = order[0] == "sgx-apps/attest-web-7d9f8c6b5-xk2lp" and num(col(rows, order[0], "EVICT/s")) > 0
        ok = ok and col(table(frames[0])[0], order[0], "EVICT/s") == "-"
    res.check(ok, "--batch -n 2: second frame has rates, pod level, sorted by evictions", r.stdout + r.stderr)
    port = free_port()
    r = subprocess.run([top, "--once", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
    res.check(r.returncode == 1 and "Couldn't connect" in r.stderr and "ERROR: " in r.stdout
              and "Couldn't connect to server; retry in" in r.stdout,
              "--once, unreachable port: exit 1, message on stderr and whole in the snapshot", r.stdout + r.stderr)
    r = subprocess.run([top, "--bogus"], capture_output=True, text=True, timeout=60)
    res.check(r.returncode == 2 and "unknown option --bogus" in r.stderr, "bad flag: exit 2 and a message", r.stderr)


def make_tls(tmp):
    """CA, server certificate for 127.0.0.1, client certificate, a bcrypt hash: None when openssl or bcrypt is
    missing (the TLS checks are then skipped with the reason)."""
    if not shutil.which("openssl"):
        return None, "openssl not installed"
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import crypt
        pw_hash = crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024))
    except Exception as e:  # noqa: BLE001 - any failure means: no bcrypt here
        return None, f"no bcrypt in python3 crypt ({e})"
    if not pw_hash or not pw_hash.startswith("$2"):
        return None, "no bcrypt in python3 crypt"
    d = os.path.join(tmp, "tls")
    os.makedirs(d)

    def ossl(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True, timeout=60)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=epctop-test-ca")
    with open(os.path.join(d, "san.ext"), "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1\n")
    for name, cn, ext in (("server", "127.0.0.1", ["-extfile", "san.ext"]), ("client", "prometheus", [])):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
             "-out", f"{name}.crt", *ext)
    with open(os.path.join(d, "web.yml"), "w") as fh:
        fh.write("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n"
                 f"basic_auth_users:\n  prometheus: {pw_hash}\n")
    for name, text in (("pw", "s3cret\n"), ("badpw", "wrong\n")):
        with open(os.path.join(d, name), "w") as fh:
            fh.write(text)
    return d, ""


def run_tls(tm, res, top, exporter, fixture, replay, tmp):
    d, why = make_tls(tmp)
    if not d:
        print(f"skip  TLS and basic auth checks: {why}")
        return
    port = free_port()
    log = open(os.path.join(tmp, "exporter-tls.log"), "w")
    proc = subprocess.Popen([exporter, f"--web.listen-address=127.0.0.1:{port}", f"--path.rootfs={fixture}",
                             f"--collector.platform.cpuid-file={fixture}/cpuid.txt",
                             f"--collector.ebpf.replay-file={replay}", f"--web.config.file={d}/web.yml",
                             "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + DEADLINE
        up = False
        while time.monotonic() < end and proc.poll() is None and not up:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                up = True
            except OSError:
                time.sleep(0.05)
        if not res.check(up, "TLS exporter listening"):
            return
        url = f"https://127.0.0.1:{port}/metrics"
        tls = ["--tls.ca-file", f"{d}/ca.crt", "--tls.cert-file", f"{d}/client.crt", "--tls.key-file", f"{d}/client.key"]
        auth = ["--basic-auth.username", "prometheus", "--basic-auth.password-file", f"{d}/pw"]

        def once(*a):
            return subprocess.run([top, "--once", "--timeout", "5", *a, url], capture_output=True, text=True, timeout=60)
        r = once(*tls, *auth)
        res.check(r.returncode == 0 and "sgx-apps/enclave-db-0/db" in r.stdout,
                  "TLS: CA file, client certificate and basic auth from a password file", r.stdout + r.stderr)
        r = once(*tls)
        res.check(r.returncode == 1 and "HTTP 401 Unauthorized" in r.stderr, "TLS without credentials: 401 named", r.stderr)
        r = once(*tls, "--basic-auth.username", "prometheus", "--basic-auth.password-file", f"{d}/badpw")
        res.check(r.returncode == 1 and "HTTP 401" in r.stderr, "TLS, wrong password: 401", r.stderr)
        r = once(*tls[2:], *auth)
        res.check(r.returncode == 1 and "certificate" in r.stderr.lower(), "TLS without the CA file: certificate error",
                  r.stderr)
        r = once(*tls[:2], *auth)
        res.check(r.returncode == 1 and "sgx-apps" not in r.stdout, "TLS without the client certificate: refused",
                  r.stdout + r.stderr)
        r = once(*tls, "--basic-auth.username", "prometheus", "--basic-auth.password-file", f"{d}/missing")
        res.check(r.returncode == 2 and "cannot open" in r.stderr, "missing password file: exit 2 and a message", r.stderr)
        s = "tls"
        tm.start(s, " ".join([top, "-d", "1", *tls, url]), 80, 24)
        wait_screen(tm, s, lambda x: "ERROR: HTTP 401 Unauthorized" in x, "live view, no credentials: 401 on screen", res)
        tm.keys(s, "q")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_bad_input(tm, res, top, bad, bad_url):
    s = "bad"
    bad.mode = "html"
    tm.start(s, f"{top} -d 1 --timeout 1 {bad_url}", 80, 24)
    cases = [
        ("html", "the page is HTML (text/html; charset=utf-8), not Prometheus metrics"),
        ("html-as-text", "not Prometheus text: line 1: not Prometheus text format: '<!DOCTYPE html>'"),
        ("not-exporter", "no sgx_* series in the page: not an epc_exporter /metrics"),
        ("truncated-length", "response truncated: transfer closed with"),
        ("truncated-close", "response truncated (last line"),
        ("huge", "response larger than 16 MiB"),
        ("hang", "Operation timed out"),
    ]
    for mode, text in cases:
        bad.mode = mode
        n0 = bad.requests
        scr = wait_screen(tm, s, lambda x: text in error_text(x), f"bad input {mode}: '{text}' on screen", res)
        if mode == "hang":
            tm.keys(s, "h")  # keys work while a fetch hangs (the fetch runs in its own thread)
            wait_screen(tm, s, lambda x: "epctop keys" in x, "hanging server: keys still answered", res, deadline=3)
            tm.keys(s, "x")
        else:
            wait_screen(tm, s, lambda x: bad.requests >= n0 + 2, f"bad input {mode}: retried", res)
        res.check(not tm.dead(s)[0], f"bad input {mode}: epctop still running", scr)
    bad.release.set()
    bad.mode = "proxy"
    wait_screen(tm, s, lambda x: "sgx-apps/enclave-db-0/db" in x and "ERROR" not in x, "bad input: recovers on a good page", res)
    tm.keys(s, "q")
    s = "unreach"
    tm.start(s, f"{top} -d 1 127.0.0.1:{free_port()}", 80, 24)
    wait_screen(tm, s, lambda x: error_text(x).startswith("ERROR: Failed to connect") and "no data from" in x,
                "unreachable port: error line and no-data note", res)
    tm.keys(s, "q")


if __name__ == "__main__":
    sys.exit(main())

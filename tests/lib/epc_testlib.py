"""What the Python system tests share: ports, HTTP, readiness waits, the exporter as a child process, scrapes that
go through the exposition check, and the ok/FAIL/SKIP vocabulary (exit 0 passed, 1 failed, 77 skipped: CTest's
SKIP_RETURN_CODE).

Every page of metrics a test reads (over HTTP: scrape(), Exporter.scrape(); from a file the emulated guest wrote:
read_scrape(); raw bodies a test fetched itself: checked_page(); Prometheus' own scrapes: through a ScrapeRelay)
is parsed by tests/lib/prom_text.py and fails on a
duplicate series or a family whose label names differ between its series (prom_text's rules).

Import from a test under tests/<area>/:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    import epc_testlib as tl
"""
import gzip
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prom_text  # noqa: E402
from prom_text import ExpositionError, ParseError  # noqa: E402,F401  (for callers' except clauses)

SKIP = 77

# Families only the live probes write: a replay file (--collector.ebpf.replay-file) has no pinned state, start-up
# discovery or kretprobes. Tests that compare a replay scrape with docs/metrics.md leave these out.
LIVE_PROBE_FAMILIES = frozenset({"sgx_exporter_ebpf_state_info", "sgx_exporter_ebpf_enclaves_tracked",
                                 "sgx_exporter_ebpf_discovery_skipped", "sgx_exporter_kretprobe_missed_total"})


def documented_families(src):
    """The metric families docs/metrics.md lists in its tables (rows starting with | `name` |)."""
    with open(os.path.join(src, "docs", "metrics.md"), encoding="utf-8") as fh:
        return set(re.findall(r"^\| `([a-z_:]+)` \|", fh.read(), re.M))


def fail(msg):
    """Stops the test: FAIL on stderr, exit 1."""
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def skip(msg):
    """Stops the test as skipped (CTest reports it so, never as passed): the reason on stdout, exit 77."""
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def free_port():
    """A TCP port free on 127.0.0.1 now (the caller binds it next; a lost race shows as a failed start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10, context=None):
    """(status, body text); an HTTP error status is returned, not raised; connection errors raise OSError.
    context: the ssl.SSLContext for an https:// url (default: Python's, which verifies the certificate)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def checked_page(body, what, encoding=None):
    """A page of metrics (str or bytes; encoding "gzip" when the response said so) parsed and checked: the
    prom_text.Exposition, or ExpositionError / ParseError naming what (a URL or a file)."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    return prom_text.check(body, what)


def scrape(url, timeout=10, context=None, headers=None):
    """GET url as a scraper does: (status, body text, Exposition or None). A 200 answer's body goes through the
    exposition check (checked_page) and raises ExpositionError / ParseError when it breaks a rule; other statuses
    come back with Exposition None. Connection errors raise OSError."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            status, raw, enc = r.status, r.read(), r.headers.get("Content-Encoding")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), None
    if enc == "gzip":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8", "replace")
    return status, text, (checked_page(text, url) if status == 200 else None)


def timed_scrape(port, context=None, headers=None, timeout=10):
    """One scrape of 127.0.0.1:port/metrics on a new connection, as Prometheus asks for it (Accept-Encoding: gzip;
    context: a client TLS context for HTTPS; headers: e.g. Authorization): (ok, seconds, why), ok for a 200 with a
    page, why naming the status or connection error otherwise. The page goes through the exposition check: one that
    fails raises ExpositionError / ParseError."""
    t0 = time.monotonic()
    try:
        conn = (http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context) if context else
                http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip", **(headers or {})})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        took = time.monotonic() - t0
        if r.status != 200 or not body:
            return False, took, f"status {r.status}, {len(body)} bytes"
        checked_page(body, f"127.0.0.1:{port}/metrics", r.getheader("Content-Encoding"))
        return True, took, ""
    except (OSError, http.client.HTTPException) as e:
        return False, time.monotonic() - t0, f"{type(e).__name__}: {e}"


def percentile(xs, p):
    """The p-th percentile (0..100) of xs, nearest rank; NaN for none."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def read_scrape(path):
    """A scrape saved to a file (the emulated guest's metrics*.txt): (text, Exposition), checked as scrape()
    checks; (None, None) when the file is missing, an empty file (the exporter was down) gives ("", None)."""
    if not os.path.exists(path):
        return None, None
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return text, (checked_page(text, path) if text.strip() else None)


class ScrapeRelay:
    """A loopback HTTP relay for scrapers the test does not drive itself (a real Prometheus): it fetches the same
    path from upstream (a base URL such as http://127.0.0.1:9840), passes every 200 page through the exposition
    check and serves it. A page that fails is answered 500 (so the scraper's `up` turns 0 too) and kept in
    .problems; .pages counts the pages that passed. Point the scraper at 127.0.0.1:<.port>."""

    def __init__(self, upstream, timeout=10, context=None):
        self.upstream, self.timeout, self.context = upstream.rstrip("/"), timeout, context
        self.pages, self.problems, self.lock = 0, [], threading.Lock()
        self.server, self.port = None, None

    def start(self):
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                try:
                    status, body, expo = scrape(relay.upstream + self.path, relay.timeout, relay.context)
                    with relay.lock:
                        relay.pages += expo is not None
                except (ExpositionError, ParseError) as e:
                    with relay.lock:
                        relay.problems.append(str(e))
                    status, body = 500, f"{e}\n"
                except OSError as e:
                    status, body = 502, f"upstream: {e}\n"
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def verdict(self):
        """(ok, text) for a test's report: ok when at least one page passed and none failed."""
        with self.lock:
            if self.problems:
                return False, f"{len(self.problems)} of {self.pages + len(self.problems)} pages failed; the first: " \
                              f"{self.problems[0]}"
            return self.pages > 0, f"{self.pages} pages relayed from {self.upstream}, all passed the exposition check"


def unverified_tls():
    """A client TLS context that accepts any certificate: for servers under test with a self-signed one."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wait_http(url, proc, what, timeout, context=None):
    """Polls url until it answers 200. Raises RuntimeError when proc (may be None) exits first or after timeout
    seconds; the wait ends as soon as the server is ready, the timeout only bounds a broken start."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before answering {url}")
        try:
            if http_get(url, 1, context)[0] == 200:
                return
        except (ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer {url} within {timeout} s")


def stop_process(proc, sig_timeout=10):
    """SIGTERM a child that still runs, SIGKILL it after sig_timeout s; its exit status (None without a child)."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(sig_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode if proc else None


class Exporter:
    """epc_exporter as a child process on a free loopback port, ready (GET /healthz = 200) when start() returns.
    Its output goes to log_path (absolute); a failed start raises RuntimeError naming that file and its tail.
    tls=True: the args make it serve HTTPS (--web.config.file); url is https:// and readiness is checked with
    unverified_tls()."""

    def __init__(self, binary, args, logdir, name="exporter", deadline_s=60, tls=False, preexec=None):
        self.binary, self.args, self.name, self.deadline_s, self.tls = binary, list(args), name, deadline_s, tls
        self.preexec = preexec  # run in the child before exec (e.g. MemoryCgroup.join)
        self.log_path = os.path.abspath(os.path.join(logdir, f"{name}.log"))
        self.proc, self.port = None, None

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self):
        """None while it runs (or before start())."""
        return self.proc.poll() if self.proc else None

    def start(self):
        last = None
        for _ in range(3):  # a port taken between free_port() and the exporter's bind: try another
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen([self.binary, f"--web.listen-address=127.0.0.1:{self.port}"] + self.args,
                                             stdout=log, stderr=subprocess.STDOUT, preexec_fn=self.preexec)
            try:
                wait_http(self.url + "/healthz", self.proc, self.name, self.deadline_s,
                          unverified_tls() if self.tls else None)
                return self
            except RuntimeError as e:
                last = e
                self.stop()
        raise RuntimeError(f"{last}; log {self.log_path}:\n{self.log_tail()}")

    def scrape(self, path="/metrics", timeout=10, headers=None):
        """scrape() of this exporter: (status, body, Exposition or None), the body checked."""
        return scrape(self.url + path, timeout, unverified_tls() if self.tls else None, headers)

    def log_text(self):
        """The whole log so far."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError as e:
            return f"(unreadable: {e})"

    def log_tail(self, lines=30):
        return "".join(self.log_text().splitlines(True)[-lines:])

    def stop(self, sig_timeout=10):
        return stop_process(self.proc, sig_timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def node_exporter_binary():
    """Debian's prometheus-node-exporter (or a node_exporter on PATH), None when neither is installed."""
    return shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


class NodeExporter:
    """Debian's node_exporter beside the exporter, as the reference in the same run: socket-activated on a free
    loopback port (the socket listens before it starts, so it is ready at once). Same interface as Exporter
    (start/stop, url, proc, port, scrape); tls=True: args make it serve HTTPS (--web.config.file)."""

    def __init__(self, binary, args, logdir, name="node_exporter", tls=False, preexec=None):
        self.binary, self.args, self.name, self.tls, self.preexec = binary, list(args), name, tls, preexec
        self.log_path = os.path.abspath(os.path.join(logdir, f"{name}.log"))
        self.proc, self.port = None, None

    url = Exporter.url
    running = Exporter.running
    scrape = Exporter.scrape
    log_text = Exporter.log_text
    stop = Exporter.stop
    __enter__ = Exporter.__enter__
    __exit__ = Exporter.__exit__

    def start(self):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4096)
        self.port = lsock.getsockname()[1]
        fd, preexec = lsock.fileno(), self.preexec

        def child():
            os.dup2(fd, 3)
            if preexec:
                preexec()
        args = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", self.binary, "--web.systemd-socket",
                "--log.level=warn"] + self.args
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, pass_fds=(3,), preexec_fn=child)
        lsock.close()
        return self


class MemoryCgroup:
    """A memory cgroup of the test's own with a limit, as a DaemonSet's (resources.limits.memory): join() it in a
    child before exec (preexec) and the child runs under that limit and finds it as its own (/proc/self/cgroup).
    cgroup v2 (a child of this process's cgroup, where the memory controller is delegated) or v1 (the memory
    hierarchy); create() returns None with .why where neither can be made (not root, read-only cgroupfs).
    remove() when the processes in it have exited."""

    def __init__(self, name, limit_bytes):
        self.name, self.limit, self.path, self.version, self.why = name, limit_bytes, None, None, ""

    def create(self):
        attempts = []
        try:
            with open("/proc/self/cgroup") as f:
                lines = f.read().splitlines()
        except OSError as e:
            self.why = f"/proc/self/cgroup: {e}"
            return None
        v2 = next((l.split(":", 2)[2] for l in lines if l.startswith("0::")), None)
        v1 = next((l.split(":", 2)[2] for l in lines if ":memory:" in l), None)
        if v2 is not None and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            parent = "/sys/fs/cgroup" + v2.rstrip("/")
            attempts.append((2, os.path.join(parent, self.name), "memory.max"))
        if v1 is not None and os.path.isdir("/sys/fs/cgroup/memory"):
            attempts.append((1, os.path.join("/sys/fs/cgroup/memory", self.name), "memory.limit_in_bytes"))
        for version, path, limit_file in attempts:
            try:
                os.mkdir(path)
            except FileExistsError:
                pass
            except OSError as e:
                self.why = f"{path}: {e}"
                continue
            try:
                with open(os.path.join(path, limit_file), "w") as f:
                    f.write(str(self.limit))
                self.path, self.version = path, version
                return self
            except OSError as e:
                self.why = f"{path}/{limit_file}: {e}"
                try:
                    os.rmdir(path)
                except OSError:
                    pass
        self.why = self.why or "no cgroup v2 with a memory controller nor a v1 memory hierarchy"
        return None

    def join(self):
        """In the child (preexec_fn): moves the calling process into the cgroup."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write("0")

    def peak(self):
        """The highest memory use of the cgroup so far (bytes), None where the kernel does not say."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            with open(os.path.join(self.path, name)) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def remove(self):
        if self.path:
            try:
                os.rmdir(self.path)
            except OSError:
                pass


def proc_status(pid):
    """{"Threads", "VmRSS", "VmHWM" (KiB), "fds"} of a running process; what is unreadable is left out."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Threads", "VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


class PromApi:
    """A Prometheus server's HTTP API. query() gives (result, None) or (None, why); get() a path's JSON."""

    def __init__(self, base):
        self.base = base

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        status, body = http_get(self.base + "/api/v1/query?" + urllib.parse.urlencode(params), 10)
        if status != 200:
            return None, f"HTTP {status}: {body[:300]}"
        doc = json.loads(body)
        if doc.get("status") != "success":
            return None, doc.get("error", "query failed")
        return doc["data"]["result"], None

    def get(self, path):
        return json.loads(http_get(self.base + path, 10)[1])

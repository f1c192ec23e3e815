"""What the Python system tests share: ports, HTTP, readiness waits, the exporter as a child process, and the
ok/FAIL/SKIP vocabulary (exit 0 passed, 1 failed, 77 skipped: CTest's SKIP_RETURN_CODE).

Import from a test under tests/<area>/:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    import epc_testlib as tl
"""
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

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

    def __init__(self, binary, args, logdir, name="exporter", deadline_s=60, tls=False):
        self.binary, self.args, self.name, self.deadline_s, self.tls = binary, list(args), name, deadline_s, tls
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
                                             stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_http(self.url + "/healthz", self.proc, self.name, self.deadline_s,
                          unverified_tls() if self.tls else None)
                return self
            except RuntimeError as e:
                last = e
                self.stop()
        raise RuntimeError(f"{last}; log {self.log_path}:\n{self.log_tail()}")

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

#!/usr/bin/env python3
"""Scrape latency and memory of epc_exporter next to Debian's prometheus-node-exporter, in the same run.

epc_exporter runs with its default collectors and no workload cap against a generated node of 250 pods x 4
containers, twice: "epc_misc" where the kernel has the misc cgroup sgx_epc resource and every container uses
EPC (4 misc files read per pod/container cgroup: the worst case), and "epc_mainline" where the resource does not
exist (mainline kernels: the cgroup collector finds nothing, attribution still indexes the 1000 log names).
node_exporter runs with its default collectors against the real host. All are scraped N times, interleaved,
after a warm-up. Prints p50/p99 scrape latency (HTTP request to last byte), CPU time per scrape (user+system of
the exporter process: less sensitive to a loaded machine than wall time), RSS after the scrapes and peak RSS
(VmHWM), and the ratios against the goal (ours <= half of node_exporter's).
Then, with --exposition-bench, the serialisation alone (prometheus-cpp's TextSerializer against scrape/exposition),
and the cost growth: scrape time, CPU and RSS at 10, 100, 1,000 and 4,000 workloads next to node_exporter's,
with each step's growth against linear (--growth-json writes them for plot_growth.py).
Fails only when something does not run, a series count is wrong or a page fails the exposition check
(tests/lib/prom_text.py, after the timed request); timing never fails the test (shared CI machines are noisy)."""
import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_fixture  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import ExpositionError, ParseError, checked_page, free_port, stop_process  # noqa: E402
import prom_text  # noqa: E402  (tests/lib)


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def pod_usage_series(text):
    """The sgx_cgroup_epc_usage_bytes series of pods and their containers (a pod label that is not empty)."""
    return sum(1 for x in prom_text.parse(text).samples if x.name == "sgx_cgroup_epc_usage_bytes" and x.get("pod"))


def check_page(name, body):
    """The exposition check on one scrape (outside the timed part); False with the problems printed."""
    try:
        checked_page(body, f"{name} /metrics")
        return True
    except (ExpositionError, ParseError) as e:
        print(e)
        return False


class Server:
    def __init__(self, name, cmd_fn, health, logdir, env=None):
        self.name, self.cmd_fn, self.health, self.logdir = name, cmd_fn, health, logdir
        self.env = dict(os.environ, **(env or {}))

    def __enter__(self):
        for _ in range(3):
            self.port = free_port()
            self.logf = open(os.path.join(self.logdir, f"{self.name}.log"), "w")
            self.proc = subprocess.Popen(self.cmd_fn(self.port), stdout=self.logf, stderr=subprocess.STDOUT,
                                         env=self.env)
            deadline = time.time() + 20
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    if get(self.url(self.health), timeout=2)[0] == 200:
                        return self
                except OSError:
                    time.sleep(0.05)
            self.__exit__()
        with open(os.path.join(self.logdir, f"{self.name}.log")) as f:
            print(f"{self.name} did not start:\n{f.read()[-3000:]}")
        raise SystemExit(1)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def status(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def __exit__(self, *exc):
        stop_process(self.proc)
        self.logf.close()


def pct(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "epc_perf"))
    ap.add_argument("--scrapes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=250)
    ap.add_argument("--containers", type=int, default=4)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for epc_exporter (e.g. MALLOC_ARENA_MAX=1)")
    ap.add_argument("--node-exporter", default=shutil.which("prometheus-node-exporter") or shutil.which("node_exporter"))
    ap.add_argument("--baseline", help="another epc_exporter binary (e.g. an older build) scraped on the misc node "
                    "in the same interleaved run, as epc_misc_baseline")
    ap.add_argument("--exposition-bench", help="tests/perf/exposition_bench binary: serialisation alone, both ways")
    ap.add_argument("--growth", default="10,100,1000,4000",
                    help="workload counts (pods x (containers + 1)) for the cost-growth run; '' to skip it")
    ap.add_argument("--growth-scrapes", type=int, default=30)
    ap.add_argument("--growth-json", help="write the cost-growth figures here (input of plot_growth.py)")
    a = ap.parse_args()
    if not a.node_exporter:
        print("prometheus-node-exporter not found (Debian package prometheus-node-exporter; scripts/install-deps.sh)")
        return 1
    os.makedirs(a.workdir, exist_ok=True)
    root = gen_fixture.generate(os.path.join(a.workdir, "node"), a.pods, a.containers)
    mainline = gen_fixture.generate(os.path.join(a.workdir, "node-mainline"), a.pods, a.containers, sgx_epc=False)

    def ours_cmd(r):
        return lambda port: [a.binary, f"--web.listen-address=127.0.0.1:{port}", f"--path.rootfs={r}",
                             f"--collector.platform.cpuid-file={r}/cpuid.txt",
                             # every pod and container keeps its own series (the default cap would sum some)
                             "--metrics.max-workloads=0"]
    ne_cmd = lambda port: [a.node_exporter, f"--web.listen-address=127.0.0.1:{port}"]
    extra_env = dict(e.split("=", 1) for e in a.env)
    names = ("epc_misc", "epc_mainline", "node_exporter") + (("epc_misc_baseline",) if a.baseline else ())

    def base_cmd(port):
        return [a.baseline] + ours_cmd(root)(port)[1:]
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(Server("epc_misc", ours_cmd(root), "/healthz", a.workdir, extra_env))
        ours_ml = stack.enter_context(Server("epc_mainline", ours_cmd(mainline), "/healthz", a.workdir, extra_env))
        ne = stack.enter_context(Server("node_exporter", ne_cmd, "/", a.workdir))
        servers = [ours, ours_ml, ne]
        if a.baseline:
            servers.append(stack.enter_context(Server("epc_misc_baseline", base_cmd, "/healthz", a.workdir, extra_env)))
        lat = {s.name: [] for s in servers}
        size = {}
        for s in servers:  # warm-up: caches, first-scrape allocations
            for _ in range(3):
                st, body = get(s.url("/metrics"))
                if st != 200:
                    print(f"{s.name} /metrics answered {st}")
                    return 1
                if not check_page(s.name, body):
                    return 1
                size[s.name] = body
        text = size["epc_misc"].decode()
        pods_series = pod_usage_series(text)
        want = a.pods * (a.containers + 1)
        if pods_series < want:
            print(f"epc_exporter reported {pods_series} pod/container usage series, expected {want}")
            return 1
        for n in ("epc_misc", "epc_mainline"):
            if 'sgx_exporter_collector_success{collector="cgroup"} 1' not in size[n].decode():
                print(f"{n}: cgroup collector failed on the generated node")
                return 1
        cpu0 = {s.name: s.cpu_seconds() for s in servers}
        for _ in range(a.scrapes):
            if scrape_round(servers, lat) is None:
                return 1
        cpu = {s.name: (s.cpu_seconds() - cpu0[s.name]) / a.scrapes for s in servers}
        rss = {s.name: s.status("VmRSS") for s in servers}
        hwm = {s.name: s.status("VmHWM") for s in servers}

    def series(b):
        return sum(1 for l in b.decode(errors="replace").splitlines() if l and l[0] != "#")

    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"scrape latency and memory, {a.scrapes} interleaved scrapes each after 3 warm-up scrapes, "
          f"{os.cpu_count()} CPUs, load average {load}")
    print(f"epc_*{' with ' + ' '.join(a.env) if a.env else ''}: generated node {a.pods} pods x {a.containers} "
          f"containers (epc_misc: misc sgx_epc present; epc_mainline: absent); "
          f"node_exporter ({a.node_exporter}): this host, default collectors")
    print(f"{'':18} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>8} {'RSS MiB':>8} {'peak MiB':>8} {'series':>7} {'bytes':>8}")
    for n in names:
        print(f"{n:18} {pct(lat[n], 50) * 1e3:8.2f} {pct(lat[n], 99) * 1e3:8.2f} {cpu[n] * 1e3:8.2f} "
              f"{rss[n] / 2**20:8.1f} {hwm[n] / 2**20:8.1f} {series(size[n]):7d} {len(size[n]):8d}")
    verdict = lambda r: "meets goal <= 0.5" if r <= 0.5 else "MISSES goal <= 0.5"
    for n in [x for x in names if x != "node_exporter"]:
        r50 = pct(lat[n], 50) / pct(lat["node_exporter"], 50)
        r99 = pct(lat[n], 99) / pct(lat["node_exporter"], 99)
        rc = cpu[n] / cpu["node_exporter"] if cpu["node_exporter"] > 0 else float("inf")
        rr = rss[n] / rss["node_exporter"]
        print(f"ratio {n}/node_exporter: p50 {r50:.2f} ({verdict(r50)}), p99 {r99:.2f} ({verdict(r99)}), "
              f"CPU {rc:.2f}, RSS {rr:.2f} ({verdict(rr)})")
    if a.exposition_bench:
        p = subprocess.run([a.exposition_bench, root, "30"], capture_output=True, text=True)
        print(p.stdout.strip() or p.stderr.strip())
        if p.returncode != 0:
            return 1
    sizes = [int(x) for x in a.growth.split(",") if x.strip()]
    if sizes and growth(a, sizes, ours_cmd, ne_cmd, extra_env) != 0:
        return 1
    return 0


def scrape_round(servers, lat):
    for s in servers:
        t0 = time.perf_counter()
        st, body = get(s.url("/metrics"))
        lat[s.name].append(time.perf_counter() - t0)
        if st != 200:
            print(f"{s.name} /metrics answered {st}")
            return None
        if not check_page(s.name, body):
            return None
    return body


def growth(a, sizes, ours_cmd, ne_cmd, extra_env):
    """Scrape time, CPU and RSS of epc_exporter at each workload count (every workload using EPC through the misc
    sgx_epc files), scraped alternately with node_exporter (whose cost does not depend on these generated nodes:
    it reads this host), and the growth factor of each step against linear."""
    rows = []
    with Server("node_exporter", ne_cmd, "/", a.workdir) as ne:
        for n in sizes:
            pods = max(1, n // (a.containers + 1))
            root = gen_fixture.generate(os.path.join(a.workdir, f"growth-{n}"), pods, a.containers)
            with Server(f"epc_{n}", ours_cmd(root), "/healthz", a.workdir, extra_env) as ours:
                lat = {ours.name: [], ne.name: []}
                for _ in range(3):
                    body = scrape_round([ours], {ours.name: []})
                    if body is None:
                        return 1
                text = body.decode()
                got = pod_usage_series(text)
                if got != pods * (a.containers + 1):
                    print(f"growth {n}: {got} pod/container usage series, expected {pods * (a.containers + 1)}")
                    return 1
                cpu0 = {s.name: s.cpu_seconds() for s in (ours, ne)}
                for _ in range(a.growth_scrapes):
                    if scrape_round([ours, ne], lat) is None:
                        return 1
                cpu = {s.name: (s.cpu_seconds() - cpu0[s.name]) / a.growth_scrapes for s in (ours, ne)}
                rows.append({
                    "workloads": pods * (a.containers + 1),
                    "series": sum(1 for l in text.splitlines() if l and l[0] != "#"),
                    "epc_p50_ms": pct(lat[ours.name], 50) * 1e3, "epc_p99_ms": pct(lat[ours.name], 99) * 1e3,
                    "epc_cpu_ms": cpu[ours.name] * 1e3, "epc_rss_mib": ours.status("VmRSS") / 2**20,
                    "ne_p50_ms": pct(lat[ne.name], 50) * 1e3, "ne_p99_ms": pct(lat[ne.name], 99) * 1e3,
                    "ne_cpu_ms": cpu[ne.name] * 1e3, "ne_rss_mib": ne.status("VmRSS") / 2**20,
                })
    print(f"cost growth, {a.growth_scrapes} interleaved scrapes per size; node_exporter reads this host at every size")
    print(f"{'workloads':>9} {'series':>6} | {'epc p50':>7} {'p99':>7} {'CPU ms':>7} {'RSS MiB':>7} | "
          f"{'ne p50':>7} {'p99':>7} {'CPU ms':>7} {'RSS MiB':>7} | {'p50 x':>6} {'CPU x':>6} {'RSS x':>6} | "
          f"step vs linear (CPU)")
    prev = None
    for r in rows:
        step = ""
        if prev:
            # > 1: this step cost more than linear in the workload count
            f = (r["epc_cpu_ms"] / max(prev["epc_cpu_ms"], 1e-6)) / (r["workloads"] / prev["workloads"])
            step = f"{f:.2f}"
        print(f"{r['workloads']:9d} {r['series']:6d} | {r['epc_p50_ms']:7.2f} {r['epc_p99_ms']:7.2f} "
              f"{r['epc_cpu_ms']:7.2f} {r['epc_rss_mib']:7.1f} | {r['ne_p50_ms']:7.2f} {r['ne_p99_ms']:7.2f} "
              f"{r['ne_cpu_ms']:7.2f} {r['ne_rss_mib']:7.1f} | {r['epc_p50_ms'] / r['ne_p50_ms']:6.2f} "
              f"{r['epc_cpu_ms'] / max(r['ne_cpu_ms'], 1e-6):6.2f} {r['epc_rss_mib'] / r['ne_rss_mib']:6.2f} | {step}")
        prev = r
    if a.growth_json:
        import json
        with open(a.growth_json, "w") as f:
            json.dump({"rows": rows, "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
                       "containers_per_pod": a.containers}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

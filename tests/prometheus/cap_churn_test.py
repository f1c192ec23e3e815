#!/usr/bin/env python3
"""The workload cap (--metrics.max-workloads) read back through a real Prometheus while workloads churn across it.

Two epc_exporters read one eBPF replay file that this test rewrites every 0.25 s: "capped" with a small
--metrics.max-workloads (and a short --metrics.workload-grace), "uncapped" with no limit, as its twin. Workloads
(plain cgroups and container cgroups of pods) come and go, from 3 to 9 live against a cap of 4, each with counters
that grow at its own rate. Each workload's counters stay flat for 1.5 s after it appears and before it leaves, so
that Prometheus' extrapolation at the ends of a series (which is not what is tested here) adds nothing.
Prometheus scrapes both every 1 s; when it holds enough samples (polled, not slept) the test asks it:
  - resets() of every _overflow counter of the capped exporter over the whole run is 0, and they grew;
  - rate() of the sum (the capped exporter's _overflow counters) equals the sum of rate() of the workloads it
    holds (the uncapped twin's series of the workloads that have no series of their own in the capped exporter),
    and the capped exporter's total rate equals the twin's, at several instants, within a tolerance;
  - membership is stable: every workload with series of its own in the capped exporter has as many samples as in
    the twin (it never lost its slot while it lived);
  - the churn did cross the cap: workloads were folded, and folded ones left (aggregated went down);
  - every page Prometheus scraped passes the exposition check (it scrapes through tests/lib's ScrapeRelay).
Exit 0 passed, 1 failed (the logs' paths printed), 77 skipped (prometheus not installed).

usage: cap_churn_test.py --exporter BIN [--prometheus BIN] --source-dir DIR [--keep]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import Exporter, PromApi, ScrapeRelay, free_port  # noqa: E402

CAP = 4
GRACE = "3s"
SAMPLES = 70          # scrapes of each exporter Prometheus must hold before the checks
DEADLINE_S = 240      # for those samples (1 s scrape interval: generous on a loaded machine)
WINDOW_S = 30         # rate() window
# rate() extrapolates each series to the window's ends: a folded workload that starts or ends inside the window
# is scaled up alone (by up to half a scrape interval over its time in the window), the _overflow sum is not.
TOLERANCE = 0.15      # relative, rate(sum) against sum(rate), on rates of several hundred per second
EXACT_TOLERANCE = 0.03  # relative, growth over the run without extrapolation (the two jobs scrape apart in time)
COUNTERS = {"evicted_pages": "sgx_epc_evicted_pages_total", "page_faults": "sgx_enclave_page_faults_total"}
WORKLOAD_LABELS = "namespace,pod,container,cgroup"


class Workload:
    def __init__(self, i, rng, now):
        if i % 2:
            self.path = f"/system.slice/churn-{i}.service"
        else:  # a pod's container cgroup (no kubelet log dir: labelled by pod uid)
            uid = "%08x_%04x_4%03x_8%03x_%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                                   rng.getrandbits(12), rng.getrandbits(48))
            self.path = (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice/"
                         f"cri-containerd-{rng.getrandbits(256):064x}.scope")
        self.rates = {k: rng.randint(100, 300) for k in COUNTERS}
        self.created = now
        self.life = rng.uniform(5, 16)

    def line(self, now):
        active = min(max(now - self.created - 1.5, 0.0), self.life - 3.0)
        counters = " ".join(f"{k}={int(r * active)}" for k, r in self.rates.items())
        return (f"workload {self.path} enclaves=1 size_bytes=4096 resident_pages=1 swapped_pages=0 "
                f"loaded_back_pages=0 page_fault_ns=0 alloc_failures=0 {counters}")


class Churn:
    """Rewrites the replay file (atomic rename) with the live workloads and their counters."""

    def __init__(self, path, probes):
        self.path, self.probes = path, probes
        self.rng = random.Random(13)
        self.live, self.next, self.created, self.removed = [], 0, 0, 0
        self.stop = threading.Event()
        self.step(time.time())
        self.thread = threading.Thread(target=self.run, daemon=True)

    def step(self, now):
        gone = [w for w in self.live if now - w.created >= w.life]
        self.removed += len(gone)
        self.live = [w for w in self.live if w not in gone]
        while len(self.live) < 3 or (len(self.live) < 9 and self.rng.random() < 0.08):
            self.live.append(Workload(self.next, self.rng, now))
            self.next += 1
            self.created += 1
        text = "\n".join(self.probes + [w.line(now) for w in self.live] +
                         ["node free_pages=100 reclaim_ksgxd=0 reclaim_direct=0 vepc_pages=0"]) + "\n"
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, self.path)

    def run(self):
        while not self.stop.wait(0.25):
            self.step(time.time())


class Prom(PromApi):
    """The library's API, a failed query an exception (every query here must succeed)."""

    def query(self, expr, at=None):
        result, why = super().query(expr, at)
        if why is not None:
            raise RuntimeError(f"query {expr}: {why}")
        return result

    def scalar(self, expr, at=None):
        r = self.query(expr, at)
        return float(r[0]["value"][1]) if r else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, config, TSDB)")
    args = ap.parse_args()
    if not os.access(args.prometheus, os.X_OK):
        print(f"SKIP: prometheus not installed ({args.prometheus})")
        return 77
    src = os.path.abspath(args.source_dir)
    fixture = os.path.join(src, "tests/fixtures/aks-dcsv3")
    with open(os.path.join(src, "tests/fixtures/ebpf/aks-dcsv3.txt")) as fh:
        probes = [line for line in fh.read().splitlines() if line.startswith("probe ")]

    tmp = tempfile.mkdtemp(prefix="cap-churn-")
    procs, exporters, relays, failed = [], [], [], []
    logs = []
    churn = None
    try:
        churn = Churn(os.path.join(tmp, "replay.txt"), probes)
        churn.thread.start()
        common = [f"--path.rootfs={fixture}", f"--collector.platform.cpuid-file={os.path.join(fixture, 'cpuid.txt')}",
                  "--no-collector.cgroup", f"--collector.ebpf.replay-file={churn.path}", "--log.level=info"]
        help_text = subprocess.run([args.exporter, "--help"], capture_output=True, text=True, timeout=10).stdout
        grace = [f"--metrics.workload-grace={GRACE}"] if "--metrics.workload-grace" in help_text else []
        ports = {}
        for name, extra in (("capped", [f"--metrics.max-workloads={CAP}"] + grace),
                            ("uncapped", ["--metrics.max-workloads=0"])):
            exp = Exporter(args.exporter, common + extra, tmp, name=f"exporter-{name}")
            exporters.append(exp)
            logs.append(exp.log_path)
            exp.start()
            relays.append(ScrapeRelay(exp.url).start())  # Prometheus scrapes through the exposition check
            ports[name] = relays[-1].port

        prom_port = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as fh:  # JSON is YAML
            json.dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                       "scrape_configs": [{"job_name": n, "static_configs": [{"targets": [f"127.0.0.1:{p}"]}]}
                                          for n, p in ports.items()]}, fh)
        prom_log = os.path.join(tmp, "prometheus.log")
        logs.append(prom_log)
        procs.append(subprocess.Popen(
            [args.prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=open(prom_log, "w"), stderr=subprocess.STDOUT))
        prom = Prom(f"http://127.0.0.1:{prom_port}")

        # Event-driven: poll until Prometheus holds SAMPLES successful scrapes of each exporter.
        end = time.time() + DEADLINE_S
        have = {}
        while time.time() < end:
            for p in procs + [e.proc for e in exporters]:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited with {p.returncode}")
            try:
                have = {n: prom.scalar(f'sum_over_time(up{{job="{n}"}}[10m])') or 0 for n in ports}
                if all(v >= SAMPLES for v in have.values()):
                    break
            except (urllib.error.URLError, ConnectionError, OSError, RuntimeError):
                pass  # not up yet
            time.sleep(0.5)
        else:
            raise RuntimeError(f"Prometheus holds {have} successful scrapes, wanted {SAMPLES} of each "
                               f"within {DEADLINE_S} s")
        t_end = time.time() - 1.5
        run_s = int(min(have.values())) - 2  # whole seconds covered by both jobs' samples
        print(f"info  {churn.created} workloads created, {churn.removed} removed, cap {CAP}, grace "
              f"{GRACE if grace else '(flag absent: default)'}; Prometheus holds {have} scrapes; checks over {run_s} s")

        def check(cond, what, why=""):
            print(("ok    " if cond else "FAIL  ") + what + ("" if cond else f": {why}"))
            if not cond:
                failed.append(what)

        rng = f"[{run_s}s]"
        # The churn crossed the cap both ways.
        agg_max = prom.scalar(f'max_over_time(sgx_exporter_workloads_aggregated{{job="capped"}}{rng})', t_end) or 0
        agg_down = prom.scalar(f'resets(sgx_exporter_workloads_aggregated{{job="capped"}}{rng})', t_end) or 0
        seen = prom.scalar(f'count(count by ({WORKLOAD_LABELS}) '
                           f'(count_over_time(sgx_epc_evicted_pages_total{{job="uncapped"}}{rng})))', t_end) or 0
        check(agg_max >= 2 and agg_down >= 1 and seen >= 3 * CAP,
              f"churn across the cap: {seen:.0f} workloads, up to {agg_max:.0f} folded, folded count fell "
              f"{agg_down:.0f} times", "not enough churn for the checks below to mean anything")

        # No reset in any _overflow counter, and they grew.
        names = [r["metric"]["__name__"] for r in prom.query(
            f'count by (__name__) (last_over_time({{job="capped",cgroup="_overflow",__name__=~"sgx_.+_total"}}{rng}))',
            t_end)]
        res, bad = 0, []
        for name in names:
            for r in prom.query(f'resets({name}{{job="capped",cgroup="_overflow"}}{rng})', t_end):
                res += 1
                if float(r["value"][1]) != 0:
                    bad.append((name, r["metric"], r["value"][1]))
        check(res >= 2 * len(COUNTERS) and not bad,
              f"resets() = 0 over {run_s} s for all {res} _overflow counter series of {len(names)} counters",
              f"{res} series, {bad[:3]}")
        for metric in COUNTERS.values():
            inc = prom.scalar(f'sum(increase({metric}{{job="capped",cgroup="_overflow"}}{rng}))', t_end) or 0
            check(inc > 0, f"{metric} _overflow grew ({inc:.0f})", "did not grow")

        # rate() of the sum equals the sum of rate(), at several instants.
        w = f"[{WINDOW_S}s]"
        instants = [t_end - run_s + WINDOW_S + k * 5 for k in range(int((run_s - WINDOW_S) / 5) + 1)]
        for metric in COUNTERS.values():
            worst_sum, worst_total, n, off = 0.0, 0.0, 0, []
            for at in instants:
                of_sum = prom.scalar(f'sum(rate({metric}{{job="capped",cgroup="_overflow"}}{w}))', at)
                if of_sum is None:
                    continue  # nothing folded yet at that instant
                sum_of = prom.scalar(
                    f'sum(rate({metric}{{job="uncapped"}}{w}) unless on({WORKLOAD_LABELS}) '
                    f'count_over_time({metric}{{job="capped",cgroup!="_overflow"}}{w}))', at) or 0.0
                capped = prom.scalar(f'sum(rate({metric}{{job="capped"}}{w}))', at) or 0.0
                twin = prom.scalar(f'sum(rate({metric}{{job="uncapped"}}{w}))', at) or 0.0
                n += 1
                worst_sum = max(worst_sum, abs(of_sum - sum_of) / max(sum_of, 1.0))
                worst_total = max(worst_total, abs(capped - twin) / max(twin, 1.0))
                if abs(of_sum - sum_of) > TOLERANCE * max(sum_of, 100.0):
                    off.append(f"at {at:.0f} rate of the _overflow sum {of_sum:.1f}/s, sum of the folded workloads' "
                               f"rates {sum_of:.1f}/s")
                if abs(capped - twin) > TOLERANCE * max(twin, 100.0):
                    off.append(f"at {at:.0f} total rate capped {capped:.1f}/s, uncapped {twin:.1f}/s")
            check(n >= 3 and not off, f"{metric}: rate(_overflow sum) = sum(rate) of the folded workloads at {n} instants "
                          f"(worst {worst_sum:.1%}), capped total = uncapped total (worst {worst_total:.1%}), "
                          f"tolerance {TOLERANCE:.0%}", f"{n} instants with folded workloads; {len(off)} off: {off[:3]}")

        # The same without rate()'s extrapolation: the _overflow counters' growth over the run equals the sum of the
        # folded workloads' growth (max - min of each, from the twin).
        for metric in COUNTERS.values():
            grew = prom.scalar(f'sum(max_over_time({metric}{{job="capped",cgroup="_overflow"}}{rng}) - '
                               f'min_over_time({metric}{{job="capped",cgroup="_overflow"}}{rng}))', t_end) or 0.0
            parts = prom.scalar(
                f'sum((max_over_time({metric}{{job="uncapped"}}{rng}) - min_over_time({metric}{{job="uncapped"}}{rng})) '
                f'unless on({WORKLOAD_LABELS}) count_over_time({metric}{{job="capped",cgroup!="_overflow"}}{rng}))',
                t_end) or 0.0
            check(parts > 0 and abs(grew - parts) <= EXACT_TOLERANCE * parts,
                  f"{metric}: _overflow grew {grew:.0f} over the run, its workloads {parts:.0f} "
                  f"({abs(grew - parts) / max(parts, 1):.1%}, tolerance {EXACT_TOLERANCE:.0%})", "differ")

        # Stable membership: a workload with series of its own keeps them as long as it lives.
        metric = COUNTERS["evicted_pages"]
        own = prom.query(f'count_over_time({metric}{{job="capped",cgroup!="_overflow"}}{rng})', t_end)
        twin = {tuple(r["metric"].get(k, "") for k in WORKLOAD_LABELS.split(",")): float(r["value"][1])
                for r in prom.query(f'count_over_time({metric}{{job="uncapped"}}{rng})', t_end)}
        lost = []
        for r in own:
            key = tuple(r["metric"].get(k, "") for k in WORKLOAD_LABELS.split(","))
            if abs(float(r["value"][1]) - twin.get(key, 0)) > 2:
                lost.append((key, r["value"][1], twin.get(key)))
        check(len(own) >= CAP and not lost,
              f"{len(own)} workloads with their own series kept them for their whole life", f"{lost[:3]}")
        for name, relay in zip(ports, relays):
            ok, why = relay.verdict()
            check(ok, f"{name}: every page Prometheus scraped passes the exposition check ({why})", why)
    except Exception as e:  # noqa: BLE001 - any failure is a finding
        failed.append(repr(e))
        print(f"FAIL  {e}")
    finally:
        if churn:
            churn.stop.set()
        for p in procs:
            p.terminate()
        for e in exporters:
            e.stop()
        for r in relays:
            r.stop()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    if failed:
        print(f"{len(failed)} failed; logs: " + " ".join(logs) + f" (kept in {tmp})")
        return 1
    print("cap_churn_test: passed")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Reads a restart scenario's periodic scrapes into a real Prometheus and checks its counters across the restarts.

usage: prom_restarts.py OUTDIR [--prometheus /usr/bin/prometheus] [--promtool /usr/bin/promtool]

OUTDIR is a run-scenario output of a scenario with "exporter" restarts: scrapes/<guest uptime>.prom (the counter
series of every periodic scrape, taken in the guest every scrape_every_s, across every exporter instance),
guest-timeline.txt (when each instance was up) and emu.json (the instances, which of them had to start fresh).
The samples are backfilled with `promtool tsdb create-blocks-from openmetrics` (timestamps = guest uptime, shifted
to the last hours) and Debian's prometheus serves them; PromQL then says, per segment of instances that share one
state (a fresh start, then the restarts that took it over):
  - resets(counter[segment]) is 0 for every series: no counter went backwards across a SIGKILL/SIGTERM restart;
  - increase(counter[segment]) equals the last minus the first sample of the segment: rate() sees no jump;
and over the whole run, a fresh start after counting (the upgrade) shows as a reset, so the first check can fail.
Every scrape read goes through tests/lib's exposition check first. Each assertion prints PASS or FAIL; exit 1 when any fails, 77 when prometheus/promtool are missing or there are
no scrapes to read.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import ExpositionError, ParseError, free_port, read_scrape  # noqa: E402

FAMILIES = ["sgx_epc_evicted_pages_total", "sgx_epc_loaded_back_pages_total", "sgx_enclave_page_faults_total",
            "sgx_enclave_page_fault_seconds_total"]


def query(port, q, t):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": f"{t:.3f}"})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"query {q}: {body}")
    return [(m["metric"], float(m["value"][1])) for m in body["data"]["result"]]


def render(labels):
    """{k="v",...} of a (name, value) tuple, escaped as the text formats want it."""
    esc = lambda v: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in labels) + "}" if labels else ""


def series_key(metric):
    return tuple(sorted((k, v) for k, v in metric.items() if k != "__name__"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    a = ap.parse_args()
    for b in (a.prometheus, a.promtool):
        if not os.access(b, os.X_OK):
            print(f"SKIP: {b} not found (Debian package prometheus)")
            return 77
    files = sorted(glob.glob(os.path.join(a.outdir, "scrapes", "*.prom")),
                   key=lambda p: float(os.path.basename(p)[:-5]))
    if len(files) < 4:
        print(f"SKIP: {len(files)} periodic scrapes in {a.outdir}/scrapes (scenario without restarts or scrape_every_s)")
        return 77
    emu = json.load(open(os.path.join(a.outdir, "emu.json")))
    instances = emu.get("exporter_instances") or []
    # Instance j's scrapes are those after instance j-1 stopped (its own "up" mark comes after its first answer) and
    # up to its own stop.
    stopped = {}
    for line in open(os.path.join(a.outdir, "guest-timeline.txt")):
        f = line.split()
        m = re.fullmatch(r"exporter-stopped-(\d+)", f[0]) if len(f) == 2 else None
        if m:
            stopped[int(m.group(1))] = float(f[1])

    def since(j):  # instance j's scrapes are after this
        return stopped.get(j - 1, 0.0)

    # Samples per family, per series, in time order. Timestamps: guest uptime + base (two hours ago).
    base = time.time() - 7200
    samples = {fam: {} for fam in FAMILIES}
    times = []
    for p in files:
        t = float(os.path.basename(p)[:-5])
        try:  # every kept scrape through the exposition check
            _, expo = read_scrape(p)
        except (ExpositionError, ParseError) as e:
            print(f"FAIL exposition: {e}")
            return 1
        if expo is None:
            continue  # the exporter was down (restart) or the scrape failed
        times.append(t)
        for smp in expo.samples:
            if smp.name in samples:  # keyed as Prometheus stores the series: empty labels dropped
                key = tuple(sorted((k, v) for k, v in smp.labels if v != ""))
                samples[smp.name].setdefault(key, []).append((t, smp.value))
    om = []
    for fam, series in samples.items():
        om.append(f"# TYPE {fam[:-len('_total')]} counter")
        for labels, pts in series.items():
            for t, v in pts:
                om.append(f"{fam}{render(labels)} {v!r} {base + t:.3f}")
    om.append("# EOF")

    # Segments: from each instance that did not take over state to the next such instance.
    fresh = [i["index"] for i in instances if i["index"] == 0 or i["upgrade"]]
    segments = []
    for n, idx in enumerate(fresh):
        start = since(idx)
        end = since(fresh[n + 1]) if n + 1 < len(fresh) else None
        pts = [t for t in times if t > start and (end is None or t <= end)]
        segments.append((idx, pts[0] if pts else start, pts[-1] if pts else start))
        # Every instance of the segment must have samples (run-scenario keeps a scrape after each start and before
        # each stop), or a restart would go unchecked.
        last = fresh[n + 1] if n + 1 < len(fresh) else len(instances)
        for j in range(idx, last):
            j_end = stopped.get(j, float("inf"))
            if not any(since(j) < t <= j_end for t in times):
                print(f"FAIL samples.instance{j}: no kept scrape while instance {j} ran (after {since(j)})")
                return 1

    results = []

    def check(name, ok, detail):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")

    work = tempfile.mkdtemp(prefix="prom-restarts-", dir=a.outdir)
    prom = None
    try:
        with open(os.path.join(work, "in.om"), "w") as f:
            f.write("\n".join(om) + "\n")
        r = subprocess.run([a.promtool, "tsdb", "create-blocks-from", "openmetrics", os.path.join(work, "in.om"),
                            os.path.join(work, "data")], capture_output=True, text=True)
        if r.returncode != 0:
            check("backfill", False, f"promtool: {r.stderr.strip()[-500:]}")
            return 1
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global: {}\n")
        port = free_port()
        prom = subprocess.Popen([a.prometheus, f"--config.file={work}/prometheus.yml",
                                 f"--storage.tsdb.path={work}/data", f"--web.listen-address=127.0.0.1:{port}",
                                 "--storage.tsdb.retention.time=30d"],
                                stdout=open(os.path.join(work, "prometheus.log"), "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:  # prometheus says when it is ready; bounded, and stops early if it died
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as rr:
                    if rr.status == 200:
                        break
            except OSError:
                pass
            if prom.poll() is not None or time.time() > deadline:
                check("prometheus.ready", False, open(os.path.join(work, "prometheus.log")).read()[-500:])
                return 1
            time.sleep(0.2)
        print(f"# {len(times)} scrapes, {sum(len(v) for v in samples.values())} series, segments (instance, from, "
              f"to guest uptime): {[(i, round(s, 1), round(e, 1)) for i, s, e in segments]}")
        for idx, s, e in segments:
            w = e - s + 0.001
            for fam in FAMILIES:
                got = query(port, f"resets({fam}[{int(w * 1000)}ms])", base + e)
                bad = [(dict(m), v) for m, v in got if v != 0]
                check(f"segment{idx}.{fam}.resets = 0", got and not bad,
                      f"{len(got)} series over {w:.1f} s (instances from {idx} on): "
                      f"{bad[:3] if bad else 'none reset'}")
                inc = {series_key(m): v for m, v in query(port, f"increase({fam}[{int(w * 1000)}ms])", base + e)}
                off = []
                for labels, pts in samples[fam].items():
                    seg = [v for t, v in pts if s <= t <= e]
                    if len(seg) < 2:
                        continue
                    want = seg[-1] - seg[0]
                    got_inc = inc.get(labels)
                    if got_inc is None or abs(got_inc - want) > 0.02 * want + 1e-6 + (1 if "seconds" not in fam else 0):
                        off.append((labels, got_inc, want))
                check(f"segment{idx}.{fam}.increase = last - first", not off,
                      f"PromQL increase() against the samples: {off[:3] if off else 'all series agree'}")
        if len(segments) > 1:
            w = segments[-1][2] - segments[0][1] + 0.001
            total = sum(v for m, v in query(port, f"sum(resets(sgx_epc_evicted_pages_total[{int(w * 1000)}ms]))",
                                            base + segments[-1][2]))
            check("whole_run.fresh_start_reads_as_reset", total >= 1,
                  f"resets of evictions over the whole run {total:g}: the fresh start after counting must show")
    finally:
        if prom:
            prom.terminate()
            try:
                prom.wait(timeout=20)
            except subprocess.TimeoutExpired:
                prom.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(f"# {sum(results)}/{len(results)} assertions pass")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

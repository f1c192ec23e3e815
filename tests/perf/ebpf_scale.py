#!/usr/bin/env python3
"""Scrape cost of the eBPF data path at scale, in an SGX-emulating guest, next to node_exporter in the same guest.

usage: ebpf_scale.py [--build-dir BUILD] [--kernel 6.1] [--kernel-dir DIR] [--scenario SCENARIO.json]
                     [--workdir DIR] [--rounds N] [--growth 10,100,1000,4000] [--growth-json FILE]

Runs tests/sgx_emu/scenarios/scale_1000.json (tests/sgx_emu/run-scenario: QEMU/TCG, the emulating kernel, the real
exporter with its defaults; one compact workload process creates 2 enclaves in each of 1,000 pod containers'
cgroups, kubelet layout, all kept alive: 2,000 live enclaves in the BPF maps) with Debian's
prometheus-node-exporter (default collectors) in the same guest. In the guest, `sgx_emu_workload scrape` GETs
/metrics from both, alternating, N rounds after a warm-up: time to the last byte (p50, p99), CPU time of each
exporter's process per scrape (/proc/PID/stat), VmRSS and VmHWM after. Prints each figure of epc_exporter with
node_exporter's beside it and the ratio. The guest is emulated (TCG, one vCPU): absolute times mean nothing, only
the ratios of two programs scraped alternately in the same guest do.

Checks that the scrape really holds the scenario: one sgx_enclaves series per workload (1,000, each with its 2
enclaves), 2,000 enclaves tracked, the enclaves' EPC (resident bytes: pages added + SECS + VA) in their
workloads, no series summed into cgroup="_overflow", no dropped probe events, every probe attached whose
function the kernel has. Exit 1 when that fails or the run breaks, 77 when the kernel, QEMU or node_exporter is
not available here; timing never fails it.

--growth: the same at each workload count (one guest each; a count the guest cannot hold fails that row only),
scrape time and RSS with node_exporter's and each step against linear; --growth-json writes the rows for
tests/perf/plot_growth.py (same fields as perf.py's).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUN_SCENARIO = os.path.join(REPO, "tests", "sgx_emu", "run-scenario")
DEFAULT_SCENARIO = os.path.join(REPO, "tests", "sgx_emu", "scenarios", "scale_1000.json")
PAGE = 4096
LABEL = "emulated EPC, QEMU TCG guest: ratios only"
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import prom_text  # noqa: E402
from epc_testlib import read_scrape  # noqa: E402


def wkey(labels):
    if "pod" in labels:
        return (labels.get("namespace", ""), labels["pod"], labels.get("container", ""))
    return ("cgroup", labels.get("cgroup", ""))


def expected(sc):
    c = sc["compact"]
    n, k = int(c["workloads"]), int(c.get("enclaves_per_workload", 2))
    add = int(c.get("enclave", {}).get("add_pages", 8))
    va = math.ceil((1 + add) / 512)
    return n, n * k, n * k * (add + 1 + va) * PAGE


def check_scrape(expo, sc):
    """Problems with the scrape of every enclave alive (empty: it holds the scenario); expo: prom_text.Exposition."""
    n, encls, resident = expected(sc)
    m = expo.by_name()
    problems = []
    enclaves = {}
    for labels, v in m.get("sgx_enclaves", []):
        if v > 0:
            enclaves[wkey(labels)] = enclaves.get(wkey(labels), 0) + v
    ns = sc["compact"].get("namespace", "scale")
    scale = {k: v for k, v in enclaves.items() if k[0] == ns}
    if len(scale) != n:
        problems.append(f"{len(scale)} workloads with sgx_enclaves > 0 in namespace {ns}, expected {n}")
    if sum(scale.values()) != encls:
        problems.append(f"sum of sgx_enclaves {sum(scale.values()):.0f}, expected {encls}")
    k = int(sc["compact"].get("enclaves_per_workload", 2))
    wrong = [w for w, v in scale.items() if v != k]
    if wrong:
        problems.append(f"{len(wrong)} workloads without exactly {k} enclaves, e.g. {wrong[0]}")
    others = {w: v for w, v in enclaves.items() if w[0] != ns}
    if others:
        problems.append(f"enclaves under other label sets: {sorted(others)[:3]}")
    tracked = sum(v for _, v in m.get("sgx_exporter_ebpf_enclaves_tracked", []))
    if tracked != encls:
        problems.append(f"sgx_exporter_ebpf_enclaves_tracked sums to {tracked:.0f}, expected {encls}")
    info = len(m.get("sgx_enclave_info", []))
    dropped = sum(v for _, v in m.get("sgx_exporter_ebpf_enclave_series_dropped", []))
    if info + dropped != encls:
        problems.append(f"sgx_enclave_info {info} + per-enclave series dropped {dropped:.0f} != {encls} enclaves")
    res = sum(v for labels, v in m.get("sgx_epc_resident_bytes", []) if wkey(labels)[0] == ns)
    if res != resident:
        problems.append(f"sgx_epc_resident_bytes of the workloads {res:.0f}, expected {resident} "
                        f"(pages added + SECS + VA per enclave)")
    if any(labels.get("cgroup") == "_overflow" for vs in m.values() for labels, _ in vs):
        problems.append('series summed into cgroup="_overflow" (--metrics.max-workloads)')
    lost = sum(v for _, v in m.get("sgx_exporter_bpf_dropped_events_total", []))
    if lost:
        problems.append(f"{lost:.0f} dropped probe events")
    # Every probe whose function the kernel has (the test kernels have no sgx_vepc_*; 5.15 inlines sgx_encl_shrink).
    absent = {lab.get("probe") for lab, _ in m.get("sgx_exporter_probe_info", [])
              if "not in kallsyms" in lab.get("reason", "")}
    off = [lab.get("probe") for lab, v in m.get("sgx_exporter_probe_attached", [])
           if not v and lab.get("probe") not in absent]
    if off or not m.get("sgx_exporter_probe_attached"):
        problems.append(f"probes not attached: {off or 'none reported'}")
    return problems, {"workloads": len(scale), "enclaves": int(sum(scale.values())), "enclave_info": info,
                      "enclave_series_dropped": int(dropped), "resident_bytes": int(res)}


def scenario_for(base, workloads):
    """The base scenario at another workload count: EPC and guest memory sized to hold it."""
    sc = json.loads(json.dumps(base))
    c = sc["compact"]
    c["workloads"] = workloads
    _, _, resident = expected(sc)
    sc["epc_mib"] = max(16, int(math.ceil(resident * 1.25 / 2**20 / 16)) * 16)
    # EPC is carved out of guest RAM at 256 MiB; the rest: kernel, initramfs (~40 MiB), the workload's page
    # tables (one per enclave: each ELRANGE sits in its own 4 GiB slot), both exporters.
    sc["guest_memory_mib"] = max(1024, 256 + sc["epc_mib"] + 512 + workloads // 4)
    if workloads > 1000:  # the default cap (--metrics.max-workloads=1000) would sum the rest into _overflow
        sc["exporter_flags"] = sc.get("exporter_flags", []) + ["--metrics.max-workloads=0"]
    return sc


def run_one(a, sc, name, timeout):
    """Runs the scenario; (result dict, None) or (None, why), or exits 77 when the guest cannot run here."""
    outdir = os.path.join(a.workdir, name)
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "scenario.json")
    with open(path, "w") as f:
        json.dump(sc, f, indent=1)
    cmd = [sys.executable, RUN_SCENARIO, "--kernel", a.kernel, "--build-dir", a.build_dir, "--quiet",
           "--timeout", str(timeout)]
    if a.kernel_dir:
        cmd += ["--kernel-dir", a.kernel_dir]
    t0 = time.time()
    r = subprocess.run(cmd + [path, outdir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    host_s = time.time() - t0
    if r.returncode == 77:
        print(f"SKIP: {r.stdout.strip()}")
        sys.exit(77)
    if r.returncode != 0:
        return None, f"run-scenario exit {r.returncode} ({outdir}):\n{r.stdout.strip()[-3000:]}"
    try:
        text, expo = read_scrape(os.path.join(outdir, "metrics.txt"))  # through the exposition check
        if not text:
            return None, f"{outdir}: no metrics.txt or an empty one"
        bench = json.load(open(os.path.join(outdir, "scrape-bench.json")))
        wl = json.load(open(os.path.join(outdir, "workload.json")))
    except (OSError, ValueError) as e:  # ValueError: JSON, or ExpositionError / ParseError
        return None, f"{outdir}: {e}"
    problems, got = check_scrape(expo, sc)
    if problems:
        return None, f"{outdir}: the scrape does not hold the scenario:\n  " + "\n  ".join(problems)
    t = bench["targets"]
    if "node_exporter" not in t:
        return None, f"{outdir}: no node_exporter in scrape-bench.json"
    return {"outdir": outdir, "bench": bench, "got": got, "host_seconds": host_s,
            "create_seconds": wl.get("ready_seconds"), "epc_series": t["epc_exporter"]["series"]}, None


def row_of(res, workloads):
    t = res["bench"]["targets"]
    e, n = t["epc_exporter"], t["node_exporter"]
    return {
        "workloads": workloads, "enclaves": res["got"]["enclaves"], "series": e["series"], "bytes": e["bytes"],
        "epc_p50_ms": e["p50_s"] * 1e3, "epc_p99_ms": e["p99_s"] * 1e3, "epc_cpu_ms": e["cpu_s_per_scrape"] * 1e3,
        "epc_rss_mib": e["vm_rss_kib"] / 1024, "epc_hwm_mib": e["vm_hwm_kib"] / 1024,
        "ne_p50_ms": n["p50_s"] * 1e3, "ne_p99_ms": n["p99_s"] * 1e3, "ne_cpu_ms": n["cpu_s_per_scrape"] * 1e3,
        "ne_rss_mib": n["vm_rss_kib"] / 1024, "ne_hwm_mib": n["vm_hwm_kib"] / 1024, "ne_series": n["series"],
        "rounds": res["bench"]["rounds"], "clk_tck": res["bench"]["clk_tck"],
        # the last timed scrape's own account of its collectors (sgx_exporter_collector_duration_seconds), ms
        "epc_collector_ms": {x.get("collector"): x.value * 1e3 for x in
                             prom_text.parse("\n".join(e.get("collector_durations", []))).samples},
    }


def ratio(x, y):
    return x / y if y > 0 else float("inf")


def print_main(r, kernel):
    verdict = lambda q: "meets goal <= 0.5" if q <= 0.5 else "MISSES goal <= 0.5"
    print(f"eBPF path at scale ({LABEL}); kernel {kernel}; {r['workloads']} workloads (pod containers), "
          f"{r['enclaves']} live enclaves in the BPF maps; {r['rounds']} alternating scrapes each after a warm-up; "
          f"CPU from /proc/PID/stat at {r['clk_tck']} ticks/s; host: {os.cpu_count()} CPUs, load average "
          f"{open('/proc/loadavg').read().split()[0]}")
    print(f"{'':19} {'epc_exporter':>12} {'node_exporter':>13} {'ratio':>6}")
    for label, k, unit in (("p50 scrape", "p50_ms", "ms"), ("p99 scrape", "p99_ms", "ms"),
                           ("CPU per scrape", "cpu_ms", "ms"), ("RSS", "rss_mib", "MiB"),
                           ("peak RSS (HWM)", "hwm_mib", "MiB")):
        e, n = r["epc_" + k], r["ne_" + k]
        q = ratio(e, n)
        goal = f"  {verdict(q)}" if k in ("p50_ms", "p99_ms", "rss_mib") else ""
        print(f"{label + ' ' + unit:19} {e:12.2f} {n:13.2f} {q:6.2f}{goal}")
    print(f"{'series':19} {r['series']:12d} {r['ne_series']:13d}")
    if r["epc_collector_ms"]:
        print("epc_exporter's last timed scrape, collector durations: " +
              ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(r["epc_collector_ms"].items(), key=lambda kv: -kv[1])))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--kernel", default="6.1", choices=["5.15", "6.1", "6.12"])
    ap.add_argument("--kernel-dir", help="a directory with the test kernel's bzImage (skips build-kernel.sh)")
    ap.add_argument("--scenario", default=DEFAULT_SCENARIO)
    ap.add_argument("--workdir", default="/tmp/epc_ebpf_scale")
    ap.add_argument("--rounds", type=int, help="timed scrapes of each exporter (default: the scenario's)")
    ap.add_argument("--timeout", type=int, default=420, help="seconds per guest run")
    ap.add_argument("--growth", default="", help="workload counts for the cost growth, e.g. 10,100,1000,4000")
    ap.add_argument("--growth-json", help="write the growth rows here (input of tests/perf/plot_growth.py)")
    ap.add_argument("--json", help="write the main run's figures here")
    a = ap.parse_args()
    base = json.load(open(a.scenario))
    if "compact" not in base:
        print(f"{a.scenario}: not a compact (scale) scenario")
        return 2
    if a.rounds:
        base.setdefault("scrape_bench", {})["rounds"] = a.rounds
    os.makedirs(a.workdir, exist_ok=True)
    n_main = int(base["compact"]["workloads"])
    res, why = run_one(a, base, f"scale-{n_main}", a.timeout)
    if res is None:
        print(f"FAIL: {why}")
        return 1
    r = row_of(res, n_main)
    print_main(r, a.kernel)
    print(f"(guest run {res['host_seconds']:.0f} s on the host; {res['create_seconds']:.1f} s to create the enclaves; "
          f"outputs in {res['outdir']})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(r, label=LABEL, kernel=a.kernel, date=time.strftime("%Y-%m-%d")), f, indent=1)
    sizes = [int(x) for x in a.growth.split(",") if x.strip()]
    if not sizes:
        return 0
    rows, failed = [], []
    for n in sizes:
        if n == n_main:
            rows.append(r)
            continue
        res_n, why = run_one(a, scenario_for(base, n), f"scale-{n}", a.timeout)
        if res_n is None:
            print(f"growth {n}: FAIL: {why}")
            failed.append(n)
            continue
        rows.append(row_of(res_n, n))
    rows.sort(key=lambda x: x["workloads"])
    print(f"cost growth on the eBPF path ({LABEL}); {r['rounds']} alternating scrapes per size, one guest per size")
    print(f"{'workloads':>9} {'encl':>5} {'series':>6} | {'epc p50':>7} {'p99':>7} {'CPU ms':>7} {'RSS MiB':>7} | "
          f"{'ne p50':>7} {'p99':>7} {'CPU ms':>7} {'RSS MiB':>7} | {'p50 x':>6} {'CPU x':>6} {'RSS x':>6} | "
          f"step vs linear (p50, CPU)")
    prev = None
    for x in rows:
        step = ""
        if prev:
            lin = x["workloads"] / prev["workloads"]
            step = (f"{ratio(x['epc_p50_ms'], prev['epc_p50_ms']) / lin:.2f}, "
                    f"{ratio(x['epc_cpu_ms'], max(prev['epc_cpu_ms'], 1e-6)) / lin:.2f}")
        print(f"{x['workloads']:9d} {x['enclaves']:5d} {x['series']:6d} | {x['epc_p50_ms']:7.1f} {x['epc_p99_ms']:7.1f} "
              f"{x['epc_cpu_ms']:7.1f} {x['epc_rss_mib']:7.1f} | {x['ne_p50_ms']:7.1f} {x['ne_p99_ms']:7.1f} "
              f"{x['ne_cpu_ms']:7.1f} {x['ne_rss_mib']:7.1f} | {ratio(x['epc_p50_ms'], x['ne_p50_ms']):6.2f} "
              f"{ratio(x['epc_cpu_ms'], x['ne_cpu_ms']):6.2f} {ratio(x['epc_rss_mib'], x['ne_rss_mib']):6.2f} | {step}")
        prev = x
    if a.growth_json:
        with open(a.growth_json, "w") as f:
            json.dump({"rows": rows, "cpus": 1, "host_cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
                       "path": "ebpf", "kernel": a.kernel, "note": LABEL,
                       "title": "Scrape cost against workloads: epc_exporter (eBPF maps) and node_exporter, "
                                "QEMU TCG guest",
                       "x_label": "workloads (pod containers with 2 enclaves each; log)",
                       "enclaves_per_workload": int(base["compact"].get("enclaves_per_workload", 2))}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

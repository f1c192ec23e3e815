#!/usr/bin/env python3
"""Exporter overhead on a thrashing workload, emulated EPC under QEMU TCG: the same scenario with the exporter
attached and without it, alternating, ROUNDS times each. Prints figures; asserts nothing about them.

usage: overhead.py --build-dir BUILD [--kernel 6.1] [--flavor fentry] [--rounds 2] [SCENARIO.json] OUTDIR

Figures per run: the workload's wall time from its first to its last page access (max over enclaves of
touch_seconds, the enclaves run concurrently), the summed blocked_seconds, and the EWB/ELDU counts (so that a
run which paged differently is visible). The ratio is median(with) / median(without).
A scenario with a "bench" key (scenarios/overhead_bench.json) measures epc_bench --backend=sgx instead: its
enclave is really entered (ENCLU emulated) and pages through the driver; the figure is the bench's ns per touch
of each sgx touch case, the exporter's --exporter-* flags dropped from the detached runs.
Exit 0 when every run completed, 1 when one did not, 77 when the kernel is not available.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--kernel", default="6.1")
    ap.add_argument("--flavor", default="fentry")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("scenario", nargs="?", default=os.path.join(HERE, "scenarios", "overhead_thrash.json"))
    ap.add_argument("outdir")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    base = json.load(open(a.scenario))
    variants = {}
    bench_mode = "bench" in base
    for attached in (True, False):
        sc = dict(base)
        sc["exporter"] = attached
        if bench_mode and not attached:
            sc["bench"] = dict(base["bench"], args=[x for x in base["bench"]["args"] if not x.startswith("--exporter")])
        p = os.path.join(a.outdir, f"scenario-{'with' if attached else 'without'}.json")
        json.dump(sc, open(p, "w"))
        variants[attached] = p
    rows = []
    for r in range(a.rounds):
        for attached in ((True, False) if r % 2 == 0 else (False, True)):
            out = os.path.join(a.outdir, f"round{r}-{'with' if attached else 'without'}")
            rc = subprocess.run([sys.executable, os.path.join(HERE, "run-scenario"), "--kernel", a.kernel,
                                 "--flavor", a.flavor, "--build-dir", a.build_dir, "--quiet", variants[attached],
                                 out]).returncode
            if rc == 77:
                print("SKIP: kernel not available")
                return 77
            if rc != 0:
                print(f"FAIL: run {out} did not complete (exit {rc})")
                return 1
            emu = json.load(open(os.path.join(out, "emu.json")))
            if bench_mode:
                rc_b = open(os.path.join(out, "bench.rc")).read().strip() if os.path.exists(os.path.join(out, "bench.rc")) else "missing"
                try:
                    data = json.load(open(os.path.join(out, "bench.txt")))
                except (OSError, ValueError):
                    data = {}
                cases = {b["name"].removesuffix("/real_time"): b for b in data.get("benchmarks", [])
                         if b["name"].startswith("touch/sgx/") and not b.get("error_occurred")}
                if rc_b != "0" or not cases:
                    print(f"FAIL: run {out}: epc_bench exit {rc_b}, {len(cases)} sgx cases "
                          f"(see {os.path.join(out, 'bench.log')})")
                    return 1
                b0, b1 = emu["leaf_counts_bench"].get("start", {}), emu["leaf_counts_bench"].get("after", {})
                row = {"round": r, "exporter": attached,
                       "ns_per_touch": {k: v["ns_per_touch"] for k, v in cases.items()},
                       "ewb": b1.get("EWB", 0) - b0.get("EWB", 0), "eldu": b1.get("ELDU", 0) - b0.get("ELDU", 0)}
                rows.append(row)
                print(f"round {r} exporter {'attached' if attached else 'detached'}: " + ", ".join(
                    f"{k} {v:.0f} ns/touch" for k, v in sorted(row["ns_per_touch"].items())) +
                    f"; EWB {row['ewb']}, ELDU {row['eldu']} during the bench", flush=True)
                continue
            wl = json.load(open(os.path.join(out, "workload.json")))
            start = min(e["touch_start_ns"] for e in wl["enclaves"])
            end = max(e["touch_end_ns"] for e in wl["enclaves"])
            row = {"round": r, "exporter": attached, "touch_wall_s": (end - start) / 1e9,
                   "blocked_s": sum(e["blocked_seconds"] for e in wl["enclaves"]),
                   "ewb": emu["leaf_counts"]["steady"]["EWB"], "eldu": emu["leaf_counts"]["steady"]["ELDU"],
                   "faults": sum(e["faults"] for e in wl["enclaves"])}
            rows.append(row)
            print(f"round {r} exporter {'attached' if attached else 'detached'}: touch wall {row['touch_wall_s']:.3f} s, "
                  f"blocked {row['blocked_s']:.3f} s, faults {row['faults']}, EWB {row['ewb']}, ELDU {row['eldu']}",
                  flush=True)
    if bench_mode:
        ratios = {}
        for k in sorted(rows[0]["ns_per_touch"]):
            w = [x["ns_per_touch"][k] for x in rows if x["exporter"] and k in x["ns_per_touch"]]
            wo = [x["ns_per_touch"][k] for x in rows if not x["exporter"] and k in x["ns_per_touch"]]
            if w and wo:
                ratios[k] = statistics.median(w) / statistics.median(wo)
                print(f"overhead (emulated EPC under QEMU TCG, not hardware; kernel {a.kernel}, {a.flavor}): "
                      f"epc_bench --backend=sgx {k}: ns/touch with the exporter / without = {ratios[k]:.3f} "
                      f"(median {statistics.median(w):.0f} vs {statistics.median(wo):.0f} ns over {a.rounds} runs each)")
        json.dump({"rows": rows, "ratios": ratios}, open(os.path.join(a.outdir, "overhead.json"), "w"), indent=1)
        return 0 if ratios else 1
    w = [x["touch_wall_s"] for x in rows if x["exporter"]]
    wo = [x["touch_wall_s"] for x in rows if not x["exporter"]]
    ratio = statistics.median(w) / statistics.median(wo)
    print(f"overhead (emulated EPC under QEMU TCG, kernel {a.kernel}, {a.flavor}, leaf delays "
          f"{base.get('leaf_delay_us')}): workload time with the exporter / without = {ratio:.3f} "
          f"(median {statistics.median(w):.3f} s vs {statistics.median(wo):.3f} s over {a.rounds} runs each)")
    json.dump({"rows": rows, "ratio": ratio}, open(os.path.join(a.outdir, "overhead.json"), "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

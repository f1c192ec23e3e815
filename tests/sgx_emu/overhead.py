#!/usr/bin/env python3
"""Exporter overhead on a thrashing workload, emulated EPC under QEMU TCG: the same scenario with the exporter
attached and without it, alternating, ROUNDS times each. Prints figures; asserts nothing about them.

usage: overhead.py --build-dir BUILD [--kernel 6.1] [--flavor fentry] [--rounds 2] [SCENARIO.json] OUTDIR

Figures per run: the workload's wall time from its first to its last page access (max over enclaves of
touch_seconds, the enclaves run concurrently), the summed blocked_seconds, and the EWB/ELDU counts (so that a
run which paged differently is visible). The ratio is median(with) / median(without).
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
    for attached in (True, False):
        sc = dict(base)
        sc["exporter"] = attached
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
            wl = json.load(open(os.path.join(out, "workload.json")))
            emu = json.load(open(os.path.join(out, "emu.json")))
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

#!/usr/bin/env python3
"""One CTest case of the emu suite: run-scenario, then check.py on its output.

usage: emu_test.py --kernel 6.1 --flavor fentry --build-dir BUILD SCENARIO.json OUTDIR

Exit 0 every assertion passed, 1 the guest failed or an assertion failed, 77 skipped (kernel not buildable
here, scenario needs SGX2 on 5.15, tools missing) with the reason on stdout.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The guest is killed after this long, well inside CTest's 600 s, so a hang ends with the console printed
# below rather than with CTest's bare "Timeout".
GUEST_TIMEOUT_S = 420


def print_tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
    except OSError as e:
        print(f"# (no {path}: {e.strerror})")
        return
    print(f"# last {len(tail)} lines of {path}:")
    for line in tail:
        print("# " + line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="6.1")
    ap.add_argument("--flavor", default="fentry")
    ap.add_argument("--build-dir")
    ap.add_argument("--kernel-only", action="store_true", help="only build (or find cached) the kernel")
    ap.add_argument("scenario", nargs="?")
    ap.add_argument("outdir", nargs="?")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(HERE, "kernel", f"{a.kernel}.patch")):
        print(f"SKIP: no emulation patch for kernel {a.kernel} yet (tests/sgx_emu/kernel/{a.kernel}.patch)")
        return 77
    if a.kernel_only:
        r = subprocess.run([os.path.join(HERE, "build-kernel.sh"), a.kernel])
        if r.returncode == 77:
            print(f"SKIP: kernel {a.kernel} sources not available here")
        return r.returncode
    sc = json.load(open(a.scenario))
    sgx2 = "sgx2" in sc.get("requires", []) or any(
        e.get("eaug_pages") or e.get("remove_pages")
        for grp in (sc.get("pods", []), sc.get("services", []))
        for p in grp for e in p.get("enclaves", []) + p.get("restart_with", []))
    if sgx2 and a.kernel == "5.15":
        print("SKIP: the scenario needs SGX2 (EAUG, page removal); 5.15's driver has none")
        return 77
    r = subprocess.run([sys.executable, os.path.join(HERE, "run-scenario"), "--kernel", a.kernel, "--flavor",
                        a.flavor, "--build-dir", a.build_dir, "--quiet", "--timeout", str(GUEST_TIMEOUT_S),
                        a.scenario, a.outdir])
    if r.returncode == 77:
        print(f"SKIP: kernel {a.kernel} or tools not available here (see the run-scenario message above)")
        return 77
    if r.returncode != 0:
        print(f"FAIL: the guest did not run the scenario to the end (run-scenario exit {r.returncode}); "
              f"console: {os.path.join(a.outdir, 'console.log')}")
        print_tail(os.path.join(a.outdir, "console.log"))
        for name in ("workload.log", "exporter.log"):
            if os.path.exists(os.path.join(a.outdir, name)):
                print_tail(os.path.join(a.outdir, name), 20)
        return 1
    run = json.load(open(os.path.join(a.outdir, "run.json")))
    print(f"# boot to /init {run['console_marks_seconds'].get('init')} s, guest run {run['host_seconds']['qemu']} s, "
          f"clocksource {run.get('clocksource')}")
    r = subprocess.run([sys.executable, os.path.join(HERE, "check.py"), a.outdir, "--scenario", a.scenario])
    ex = json.load(open(a.scenario)).get("exporter")
    if isinstance(ex, dict) and ex.get("restarts"):
        # Counters across the exporter's restarts, as a real Prometheus reads the periodic scrapes.
        p = subprocess.run([sys.executable, os.path.join(HERE, "prom_restarts.py"), a.outdir])
        if p.returncode == 77:
            print("FAIL: the restart scenario's scrapes could not be read into Prometheus (see above)")
            return 1
        return r.returncode or p.returncode
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""epctop under tmux on the scrapes of the real exporter on the SGX-emulating kernel (tests/sgx_emu).

run-scenario boots the emulating kernel under QEMU with the real exporter and a scenario of pods running real
enclaves through the in-kernel driver (EPC oversubscribed, so ksgxd evicts and faults load back); the guest has no
network, so its scrapes come back as files (metrics.txt: every enclave alive, ksgxd idle; metrics-released.txt:
every enclave released). This test serves those scrapes over HTTP in order and drives epctop in a 160x40 tmux
session: every value it expects on screen (workload names, enclaves, resident, swapped, EPC capacity, the sort
order, the rates between the two scrapes) is computed here from the scrape files and the scenario, not written
down. Waits poll capture-pane with a deadline (EPCTOP_TEST_DEADLINE, default 20 s).

  epctop_emu_test.py --epctop BIN --exporter BIN --workload BIN --source-dir DIR [--kernel 6.1] [--scenario NAME]
Exit 0 pass, 1 fail, 77 skip (tmux, the kernel or QEMU missing: the reason is printed).
"""
import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epctop_tmux_test as tt  # noqa: E402  (Tmux, wait_screen, table, num, Results)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import ExpositionError, ParseError, read_scrape  # noqa: E402


def fmt_bytes(v):
    """epctop's format_bytes (render.cpp), reimplemented to predict the screen."""
    if v == 0:
        return "0"
    x, u = abs(v), 0
    while x >= 1024 and u < 6:
        x /= 1024
        u += 1
    if u == 0:
        return f"{x:.0f}B"
    return (f"{x:.1f}" if x < 10 else f"{x:.0f}") + "BKMGTPE"[u]


class Serve(http.server.BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *a):
        pass

    def do_GET(self):
        b = Serve.body
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epctop", required=True)
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--kernel", default="6.1")
    ap.add_argument("--scenario", default="oversub_2x")
    ap.add_argument("--outdir", help="reuse (or keep) the run-scenario output here")
    ap.add_argument("--kernel-dir", help="passed to run-scenario: a directory with a bzImage")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("SKIP: tmux not installed (Debian package tmux; scripts/install-deps.sh test installs it)")
        return 77
    src = os.path.abspath(args.source_dir)
    scenario_path = os.path.join(src, "tests/sgx_emu/scenarios", args.scenario + ".json")
    scenario = json.load(open(scenario_path))
    tmp = tempfile.mkdtemp(prefix="epctop-emu-")
    outdir = args.outdir or os.path.join(tmp, "out")
    if not os.path.exists(os.path.join(outdir, "metrics-released.txt")):
        r = subprocess.run([sys.executable, os.path.join(src, "tests/sgx_emu/run-scenario"), "--kernel", args.kernel,
                            "--exporter", args.exporter, "--workload", args.workload, "--quiet"]
                           + (["--kernel-dir", args.kernel_dir] if args.kernel_dir else []) + [scenario_path, outdir])
        if r.returncode == 77:
            print(f"SKIP: the SGX-emulating kernel {args.kernel} or QEMU is not available here (run-scenario said why)")
            return 77
        if r.returncode != 0:
            print(f"FAIL: run-scenario exit {r.returncode}; console: {outdir}/console.log")
            return 1
    try:  # both pages through the exposition check
        steady_text, steady = read_scrape(os.path.join(outdir, "metrics.txt"))
        released_text, released = read_scrape(os.path.join(outdir, "metrics-released.txt"))
    except (ExpositionError, ParseError) as e:
        print(f"FAIL: {e}")
        return 1
    if steady is None or released is None:
        print(f"FAIL: {outdir}: metrics.txt or metrics-released.txt missing or empty")
        return 1

    res = tt.Results()
    tm = tt.Tmux(tmp)
    Serve.body = steady_text.encode()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/metrics"
    try:
        s = "emu"
        tm.start(s, f"{args.epctop} -d 1 {url}", 160, 40)
        pods = [(p["namespace"], p["pod"], p["container"], len(p["enclaves"])) for p in scenario["pods"]]
        names = [f"{ns}/{pod}/{c}" for ns, pod, c, _ in pods]
        scr = tt.wait_screen(tm, s, lambda x: all(n in x for n in names), "emu: every pod of the scenario on screen", res)
        rows, order = tt.table(scr)
        for (ns, pod, c, n_encl), name in zip(pods, names):
            lab = dict(namespace=ns, pod=pod, container=c)
            want = [str(int(steady.value("sgx_enclaves", **lab))), fmt_bytes(steady.value("sgx_epc_resident_bytes", **lab)),
                    fmt_bytes(steady.value("sgx_epc_swapped_bytes", **lab))]
            got = [rows[name].get(c) for c in ("ENCL", "RESIDENT", "SWAPPED")]
            res.check(got == want and want[0] == str(n_encl),
                      f"emu: {name}: enclaves, resident, swapped {want} (scenario: {n_encl} enclaves)", scr)
        # The guest's exporter may know no capacity (no sysfs sgx_total_bytes, no CPUID sections under QEMU): then
        # the header says "?" and still shows the free EPC the kernel counts.
        caps = steady.series("sgx_epc_capacity_bytes")
        free = steady.value("sgx_epc_free_bytes")
        want = f"EPC {fmt_bytes(sum(v for _, v in caps)) if caps else '?'}"
        if free is not None:
            want += ("  used " + fmt_bytes(steady.value("sgx_epc_used_bytes")) if caps else "") + "  free " + fmt_bytes(free)
        line1 = scr.splitlines()[1]
        res.check(line1.startswith(want), f"emu: EPC line starts '{want}'", scr)
        swapped_total = sum(steady.value("sgx_epc_swapped_bytes", namespace=ns, pod=pod, container=c) or 0
                            for ns, pod, c, _ in pods)
        res.check(swapped_total > 0, f"emu: the scenario oversubscribes EPC (swapped {swapped_total:.0f} bytes)")
        # Sort by SWAPPED: the screen's order is the scrape's order (ties by name).
        tm.keys(s, "w")
        scr = tt.wait_screen(tm, s, lambda x: "sort SWAPPED desc" in x, "emu: key w sorts by swapped", res)
        _, order = tt.table(scr)
        want_order = sorted(names, key=lambda n: (-(steady.value("sgx_epc_swapped_bytes",
                                                              **dict(zip(("namespace", "pod", "container"),
                                                                         n.split("/")))) or 0), n))
        res.check([n for n in order if n in names] == want_order, "emu: rows in swapped order", scr)

        # The release scrape: enclaves gone, counters kept; rates = counter deltas over epctop's interval.
        Serve.body = released_text.encode()
        first = names[0]
        lab0 = dict(zip(("namespace", "pod", "container"), first.split("/")))
        want_encl = str(int(released.value("sgx_enclaves", **lab0) or 0))
        scr = tt.wait_screen(tm, s, lambda x: tt.table(x)[0][first].get("ENCL") == want_encl and tt.table(x)[0][first].get("EVICT/s", "-") != "-",
                             f"emu: after release {first} shows {want_encl} enclaves and a rate", res)
        rows, _ = tt.table(scr)
        for name in names:
            lab = dict(zip(("namespace", "pod", "container"), name.split("/")))
            d = (released.value("sgx_epc_evicted_pages_total", **lab) or 0) - \
                (steady.value("sgx_epc_evicted_pages_total", **lab) or 0)
            shown = rows[name]["EVICT/s"]
            ok = (shown == "0") if d == 0 else (tt.num(shown) > 0)
            res.check(ok, f"emu: {name}: EVICT/s {shown} for a delta of {d:.0f} pages", scr)
        tm.keys(s, "q")
    finally:
        tm.kill()
        srv.shutdown()
        if not args.outdir:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())

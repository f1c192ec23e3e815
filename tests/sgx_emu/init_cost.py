#!/usr/bin/env python3
"""What the identity probes cost per SGX_IOC_ENCLAVE_INIT, emulated EPC under QEMU TCG: runs the identity
scenarios with kernel.bpf_stats_enabled in the guest and reads the kernel's run counts and run times of the
identity programs from the exporter's own sgx_exporter_bpf_program_* series.

usage: init_cost.py --build-dir BUILD [--kernel 6.1] [--flavor fentry] OUTDIR [SCENARIO.json ...]
(default scenarios: identity.json, where MRENCLAVE and the modulus come from the kernel's SIGSTRUCT copy, and
identity_user_buffer.json, where they come from the ioctl's user buffer)

Per scenario it prints the INIT calls the workload made, the sgx_ioctl calls the probes saw (every command goes
through the same hook; all but INIT return at the command check), the run time of the sgx_ioctl entry and return
programs and of the SIGSTRUCT hook, and their sum divided by the INIT calls: the identity's BPF cost per INIT,
the filtering of the enclave's other ioctls included. The kprobe or trampoline entry itself is not in the
kernel's run time. Timings are TCG's (every BPF instruction runs translated), not hardware's.
Asserts that the figures exist and are consistent (the hooks ran at least once per INIT, the SIGSTRUCT hook at
most once per INIT and only where it is enabled, every run took time); asserts no bound on the figures.
Exit 0 on success, 1 on a failed run or check, 77 when the kernel is not available.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from epc_testlib import ExpositionError, ParseError, read_scrape  # noqa: E402


def program_stats(expo):
    """{program: {"runs": n, "run_seconds": s}} from a parsed scrape (prom_text.Exposition)."""
    out = {}
    for kind in ("runs", "run_seconds"):
        for s in expo.samples:
            if s.name == f"sgx_exporter_bpf_program_{kind}_total":
                out.setdefault(s.get("program"), {})[kind] = s.value
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--kernel", default="6.1")
    ap.add_argument("--flavor", default="fentry", choices=["fentry", "kprobe"])
    ap.add_argument("outdir")
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    scenarios = a.scenarios or [os.path.join(HERE, "scenarios", s) for s in ("identity.json",
                                                                             "identity_user_buffer.json")]
    entry, ret = ("fe_encl_init", "fx_encl_init") if a.flavor == "fentry" else ("kp_encl_init", "kr_encl_init")
    failures = []
    print(f"identity probes per SGX_IOC_ENCLAVE_INIT, kernel {a.kernel}, {a.flavor} flavor "
          "(emulated EPC under QEMU TCG, not hardware):")
    for path in scenarios:
        name = os.path.splitext(os.path.basename(path))[0]
        out = os.path.join(a.outdir, name)
        rc = subprocess.run([sys.executable, os.path.join(HERE, "run-scenario"), "--kernel", a.kernel, "--flavor",
                             a.flavor, "--build-dir", a.build_dir, "--bpf-stats", "--quiet", path, out]).returncode
        if rc == 77:
            print(f"SKIP: kernel {a.kernel} or tools not available here (see the run-scenario message above)")
            return 77
        if rc != 0:
            print(f"FAIL: {name}: the guest did not run the scenario to the end (run-scenario exit {rc}; {out})")
            return 1
        sc = json.load(open(path))
        sigstruct_enabled = not any("disable-probes" in f and "encl_sigstruct" in f
                                    for f in sc.get("exporter_flags", []))
        inits = len(json.load(open(os.path.join(out, "workload.json")))["enclaves"])  # one INIT call each
        try:  # through the exposition check, as every scrape of the tests
            _, expo = read_scrape(os.path.join(out, "metrics.txt"))
        except (ExpositionError, ParseError) as e:
            failures.append(f"{name}: {e}")
            continue
        stats = program_stats(expo) if expo else {}
        got = {p: stats.get(p, {}) for p in (entry, ret, "kp_encl_sigstruct")}
        if not stats:
            failures.append(f"{name}: no sgx_exporter_bpf_program_* series in {out}/metrics.txt")
            continue
        runs = {p: int(v.get("runs", 0)) for p, v in got.items()}
        us = {p: v.get("run_seconds", 0.0) * 1e6 for p, v in got.items()}
        if runs[entry] < inits or runs[ret] != runs[entry]:
            failures.append(f"{name}: {entry} ran {runs[entry]} and {ret} {runs[ret]} times for {inits} INIT calls")
        if sigstruct_enabled and not 1 <= runs["kp_encl_sigstruct"] <= inits:
            failures.append(f"{name}: kp_encl_sigstruct ran {runs['kp_encl_sigstruct']} times for {inits} INITs")
        if not sigstruct_enabled and runs["kp_encl_sigstruct"] != 0:
            failures.append(f"{name}: kp_encl_sigstruct is disabled but ran {runs['kp_encl_sigstruct']} times")
        for p in got:
            if runs[p] and us[p] <= 0:
                failures.append(f"{name}: {p} ran {runs[p]} times in no time (bpf stats off?)")
        total = sum(us.values())
        per = lambda p: f"{us[p] / runs[p]:.1f} us/run" if runs[p] else "not run"
        print(f"  {name}: {inits} INIT calls, {runs[entry]} sgx_ioctl calls; {entry} {per(entry)}, "
              f"{ret} {per(ret)}, kp_encl_sigstruct {runs['kp_encl_sigstruct']} runs {per('kp_encl_sigstruct')}; "
              f"identity programs {total:.0f} us in all = {total / inits:.1f} us per INIT", flush=True)
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

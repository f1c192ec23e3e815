#!/usr/bin/env python3
"""epc_bench --validate where there is no SGX: exit 77 with one clear line on stderr, nothing on stdout, no file
written; bad flags exit 2. Skips (77) on a host that has /dev/sgx_enclave (there the real run applies).

usage: validate_no_sgx_test.py EPC_BENCH WORKDIR"""
import os
import subprocess
import sys


def main():
    bench, work = sys.argv[1], sys.argv[2]
    if os.path.exists("/dev/sgx_enclave"):
        print("SKIP: this host has /dev/sgx_enclave: epc_bench --validate would run for real")
        return 77
    os.makedirs(work, exist_ok=True)
    for f in ("validate.json", "validate.md"):
        if os.path.exists(os.path.join(work, f)):
            os.unlink(os.path.join(work, f))
    failures = []
    r = subprocess.run([bench, "--validate", f"--validate-out={work}"], capture_output=True, text=True, timeout=60)
    lines = r.stderr.splitlines()
    print(f"# exit {r.returncode}; stderr: {r.stderr!r}; stdout: {r.stdout!r}")
    if r.returncode != 77:
        failures.append(f"exit {r.returncode}, expected 77")
    if len(lines) != 1 or not lines[0].startswith("epc_bench --validate: no SGX on this node: "):
        failures.append(f"stderr is not the one 'no SGX on this node' line: {lines}")
    if r.stdout:
        failures.append(f"stdout not empty: {r.stdout!r}")
    written = [f for f in ("validate.json", "validate.md") if os.path.exists(os.path.join(work, f))]
    if written:
        failures.append(f"wrote {written} without SGX")
    for args, why in ((["--validate", "--validate-rounds=0"], "rounds 0"),
                      (["--validate", "--exporter-attach-cmd=true"], "attach without detach"),
                      (["--validate", "--exporter-url=https://x/metrics"], "not http://"),
                      (["--validate", "--validate-out="], "empty out dir")):
        r = subprocess.run([bench] + args, capture_output=True, text=True, timeout=60)
        if r.returncode != 2 or "epc_bench:" not in r.stderr:
            failures.append(f"{why}: exit {r.returncode}, stderr {r.stderr[:200]!r} (expected 2 and a message)")
    for f in failures:
        print("FAIL " + f)
    if not failures:
        print("PASS epc_bench --validate without SGX: exit 77, one line; bad flags exit 2")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Golden end-to-end test (after node_exporter's end-to-end-test.sh).

Starts the real epc_exporter on a free loopback port with --path.rootfs=<fixture>, scrapes /metrics, checks the
raw output with `promtool check metrics` and tests/lib's exposition check (no duplicate series, one set of label
names per family), drops the series that differ from run to run (build info, durations),
replaces the values of the exporter's own process_* series with <value> (after checking they are sane) and diffs
the rest against a golden file; a second run with --web.disable-exporter-metrics must serve the same minus
process_*. UPDATE_GOLDEN=1 (or --update) rewrites the golden file instead.

  e2e.py BINARY --fixture DIR --golden FILE [--ebpf-replay FILE] [--flag=F ...]
                                                   golden test of one fixture node (F: further exporter flags;
                                                   FILE: the ebpf collector on, its numbers from a replay snapshot)
  e2e.py BINARY --bad-input --workdir DIR           garbage/enormous/unreadable files: HTTP 200, success 0, reasons logged
"""
import argparse
import contextlib
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import ExpositionError, Exporter, ParseError, http_get  # noqa: E402

# Series that change from run to run or build to build.
VOLATILE = re.compile(r"^(sgx_exporter_build_info|sgx_exporter_collector_duration_seconds)\{")
# The ebpf collector depends on the host kernel, not on the fixture: off, unless the test serves it from a replay
# snapshot (--ebpf-replay), which stands in for the BPF maps.
COMMON_FLAGS = ["--no-collector.ebpf", "--log.level=debug"]


def exporter_flags(fixture, ebpf_replay, extra):
    """The flags of a golden run: the fixture node, the ebpf collector off or fed by the replay file, then extra."""
    common = COMMON_FLAGS
    if ebpf_replay:
        common = [f for f in COMMON_FLAGS if f != "--no-collector.ebpf"]
        common.append(f"--collector.ebpf.replay-file={os.path.abspath(ebpf_replay)}")
    return [f"--path.rootfs={fixture}", f"--collector.platform.cpuid-file={fixture}/cpuid.txt"] + common + extra
# The exporter's own process_* series: present in every scrape, values of this run. Their sample lines are kept
# with the value replaced by <value> after a sanity check (process_checks), so a series that goes missing, is
# renamed or gains a label still fails the diff.
PROCESS_SAMPLE = re.compile(r"^(process_[a-z_]+) (\S+)$")
SECRET = "hunter2-outside-the-root"  # e2e --bad-input: behind symlinks that lead out of the fixture


def process_checks(values):
    """Problems with the process_* values of one scrape (client_golang's meanings; -1 = unlimited)."""
    now = time.time()
    checks = {
        "process_cpu_seconds_total": lambda v: 0 <= v < 3600,
        "process_resident_memory_bytes": lambda v: 1 << 20 <= v < 1 << 34,
        "process_virtual_memory_bytes": lambda v: v >= values.get("process_resident_memory_bytes", 0),
        "process_virtual_memory_max_bytes": lambda v: v == -1 or v > 0,
        "process_open_fds": lambda v: 3 <= v and (values.get("process_max_fds", -1) == -1 or
                                                   v <= values["process_max_fds"]),
        "process_max_fds": lambda v: v == -1 or v >= 64,
        "process_start_time_seconds": lambda v: now - 600 <= v <= now + 5,
    }
    problems = [f"{name} missing" for name in checks if name not in values]
    problems += [f"{name} {values[name]!r} out of range" for name, ok in checks.items()
                 if name in values and not ok(values[name])]
    problems += [f"{name}: unexpected process metric" for name in values if name not in checks]
    return problems


def normalise(body):
    """The scrape as the golden file holds it, and the process_* values it replaced."""
    out, values = [], {}
    for l in body.splitlines():
        if VOLATILE.match(l):
            continue
        m = PROCESS_SAMPLE.match(l)
        if m:
            values[m.group(1)] = float(m.group(2))
            l = f"{m.group(1)} <value>"
        out.append(l + "\n")
    return "".join(out), values


@contextlib.contextmanager
def running_exporter(binary, args, logdir):
    """The binary on a free loopback port (epc_testlib.Exporter), ready when the block starts. A failed start, or
    an exit before the end of the block or with a status other than 0 or SIGTERM's when stopped (a sanitizer
    report, an abort), fails the test with the log."""
    exp = Exporter(binary, args, logdir, deadline_s=15)
    try:
        exp.start()
    except RuntimeError as e:
        print(f"exporter did not come up: {e}")
        raise SystemExit(1)
    try:
        yield exp
    finally:
        died = not exp.running  # before we asked it to stop
        rc = exp.stop()
        if died or rc not in (0, -signal.SIGTERM):
            print(f"exporter exited with {rc}{' before the end of the test' if died else ''}:\n"
                  f"{exp.log_text()[-4000:]}")
            raise SystemExit(1)


def promtool_check(text):
    promtool = shutil.which("promtool")
    if not promtool:
        print("promtool not found (Debian package 'prometheus'; scripts/install-deps.sh installs it)")
        return False
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    if r.returncode != 0:
        print("promtool check metrics failed:\n" + r.stdout + r.stderr)
        return False
    # promtool prints lint findings (naming, units) on stdout/stderr even with exit 0 in some versions.
    findings = (r.stdout + r.stderr).strip()
    if findings:
        print("promtool check metrics findings:\n" + findings)
        return False
    return True


def scrape(exp):
    """One /metrics page, through the exposition check; any failure ends the test with the log."""
    try:
        status, body, _ = exp.scrape()
    except (ExpositionError, ParseError) as e:
        print(f"{e}\n--- log ---\n{exp.log_text()[-4000:]}")
        raise SystemExit(1)
    if status != 200:
        print(f"/metrics answered HTTP {status}:\n{body[:2000]}\n--- log ---\n{exp.log_text()}")
        raise SystemExit(1)
    return body


def golden_test(args):
    update = args.update or os.environ.get("UPDATE_GOLDEN") == "1"
    fixture = os.path.abspath(args.fixture)
    flags = exporter_flags(fixture, args.ebpf_replay, args.flag)
    with tempfile.TemporaryDirectory(prefix="epc_e2e_") as tmp, running_exporter(args.binary, flags, tmp) as exp:
        body = scrape(exp)
        log = exp.log_text()
    ok = promtool_check(body)
    filtered, process_values = normalise(body)
    for problem in process_checks(process_values):
        print(f"process metrics: {problem}")
        ok = False
    # --web.disable-exporter-metrics: the same scrape without process_* (the sgx_exporter_* self metrics stay).
    with tempfile.TemporaryDirectory(prefix="epc_e2e_") as tmp, \
            running_exporter(args.binary, flags + ["--web.disable-exporter-metrics"], tmp) as exp:
        without, no_values = normalise(scrape(exp))
    if no_values or "process_" in without:
        print(f"--web.disable-exporter-metrics still serves process_* metrics: {sorted(no_values)}")
        ok = False
    if without != "".join(l + "\n" for l in filtered.splitlines() if not re.match(r"^(# (HELP|TYPE) )?process_", l)):
        print("--web.disable-exporter-metrics changed more than the process_* metrics:")
        sys.stdout.writelines(difflib.unified_diff(filtered.splitlines(True), without.splitlines(True),
                                                   "default", "--web.disable-exporter-metrics"))
        ok = False
    for l in body.splitlines():
        if l.startswith("sgx_exporter_collector_success{") and not l.endswith(" 1"):
            print(f"collector failed on a good fixture: {l}\n--- log ---\n{log}")
            ok = False
    if update:
        os.makedirs(os.path.dirname(args.golden), exist_ok=True)
        with open(args.golden, "w") as f:
            f.write(filtered)
        print(f"updated {args.golden}")
        return 0 if ok else 1
    try:
        with open(args.golden) as f:
            want = f.read()
    except FileNotFoundError:
        print(f"no golden file {args.golden}; run with UPDATE_GOLDEN=1 to create it")
        return 1
    if want != filtered:
        sys.stdout.writelines(difflib.unified_diff(want.splitlines(True), filtered.splitlines(True),
                                                   args.golden, "scraped"))
        print("\noutput differs from the golden file (UPDATE_GOLDEN=1 rewrites it after review)")
        ok = False
    if ok:
        print(f"ok: {os.path.basename(fixture)}: {sum(1 for l in filtered.splitlines() if l and l[0] != '#')} "
              "series match the golden file, promtool clean")
    return 0 if ok else 1


def make_bad_fixture(src, dst):
    """A copy of a good node with garbage, enormous and unreadable files in the places each collector reads."""
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    with open(os.path.join(dst, "proc/cpuinfo"), "wb") as f:
        f.write(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 16)
    with open(os.path.join(dst, "sys/devices/system/node/node1/x86/sgx_total_bytes"), "w") as f:
        f.write("9" * (3 << 20))  # enormous
    cg = os.path.join(dst, "sys/fs/cgroup/kubepods.slice")
    scopes = sorted(os.path.join(d, n) for d, dirs, _ in os.walk(cg) for n in dirs if n.endswith(".scope"))
    with open(os.path.join(scopes[0], "misc.current"), "w") as f:
        f.write("sgx_epc banana\n")  # garbage
    os.remove(os.path.join(scopes[1], "misc.max"))
    os.mkdir(os.path.join(scopes[1], "misc.max"))  # a directory where a file belongs: read fails (EISDIR)
    os.remove(os.path.join(scopes[2], "misc.peak"))
    os.mkfifo(os.path.join(scopes[2], "misc.peak"))  # a FIFO without writer must not hang the scrape
    events = os.path.join(scopes[3], "misc.events")
    os.chmod(events, 0)  # unreadable for non-root
    # Symlinks out of the root, with content that must never be read nor quoted: an absolute one (resolved inside
    # the root, where it names nothing) and one that climbs out with "..".
    outside = os.path.join(os.path.dirname(dst), "outside-secret")
    with open(outside, "w") as f:
        f.write(f"sgx_epc {SECRET}\n")
    node1 = os.path.join(dst, "sys/devices/system/node/node0/x86/sgx_total_bytes")
    os.remove(node1)
    os.symlink(outside, node1)
    peak = os.path.join(scopes[4], "misc.peak")
    os.remove(peak)
    os.symlink(os.path.relpath(outside, os.path.dirname(peak)), peak)
    return dst


def bad_input_test(args):
    ok = True
    # Wrong flags: a clear message and exit code 2, never a crash, and before anything starts (no log line first).
    for bad in (["--bogus"], ["--collector.platform.cpuid-file=/nonexistent/cpuid.txt"], ["--web.listen-address"],
                ["--collector.nosuch"], ["--collector.ebpf.per-enclave=yes"], ["--collector.ebpf.per-enclave", "true"],
                ["--collector.ebpf.signers-file=/nonexistent/signers"], ["--collector.ebpf.disable-probes=nosuch"],
                ["--web.listen-address=127.0.0.1:1"], ["--path.rootfs=/nonexistent"]):
        r = subprocess.run([args.binary] + bad + ["--web.listen-address=127.0.0.1:0"] * (bad != ["--web.listen-address"]),
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 2 or not r.stderr.strip():
            print(f"{bad}: want exit 2 with a message, got {r.returncode}: {r.stderr.strip()[:300]}")
            ok = False
        if "starting epc_exporter" in r.stdout + r.stderr:
            print(f"{bad}: refused only after the start began:\n{r.stdout}{r.stderr}")
            ok = False

    # --collector.ebpf.unpin with nothing pinned says so (exit 0), not that it removed pinned state.
    with tempfile.TemporaryDirectory(prefix="epc_e2e_pins_") as pins:
        r = subprocess.run([args.binary, "--collector.ebpf.unpin", f"--collector.ebpf.pin-path={pins}"],
                           capture_output=True, text=True, timeout=30)
        out = r.stdout + r.stderr
        if r.returncode != 0 or "nothing was pinned" not in out or "pinned state removed" in out:
            print(f"--collector.ebpf.unpin with nothing pinned: exit {r.returncode}:\n{out}")
            ok = False

    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "aks-dcsv3")
    os.makedirs(args.workdir, exist_ok=True)
    root = make_bad_fixture(src, os.path.join(args.workdir, "bad-input"))
    cpuid_garbage = os.path.join(args.workdir, "cpuid-garbage.txt")
    with open(cpuid_garbage, "wb") as f:
        f.write(os.urandom(4096))
    flags = [f"--path.rootfs={root}", f"--collector.platform.cpuid-file={cpuid_garbage}"] + COMMON_FLAGS
    with tempfile.TemporaryDirectory(prefix="epc_e2e_") as tmp, running_exporter(args.binary, flags, tmp) as exp:
        bodies = [scrape(exp) for _ in range(2)]
        status, _ = http_get(exp.url + "/healthz")
        if status != 200:
            print(f"/healthz answered {status} after bad scrapes")
            ok = False
        log = exp.log_text()
    for c in ("platform", "cgroup"):
        if f'sgx_exporter_collector_success{{collector="{c}"}} 0' not in bodies[-1]:
            print(f"collector {c} should report success 0 on bad input")
            ok = False
        if not re.search(rf'msg="collector failed" collector={c} err=', log):
            print(f"no logged reason for collector {c}")
            ok = False
    for reason in ("binary data in cpuinfo", "not an unsigned integer", "Is a directory"):
        if reason not in log:
            print(f"log does not name the reason '{reason}'")
            ok = False
    for content in ("banana", SECRET):  # what files say stays out of the log
        if content in log:
            print(f"the log quotes a file's content: '{content}'")
            ok = False
    if any(l.startswith(("sgx_platform_info", "sgx_cgroup_")) for l in bodies[-1].splitlines()):
        print("a failed collector's partial metrics were served")
        ok = False
    ok = promtool_check(bodies[-1]) and ok
    if not ok:
        print("--- scrape ---\n" + bodies[-1] + "\n--- log ---\n" + log)
        return 1
    print("ok: bad input gives HTTP 200, success 0 for platform and cgroup, reasons logged; bad flags exit 2 before "
          "the start; unpin with nothing pinned says so")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binary")
    p.add_argument("--fixture")
    p.add_argument("--golden")
    p.add_argument("--update", action="store_true")
    p.add_argument("--flag", action="append", default=[], help="a further exporter flag (repeatable)")
    p.add_argument("--ebpf-replay", help="serve the ebpf collector from this replay file (instead of leaving it off)")
    p.add_argument("--bad-input", action="store_true")
    p.add_argument("--workdir", default=tempfile.gettempdir())
    args = p.parse_args()
    if not os.access(args.binary, os.X_OK):
        print(f"{args.binary}: not an executable")
        return 1
    if args.bad_input:
        return bad_input_test(args)
    if not args.fixture or not args.golden:
        p.error("--fixture and --golden are required (or --bad-input)")
    return golden_test(args)


if __name__ == "__main__":
    sys.exit(main())

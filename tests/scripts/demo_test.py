#!/usr/bin/env python3
"""scripts/demo.sh without a terminal (--batch): it must serve every metric family docs/metrics.md documents (but
the four that only live probes write), say that its numbers are made up, make counters move (in the exporter's
scrapes and as rates in epctop's snapshots) and stop the exporter it started when it ends.

  demo_test.py --source-dir DIR --exporter BIN --epctop BIN
Every wait polls with a deadline (EPC_DEMO_TEST_DEADLINE seconds, default 60). Exit 0 pass, 1 fail.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import epc_testlib as tl  # noqa: E402

DEADLINE = float(os.environ.get("EPC_DEMO_TEST_DEADLINE", "60"))
# db's evicted pages: the series of that family with these labels (others, such as cgroup="", may be there too).
DB = ("sgx_epc_evicted_pages_total", {"namespace": "sgx-apps", "pod": "enclave-db-0", "container": "db"})


def wait_for(what, pred):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE:.0f} s: {what}")


def scrape(url):
    """The page, parsed and through the exposition check (tests/lib)."""
    status, _, page = tl.scrape(url)
    if status != 200:
        raise AssertionError(f"{url} answered {status}")
    return page


def sample(page, series):
    """The value of the first series called name whose labels include these (whatever others it carries)."""
    name, labels = series
    for s in page.samples:
        if s.name == name and all(s.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--epctop", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    out_path = tempfile.mktemp(prefix="epc-demo-test-", suffix=".out")
    out = open(out_path, "w")
    demo = subprocess.Popen([os.path.join(src, "scripts/demo.sh"), "--batch", "1000", "--exporter", args.exporter,
                             "--epctop", args.epctop], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    failed = []

    def text():
        with open(out_path) as fh:
            return fh.read()

    def check(cond, what, detail=""):
        print(("ok    " if cond else "FAIL  ") + what + ("" if cond else "\n" + detail))
        if not cond:
            failed.append(what)

    try:
        m = wait_for("the demo's banner with the exporter's URL",
                     lambda: re.search(r"demo: exporter (http://127\.0\.0\.1:\d+/metrics)", text()))
        url = m.group(1)
        check("MADE-UP NUMBERS" in text(), "the banner says the numbers are made up", text())
        log = re.search(r"demo: exporter log (\S+)", text()).group(1)
        with open(log) as fh:
            log_text = fh.read()
        check("replaying a file instead of probing the kernel" in log_text, "the exporter's log says replay", log_text)

        first = scrape(url)
        families = set(first.families)
        want = tl.documented_families(src) - tl.LIVE_PROBE_FAMILIES
        check(len(want) > 40 and not want - families, f"every documented family served ({len(families)} families)",
              f"missing: {sorted(want - families)}")

        before = sample(first, DB)
        after = wait_for("db's evicted pages counter moving", lambda: (v := sample(scrape(url), DB)) and v > before and v)
        check(after > before, f"counters move: db evicted {before:.0f} -> {after:.0f}")

        # epctop: the note on the status line, and a later snapshot with db's eviction rate above 0.
        def moving_frame():
            frames = text().split("\n\n")
            for f in frames[1:]:
                lines = f.splitlines()
                head = next((l.split() for l in lines if l.startswith("WORKLOAD")), None)
                row = next((l.split() for l in lines if l.startswith("sgx-apps/enclave-db-0/db ")), None)
                if head and row and "EVICT/s" in head and row[head.index("EVICT/s")] not in ("-", "0"):
                    return f
            return None
        frame = wait_for("an epctop snapshot with db evicting", moving_frame)
        check("DEMO: made-up numbers" in frame, "epctop's status line says the numbers are made up", frame)
        check("~" not in frame, "epctop without a terminal cuts no name", frame)
    except AssertionError as e:
        check(False, str(e), text())
    finally:
        demo.send_signal(signal.SIGTERM)  # the script: it stops what it started
        try:
            demo.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)  # its process group (start_new_session): nothing is left behind
            demo.wait()
            check(False, "the demo stops on SIGTERM")
    try:
        scrape(url)
        check(False, "the exporter stops with the demo")
        os.killpg(demo.pid, signal.SIGKILL)  # what the demo left running, so the test leaves nothing behind
    except (OSError, NameError):
        check(True, "the exporter stops with the demo")
    os.unlink(out_path)
    print(f"{'FAIL' if failed else 'ok'}: demo_test ({len(failed)} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

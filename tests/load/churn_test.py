#!/usr/bin/env python3
"""Pod churn: pods and containers appear and vanish in a copy of a fixture node while the exporter is scraped
continuously. Fails on a crash, a non-200 scrape, a scrape that fails the exposition check (tests/lib/prom_text.py:
a duplicate series, label names that differ within a family), a pod that is missing after the scrape following its creation,
a stale series of a removed pod after the next scrape, or RSS growth after warm-up. Prints what it measured.

usage: churn_test.py <epc_exporter> <fixture rootfs> [seconds=20]
"""
import atexit
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from epc_testlib import Exporter, fail, scrape as checked_scrape  # noqa: E402

exporter, fixture = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
random.seed(6)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


work = tempfile.mkdtemp()
root = os.path.join(work, "node")
shutil.copytree(fixture, root, symlinks=True)
cg = os.path.join(root, "sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice")
pods_dir = os.path.join(root, "var/log/pods")
links_dir = os.path.join(root, "var/log/containers")
os.makedirs(links_dir, exist_ok=True)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


class Pod:
    def __init__(self, i):
        self.name = f"churn-{i}"
        self.uid = str(uuid.UUID(int=random.getrandbits(128), version=4))
        self.containers = {f"c{k}": "%064x" % random.getrandbits(256) for k in range(random.randint(1, 3))}
        self.slice = os.path.join(cg, f"kubepods-burstable-pod{self.uid.replace('-', '_')}.slice")
        self.logdir = os.path.join(pods_dir, f"churn_{self.name}_{self.uid}")

    def create(self):
        # Names first (the kubelet creates the log dir before the container runs), then the cgroups.
        for c, cid in self.containers.items():
            os.makedirs(os.path.join(self.logdir, c), exist_ok=True)
            write(os.path.join(self.logdir, c, "0.log"), "")
            os.symlink(f"/var/log/pods/churn_{self.name}_{self.uid}/{c}/0.log",
                       os.path.join(links_dir, f"{self.name}_churn_{c}-{cid}.log"))
        os.makedirs(self.slice, exist_ok=True)
        total = 0
        for c, cid in self.containers.items():
            scope = os.path.join(self.slice, f"cri-containerd-{cid}.scope")
            os.makedirs(scope, exist_ok=True)
            used = random.randint(1, 64) * 4096
            total += used
            write(os.path.join(scope, "misc.current"), f"sgx_epc {used}\n")
            write(os.path.join(scope, "misc.max"), "sgx_epc max\n")
            write(os.path.join(scope, "misc.peak"), f"sgx_epc {used}\n")
            write(os.path.join(scope, "misc.events"), "sgx_epc.max 0\n")
        for f, v in (("misc.current", f"sgx_epc {total}\n"), ("misc.max", "sgx_epc max\n"),
                     ("misc.peak", f"sgx_epc {total}\n"), ("misc.events", "sgx_epc.max 0\n")):
            write(os.path.join(self.slice, f), v)

    def remove(self):
        # Container cgroups go first, as when the runtime tears a pod down.
        shutil.rmtree(self.slice)
        for c, cid in self.containers.items():
            os.unlink(os.path.join(links_dir, f"{self.name}_churn_{c}-{cid}.log"))
        shutil.rmtree(self.logdir)


# Hundreds of pods (each up to 4 workloads: the pod and its containers) come and go within seconds here, more than
# the default cap holds within its default grace (5m): with grace 0 a gone workload frees its slot at the next
# scrape, so every live pod has its series (the cap itself, with its state, is still on).
exp = Exporter(exporter, [f"--path.rootfs={root}", "--no-collector.ebpf", "--metrics.workload-grace=0s"], work)
try:
    exp.start()
except RuntimeError as e:
    fail(str(e))
atexit.register(exp.stop)  # also when a check fails
proc = exp.proc
url = exp.url + "/metrics"


def scrape():
    """(text, Exposition) of one checked scrape; a non-200 answer or a broken page raises."""
    status, text, expo = checked_scrape(url, timeout=15)
    if status != 200:
        raise RuntimeError(f"scrape answered {status}")
    return text, expo


def churn_pods(expo):
    return {s.get("pod") for s in expo.samples if s.get("namespace") == "churn" and s.get("pod").startswith("churn-")}


# A background scraper races with the file changes: every answer must be a 200.
stop = threading.Event()
background = {"scrapes": 0, "errors": []}


def hammer():
    while not stop.is_set():
        try:
            scrape()
            background["scrapes"] += 1
        except Exception as e:  # noqa: BLE001 - any failure is a finding
            background["errors"].append(repr(e))


t = threading.Thread(target=hammer, daemon=True)
t.start()

try:
    live, created, removed, checks, max_series = [], 0, 0, 0, 0
    rss = []
    start = time.time()
    i = 0
    while time.time() - start < seconds:
        # Between 20 and 30 live pods after the ramp-up, so memory after warm-up reflects churn, not growth.
        if len(live) < 20 or (len(live) < 30 and random.random() < 0.5):
            p = Pod(i)
            i += 1
            p.create()
            live.append(p)
            created += 1
        if len(live) > 20 and random.random() < 0.5:
            p = live.pop(random.randrange(len(live)))
            p.remove()
            removed += 1
        try:
            _, expo = scrape()
        except (RuntimeError, ValueError) as e:  # ValueError: ExpositionError, ParseError
            fail(str(e))
        max_series = max(max_series, len(expo.samples))
        seen = churn_pods(expo)
        want = {p.name for p in live}
        if seen != want:
            fail(f"after scrape: missing {sorted(want - seen)[:5]}, stale {sorted(seen - want)[:5]}")
        checks += 1
        if proc.poll() is not None:
            fail("exporter died during churn")
        rss.append(rss_kib(proc.pid))
    # Everything goes away: no churn series may remain.
    for p in live:
        p.remove()
        removed += 1
    live = []
    try:
        _, expo = scrape()
    except (RuntimeError, ValueError) as e:
        fail(str(e))
    if churn_pods(expo):
        fail(f"stale series after removing every pod: {sorted(churn_pods(expo))[:5]}")
finally:
    stop.set()
    t.join(timeout=20)

if background["errors"]:
    fail(f"background scrapes failed: {background['errors'][:3]}")
if len(rss) < 8:
    fail("too few iterations")
warm = rss[len(rss) // 4]
peak = max(rss[len(rss) // 4:])
print(f"churn: {created} pods created, {removed} removed, {checks} checked scrapes + {background['scrapes']} "
      f"concurrent scrapes in {seconds:.0f}s, up to {max_series} series per scrape; RSS KiB start {rss[0]}, "
      f"after warm-up {warm}, end {rss[-1]}, max {peak}")
if peak - warm > 6144:
    fail(f"RSS grew {peak - warm} KiB after warm-up")
exp.stop()
shutil.rmtree(work)
print("churn_test: passed")

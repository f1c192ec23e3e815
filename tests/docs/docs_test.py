#!/usr/bin/env python3
"""The documentation against the product: what README.md, docs/*.md and deploy/README.md name must exist.

  - flags: every --web.*, --path.*, --collector.*, --metrics.*, --log.* (and <path.x> placeholders) is a flag of
    `epc_exporter --help`; in docs/epctop.md every other --flag is one of `epctop --help`;
  - metric names: every sgx_* / process_* name is a family the exporter serves (a scrape of the aks-dcsv3 fixture
    node with every collector, its eBPF replay and per-enclave series, plus a scrape of the live probes), a recorded
    or adapter name built on one (alerts/, deploy/prometheus-adapter/), or a name of the kernel, the fixtures or
    the tree (kernel functions, sysfs files, directories); and every family served is documented in
    docs/metrics.md, whose tables list no other;
  - claims that the exporter does not export a family it exports ("today's exporter does not");
  - counts of probes ("12 probes", "probes 11/12", "all 12 probes", "12/12 probes") against the hooks the live
    exporter reports (sgx_exporter_probe_attached series);
  - file paths (in text and links, with their #anchors) exist in the tree, scripts are executable, `--target X` is
    a CMake target;
  - the package's Depends listed in deploy/README.md are the ones dpkg-shlibdeps gives for the programs
    scripts/build-deb.sh ships (skipped with a note without dpkg-shlibdeps).

  docs_test.py --source-dir DIR --build-dir DIR --exporter BIN --epctop BIN
Exit 0 pass, 1 fail (each finding names the file and line).
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import epc_testlib as tl  # noqa: E402

DOCS = ["README.md", "deploy/README.md"] + sorted(os.path.relpath(p, ".") for p in glob.glob("docs/*.md"))
EXPORTER_NAMESPACES = ("web.", "path.", "collector.", "no-collector.", "metrics.", "log.")
TOP_DIRS = ("exporter", "probes", "epctop", "bench", "tests", "scripts", "deploy", "docs", "dashboards", "alerts")


class Findings:
    def __init__(self):
        self.items = []

    def add(self, where, what):
        self.items.append(f"{where}: {what}")


def doc_lines(src):
    """(relative path, line number, text) of every documentation line; code blocks included (they name flags and
    commands too)."""
    for rel in DOCS:
        with open(os.path.join(src, rel), encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                yield rel, n, line.rstrip("\n")


def without_link_targets(line):
    return re.sub(r"\]\([^)]*\)", "]", line)


# ---------------------------------------------------------------------------------------------------- flags
def help_flags(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30).stdout
    return {m.group(2) for m in re.finditer(r"(?<![\w-])--(\[no-\])?([a-z][a-z0-9.-]*[a-z0-9])", out)}


FLAG = re.compile(r"(?<![\w/-])--(\[no-\])?([a-z][a-z0-9.-]*[a-z0-9])(?![\w-]|\.?<)")
PLACEHOLDER_FLAG = re.compile(r"<((?:web|path|collector|metrics|log)\.[a-z][a-z0-9.-]*)>")


def check_flags(src, exporter_flags, epctop_flags, f):
    for rel, n, line in doc_lines(src):
        text = without_link_targets(line)
        for m in FLAG.finditer(text):
            name = m.group(2)
            if re.search(r"\bcmake\s+$", text[:m.start()]):
                continue  # cmake's own options (cmake --install, --build)
            if name.startswith(EXPORTER_NAMESPACES):
                plain = name[3:] if name.startswith("no-") else name
                if plain not in exporter_flags:
                    f.add(f"{rel}:{n}", f"--{name} is not a flag of epc_exporter --help")
            elif rel == "docs/epctop.md" and name not in epctop_flags and name not in exporter_flags:
                f.add(f"{rel}:{n}", f"--{name} is not an option of epctop --help")
        for m in PLACEHOLDER_FLAG.finditer(text):
            if m.group(1) not in exporter_flags:
                f.add(f"{rel}:{n}", f"<{m.group(1)}> names no flag of epc_exporter --help")


# ---------------------------------------------------------------------------------------------------- metrics
def scrape_families(src, exporter, work):
    """Families of a replay scrape with every collector, and of a live-probe scrape; the hooks' count."""
    fixture = os.path.join(src, "tests/fixtures/aks-dcsv3")
    replay_args = [f"--path.rootfs={fixture}", f"--collector.platform.cpuid-file={fixture}/cpuid.txt",
                   f"--collector.ebpf.replay-file={src}/tests/fixtures/ebpf/aks-dcsv3.txt",
                   "--collector.ebpf.per-enclave"]
    live_args = ["--no-collector.platform", "--no-collector.cgroup", "--collector.ebpf.pin-path=",
                 "--collector.ebpf.discover=false"]
    with tl.Exporter(exporter, replay_args, work, name="replay") as e:
        replay = e.scrape()[2]  # parsed and through the exposition check
    with tl.Exporter(exporter, live_args, work, name="live") as e:
        live = e.scrape()[2]
    hooks = sum(1 for s in live.samples if s.name == "sgx_exporter_probe_attached")
    served = set(replay.families) | set(live.families)
    # The live probes' own families, which neither scrape here can show: they must be in the collector's source.
    with open(os.path.join(src, "exporter/collectors/ebpf.cpp")) as fh:
        source = fh.read()
    for name in tl.LIVE_PROBE_FAMILIES:
        if f'"{name}"' not in source:
            raise RuntimeError(f"{name} (tests/lib LIVE_PROBE_FAMILIES) is no longer written by collectors/ebpf.cpp")
    return served | tl.LIVE_PROBE_FAMILIES, hooks


def recorded_names(src):
    """Names built on families: recording rules (level:metric:operation) and the adapter's custom metrics."""
    names = set()
    for path in glob.glob(os.path.join(src, "alerts/*.yml")):
        with open(path) as fh:
            for rec in re.findall(r"^\s*-?\s*record:\s*(\S+)", fh.read(), re.M):
                names.update(part for part in rec.split(":") if part)
    with open(os.path.join(src, "deploy/prometheus-adapter/config.yaml")) as fh:
        names.update(re.findall(r'^\s*as:\s*"?([a-z_:]+)"?', fh.read(), re.M))
    return names


def code_names(src):
    """sgx_* names of the kernel, the fixtures and the tree that are not metrics: the probes' and the emulating
    kernels' sources (kernel functions and structs), the fixtures (sysfs files, cpuinfo flags, kube-state-metrics
    labels, misc resources), bench/sgx, and the tree's file names."""
    names = set()
    roots = ["probes", "tests/sgx_emu/kernel", "tests/fixtures", "tests/prometheus/kube-state-metrics.prom", "bench/sgx"]
    for root in roots:
        paths = [os.path.join(src, root)] if os.path.isfile(os.path.join(src, root)) else \
            [os.path.join(d, n) for d, _, files in os.walk(os.path.join(src, root)) for n in files]
        for p in paths:
            names.update(re.findall(r"\bsgx_[a-z0-9_]+", os.path.relpath(p, src)))
            try:
                with open(p, errors="replace") as fh:
                    names.update(re.findall(r"\bsgx_[a-z0-9_]+", fh.read()))
            except OSError:
                pass
    for d, dirs, files in os.walk(src):
        if ".git" in d:
            continue
        for n in dirs + files:
            names.update(re.findall(r"\bsgx_[a-z0-9_]+", os.path.splitext(n)[0]))
    return names


METRIC = re.compile(r"(?<![\w./-])((?:sgx|process)_[a-z0-9_]*[a-z0-9])(?![\w(])")
# "The exporter does not export X": false wherever X is served. A claim about today's exporter is one whatever else
# the sentence says; the others are not claims inside a condition ("when ... is not exported").
TODAY = re.compile(r"today'?s\s+exporter\s+(?:does\s+not|doesn't|has\s+no)", re.I)
NEGATIVE = re.compile(r"(?:the|this)\s+exporter\s+(?:does\s+not\s+export|exports\s+no)|is\s+not\s+(?:yet\s+)?exported|"
                      r"not\s+yet\s+exported", re.I)
# sgx_ names of other software the documents mention: not metrics, not in the tree.
OTHER_NAMES = {
    "sgx_encl_get_mem_cgroup": "the SGX driver's memcg rule (arch/x86/kernel/cpu/sgx/encl.c)",
    "sgx_sign": "the Intel SGX SDK's signing tool",
}


def check_metrics(src, served, f):
    known = served | recorded_names(src) | code_names(src) | set(OTHER_NAMES)
    for rel, n, line in doc_lines(src):
        for m in METRIC.finditer(without_link_targets(line)):
            name = m.group(1)
            if name not in known:
                f.add(f"{rel}:{n}", f"{name} is neither a family the exporter serves nor a name of the tree")
    # Sentences that say the exporter does not export a family it serves.
    for rel in DOCS:
        with open(os.path.join(src, rel), encoding="utf-8") as fh:
            text = fh.read()
        for sentence in re.split(r"(?<=\.)\s+", text):
            conditional = re.search(r"\b(if|when|unless|without)\b", sentence, re.I)
            if TODAY.search(sentence) or (NEGATIVE.search(sentence) and not conditional):
                for name in set(METRIC.findall(sentence)) & served:
                    line = text[:text.find(sentence)].count("\n") + 1
                    f.add(f"{rel}:{line}", f"says the exporter does not export {name}, which it serves")
    # docs/metrics.md: every family served is in a table, and every family in its tables is served.
    table = tl.documented_families(src)
    for name in sorted(served - table):
        f.add("docs/metrics.md", f"{name} is served but not documented in a table")
    for name in sorted(table - served):
        f.add("docs/metrics.md", f"{name} is documented but not served")


# ---------------------------------------------------------------------------------------------------- counts
COUNTS = [re.compile(r"\b(?:all\s+)?(\d+)\s+(?:SGX\s+)?probes\b"), re.compile(r"\bprobes\s+\d+/(\d+)\b"),
          re.compile(r"\b\d+/(\d+)\s+(?:probes|via)\b")]


def check_counts(src, hooks, f):
    for rel, n, line in doc_lines(src):
        for rx in COUNTS:
            for m in rx.finditer(line):
                if int(m.group(1)) != hooks:
                    f.add(f"{rel}:{n}", f"'{m.group(0)}': the exporter has {hooks} probes")


# ---------------------------------------------------------------------------------------------------- paths
PATH = re.compile(r"(?<![\w./<-])((?:" + "|".join(TOP_DIRS) + r")/[\w./{},*<>+-]*)")


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    with open(path, encoding="utf-8") as fh:
        return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", fh.read(), re.M)}


def expand(path):
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [p for alt in m.group(1).split(",") for p in expand(path[:m.start()] + alt + path[m.end():])]


def exists(src, path):
    path = path.rstrip(".,:;")
    if "<" in path or ">" in path:
        return True  # a placeholder: tests/unit/<folder>/
    return all(glob.glob(os.path.join(src, p)) for p in expand(path))


def check_paths(src, targets, f):
    for rel, n, line in doc_lines(src):
        base = os.path.dirname(os.path.join(src, rel))
        for m in re.finditer(r"\]\(([^)\s]+)\)", line):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue  # a URL
            file, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(base, file)) if file else os.path.join(src, rel)
            if not os.path.exists(full):
                f.add(f"{rel}:{n}", f"link to {target}: no such file")
            elif anchor and full.endswith(".md") and anchor not in anchors(full):
                f.add(f"{rel}:{n}", f"link to {target}: no heading #{anchor} in {os.path.relpath(full, src)}")
        for m in PATH.finditer(without_link_targets(line)):
            path = m.group(1)
            if not exists(src, path):
                f.add(f"{rel}:{n}", f"{path}: no such path in the tree")
            elif path.startswith("scripts/") and path.endswith(".sh") and not os.access(os.path.join(src, path), os.X_OK):
                f.add(f"{rel}:{n}", f"{path}: not executable")
        for m in re.finditer(r"--target\s+([A-Za-z0-9_]+)", line):
            if m.group(1) not in targets:
                f.add(f"{rel}:{n}", f"--target {m.group(1)}: no such CMake target")


def cmake_targets(build):
    out = subprocess.run(["cmake", "--build", build, "--target", "help"], capture_output=True, text=True,
                         timeout=120).stdout
    return set(re.findall(r"^\.\.\. (\S+)", out, re.M))


# ---------------------------------------------------------------------------------------------------- Depends
def check_depends(src, build, f):
    if not shutil.which("dpkg-shlibdeps"):
        print("note  dpkg-shlibdeps not installed: the Depends in deploy/README.md not checked")
        return
    with open(os.path.join(src, "scripts/build-deb.sh")) as fh:
        programs = re.search(r"declare -A programs=\(([^)]*)\)", fh.read())
    if not programs:
        f.add("scripts/build-deb.sh", "no 'declare -A programs=(...)': which programs the package ships is unknown")
        return
    binaries = [os.path.join(build, p) for p in re.findall(r"\]=(\S+)", programs.group(1))]
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "debian"))
        with open(os.path.join(d, "debian/control"), "w") as fh:
            fh.write("Source: x\n\nPackage: x\nArchitecture: any\n")
        out = subprocess.run(["dpkg-shlibdeps", "-O", *binaries], cwd=d, capture_output=True, text=True, timeout=120)
    m = re.search(r"shlibs:Depends=(.*)", out.stdout)
    if not m:
        f.add("dpkg-shlibdeps", out.stderr.strip()[:300])
        return
    real = {re.sub(r"\s*\(.*", "", d).strip() for d in m.group(1).split(",")}
    with open(os.path.join(src, "deploy/README.md")) as fh:
        text = fh.read()
    listed = re.search(r"`Depends`\s+\(([^)]*?)\s+and\s+their\s+dependencies", text, re.S)  # however wrapped
    if not listed:
        f.add("deploy/README.md", "no \"`Depends` (a, b, ... and their dependencies\" list to compare")
        return
    named = {p.strip() for p in listed.group(1).replace("\n", " ").split(",")}
    if named != real:
        f.add("deploy/README.md", f"Depends listed {sorted(named)} but dpkg-shlibdeps gives {sorted(real)} for "
              f"{[os.path.basename(b) for b in binaries]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--epctop", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    args.exporter, args.epctop = os.path.abspath(args.exporter), os.path.abspath(args.epctop)
    args.build_dir = os.path.abspath(args.build_dir)
    os.chdir(src)
    f = Findings()
    with tempfile.TemporaryDirectory(prefix="epc-docs-") as work:
        served, hooks = scrape_families(src, args.exporter, work)
    print(f"info  {len(served)} families served, {hooks} probes; checking {', '.join(DOCS)}")
    check_flags(src, help_flags(args.exporter), help_flags(args.epctop), f)
    check_metrics(src, served, f)
    check_counts(src, hooks, f)
    check_paths(src, cmake_targets(args.build_dir), f)
    check_depends(src, args.build_dir, f)
    for item in f.items:
        print(f"FAIL  {item}")
    print(f"{'FAIL' if f.items else 'ok'}: docs_test ({len(f.items)} findings)")
    return 1 if f.items else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Turn epc_bench's Google Benchmark JSON into an SVG plot of slowdown vs working set / EPC.

One line per backend and access pattern, from the touch/<backend>/<pattern>/ws_over_epc:<r> cases; y is
slowdown_vs_native on a log scale, x the working set as a multiple of the (real or model) EPC. No dependencies
beyond the Python standard library.

usage: plot_bench.py RESULT.json [MORE.json ...] -o OUT.svg [--title T] [--note N]
"""
import argparse
import html
import json
import math
import re
import statistics
import sys
from collections import defaultdict

NAME_RE = re.compile(r"^touch/(?P<backend>[a-z]+)/(?P<pattern>[a-z]+)/ws_over_epc:(?P<ratio>[0-9.]+)")
COLORS = {"sequential": "#1f77b4", "random": "#d62728", "strided": "#2ca02c"}
DASHES = {"sim": "", "sgx": "6,3", "native": "2,3"}


def load_points(paths):
    """{(backend, pattern): {ratio: [slowdown, ...]}} from every iteration run without an error (several with
    --benchmark_repetitions; the plot shows their median)."""
    pts = defaultdict(lambda: defaultdict(list))
    context = {}
    for path in paths:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit(f"plot_bench: cannot read {path}: {e}")
        if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
            raise SystemExit(f"plot_bench: {path} is not Google Benchmark JSON (no 'benchmarks' list)")
        context = data.get("context", {}) or context
        for b in data["benchmarks"]:
            if not isinstance(b, dict) or b.get("error_occurred") or b.get("run_type", "iteration") != "iteration":
                continue
            m = NAME_RE.match(str(b.get("run_name", b.get("name", ""))))
            slow = b.get("slowdown_vs_native")
            ratio = b.get("ws_over_epc")
            if not m or not isinstance(slow, (int, float)) or not isinstance(ratio, (int, float)) or slow <= 0:
                continue
            pts[(m["backend"], m["pattern"])][round(float(ratio), 3)].append(float(slow))
    return pts, context


def nice_log_ticks(lo, hi):
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo * 0.999 <= v <= hi * 1.001:
                ticks.append(v)
        e += 1
    return ticks


def fmt(v):
    return f"{v:g}" if v < 1e4 else f"{v:.0e}"


def render(pts, title, note):
    W, H = 760, 480
    L, R, T, B = 80, 190, 60, 60
    pw, ph = W - L - R, H - T - B
    xs = [r for s in pts.values() for r in s]
    ys = [statistics.median(v) for s in pts.values() for v in s.values()]
    xmax = max(max(xs), 1.0) * 1.05
    ylo = min(min(ys), 1.0) / 1.5
    yhi = max(max(ys), 2.0) * 1.5

    def px(x):
        return L + pw * x / xmax

    def py(y):
        return T + ph * (1 - (math.log10(y) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)))

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="24" font-size="16" font-weight="bold">{html.escape(title)}</text>']
    if note:
        o.append(f'<text x="{L}" y="44" fill="#444">{html.escape(note)}</text>')
    o.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    for v in nice_log_ticks(ylo, yhi):
        y = py(v)
        o.append(f'<line x1="{L}" x2="{L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        o.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
    step = 0.5 if xmax <= 5 else 1.0
    x = 0.0
    while x <= xmax:
        o.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{T + ph}" y2="{T + ph + 4}" stroke="#888"/>')
        o.append(f'<text x="{px(x):.1f}" y="{T + ph + 18}" text-anchor="middle">{x:g}</text>')
        x += step
    o.append(f'<line x1="{px(1):.1f}" x2="{px(1):.1f}" y1="{T}" y2="{T + ph}" stroke="#999" stroke-dasharray="4,4"/>')
    o.append(f'<text x="{px(1) + 4:.1f}" y="{T + 14}" fill="#666">EPC size</text>')
    o.append(f'<text x="{L + pw / 2}" y="{H - 18}" text-anchor="middle">working set / EPC</text>')
    o.append(f'<text x="18" y="{T + ph / 2}" text-anchor="middle" transform="rotate(-90 18 {T + ph / 2})">'
             'slowdown vs native (log scale)</text>')
    ly = T + 10
    for (backend, pattern) in sorted(pts):
        series = sorted((r, statistics.median(v)) for r, v in pts[(backend, pattern)].items())
        color = COLORS.get(pattern, "#555")
        dash = DASHES.get(backend, "")
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(r):.1f},{py(s):.1f}" for i, (r, s) in enumerate(series))
        o.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"'
                 + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        for r, s in series:
            o.append(f'<circle cx="{px(r):.1f}" cy="{py(s):.1f}" r="3" fill="{color}"><title>'
                     f'{backend} {pattern} ws/EPC={r:g}: {s:.3g}x</title></circle>')
        o.append(f'<line x1="{L + pw + 14}" x2="{L + pw + 40}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"'
                 + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        o.append(f'<text x="{L + pw + 46}" y="{ly + 4}">{html.escape(backend)} {html.escape(pattern)}</text>')
        ly += 18
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--title", default="EPC oversubscription: slowdown vs working set")
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    pts, ctx = load_points(args.json)
    if not pts:
        raise SystemExit("plot_bench: no touch/... case with slowdown_vs_native in the input (all skipped?)")
    note = args.note
    backends = {b for b, _ in pts}
    if "sim" in backends and "software model" not in note.lower():
        note = ("software model (sim backend), not SGX hardware. " + note).strip()
    with open(args.out, "w") as f:
        f.write(render(pts, args.title, note))
    print(f"plot_bench: wrote {args.out} ({sum(len(v) for v in pts.values())} points, "
          f"{len(pts)} series)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

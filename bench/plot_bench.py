#!/usr/bin/env python3
"""Turn epc_bench's Google Benchmark JSON into an SVG plot of slowdown vs working set / EPC.

One line per backend and access pattern, from the touch/<backend>/<pattern>/ws_over_epc:<r> cases; x is the
working set as a multiple of the (real or model) EPC. Top: slowdown_vs_native on a log scale. Bottom (when the
backend counts its paging, i.e. sim): load-backs per touch. No dependencies beyond the Python standard library.

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
    """{metric: {(backend, pattern): {ratio: [value, ...]}}} for slowdown_vs_native and load_backs_per_touch, from
    every iteration run without an error (several with --benchmark_repetitions; the plot shows their median)."""
    pts = {m: defaultdict(lambda: defaultdict(list)) for m in ("slowdown_vs_native", "load_backs_per_touch")}
    for path in paths:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit(f"plot_bench: cannot read {path}: {e}")
        if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
            raise SystemExit(f"plot_bench: {path} is not Google Benchmark JSON (no 'benchmarks' list)")
        for b in data["benchmarks"]:
            if not isinstance(b, dict) or b.get("error_occurred") or b.get("run_type", "iteration") != "iteration":
                continue
            m = NAME_RE.match(str(b.get("run_name", b.get("name", ""))))
            ratio = b.get("ws_over_epc")
            if not m or not isinstance(ratio, (int, float)):
                continue
            for metric, series in pts.items():
                v = b.get(metric)
                if isinstance(v, (int, float)) and (v > 0 or metric != "slowdown_vs_native"):
                    series[(m["backend"], m["pattern"])][round(float(ratio), 3)].append(float(v))
    return pts


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


def style(backend, pattern):
    color = COLORS.get(pattern, "#555")
    dash = DASHES.get(backend, "")
    return color, (f' stroke-dasharray="{dash}"' if dash else "")


def panel(o, pts, x0, y0, pw, ph, xmax, log, ylabel):
    """One chart at (x0, y0) of pw x ph: y log-scaled (slowdown) or linear 0..1 (rates)."""
    ys = [statistics.median(v) for s in pts.values() for v in s.values()]
    if log:
        ylo, yhi = min(min(ys), 1.0) / 1.5, max(max(ys), 2.0) * 1.5
        ticks = nice_log_ticks(ylo, yhi)

        def py(y):
            y = max(y, ylo)
            return y0 + ph * (1 - (math.log10(y) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)))
    else:
        ylo, yhi = 0.0, max(1.0, max(ys) * 1.05)
        ticks = [0, 0.25, 0.5, 0.75, 1.0]

        def py(y):
            return y0 + ph * (1 - (y - ylo) / (yhi - ylo))

    def px(x):
        return x0 + pw * x / xmax

    o.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    for v in ticks:
        y = py(v)
        o.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        o.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
    step = 0.5 if xmax <= 5 else 1.0
    x = 0.0
    while x <= xmax:
        o.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{y0 + ph}" y2="{y0 + ph + 4}" stroke="#888"/>')
        o.append(f'<text x="{px(x):.1f}" y="{y0 + ph + 18}" text-anchor="middle">{x:g}</text>')
        x += step
    o.append(f'<line x1="{px(1):.1f}" x2="{px(1):.1f}" y1="{y0}" y2="{y0 + ph}" stroke="#999" stroke-dasharray="4,4"/>')
    o.append(f'<text x="{px(1) + 4:.1f}" y="{y0 + 14}" fill="#666">EPC size</text>')
    o.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 36}" text-anchor="middle">working set / EPC</text>')
    cy = y0 + ph / 2
    o.append(f'<text x="{x0 - 52}" y="{cy}" text-anchor="middle" transform="rotate(-90 {x0 - 52} {cy})">'
             f'{html.escape(ylabel)}</text>')
    for (backend, pattern) in sorted(pts):
        series = sorted((r, statistics.median(v)) for r, v in pts[(backend, pattern)].items())
        color, dash = style(backend, pattern)
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(r):.1f},{py(s):.1f}" for i, (r, s) in enumerate(series))
        o.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for r, s in series:
            o.append(f'<circle cx="{px(r):.1f}" cy="{py(s):.1f}" r="3" fill="{color}"><title>'
                     f'{backend} {pattern} ws/EPC={r:g}: {s:.3g}</title></circle>')


def render(pts, title, note):
    slow, rate = pts["slowdown_vs_native"], pts["load_backs_per_touch"]
    W, L, R, T = 780, 90, 190, 76
    PH, GAP = 300, 80
    pw = W - L - R
    H = T + PH + 60 + ((GAP + 220) if rate else 0)
    xs = [r for s in list(slow.values()) + list(rate.values()) for r in s]
    xmax = max(max(xs), 1.0) * 1.05
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="24" font-size="16" font-weight="bold">{html.escape(title)}</text>']
    for i, line in enumerate(note.split("\n")[:2]):
        o.append(f'<text x="{L}" y="{42 + 16 * i}" fill="{"#b00" if i == 0 else "#444"}">{html.escape(line)}</text>')
    panel(o, slow, L, T, pw, PH, xmax, True, "slowdown vs native (log)")
    if rate:
        panel(o, rate, L, T + PH + GAP, pw, 220, xmax, False, "load-backs per touch")
    ly = T + 10
    for (backend, pattern) in sorted(set(slow) | set(rate)):
        color, dash = style(backend, pattern)
        o.append(f'<line x1="{L + pw + 14}" x2="{L + pw + 40}" y1="{ly}" y2="{ly}" stroke="{color}" '
                 f'stroke-width="2"{dash}/>')
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
    pts = load_points(args.json)
    if not pts["slowdown_vs_native"]:
        raise SystemExit("plot_bench: no touch/... case with slowdown_vs_native in the input (all skipped?)")
    note = args.note
    backends = {b for b, _ in pts["slowdown_vs_native"]}
    if "sim" in backends and "software model" not in note.lower():
        note = "software model (sim backend), not SGX hardware" + ("\n" + note if note else "")
    with open(args.out, "w") as f:
        f.write(render(pts, args.title, note))
    n = pts["slowdown_vs_native"]
    print(f"plot_bench: wrote {args.out} ({sum(len(v) for v in n.values())} points, {len(n)} series)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Turn epc_bench's Google Benchmark JSON into an SVG plot of slowdown vs working set / EPC.

One line per backend and access pattern, from the touch/<backend>/<pattern>/ws_over_epc:<r> cases; x is the
working set as a multiple of the (real or model) EPC. Top: slowdown_vs_native on a log scale. Bottom (when the
backend counts its paging, i.e. sim): load-backs per touch. No dependencies beyond the Python standard library.

A run with --sim-model=<profile> also yields the calibrated model's series, "model (<profile>) <pattern>":
model_slowdown_vs_native, computed from the sim's paging counts and the profile's published per-event costs
(not measured). --published FILE overlays published hardware figures, each labelled with its source (format:
docs/img/published-sgx-paging.json); --series keeps only the series whose backend starts with one of the given
prefixes (e.g. --series model to show the model without the raw userfaultfd timing).

usage: plot_bench.py RESULT.json [MORE.json ...] -o OUT.svg [--title T] [--note N] [--published P.json]
                     [--series PREFIX,...]
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
DASHES = {"sim": "", "sgx": "6,3", "native": "2,3", "model": "10,3,2,3"}
PUBLISHED_COLORS = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


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
        ctx = data.get("context") if isinstance(data.get("context"), dict) else {}
        profile = str(ctx.get("sim_model", "")) or "?"
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
            # The calibrated model: computed from this case's paging counts, a series of its own.
            v = b.get("model_slowdown_vs_native")
            if m["backend"] == "sim" and isinstance(v, (int, float)) and v > 0:
                pts["slowdown_vs_native"][(f"model ({profile})", m["pattern"])][round(float(ratio), 3)].append(float(v))
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


def load_published(path):
    """Published hardware figures: {"figures": [{"label", "source", "url", "kind", "slowdown", "ws_over_epc"}]}.
    kind "lower_bound": a slowdown of at least `slowdown` at working sets up to `ws_over_epc` (drawn as a ^ at
    that x); kind "level": a slowdown with no working-set ratio stated (drawn as a horizontal line)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"plot_bench: cannot read {path}: {e}")
    figs = data.get("figures") if isinstance(data, dict) else None
    if not isinstance(figs, list) or not figs:
        raise SystemExit(f"plot_bench: {path} has no 'figures' list")
    out = []
    for f in figs:
        if not isinstance(f, dict) or not f.get("label") or not f.get("source") or not f.get("url"):
            raise SystemExit(f"plot_bench: {path}: every figure needs label, source and url: {f}")
        if f.get("kind") not in ("lower_bound", "level") or not isinstance(f.get("slowdown"), (int, float)):
            raise SystemExit(f"plot_bench: {path}: kind must be lower_bound or level, with a numeric slowdown: {f}")
        if f["kind"] == "lower_bound" and not isinstance(f.get("ws_over_epc"), (int, float)):
            raise SystemExit(f"plot_bench: {path}: a lower_bound needs ws_over_epc: {f}")
        out.append(f)
    return out


def style(backend, pattern):
    color = COLORS.get(pattern, "#555")
    dash = DASHES.get(backend.split(" ")[0], "")
    return color, (f' stroke-dasharray="{dash}"' if dash else "")


def panel(o, pts, x0, y0, pw, ph, xmax, log, ylabel, published=()):
    """One chart at (x0, y0) of pw x ph: y log-scaled (slowdown) or linear 0..1 (rates)."""
    ys = [statistics.median(v) for s in pts.values() for v in s.values()] + [f["slowdown"] for f in published]
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
                     f'{html.escape(backend)} {pattern} ws/EPC={r:g}: {s:.3g}</title></circle>')
    for i, f in enumerate(published):
        color = PUBLISHED_COLORS[i % len(PUBLISHED_COLORS)]
        y = py(f["slowdown"])
        tip = html.escape(f"{f['label']} ({f['source']}, {f['url']})")
        if f["kind"] == "level":
            o.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" stroke-width="1.5" '
                     f'stroke-dasharray="1,3"><title>{tip}</title></line>')
        else:
            x = px(min(f["ws_over_epc"], xmax))
            o.append(f'<path d="M{x - 6:.1f},{y + 5:.1f} L{x + 6:.1f},{y + 5:.1f} L{x:.1f},{y - 6:.1f} Z" fill="{color}">'
                     f'<title>{tip}</title></path>')


def render(pts, title, note, published=()):
    slow, rate = pts["slowdown_vs_native"], pts["load_backs_per_touch"]
    W, L, R, T = 780, 90, 190, 76
    PH, GAP = 300, 80
    pw = W - L - R
    H = T + PH + 60 + ((GAP + 220) if rate else 0) + (24 + 16 * len(published) if published else 0)
    xs = [r for s in list(slow.values()) + list(rate.values()) for r in s] + \
         [f["ws_over_epc"] for f in published if f["kind"] == "lower_bound"]
    xmax = max(max(xs), 1.0) * 1.05
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="24" font-size="16" font-weight="bold">{html.escape(title)}</text>']
    for i, line in enumerate(note.split("\n")[:2]):
        o.append(f'<text x="{L}" y="{42 + 16 * i}" fill="{"#b00" if i == 0 else "#444"}">{html.escape(line)}</text>')
    panel(o, slow, L, T, pw, PH, xmax, True, "slowdown vs native (log)", published)
    if rate:
        panel(o, rate, L, T + PH + GAP, pw, 220, xmax, False, "load-backs per touch")
    ly = T + 10
    for (backend, pattern) in sorted(set(slow) | set(rate)):
        color, dash = style(backend, pattern)
        o.append(f'<line x1="{L + pw + 14}" x2="{L + pw + 40}" y1="{ly}" y2="{ly}" stroke="{color}" '
                 f'stroke-width="2"{dash}/>')
        o.append(f'<text x="{L + pw + 46}" y="{ly + 4}">{html.escape(backend)} {html.escape(pattern)}</text>')
        ly += 18
    if published:
        # Published figures: one legend line each under the charts, with the publication named.
        py0 = T + PH + 60 + ((GAP + 220) if rate else 0) + 8
        o.append(f'<text x="{L}" y="{py0}" font-weight="bold">published hardware figures, not this machine '
                 f'(^ at least this slowdown up to that ws/EPC; dotted: ratio not stated)</text>')
        for i, f in enumerate(published):
            color = PUBLISHED_COLORS[i % len(PUBLISHED_COLORS)]
            y = py0 + 16 * (i + 1)
            mark = "^" if f["kind"] == "lower_bound" else "\u2026"
            o.append(f'<text x="{L}" y="{y}" fill="{color}">{mark} {html.escape(f["label"])} \u2014 '
                     f'{html.escape(f["source"])}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--title", default="EPC oversubscription: slowdown vs working set")
    ap.add_argument("--note", default="")
    ap.add_argument("--published", help="published figures to overlay (JSON, see docs/img/published-sgx-paging.json)")
    ap.add_argument("--series", help="keep only series whose backend starts with one of these prefixes (comma list)")
    args = ap.parse_args(argv)
    pts = load_points(args.json)
    if args.series:
        keep = tuple(p for p in args.series.split(",") if p)
        for metric in pts:
            pts[metric] = {k: v for k, v in pts[metric].items() if k[0].startswith(keep)}
    published = load_published(args.published) if args.published else []
    if not pts["slowdown_vs_native"]:
        raise SystemExit("plot_bench: no touch/... case with slowdown_vs_native in the input (all skipped?)")
    note = args.note
    backends = {b for b, _ in pts["slowdown_vs_native"]}
    models = sorted(b for b in backends if b.startswith("model ("))
    if models and "software model" not in note.lower():
        note = ("software model, not SGX hardware: " + ("sim = userfaultfd timing; " if "sim" in backends else "") +
                ", ".join(models) + " = computed from the sim's paging counts and published per-event costs") + \
               ("\n" + note if note else "")
    elif "sim" in backends and "software model" not in note.lower():
        note = "software model (sim backend), not SGX hardware" + ("\n" + note if note else "")
    with open(args.out, "w") as f:
        f.write(render(pts, args.title, note, published))
    n = pts["slowdown_vs_native"]
    print(f"plot_bench: wrote {args.out} ({sum(len(v) for v in n.values())} points, {len(n)} series)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Turn perf.py's --growth-json into an SVG of scrape cost against workload count, epc_exporter beside
node_exporter, on log-log axes: a line parallel to the dashed 'linear' guide grows linearly, a steeper one worse.
Left: scrape CPU time per scrape and p50 latency (ms). Right: RSS (MiB). Standard library only.
Also reads tests/perf/ebpf_scale.py's --growth-json (the eBPF path in a QEMU guest): its "title" and "x_label".

usage: plot_growth.py GROWTH.json -o OUT.svg [--note N]
"""
import argparse
import html
import json
import math
import os
import sys


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from plot_bench import nice_log_ticks as log_ticks  # noqa: E402  (the bench plot's 1-2-5 log ticks)


def panel(o, rows, x0, y0, pw, ph, lines, ylabel, xlabel="workloads (pods + containers, all using EPC; log)"):
    xs = [r["workloads"] for r in rows]
    ys = [r[k] for k, _, _, _ in lines for r in rows if r[k] > 0]
    xlo, xhi = min(xs) / 1.5, max(xs) * 1.5
    ylo, yhi = min(ys) / 2, max(ys) * 2

    def px(x):
        return x0 + pw * (math.log10(x) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo))

    def py(y):
        y = max(y, ylo)
        return y0 + ph * (1 - (math.log10(y) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)))

    o.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    for v in log_ticks(ylo, yhi):
        o.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>')
        o.append(f'<text x="{x0 - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for x in xs:
        o.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{y0 + ph}" y2="{y0 + ph + 4}" stroke="#888"/>')
        o.append(f'<text x="{px(x):.1f}" y="{y0 + ph + 18}" text-anchor="middle">{x:,}</text>')
    o.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 36}" text-anchor="middle">{html.escape(xlabel)}</text>')
    cy = y0 + ph / 2
    o.append(f'<text x="{x0 - 50}" y="{cy}" text-anchor="middle" transform="rotate(-90 {x0 - 50} {cy})">'
             f'{html.escape(ylabel)}</text>')
    # The linear guide through the exporter's first point of the first line.
    k0 = lines[0][0]
    base = rows[0]
    gx = [xs[0], xs[-1]]
    gy = [base[k0], base[k0] * xs[-1] / xs[0]]
    o.append(f'<path d="M{px(gx[0]):.1f},{py(gy[0]):.1f} L{px(gx[1]):.1f},{py(min(gy[1], yhi)):.1f}" '
             f'stroke="#999" stroke-dasharray="4,4" fill="none"/>')
    o.append(f'<text x="{px(gx[1]) - 4:.1f}" y="{py(min(gy[1], yhi)) + 14:.1f}" text-anchor="end" '
             f'fill="#777">linear</text>')
    for k, label, color, dash in lines:
        pts = [(r["workloads"], r[k]) for r in rows if r[k] > 0]
        d = " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for i, (x, y) in enumerate(pts))
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        o.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2"{extra}/>')
        for x, y in pts:
            o.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"><title>{html.escape(label)} '
                     f'{x:,} workloads: {y:.3g}</title></circle>')


def render(data, note):
    rows = sorted(data["rows"], key=lambda r: r["workloads"])
    # perf.py's rows (misc cgroup files) by default; tests/perf/ebpf_scale.py names its own path and x axis.
    title = data.get("title", "Scrape cost against workloads: epc_exporter (misc sgx_epc files) and node_exporter")
    xl = {"xlabel": data["x_label"]} if "x_label" in data else {}
    W, H, L, T, PW, PH, GAP = 960, 490, 80, 80, 370, 300, 110
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="12">', f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="24" font-size="16" font-weight="bold">{html.escape(title)}</text>']
    for i, line in enumerate(note.split("\n")[:2]):
        o.append(f'<text x="{L}" y="{44 + 16 * i}" fill="#444">{html.escape(line)}</text>')
    time_lines = [("epc_cpu_ms", "epc_exporter CPU ms/scrape", "#d62728", ""),
                  ("epc_p50_ms", "epc_exporter p50 ms", "#d62728", "6,3"),
                  ("ne_cpu_ms", "node_exporter CPU ms/scrape", "#1f77b4", ""),
                  ("ne_p50_ms", "node_exporter p50 ms", "#1f77b4", "6,3")]
    rss_lines = [("epc_rss_mib", "epc_exporter RSS MiB", "#d62728", ""),
                 ("ne_rss_mib", "node_exporter RSS MiB", "#1f77b4", "")]
    panel(o, rows, L, T, PW, PH, time_lines, "ms per scrape (log)", **xl)
    panel(o, rows, L + PW + GAP, T, PW, PH, rss_lines, "RSS MiB (log)", **xl)
    ly = H - 22
    for i, (label, color, dash) in enumerate([("epc_exporter", "#d62728", ""), ("node_exporter", "#1f77b4", ""),
                                               ("solid: CPU ms per scrape (left), RSS (right)", "#444", ""),
                                               ("dashed: p50 scrape latency ms", "#444", "6,3")]):
        lx = L + [0, 140, 290, 620][i]
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        o.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{extra}/>')
        o.append(f'<text x="{lx + 30}" y="{ly + 4}">{html.escape(label)}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--note", default="")
    a = ap.parse_args(argv)
    try:
        with open(a.json) as f:
            data = json.load(f)
        rows = data["rows"]
        need = {"workloads", "epc_cpu_ms", "epc_p50_ms", "epc_rss_mib", "ne_cpu_ms", "ne_p50_ms", "ne_rss_mib"}
        if not rows or any(not need <= set(r) for r in rows):
            raise ValueError("no rows, or rows without the perf.py --growth-json fields")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"plot_growth: cannot use {a.json}: {e}")
    with open(a.out, "w") as f:
        f.write(render(data, a.note))
    print(f"plot_growth: wrote {a.out} ({len(rows)} sizes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

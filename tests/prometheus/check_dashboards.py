#!/usr/bin/env python3
"""Structure checks of the Grafana dashboards in dashboards/*.json.

Per dashboard: current schema (schemaVersion >= 36), unique uid and title across dashboards, a `datasource`
variable of type datasource for Prometheus, query variables node / namespace / pod; every panel, target and
query variable uses the datasource variable (no hard-coded datasource uid or name anywhere, no __inputs
placeholders); unique positive panel ids; panels inside the 24-column grid and not overlapping; every target
has an expr and a refId unique in its panel; every $variable used is defined (or a Grafana built-in).

`--self-test` first feeds broken copies of a good dashboard to the checks and fails unless each is caught.
Prints "N passed, N failed"; exit 1 on any failure.
"""
import copy
import glob
import json
import os
import re
import sys

MIN_SCHEMA = 36
DS_REFS = {"${datasource}", "$datasource"}
BUILTINS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms", "__from",
            "__to", "__dashboard", "__name", "__org", "__user", "__all", "__auto_interval", "__timeFilter"}
REQUIRED_VARS = ("node", "namespace", "pod")


def iter_panels(panels):
    for p in panels:
        yield p
        yield from iter_panels(p.get("panels", []))


def ds_ok(ds):
    if isinstance(ds, str):
        return ds in DS_REFS
    if isinstance(ds, dict):
        return ds.get("uid") in DS_REFS and ds.get("type", "prometheus") == "prometheus"
    return False


def hardcoded_datasources(node, path="$"):
    """Every datasource reference in the JSON that is not the variable (Grafana's own annotation source aside)."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}"
            if k == "datasource":
                grafana_builtin = isinstance(v, dict) and v.get("uid") == "-- Grafana --" and v.get("type") == "grafana"
                if not grafana_builtin and not ds_ok(v) and v is not None:
                    out.append(f"{p} = {json.dumps(v)}")
            else:
                out += hardcoded_datasources(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += hardcoded_datasources(v, f"{path}[{i}]")
    return out


def check(dash):
    """Returns a list of problems (empty when the dashboard is fine)."""
    errs = []
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < MIN_SCHEMA:
        errs.append(f"schemaVersion {dash.get('schemaVersion')!r} < {MIN_SCHEMA}")
    for key in ("uid", "title", "panels", "templating"):
        if key not in dash:
            errs.append(f"missing {key}")
    if errs:
        return errs
    if "__inputs" in dash or "${DS_" in json.dumps(dash):
        errs.append("exported-for-sharing form (__inputs / ${DS_...}): use the datasource variable")
    variables = dash["templating"].get("list", [])
    names = [v.get("name") for v in variables]
    if len(names) != len(set(names)):
        errs.append(f"duplicate variable names {names}")
    dsvars = [v for v in variables if v.get("type") == "datasource"]
    if not any(v.get("name") == "datasource" and v.get("query") == "prometheus" for v in dsvars):
        errs.append("no `datasource` variable of type datasource with query prometheus")
    for want in REQUIRED_VARS:
        v = next((v for v in variables if v.get("name") == want), None)
        if v is None or v.get("type") != "query":
            errs.append(f"no query variable ${want}")
        elif not ds_ok(v.get("datasource")):
            errs.append(f"variable ${want} does not use the datasource variable")
    errs += [f"hard-coded datasource {h}" for h in hardcoded_datasources(dash)]

    ids, rects = set(), []
    for p in iter_panels(dash["panels"]):
        pid = p.get("id")
        what = f"panel {pid} {p.get('title')!r}"
        if not isinstance(pid, int) or pid <= 0:
            errs.append(f"{what}: id must be a positive integer")
        elif pid in ids:
            errs.append(f"{what}: duplicate panel id {pid}")
        ids.add(pid)
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")) or g["x"] < 0 or g["w"] <= 0 \
                or g["x"] + g["w"] > 24 or g["h"] <= 0 or g["y"] < 0:
            errs.append(f"{what}: gridPos {g} outside the 24-column grid")
        else:
            for (ox, oy, ow, oh, oid) in rects:
                if g["x"] < ox + ow and ox < g["x"] + g["w"] and g["y"] < oy + oh and oy < g["y"] + g["h"]:
                    errs.append(f"{what}: overlaps panel {oid}")
            rects.append((g["x"], g["y"], g["w"], g["h"], pid))
        if p.get("type") == "row":
            continue
        if not ds_ok(p.get("datasource")):
            errs.append(f"{what}: panel datasource {p.get('datasource')!r} is not the datasource variable")
        targets = p.get("targets") or []
        if not targets:
            errs.append(f"{what}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(refs) != len(set(refs)) or not all(refs):
            errs.append(f"{what}: refIds {refs} not unique")
        for t in targets:
            if not ds_ok(t.get("datasource")):
                errs.append(f"{what} {t.get('refId')}: target datasource is not the datasource variable")
            if not (t.get("expr") or "").strip():
                errs.append(f"{what} {t.get('refId')}: empty expr")
    text = json.dumps(dash)
    for m in re.finditer(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", text):
        name = m.group(1) or m.group(2)
        if name not in names and name not in BUILTINS and not name.startswith("__"):
            errs.append(f"undefined variable ${name}")
    return sorted(set(errs))


def self_test(good):
    """Each mutation must be caught: proves the checks can fail."""
    def first_panel(d):
        return next(p for p in iter_panels(d["panels"]) if p.get("type") != "row")

    mutations = {
        "hard-coded datasource uid in a target": lambda d: first_panel(d)["targets"][0].__setitem__(
            "datasource", {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}),
        "hard-coded datasource uid on a panel": lambda d: first_panel(d).__setitem__(
            "datasource", {"type": "prometheus", "uid": "prometheus"}),
        "duplicate panel id": lambda d: first_panel(d).__setitem__("id", d["panels"][-1]["id"]),
        "no datasource variable": lambda d: d["templating"].__setitem__(
            "list", [v for v in d["templating"]["list"] if v["type"] != "datasource"]),
        "missing pod variable": lambda d: d["templating"].__setitem__(
            "list", [v for v in d["templating"]["list"] if v["name"] != "pod"]),
        "old schema": lambda d: d.__setitem__("schemaVersion", 16),
        "panel off the grid": lambda d: first_panel(d)["gridPos"].__setitem__("x", 20),
        "undefined variable": lambda d: first_panel(d)["targets"][0].__setitem__(
            "expr", first_panel(d)["targets"][0]["expr"] + ' + on() vector($cluster)'),
        "__inputs export form": lambda d: d.__setitem__("__inputs", [{"name": "DS_PROMETHEUS"}]),
    }
    missed = []
    for name, mutate in mutations.items():
        d = copy.deepcopy(good)
        mutate(d)
        if not check(d):
            missed.append(name)
    return missed


def main(argv):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    files = [a for a in argv if not a.startswith("--")] or sorted(glob.glob(os.path.join(root, "dashboards", "*.json")))
    passed, failed = 0, 0
    dashes = {}
    for f in files:
        name = os.path.basename(f)
        try:
            with open(f) as fh:
                dashes[name] = json.load(fh)
        except (OSError, ValueError) as e:
            print(f"FAIL  {name}: {e}")
            failed += 1
            continue
        errs = check(dashes[name])
        n_panels = sum(1 for p in iter_panels(dashes[name].get("panels", [])) if p.get("type") != "row")
        if errs:
            failed += 1
            for e in errs:
                print(f"FAIL  {name}: {e}")
        else:
            passed += 1
            print(f"ok    {name}: {n_panels} panels, uid {dashes[name]['uid']}")
    for key in ("uid", "title"):
        vals = [d.get(key) for d in dashes.values()]
        if len(vals) != len(set(vals)):
            print(f"FAIL  duplicate dashboard {key}s: {vals}")
            failed += 1
        else:
            passed += 1
    if not dashes:
        print("FAIL  no dashboards found")
        failed += 1
    if "--self-test" in argv and dashes:
        missed = self_test(next(iter(dashes.values())))
        if missed:
            print(f"FAIL  self-test: broken dashboards not caught: {', '.join(missed)}")
            failed += 1
        else:
            print("ok    self-test: every injected defect is caught")
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

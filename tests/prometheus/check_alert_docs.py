#!/usr/bin/env python3
"""Every alert of alerts/*.rules.yml has a summary, a description quoting its value or labels, a runbook_url
pointing at its own section of docs/runbook.md (which must exist), and promtool unit tests in which it both fires
(a non-empty exp_alerts) and stays silent (an empty one). Prints "N passed, N failed"; exit 1 on any failure.
"""
import glob
import os
import re
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main():
    alerts = []
    for f in sorted(glob.glob(os.path.join(ROOT, "alerts", "*.rules.yml"))):
        with open(f) as fh:
            for g in yaml.safe_load(fh)["groups"]:
                alerts += [r for r in g["rules"] if "alert" in r]
    with open(os.path.join(ROOT, "docs", "runbook.md")) as fh:
        sections = set(re.findall(r"^## (\w+)\s*$", fh.read(), re.M))
    with open(os.path.join(ROOT, "tests", "prometheus", "sgx-epc.rules.test.yml")) as fh:
        tests = yaml.safe_load(fh)["tests"]
    fires, silent = set(), set()
    for t in tests:
        for c in t.get("alert_rule_test", []):
            (fires if c.get("exp_alerts") else silent).add(c["alertname"])

    passed, failed = 0, 0
    for a in alerts:
        name, ann = a["alert"], a.get("annotations", {})
        problems = []
        if not ann.get("summary"):
            problems.append("no summary")
        desc = ann.get("description", "")
        if "$value" not in desc and "query" not in desc:
            problems.append("description quotes no number ($value or a query)")
        if ann.get("runbook_url") != f"docs/runbook.md#{name.lower()}":
            problems.append(f"runbook_url {ann.get('runbook_url')!r} is not docs/runbook.md#{name.lower()}")
        if name not in sections:
            problems.append("no '## " + name + "' section in docs/runbook.md")
        if "severity" not in a.get("labels", {}):
            problems.append("no severity label")
        if name not in fires:
            problems.append("no unit test where it fires")
        if name not in silent:
            problems.append("no unit test where it stays silent")
        if problems:
            failed += 1
            print(f"FAIL  {name}: {'; '.join(problems)}")
        else:
            passed += 1
            print(f"ok    {name}")
    extra = sections - {a["alert"] for a in alerts}
    if extra:
        failed += 1
        print(f"FAIL  runbook sections without an alert: {sorted(extra)}")
    if not alerts:
        failed += 1
        print("FAIL  no alerts found")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Unit tests of tests/lib/prom_text.py: the parser reads the text format as Prometheus does, and the check finds
each kind of problem it exists for (and none in pages that are right)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prom_text as pt  # noqa: E402

GOOD = """\
# HELP sgx_epc_capacity_bytes EPC capacity per NUMA node, \\\\ and a\\nnew line.
# TYPE sgx_epc_capacity_bytes gauge
sgx_epc_capacity_bytes{numa_node="0"} 34359738368
sgx_epc_capacity_bytes{numa_node="1"} 3.4359738368e+10
# HELP sgx_cgroup_epc_usage_bytes EPC charged.
# TYPE sgx_cgroup_epc_usage_bytes gauge
sgx_cgroup_epc_usage_bytes{cgroup="",namespace="a",pod="p",container=""} 1
sgx_cgroup_epc_usage_bytes{cgroup="",namespace="a",pod="p",container="c"} 2
sgx_cgroup_epc_usage_bytes{cgroup="/",namespace="",pod="",container=""} 3
# TYPE lat histogram
lat_bucket{op="x",le="0.1"} 1
lat_bucket{op="x",le="+Inf"} 2
lat_sum{op="x"} 0.3
lat_count{op="x"} 2
# TYPE q summary
q{quantile="0.5"} NaN
q_sum 1
q_count 1
escaped{v="a\\"b\\\\c\\nd",} -Inf 1700000000000
untyped_one 1
"""


class Parse(unittest.TestCase):
    def test_families_samples_and_escapes(self):
        e = pt.parse(GOOD)
        self.assertEqual(list(e.families), ["sgx_epc_capacity_bytes", "sgx_cgroup_epc_usage_bytes", "lat", "q",
                                            "escaped", "untyped_one"])
        cap = e.families["sgx_epc_capacity_bytes"]
        self.assertEqual((cap.type, cap.help), ("gauge", "EPC capacity per NUMA node, \\ and a\nnew line."))
        self.assertEqual([s.value for s in cap.samples], [34359738368.0, 34359738368.0])
        self.assertEqual([s.name for s in e.families["lat"].samples], ["lat_bucket", "lat_bucket", "lat_sum",
                                                                        "lat_count"])
        esc = e.families["escaped"].samples[0]
        self.assertEqual((esc.get("v"), esc.value, esc.timestamp), ('a"b\\c\nd', float("-inf"), 1700000000000))
        self.assertEqual(e.families["untyped_one"].type, "untyped")
        self.assertEqual(e.value("sgx_cgroup_epc_usage_bytes", namespace="a", pod="p", container="c"), 2)
        self.assertEqual(e.value("sgx_cgroup_epc_usage_bytes", cgroup="/"), 3)
        self.assertEqual(e.total("sgx_epc_capacity_bytes"), 2 * 34359738368)
        # Label dicts as Prometheus stores the series: empty labels absent.
        self.assertEqual(e.series("sgx_cgroup_epc_usage_bytes")[2], ({"cgroup": "/"}, 3.0))
        self.assertEqual(pt.problems(e), [])

    def test_rejects_what_prometheus_rejects(self):
        for bad, why in [("x{a=\"b} 1", "unterminated"), ("x{a=b} 1", "'\"' expected"), ("x 1_000", "bad value"),
                         ("x{a=\"\\t\"} 1", "bad escape"), ("x", "value"), ("x 1 2 3", "value"),
                         ("x 1 1.5", "bad timestamp"), ("# TYPE x bogus", "unknown type"), ("1x 1", "name"),
                         ("x{1a=\"\"} 1", "label name"), ("x{a=\"\"}1", "value")]:
            with self.subTest(bad=bad):
                with self.assertRaises(pt.ParseError) as cm:
                    pt.parse("ok 1\n" + bad + "\n")
                self.assertIn("line 2", str(cm.exception))
                self.assertIn(why, str(cm.exception))


class Check(unittest.TestCase):
    def problems(self, text):
        return pt.problems(pt.parse(text))

    def test_good_page_passes(self):
        self.assertEqual(pt.check(GOOD).names(), {s.name for s in pt.parse(GOOD).samples})

    def test_duplicate_series(self):
        # Issue 23: with the workload cap active every node-level series lost its labels, so a family of two
        # series became two identical unlabelled lines.
        p = self.problems("# TYPE sgx_epc_capacity_bytes gauge\nsgx_epc_capacity_bytes 1\nsgx_epc_capacity_bytes 2\n")
        self.assertEqual(len(p), 1)
        self.assertIn("duplicate of line 2", p[0])
        p = self.problems('x{a="1",b="2"} 1\nx{b="2",a="1"} 1\n')  # label order does not make another series
        self.assertIn("duplicate", p[0])

    def test_duplicate_once_empty_labels_dropped(self):
        p = self.problems('x{a="",b="2"} 1\nx{a="1",b="2"} 1\nx{a="",b="2"} 1\n')
        self.assertEqual(len(p), 1)
        p = self.problems('# TYPE x gauge\nx{a="",b="2"} 1\nx{b="2",c=""} 1\n')
        self.assertTrue(any("once empty labels are dropped" in m for m in p), p)

    def test_label_names_differ_within_a_family(self):
        p = self.problems('# TYPE u gauge\nu{namespace="a",pod="p"} 1\nu{namespace="a",pod="p",container="c"} 1\n'
                          'u{cgroup="/"} 1\n')
        self.assertEqual(len(p), 1)
        self.assertEqual(p[0], "family u: its series carry 3 different sets of label names: {namespace,pod} (1 series from "
                               "line 2), {container,namespace,pod} (1 series from line 3), {cgroup} (1 series from line 4)")
        # An empty value still names the label: the same names, no problem.
        self.assertEqual(self.problems('u{a="",b="x"} 1\nu{a="y",b=""} 1\n'), [])

    def test_structural_labels_are_not_label_names(self):
        self.assertEqual(self.problems('# TYPE h histogram\nh_bucket{a="x",le="1"} 1\nh_bucket{a="x",le="+Inf"} 1\n'
                                       'h_sum{a="x"} 1\nh_count{a="x"} 1\n'), [])
        p = self.problems('# TYPE h histogram\nh_bucket{a="x",le="1"} 1\nh_sum{a="x",le="1"} 1\n')
        self.assertEqual(len(p), 1)

    def test_label_name_twice_and_scattered_family(self):
        self.assertIn("a label name twice", self.problems('x{a="1",a="2"} 1\n')[0])
        p = self.problems("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"y\"} 2\n")
        self.assertTrue(any("not together" in m for m in p), p)
        p = self.problems("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\na{x=\"y\"} 2\n")
        self.assertTrue(any("declared again" in m for m in p), p)

    def test_check_raises_with_every_problem(self):
        with self.assertRaises(pt.ExpositionError) as cm:
            pt.check("x 1\nx 1\ny 1\ny 1\n", "http://t/metrics")
        self.assertEqual(len(cm.exception.problems), 2)
        self.assertIn("http://t/metrics: 2 exposition problem(s)", str(cm.exception))


if __name__ == "__main__":
    unittest.main()

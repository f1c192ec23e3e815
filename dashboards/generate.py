#!/usr/bin/env python3
"""Generates the Grafana dashboards of epc_exporter (dashboards/*.json).

The JSON files are committed; edit this file and run `python3 dashboards/generate.py` to regenerate them.
`--check` exits 1 when a committed file differs from what this script generates (run by CTest).
Metric names: docs/metrics.md. Recorded series (namespace_pod:*, node:*): alerts/sgx-epc.recording.rules.yml.
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39
NODE = 'node=~"$node"'
POD = 'node=~"$node", namespace=~"$namespace", pod=~"$pod"'


class Layout:
    """Places panels left to right on Grafana's 24-column grid and hands out unique ids."""

    def __init__(self):
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1
        self.panels = []

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0


def target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend, "range": not instant,
         "instant": instant, "editorMode": "code"}
    if fmt != "time_series":
        t["format"] = fmt
    return t


def targets(*specs, **kw):
    return [target(expr, legend, chr(ord("A") + i), **kw) for i, (expr, legend) in enumerate(specs)]


def stat(title, expr, unit, description, thresholds=None):
    return {
        "type": "stat", "title": title, "description": description, "datasource": DS,
        "targets": targets((expr, ""), instant=True),
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": thresholds or {
            "mode": "absolute", "steps": [{"color": "green", "value": None}]}}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "none", "textMode": "auto", "justifyMode": "auto"},
    }


def timeseries(title, specs, unit, description, axis_label="", stack=False, thresholds=None):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
              "spanNulls": False, "axisLabel": axis_label,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    defaults = {"unit": unit, "custom": custom}
    if thresholds:
        defaults["thresholds"] = thresholds
        custom["thresholdsStyle"] = {"mode": "line"}
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DS,
        "targets": targets(*specs),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def table(title, specs, description, unit="short", merge=False, exclude=(), units=None, order=(), colors=None):
    """units: refId -> unit of that query's value column ("Value #A" once merged).
    order: columns to show first, in this order (the others follow). colors: column -> {cell value: color}."""
    tr = []
    if merge:
        tr.append({"id": "merge", "options": {}})
    organize = {"excludeByName": {k: True for k in ("Time", "__name__") + tuple(exclude)}}
    if order:
        organize["indexByName"] = {k: i for i, k in enumerate(order)}
    tr.append({"id": "organize", "options": organize})
    overrides = [{"matcher": {"id": "byName", "options": f"Value #{ref}"},
                  "properties": [{"id": "unit", "value": u}]} for ref, u in (units or {}).items()]
    overrides += [{"matcher": {"id": "byName", "options": col},
                   "properties": [{"id": "mappings", "value": [{"type": "value", "options": {
                       v: {"color": c, "index": i} for i, (v, c) in enumerate(m.items())}}]},
                                  {"id": "custom.cellOptions", "value": {"type": "color-text"}}]}
                  for col, m in (colors or {}).items()]
    return {
        "type": "table", "title": title, "description": description, "datasource": DS,
        "targets": targets(*specs, instant=True, fmt="table"),
        "transformations": tr,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": overrides},
        "options": {"showHeader": True, "cellHeight": "sm"},
    }


def bargauge(title, expr, legend, unit, description):
    return {
        "type": "bargauge", "title": title, "description": description, "datasource": DS,
        "targets": targets((expr, legend), instant=True),
        "fieldConfig": {"defaults": {"unit": unit, "min": 0}, "overrides": []},
        "options": {"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    }


def query_var(name, label, query, include_all=True):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query, "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2, "sort": 1, "multi": True, "includeAll": include_all, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "hide": 0, "regex": "", "options": [],
    }


def templating():
    return {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": [], "includeAll": False, "multi": False},
        query_var("node", "Node", "label_values(sgx_exporter_build_info, node)"),
        query_var("namespace", "Namespace", 'label_values(sgx_epc_resident_bytes{node=~"$node"}, namespace)'),
        query_var("pod", "Pod", 'label_values(sgx_epc_resident_bytes{node=~"$node", namespace=~"$namespace"}, pod)'),
    ]}


def dashboard(uid, title, description, layout, tags):
    return {
        "uid": uid, "title": title, "description": description, "tags": ["sgx", "epc", "epc_exporter"] + tags,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True, "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s", "timezone": "",
        "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "EPC dashboards", "type": "dashboards", "tags": ["epc_exporter"], "asDropdown": True,
                   "includeVars": True, "keepTime": True}],
        "templating": templating(), "panels": layout.panels,
    }


RATIO_STEPS = {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 0.9},
                                             {"color": "red", "value": 1}]}
RATE = "[$__rate_interval]"


def node_overview():
    L = Layout()
    L.row("EPC now")
    L.add(stat("EPC capacity", f"sum(node:sgx_epc_capacity_bytes:sum{{{NODE}}})", "bytes",
               "EPC of the selected nodes (sysfs sgx_total_bytes per NUMA node, CPUID sections as fallback)."), 4, 4)
    L.add(stat("EPC used", f"sum(node:sgx_epc_used_bytes:sum{{{NODE}}})", "bytes",
               "EPC pages held now (capacity minus the kernel's free page count), incl. SECS, VA and vEPC pages."), 4, 4)
    L.add(stat("EPC free", f"sum(sgx_epc_free_bytes{{{NODE}}})", "bytes",
               "The kernel's sgx_nr_free_pages x 4096."), 4, 4)
    L.add(stat("Oversubscription (worst node)", f"max(node:sgx_epc_oversubscription:ratio{{{NODE}}})", "percentunit",
               "(EPC used + enclave pages swapped out) / capacity. Above 100 % the driver pages enclaves.",
               RATIO_STEPS), 4, 4)
    L.add(stat("Live enclaves", f"sum(sgx_enclaves{{{NODE}}})", "short", "Enclaves alive on the selected nodes."), 4, 4)
    L.add(stat("vEPC (KVM guests)", f"sum(sgx_vepc_bytes{{{NODE}}})", "bytes",
               "EPC handed to KVM guests through /dev/sgx_vepc."), 4, 4)
    L.row("Usage")
    L.add(timeseries("EPC used, free and capacity", [
        (f"node:sgx_epc_used_bytes:sum{{{NODE}}}", "{{node}} used"),
        (f"sum by (node) (sgx_epc_free_bytes{{{NODE}}})", "{{node}} free"),
        (f"node:sgx_epc_capacity_bytes:sum{{{NODE}}}", "{{node}} capacity"),
    ], "bytes", "Node-wide EPC."), 12, 8)
    L.add(timeseries("Oversubscription ratio", [
        (f"node:sgx_epc_oversubscription:ratio{{{NODE}}}", "{{node}}"),
    ], "percentunit", "(EPC used + swapped) / capacity; SgxEpcOversubscribed fires above 100 % for 15 minutes.",
        thresholds=RATIO_STEPS), 12, 8)
    L.add(timeseries("Enclave pages swapped out", [
        (f"node:sgx_epc_swapped_bytes:sum{{{NODE}}}", "{{node}}"),
    ], "bytes", "Pages evicted (EWB) and not loaded back yet."), 12, 8)
    L.add(timeseries("vEPC", [(f"sum by (node) (sgx_vepc_bytes{{{NODE}}})", "{{node}}")], "bytes",
                     "EPC pages handed to KVM guests."), 12, 8)
    L.add(timeseries("Scheduled vs held", [
        (f"node:sgx_epc_allocatable_bytes:sum{{{NODE}}}", "{{node}} allocatable"),
        (f"node:sgx_epc_requested_bytes:sum{{{NODE}}}", "{{node}} requested by pods"),
        (f"node:sgx_epc_used_bytes:sum{{{NODE}}}", "{{node}} held"),
    ], "bytes", "What the scheduler works with (EPC the device plugin advertises, EPC the pods request; "
                "kube-state-metrics) against what enclaves hold. Requests are not enforced: held can exceed requested."),
        24, 8)
    L.row("Paging and reclaim")
    L.add(timeseries("Evictions and load-backs", [
        (f"sum by (node) (rate(sgx_epc_evicted_pages_total{{{NODE}}}{RATE}))", "{{node}} evicted (EWB)"),
        (f"sum by (node) (rate(sgx_epc_loaded_back_pages_total{{{NODE}}}{RATE}))", "{{node}} loaded back (ELDU)"),
    ], "short", "EPC pages written out of and back into EPC, per second.", axis_label="pages/s"), 12, 8)
    L.add(timeseries("Reclaim passes", [
        (f"sum by (node, reclaimer) (rate(sgx_epc_reclaim_passes_total{{{NODE}}}{RATE}))", "{{node}} {{reclaimer}}"),
    ], "short", "sgx_reclaim_pages calls per second, by ksgxd (background) or direct reclaim (allocation path).",
        axis_label="passes/s"), 12, 8)
    L.add(timeseries("EPC allocation failures", [
        (f"sum by (node) (increase(sgx_epc_alloc_failures_total{{{NODE}}}{RATE}))", "{{node}}"),
    ], "short", "Failed EPC page allocations (ENOMEM to the enclave build or fault)."), 12, 8)
    L.add(bargauge("Top pods by EPC held",
                   f"topk(10, namespace_pod:sgx_epc_resident_bytes:sum{{{POD}}})", "{{namespace}}/{{pod}}", "bytes",
                   "The ten pods holding the most EPC now."), 12, 8)
    L.row("Platform")
    L.add(table("SGX platform", [(f"sgx_platform_info{{{NODE}}}", "")],
                "CPU flags and driver of each node (1 = present).", exclude=("Value", "job")), 12, 6)
    L.add(table("EPC per NUMA node", [(f"sgx_epc_capacity_bytes{{{NODE}}}", "")],
                "sysfs sgx_total_bytes per NUMA node.", unit="bytes", exclude=("job",)), 12, 6)
    L.add(table("EPC sections and enclave size limits", [
        (f"sgx_epc_section_bytes{{{NODE}}}", ""),
        (f"sgx_platform_max_enclave_size_bytes{{{NODE}}}", ""),
    ], "CPUID leaf 0x12: EPC sections and the largest enclave in 32- and 64-bit mode.", unit="bytes",
        exclude=("job",)), 24, 6)
    return dashboard("sgx-epc-node", "SGX EPC / Node overview",
                     "EPC capacity, use, oversubscription, paging and reclaim per node (epc_exporter).", L, ["node"])


def pods():
    L = Layout()
    L.row("Used vs requested")
    L.add(timeseries("EPC held vs requested", [
        (f"namespace_pod:sgx_epc_resident_bytes:sum{{{POD}}}", "{{namespace}}/{{pod}} held"),
        (f"namespace_pod:sgx_epc_requested_bytes:sum{{{POD}}}", "{{namespace}}/{{pod}} requested"),
    ], "bytes", "EPC pages a pod holds (eBPF) against the EPC its containers request (kube-state-metrics: "
                "sgx.intel.com/epc in bytes, sgx_epc_mem_in_MiB in MiB)."), 16, 9)
    L.add(table("Held / requested", [
        (f"namespace_pod:sgx_epc_resident_bytes:sum{{{POD}}}", ""),
        (f"namespace_pod:sgx_epc_requested_bytes:sum{{{POD}}}", ""),
        (f"namespace_pod:sgx_epc_resident_bytes:sum{{{POD}}} / on (namespace, pod) group_left () "
         f"namespace_pod:sgx_epc_requested_bytes:sum{{{POD}}}", ""),
    ], "Per pod: EPC held (A), requested (B), held/requested (C); SgxPodEpcOverRequest fires above 100 %.",
        merge=True, exclude=("job", "instance"), units={"A": "bytes", "B": "bytes", "C": "percentunit"}), 8, 9)
    L.add(timeseries("EPC held per container", [
        (f"sum by (namespace, pod, container) (sgx_epc_resident_bytes{{{POD}}})", "{{namespace}}/{{pod}}/{{container}}"),
    ], "bytes", "EPC pages held, by the container (cgroup) that created the enclave.", stack=True), 12, 8)
    L.add(timeseries("Enclave pages swapped out", [
        (f"namespace_pod:sgx_epc_swapped_bytes:sum{{{POD}}}", "{{namespace}}/{{pod}}"),
    ], "bytes", "Pages of the pod's enclaves evicted and not loaded back yet."), 12, 8)
    L.row("Paging")
    L.add(timeseries("Evictions and load-backs", [
        (f"sum by (namespace, pod) (rate(sgx_epc_evicted_pages_total{{{POD}}}{RATE}))", "{{namespace}}/{{pod}} evicted"),
        (f"sum by (namespace, pod) (rate(sgx_epc_loaded_back_pages_total{{{POD}}}{RATE}))",
         "{{namespace}}/{{pod}} loaded back"),
    ], "short", "EWB evictions and ELDU load-backs of the pod's enclave pages per second.", axis_label="pages/s"), 12, 8)
    L.add(timeseries("Paging rate (5m, as used by alerts and HPA)", [
        (f"namespace_pod:sgx_epc_paging_pages:rate5m{{{POD}}}", "{{namespace}}/{{pod}}"),
    ], "short", "Evictions + load-backs, 5 minute rate; SgxPodHeavyPaging fires above 1000 pages/s.",
        axis_label="pages/s"), 12, 8)
    L.add(timeseries("Fault stall", [
        (f"sum by (namespace, pod) (rate(sgx_enclave_page_fault_seconds_total{{{POD}}}{RATE}))", "{{namespace}}/{{pod}}"),
    ], "s", "Seconds per second the pod's threads spend in enclave page faults (sgx_vma_fault)."), 8, 8)
    L.add(timeseries("Enclave page faults", [
        (f"sum by (namespace, pod) (rate(sgx_enclave_page_faults_total{{{POD}}}{RATE}))", "{{namespace}}/{{pod}}"),
    ], "short", "Enclave page faults per second.", axis_label="faults/s"), 8, 8)
    L.add(timeseries("Mean fault latency", [
        (f"sum by (namespace, pod) (rate(sgx_enclave_page_fault_seconds_total{{{POD}}}{RATE}))"
         f" / sum by (namespace, pod) (rate(sgx_enclave_page_faults_total{{{POD}}}{RATE}))", "{{namespace}}/{{pod}}"),
    ], "s", "Stall seconds per fault (empty while a pod takes no faults)."), 8, 8)
    L.row("Top pods")
    L.add(bargauge("Top pods by EPC held", f"topk(10, namespace_pod:sgx_epc_resident_bytes:sum{{{POD}}})",
                   "{{namespace}}/{{pod}}", "bytes", "The ten pods holding the most EPC."), 8, 8)
    L.add(bargauge("Top pods by paging", f"topk(10, namespace_pod:sgx_epc_paging_pages:rate5m{{{POD}}})",
                   "{{namespace}}/{{pod}}", "short", "The ten pods paging the most (pages/s, 5m rate)."), 8, 8)
    L.add(bargauge("Top pods by fault stall", f"topk(10, namespace_pod:sgx_enclave_page_fault_seconds:rate5m{{{POD}}})",
                   "{{namespace}}/{{pod}}", "s", "The ten pods stalling the most in enclave page faults."), 8, 8)
    L.row("Enclaves and kernel accounting")
    L.add(timeseries("Live enclaves", [(f"namespace_pod:sgx_enclaves:sum{{{POD}}}", "{{namespace}}/{{pod}}")],
                     "short", "Enclaves alive per pod."), 8, 8)
    L.add(timeseries("Declared enclave size", [
        (f"sum by (namespace, pod) (sgx_enclave_size_bytes{{{POD}}})", "{{namespace}}/{{pod}}"),
    ], "bytes", "Sum of the live enclaves' SECS sizes (address space, not EPC held)."), 8, 8)
    L.add(timeseries("EPC allocation failures", [
        (f"sum by (namespace, pod) (increase(sgx_epc_alloc_failures_total{{{POD}}}{RATE}))", "{{namespace}}/{{pod}}"),
    ], "short", "Failed EPC page allocations of the pod's enclaves."), 8, 8)
    L.add(timeseries("misc cgroup sgx_epc usage and limit", [
        (f"sgx_cgroup_epc_usage_bytes{{{POD}, container=\"\"}}", "{{namespace}}/{{pod}} usage"),
        (f"sgx_cgroup_epc_limit_bytes{{{POD}}}", "{{namespace}}/{{pod}}/{{container}} limit"),
    ], "bytes", "The kernel's own EPC accounting: usage of the pod cgroup, misc.max of each cgroup of the pod that "
                "has one (only on kernels with the misc controller's sgx_epc resource)."), 12, 8)
    L.add(timeseries("misc cgroup sgx_epc limit hits", [
        (f"sum by (namespace, pod) (increase(sgx_cgroup_epc_max_events_total{{{POD}}}{RATE}))", "{{namespace}}/{{pod}}"),
    ], "short", "Times a cgroup of the pod hit its sgx_epc limit (misc.events)."), 12, 8)
    L.row("Enclave inventory")
    # The signer column: the operator's name for the MRSIGNER (--collector.ebpf.signers-file), else the MRSIGNER
    # itself. label_join makes "name,mrsigner" or ",mrsigner"; the regex keeps the name, or the MRSIGNER after a
    # leading comma ($1 / $2 are regex groups, not dashboard variables).
    L.add(table("Enclave inventory", [
        (f'label_replace(label_join(sgx_enclave_info{{{POD}}}, "signer", ",", "signer", "mrsigner"), '
         f'"signer", "$1$2", "signer", "(.+),.*|,(.*)")', ""),
    ], "Every live, initialised enclave of the selected pods (and, with Pod = All, of non-Kubernetes cgroups): "
       "signer (the name from --collector.ebpf.signers-file, else the MRSIGNER), enclave id, MRENCLAVE, ISV product "
       "id and SVN, and the DEBUG and PROVISIONKEY attributes (SgxDebugEnclaveRunning, SgxProvisioningKeyEnclave). "
       "\"unknown\": an enclave found at exporter start whose SIGSTRUCT was not seen.",
        exclude=("Value", "job", "instance", "mrsigner", "mode64bit", "kss", "source"),
        order=("signer", "enclave", "mrenclave", "isv_prod_id", "isv_svn", "debug", "provision_key", "namespace",
               "pod", "container", "cgroup", "node"),
        colors={"debug": {"true": "red"}, "provision_key": {"true": "orange"}}), 24, 10)
    return dashboard("sgx-epc-pods", "SGX EPC / Pods",
                     "Per-pod EPC held vs requested, paging, fault stall and top pods (epc_exporter).", L, ["pods"])


def health():
    L = Layout()
    L.row("Exporter")
    L.add(stat("Exporters up", f'sum(up{{job="epc-exporter", {NODE}}})', "short",
               "Scrape targets of job epc-exporter that answered the last scrape."), 6, 4)
    L.add(stat("Probes attached", f"sum(sgx_exporter_probe_attached{{{NODE}}})", "short",
               "BPF probes attached, summed over the selected nodes."), 6, 4)
    L.add(stat("Collectors failing", f"count(sgx_exporter_collector_success{{{NODE}}} == 0) or vector(0)", "short",
               "Collectors whose last scrape failed.", {"mode": "absolute", "steps": [
                   {"color": "green", "value": None}, {"color": "red", "value": 1}]}), 6, 4)
    L.add(stat("Workloads tracked", f"count(sgx_epc_resident_bytes{{{POD}}})", "short",
               "Per-workload series the eBPF collector reports (one per cgroup that created an enclave)."), 6, 4)
    L.add(table("Build", [(f"sgx_exporter_build_info{{{NODE}}}", "")], "Version of each exporter.",
                exclude=("Value", "job")), 24, 5)
    L.row("Probes")
    L.add(table("Probe status", [
        (f"sgx_exporter_probe_attached{{{NODE}}}", ""),
        (f"sgx_exporter_probe_info{{{NODE}}}", ""),
    ], "A: 1 = attached. B: where and how each probe attaches, and why it is off.", merge=True,
        exclude=("job",)), 24, 8)
    L.row("Collectors")
    L.add(timeseries("Collector success", [
        (f"sgx_exporter_collector_success{{{NODE}}}", "{{node}} {{collector}}"),
    ], "short", "1 when the collector's last scrape succeeded."), 12, 8)
    L.add(timeseries("Collector duration", [
        (f"sgx_exporter_collector_duration_seconds{{{NODE}}}", "{{node}} {{collector}}"),
    ], "s", "Time each collector took in the last scrape."), 12, 8)
    L.add(timeseries("Workloads with series", [
        (f"sgx_exporter_workloads{{{NODE}}}", "{{node}} workloads"),
        (f"sgx_exporter_workloads_aggregated{{{NODE}}}", "{{node}} summed into _overflow"),
        (f"sgx_exporter_workloads_limit{{{NODE}}} > 0", "{{node}} limit"),
    ], "short", "Distinct workloads with their own series, those beyond --metrics.max-workloads summed into "
                "cgroup=\"_overflow\" (SgxExporterWorkloadCapReached), and the limit (0 = none, not drawn)."), 12, 8)
    L.add(timeseries("Scrape duration", [
        (f'scrape_duration_seconds{{job="epc-exporter", {NODE}}}', "{{node}}"),
        (f'scrape_samples_scraped{{job="epc-exporter", {NODE}}}', "{{node}} samples"),
    ], "s", "Whole scrape as Prometheus sees it: A duration, B samples per scrape."), 12, 8)
    L.row("BPF")
    L.add(timeseries("Dropped events", [
        (f"sum by (node, reason) (rate(sgx_exporter_bpf_dropped_events_total{{{NODE}}}{RATE}))", "{{node}} {{reason}}"),
    ], "short", "Events the BPF side could not record (map full, ...); per-workload numbers undercount while > 0.",
        axis_label="events/s"), 12, 8)
    L.add(timeseries("BPF map fill", [
        (f"sgx_exporter_bpf_map_entries{{{NODE}}} / on (node, instance, map) sgx_exporter_bpf_map_max_entries{{{NODE}}}",
         "{{node}} {{map}}"),
    ], "percentunit", "Entries / max_entries of each BPF map.", thresholds={"mode": "absolute", "steps": [
        {"color": "green", "value": None}, {"color": "orange", "value": 0.8}, {"color": "red", "value": 0.95}]}), 12, 8)
    L.add(timeseries("BPF program run time", [
        (f"sum by (node, program) (rate(sgx_exporter_bpf_program_run_seconds_total{{{NODE}}}{RATE}))",
         "{{node}} {{program}}"),
    ], "s", "CPU seconds per second spent in each BPF program (needs kernel.bpf_stats_enabled=1)."), 12, 8)
    L.add(timeseries("BPF program runs", [
        (f"sum by (node, program) (rate(sgx_exporter_bpf_program_runs_total{{{NODE}}}{RATE}))", "{{node}} {{program}}"),
    ], "short", "Runs per second of each BPF program (needs kernel.bpf_stats_enabled=1).", axis_label="runs/s"), 12, 8)
    return dashboard("sgx-epc-exporter", "SGX EPC / Exporter health",
                     "Probes attached, collector success and duration, dropped events (epc_exporter).", L, ["health"])


DASHBOARDS = {
    "sgx-epc-node-overview.json": node_overview,
    "sgx-epc-pods.json": pods,
    "sgx-epc-exporter-health.json": health,
}


def render(fn):
    return json.dumps(fn(), indent=2, sort_keys=False) + "\n"


def main(argv):
    check = "--check" in argv
    stale = []
    for name, fn in DASHBOARDS.items():
        path = HERE / name
        text = render(fn)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("dashboards out of date (run python3 dashboards/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

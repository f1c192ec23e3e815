#!/usr/bin/env python3
"""Proves the promtool rule unit tests can fail: each mutation of alerts/*.rules.yml (a threshold moved, a
`for:` dropped, a unit conversion removed, a join label lost) must make `promtool test rules` fail.
Works on copies in a temp dir; the repository is not touched. Prints "N passed, N failed".
"""
import os
import shutil
import subprocess
import sys
import tempfile

MUTATIONS = [
    # (file, old, new, what)
    ("sgx-epc.alerts.rules.yml", "expr: node:sgx_epc_oversubscription:ratio > 1\n",
     "expr: node:sgx_epc_oversubscription:ratio > 2\n", "oversubscription threshold 1 -> 2"),
    ("sgx-epc.alerts.rules.yml", "expr: namespace_pod:sgx_epc_paging_pages:rate5m > 1000\n        for: 10m",
     "expr: namespace_pod:sgx_epc_paging_pages:rate5m > 1000\n        for: 1m", "heavy paging for 10m -> 1m"),
    ("sgx-epc.alerts.rules.yml", "namespace_pod:sgx_enclave_page_fault_seconds:rate5m > 0.1",
     "namespace_pod:sgx_enclave_page_fault_seconds:rate5m > 0.01", "fault stall threshold 0.1 -> 0.01"),
    ("sgx-epc.recording.rules.yml",
     'kube_pod_container_resource_requests{resource=~"sgx_intel_com_sgx_epc_mem_in_MiB|kubernetes_azure_com_sgx_epc_mem_in_MiB"} * 1048576',
     'kube_pod_container_resource_requests{resource=~"sgx_intel_com_sgx_epc_mem_in_MiB|kubernetes_azure_com_sgx_epc_mem_in_MiB"}',
     "MiB requests not converted to bytes"),
    ("sgx-epc.recording.rules.yml",
     'kube_node_status_allocatable{resource=~"sgx_intel_com_sgx_epc_mem_in_MiB|kubernetes_azure_com_sgx_epc_mem_in_MiB"} * 1048576',
     'kube_node_status_allocatable{resource=~"sgx_intel_com_sgx_epc_mem_in_MiB"} * 1048576',
     "older AKS allocatable resource name dropped"),
    ("sgx-epc.alerts.rules.yml", "increase(sgx_epc_alloc_failures_total[5m])) > 0",
     "increase(sgx_epc_alloc_failures_total[5m])) > 10", "allocation failure threshold 0 -> 10"),
    ("sgx-epc.alerts.rules.yml", "expr: sgx_exporter_collector_success == 0\n        for: 10m",
     "expr: sgx_exporter_collector_success == 0\n        for: 0m", "collector failing without for:"),
    ("sgx-epc.alerts.rules.yml", "expr: up{job=\"epc-exporter\"} == 0", "expr: up{job=\"epc-exporter\"} == 1",
     "exporter down inverted"),
    ("sgx-epc.alerts.rules.yml", "absent(up{job=\"epc-exporter\"})", "absent(up{job=\"epc_exporter\"})",
     "absent on the wrong job name"),
    ("sgx-epc.alerts.rules.yml", "max by (node) (up{job=\"epc-exporter\"})",
     "max by (node) (up{job=\"epc-exporter\"} == 1)", "missing-exporter also for nodes whose exporter is down"),
    ("sgx-epc.alerts.rules.yml", "namespace_pod:sgx_enclave_page_fault_seconds:rate5m > 0.1\n        for: 10m",
     "namespace_pod:sgx_enclave_page_fault_seconds:rate5m > 0.1\n        for: 5m", "fault stall for 10m -> 5m"),
    ("sgx-epc.alerts.rules.yml", "expr: node:sgx_epc_oversubscription:ratio > 1\n        for: 15m",
     "expr: node:sgx_epc_oversubscription:ratio > 1\n        for: 5m", "oversubscribed for 15m -> 5m"),
    ("sgx-epc.recording.rules.yml", "sum by (node) (sgx_epc_used_bytes) * 0\n", "vector(0)\n",
     "swapped fallback without the node label"),
    ("sgx-epc.alerts.rules.yml", "sgx_exporter_probe_attached == 0", "sgx_exporter_probe_attached == 1",
     "probe alert inverted"),
    ("sgx-epc.alerts.rules.yml", 'sgx_exporter_probe_info{reason="disabled by configuration"}',
     'sgx_exporter_probe_info{reason="disabled"}', "probes switched off on purpose alerted on"),
    ("sgx-epc.alerts.rules.yml", "expr: sgx_exporter_workloads_aggregated > 0\n        for: 15m",
     "expr: sgx_exporter_workloads_aggregated > 0\n        for: 1m", "workload cap alert without for:"),
    ("sgx-epc.alerts.rules.yml", "rate(sgx_exporter_bpf_dropped_events_total[5m])) > 0",
     "rate(sgx_exporter_bpf_dropped_events_total[5m])) > 5", "dropped events threshold 0 -> 5"),
    ("sgx-epc.alerts.rules.yml", "increase(sgx_cgroup_epc_max_events_total[5m])) > 0",
     "increase(sgx_cgroup_epc_max_events_total[5m])) > 3", "cgroup limit threshold 0 -> 3"),
    ("sgx-epc.alerts.rules.yml", "> on (namespace, pod) group_left ()", "< on (namespace, pod) group_left ()",
     "over-request comparison inverted"),
    ("sgx-epc.alerts.rules.yml", 'sgx_enclave_info{namespace=~"sgx-dev"}\n        for: 2m',
     'sgx_enclave_info{namespace=~"sgx-dev"}\n        for: 0m', "debug enclave alert without for:"),
    ("sgx-epc.alerts.rules.yml", 'sgx_enclave_info{namespace=~"sgx-dev"}', 'sgx_enclave_info{namespace=~"no-such-ns"}',
     "debug enclave namespace allowlist ignored"),
    ("sgx-epc.alerts.rules.yml", 'unless on (namespace)\n          sgx_enclave_info{namespace=~"sgx-dev"}',
     'unless on (namespace)\n          sgx_enclave_info{namespace=~"sgx-dev|"}',
     "debug enclaves of non-Kubernetes cgroups not alerted"),
    ("sgx-epc.alerts.rules.yml", '(sgx_enclave_info{debug="true"})', '(sgx_enclave_info{debug=~"true|false"})',
     "production enclaves alerted as debug"),
    ("sgx-epc.alerts.rules.yml",
     'count by (node, namespace, pod, container, cgroup, mrenclave, mrsigner, signer) (sgx_enclave_info{debug',
     'count by (node, namespace, pod, container, cgroup, enclave, mrenclave, mrsigner, signer) (sgx_enclave_info{debug',
     "debug alert per enclave id (a rebuilt enclave restarts for:)"),
    ("sgx-epc.alerts.rules.yml", 'count by (node, namespace, pod, container, cgroup, mrenclave, mrsigner, signer) (sgx_enclave_info{debug',
     'group by (node, namespace, pod, container, cgroup, mrenclave, mrsigner, signer) (sgx_enclave_info{debug',
     "debug alert does not count the enclaves of a workload"),
    ("sgx-epc.alerts.rules.yml", 'sgx_enclave_info{cgroup=~"system.slice/aesmd.service|system.slice/qgsd.service"}',
     'sgx_enclave_info{cgroup=~"system.slice/qgsd.service"}', "host aesmd not allowed the provisioning key"),
    ("sgx-epc.alerts.rules.yml", 'sgx_enclave_info{namespace=~"kube-system"}', 'sgx_enclave_info{namespace=~"no-such-ns"}',
     "provisioning key namespace allowlist ignored"),
    ("sgx-epc.alerts.rules.yml", 'sgx_enclave_info{namespace=~"kube-system"}', 'sgx_enclave_info{namespace=~"kube-system|"}',
     "provisioning key in non-Kubernetes cgroups not alerted"),
    ("sgx-epc.alerts.rules.yml", '(sgx_enclave_info{provision_key="true"})', '(sgx_enclave_info{provision_key=~".+"})',
     "enclaves without the provisioning key alerted"),
    ("sgx-epc.alerts.rules.yml", 'system.slice/qgsd.service"}\n        for: 5m',
     'system.slice/qgsd.service"}\n        for: 1m', "provisioning key for 5m -> 1m"),
    ("sgx-epc.alerts.rules.yml", "unless on (cgroup)", "unless on (namespace)",
     "host cgroup allowlist joined on the wrong label"),
    ("sgx-epc.alerts.rules.yml", "increase(sgx_enclave_init_failures_total[5m])) > 0",
     "increase(sgx_enclave_init_failures_total[5m])) > 5", "init failure threshold 0 -> 5"),
]


def main(argv):
    promtool = argv[0] if argv else shutil.which("promtool")
    if not promtool or not os.access(promtool, os.X_OK):
        print("SKIP: promtool not installed")
        return 77
    src = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    passed, failed = 0, 0
    with tempfile.TemporaryDirectory(prefix="epc-rules-mut-") as tmp:
        os.makedirs(os.path.join(tmp, "tests", "prometheus"))
        test_file = os.path.join(tmp, "tests", "prometheus", "sgx-epc.rules.test.yml")
        shutil.copy(os.path.join(src, "tests", "prometheus", "sgx-epc.rules.test.yml"), test_file)

        def run(mutation):
            shutil.rmtree(os.path.join(tmp, "alerts"), ignore_errors=True)
            shutil.copytree(os.path.join(src, "alerts"), os.path.join(tmp, "alerts"))
            if mutation:
                f, old, new, _ = mutation
                p = os.path.join(tmp, "alerts", f)
                text = open(p).read()
                if text.count(old) != 1:
                    return None
                open(p, "w").write(text.replace(old, new))
            return subprocess.run([promtool, "test", "rules", test_file], capture_output=True, text=True,
                                  timeout=120).returncode

        rc = run(None)
        if rc == 0:
            print("ok    unmutated rules pass their unit tests")
            passed += 1
        else:
            print("FAIL  unmutated rules fail their unit tests")
            failed += 1
        for m in MUTATIONS:
            rc = run(m)
            if rc is None:
                print(f"FAIL  mutation '{m[3]}': pattern not found exactly once in {m[0]} (update this test)")
                failed += 1
            elif rc != 0:
                print(f"ok    mutation '{m[3]}' is caught")
                passed += 1
            else:
                print(f"FAIL  mutation '{m[3]}' is NOT caught by the unit tests")
                failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

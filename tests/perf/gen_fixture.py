#!/usr/bin/env python3
"""Generates a node like tests/fixtures/aks-dcsv3 with PODS pods x CONTAINERS containers (cgroup v2, systemd
driver, containerd, misc sgx_epc files, kubelet log directories and links). Every container uses EPC, so every
container and pod is reported: the worst case for the exporter's scrape. Generated at test time, not committed."""
import argparse
import hashlib
import os
import shutil

QOS = ["guaranteed", "burstable", "besteffort"]


def write(root, rel, text):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)


def misc(root, cg, cur, mx="max", peak=None, events=0, is_root=False):
    d = f"sys/fs/cgroup/{cg}" if cg else "sys/fs/cgroup"
    write(root, f"{d}/misc.current", f"sgx_epc {cur}\n")
    write(root, f"{d}/misc.peak", f"sgx_epc {cur if peak is None else peak}\n")
    if not is_root:
        write(root, f"{d}/misc.max", f"sgx_epc {mx}\n")
        write(root, f"{d}/misc.events", f"sgx_epc.max {events}\n")


def generate(root, pods, containers, sgx_epc=True):
    if os.path.exists(root):
        shutil.rmtree(root)
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "aks-dcsv3")
    for rel in ("proc/cpuinfo", "cpuid.txt", "dev/sgx_enclave", "dev/sgx_provision",
                "sys/devices/system/node/node0/x86/sgx_total_bytes", "sys/devices/system/node/node1/x86/sgx_total_bytes"):
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        shutil.copy(os.path.join(src, rel), os.path.join(root, rel))
    write(root, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
    # Without sgx_epc (mainline kernels) the misc files exist but do not list the resource.
    write(root, "sys/fs/cgroup/misc.capacity", f"sgx_epc {64 << 30}\n" if sgx_epc else "")
    page = 4096
    qos_tot = {q: 0 for q in QOS}
    for p in range(pods):
        qos = QOS[p % 3]
        uid = hashlib.md5(f"pod{p}".encode()).hexdigest()
        uid = f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}"
        ns, pod = f"team-{p % 10}", f"app-{p}-5f7c9d8b6-x{p:04d}"
        u = uid.replace("-", "_")
        parent = {"guaranteed": "kubepods.slice", "burstable": "kubepods.slice/kubepods-burstable.slice",
                  "besteffort": "kubepods.slice/kubepods-besteffort.slice"}[qos]
        pslice = f"kubepods-pod{u}.slice" if qos == "guaranteed" else f"kubepods-{qos}-pod{u}.slice"
        pdir = f"{parent}/{pslice}"
        tot = 0
        sandbox = hashlib.sha256(f"{uid}/sandbox".encode()).hexdigest()
        misc(root, f"{pdir}/cri-containerd-{sandbox}.scope", 0)
        for c in range(containers):
            cname = f"c{c}"
            cid = hashlib.sha256(f"{uid}/{cname}".encode()).hexdigest()
            use = page * (1 + (p * containers + c) % 4096)
            tot += use
            misc(root, f"{pdir}/cri-containerd-{cid}.scope", use, mx=str(use * 2) if c == 0 else "max", events=c)
            write(root, f"var/log/pods/{ns}_{pod}_{uid}/{cname}/0.log", "")
            link = os.path.join(root, f"var/log/containers/{pod}_{ns}_{cname}-{cid}.log")
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(f"/var/log/pods/{ns}_{pod}_{uid}/{cname}/0.log", link)
        misc(root, pdir, tot)
        qos_tot[qos] += tot
    misc(root, "kubepods.slice/kubepods-burstable.slice", qos_tot["burstable"])
    misc(root, "kubepods.slice/kubepods-besteffort.slice", qos_tot["besteffort"])
    misc(root, "kubepods.slice", sum(qos_tot.values()))
    for svc in ("containerd.service", "kubelet.service", "aesmd.service", "sshd.service", "systemd-journald.service"):
        misc(root, f"system.slice/{svc}", 2 << 20 if svc == "aesmd.service" else 0)
    misc(root, "system.slice", 2 << 20)
    misc(root, "", sum(qos_tot.values()) + (2 << 20), is_root=True)
    return root


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("root")
    ap.add_argument("--pods", type=int, default=250)
    ap.add_argument("--containers", type=int, default=4)
    a = ap.parse_args()
    generate(a.root, a.pods, a.containers)
    print(f"generated {a.pods} pods x {a.containers} containers under {a.root}")

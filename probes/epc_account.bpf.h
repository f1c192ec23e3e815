/* The accounting: maps and one function per event, on plain values (no kernel pointers are dereferenced here).
 * Compiled into the probe programs and into the test entry program, so BPF_PROG_TEST_RUN drives exactly the
 * code that runs on SGX hosts (tests/bpf/). */
#ifndef EPC_ACCOUNT_BPF_H
#define EPC_ACCOUNT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "epc.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, EPC_MAX_ENCLAVES);
  __type(key, __u64); /* struct sgx_encl * */
  __type(value, struct epc_encl_state);
} encls SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, EPC_MAX_CGROUPS);
  __type(key, __u64); /* cgroup v2 id */
  __type(value, struct epc_cgroup_stats);
} cgroups SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct epc_node_stats);
} node SEC(".maps");

static __always_inline struct epc_node_stats *epc_node(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&node, &zero);
}

static __always_inline void epc_drop(__u32 reason) {
  struct epc_node_stats *n = epc_node();
  if (n && reason < EPC_DROP_NR) __sync_fetch_and_add(&n->dropped[reason], 1);
}

static __always_inline struct epc_cgroup_stats *epc_cgroup(__u64 cgroup_id) {
  struct epc_cgroup_stats *s = bpf_map_lookup_elem(&cgroups, &cgroup_id);
  if (s) return s;
  struct epc_cgroup_stats zero = {};
  /* -EEXIST (another CPU created it) is fine; -E2BIG (full) shows as a failed lookup below. */
  bpf_map_update_elem(&cgroups, &cgroup_id, &zero, BPF_NOEXIST);
  s = bpf_map_lookup_elem(&cgroups, &cgroup_id);
  if (!s) epc_drop(EPC_DROP_CGROUP_MAP_FULL);
  return s;
}

/* The tracked enclave a page owner designates: owner->encl, else the SECS candidate if it is a tracked enclave. */
static __always_inline __u64 epc_resolve(__u64 owner_encl, __u64 secs_candidate) {
  if (owner_encl) return owner_encl;
  if (secs_candidate && bpf_map_lookup_elem(&encls, &secs_candidate)) return secs_candidate;
  return 0;
}

/* Looks the enclave up for a page event. NULL (and a dropped event) for enclaves created before the probes ran;
 * NULL without a drop for enclaves being released (their frees are accounted by the release). */
static __always_inline struct epc_encl_state *epc_encl_for_event(__u64 encl) {
  if (!encl) return 0;
  struct epc_encl_state *e = bpf_map_lookup_elem(&encls, &encl);
  if (!e) {
    epc_drop(EPC_DROP_UNTRACKED_ENCLAVE);
    return 0;
  }
  if (e->released) return 0;
  return e;
}

static __always_inline void acct_encl_create(__u64 encl, __u64 cgroup_id, __u32 tgid, __u64 size_bytes) {
  if (!encl) return;
  struct epc_encl_state *old = bpf_map_lookup_elem(&encls, &encl);
  if (old && !old->released) return; /* a retried SGX_IOC_ENCLAVE_CREATE on the same enclave */
  /* A released entry whose release return was missed (kretprobe maxactive): the address is reused, start over. */
  struct epc_encl_state st = {.cgroup_id = cgroup_id, .size_bytes = size_bytes, .tgid = tgid};
  if (bpf_map_update_elem(&encls, &encl, &st, old ? BPF_EXIST : BPF_NOEXIST)) {
    epc_drop(EPC_DROP_ENCL_MAP_FULL);
    return;
  }
  epc_cgroup(cgroup_id); /* reserve the cgroup's entry now: a full map shows at creation, not at release */
}

/* Release entry (and failed creation): the enclave's counters move to its cgroup; it stops counting as live. */
static __always_inline void acct_encl_release(__u64 encl) {
  struct epc_encl_state *e = encl ? bpf_map_lookup_elem(&encls, &encl) : 0;
  if (!e || e->released) return; /* never created (open+close of /dev/sgx_enclave) or created before us */
  e->released = 1;
  struct epc_cgroup_stats *cg = epc_cgroup(e->cgroup_id);
  if (!cg) return;
  __sync_fetch_and_add(&cg->evicted_pages, e->evicted_pages);
  __sync_fetch_and_add(&cg->loaded_back_pages, e->loaded_back_pages);
  __sync_fetch_and_add(&cg->page_faults, e->page_faults);
  __sync_fetch_and_add(&cg->page_fault_ns, e->page_fault_ns);
  __sync_fetch_and_add(&cg->alloc_failures, e->alloc_failures);
}

/* Release return: the enclave is gone. */
static __always_inline void acct_encl_release_done(__u64 encl) {
  if (encl) bpf_map_delete_elem(&encls, &encl);
}

static __always_inline void acct_encl_create_failed(__u64 encl) {
  acct_encl_release(encl);
  acct_encl_release_done(encl);
}

static __always_inline void epc_add_resident(__u64 encl, __s64 delta, __s64 va_delta) {
  struct epc_encl_state *e = epc_encl_for_event(encl);
  if (!e) return;
  __sync_fetch_and_add(&e->resident_pages, delta);
  if (va_delta) __sync_fetch_and_add(&e->va_pages, va_delta);
}

static __always_inline void acct_page_alloc(__u64 owner_encl, __u64 secs_candidate) {
  /* owner NULL: a VA page (counted by acct_va_grow) */
  epc_add_resident(epc_resolve(owner_encl, secs_candidate), 1, 0);
}

static __always_inline void acct_page_free(__u64 owner_encl, __u64 secs_candidate) {
  epc_add_resident(epc_resolve(owner_encl, secs_candidate), -1, 0);
}

static __always_inline void acct_va_grow(__u64 encl) { epc_add_resident(encl, 1, 1); }
static __always_inline void acct_va_shrink(__u64 encl) { epc_add_resident(encl, -1, -1); }

/* Failed allocation: charged to the owning enclave, else to the cgroup of the task that asked. */
static __always_inline void acct_alloc_fail(__u64 owner_encl, __u64 secs_candidate, __u64 current_cgroup_id) {
  __u64 encl = epc_resolve(owner_encl, secs_candidate);
  struct epc_encl_state *e = encl ? bpf_map_lookup_elem(&encls, &encl) : 0;
  if (e && !e->released) {
    __sync_fetch_and_add(&e->alloc_failures, 1);
    return;
  }
  struct epc_cgroup_stats *cg = epc_cgroup(current_cgroup_id);
  if (cg) __sync_fetch_and_add(&cg->alloc_failures, 1);
}

/* EWB: the page's contents leave the EPC (its EPC page is freed right after, see acct_page_free). */
static __always_inline void acct_ewb(__u64 encl) {
  struct epc_encl_state *e = epc_encl_for_event(encl);
  if (!e) return;
  __sync_fetch_and_add(&e->swapped_pages, 1);
  __sync_fetch_and_add(&e->evicted_pages, 1);
}

/* ELDU: an evicted page is back (its new EPC page was counted by acct_page_alloc). */
static __always_inline void acct_eldu(__u64 encl) {
  struct epc_encl_state *e = epc_encl_for_event(encl);
  if (!e) return;
  __sync_fetch_and_add(&e->loaded_back_pages, 1);
  if (e->swapped_pages > 0) __sync_fetch_and_add(&e->swapped_pages, -1); /* else evicted before the probes ran */
}

static __always_inline void acct_fault(__u64 encl, __u64 ns) {
  struct epc_encl_state *e = epc_encl_for_event(encl);
  if (!e) return;
  __sync_fetch_and_add(&e->page_faults, 1);
  __sync_fetch_and_add(&e->page_fault_ns, ns);
}

static __always_inline void acct_reclaim(int by_ksgxd) {
  struct epc_node_stats *n = epc_node();
  if (!n) return;
  if (by_ksgxd)
    __sync_fetch_and_add(&n->reclaim_ksgxd, 1);
  else
    __sync_fetch_and_add(&n->reclaim_direct, 1);
}

static __always_inline void acct_vepc(__s64 delta) {
  struct epc_node_stats *n = epc_node();
  if (n) __sync_fetch_and_add(&n->vepc_pages, delta);
}

static __always_inline void acct_free_pages(__s64 free_pages) {
  struct epc_node_stats *n = epc_node();
  if (!n) return;
  n->free_pages = free_pages;
  n->free_pages_seen = 1;
}

#endif

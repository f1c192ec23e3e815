/* The accounting: maps and one function per handler step, on plain values (no kernel pointers are dereferenced
 * here). Compiled into the probe programs and into the test entry program, so BPF_PROG_TEST_RUN drives exactly
 * the code that runs on SGX hosts (tests/bpf/). `tid` is the current thread (low half of
 * bpf_get_current_pid_tgid()); the probes pass it, the tests choose it. Line numbers are 6.1.192 unless marked. */
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

/* VA pages of tracked enclaves: struct sgx_epc_page * -> struct sgx_encl *. A VA page's owner is NULL
 * (sgx_alloc_va_page, encl.c:1247), so its free can only be charged through this map. A plain HASH: an entry lost
 * to eviction would leave the page added and never subtracted. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, EPC_MAX_VA_PAGES);
  __type(key, __u64);
  __type(value, __u64);
} va_pages SEC(".maps");

/* Entry -> return state, one entry per thread (all its hooks, and its pending fault wait): each handler step finds
 * its thread's state with one lookup and writes it in place; the entry is created at the thread's first step and
 * stays (no update or delete per call: on the paging path those cost more than the rest of a step). LRU: the state
 * of threads gone (or of missed kretprobes) ages out instead of filling the map. */
struct inflight {
  __u64 a;
  __u64 b;
  __u64 c;
};

enum inflight_kind {
  IF_CREATE = 1,
  IF_RELEASE, /* a: the enclave being released by this thread */
  IF_ALLOC,   /* a: owner->encl, b: SECS candidate, c: 1 for a vEPC page (kprobe flavor only) */
  IF_ELDU,    /* a: enclave (kprobe flavor only) */
  IF_FAULT,   /* a: enclave, b: entry ns, c: page-aligned address; FAULT_* flags in fault_flags */
  IF_GROW,    /* a: enclave */
  IF_VEPC,    /* inside sgx_vepc_fault() or sgx_vepc_free_page() */
  IF_NR,
};

struct thread_state {
  __u32 live;        /* bit (1 << kind): the kind's entry step ran and its return has not */
  __u32 fault_flags; /* FAULT_* of the fault in flight */
  /* A thread waiting for an enclave page: the page-aligned fault address (0: no wait) and when the wait began. */
  __u64 wait_addr;
  __u64 wait_start_ns;
  /* EPC pages this thread evicted (EWB) whose residency dropped there, newest first, 0 once freed: their
   * sgx_free_epc_page() is not an event. The reclaimer frees each page right after its EWB, in the same thread
   * (6.1 main.c:371-374), with at most one EWB between: the SECS's, freed at once (sgx_reclaimer_write, main.c:263-
   * 276), so two are enough. 5.15-5.18 free no evicted page (5.15 main.c:413-417): the next EWBs overwrite it. */
  __u64 ewb_page[2];
  struct inflight slot[IF_NR];
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, EPC_MAX_INFLIGHT);
  __type(key, __u64); /* tid */
  __type(value, struct thread_state);
} inflight SEC(".maps");

#define FAULT_RETRY 1    /* an allocation or ELDU failed inside the fault: it returns unmapped and is retried */
#define FAULT_LOADBACK 2 /* the fault ran ELDU: the page was not resident */

static __always_inline struct epc_node_stats *epc_node(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&node, &zero);
}

static __always_inline void epc_drop(__u32 reason) {
  struct epc_node_stats *n = epc_node();
  if (n && reason < EPC_DROP_NR) __sync_fetch_and_add(&n->dropped[reason], 1);
}

/* The thread's state; NULL when it has none (no entry step seen since it aged out). */
static __always_inline struct thread_state *thread_find(__u64 tid) { return bpf_map_lookup_elem(&inflight, &tid); }

/* A new thread's state, from global data: too large for the BPF stack of the test programs' call chain. */
static const struct thread_state thread_state_zero = {};

/* The thread's state, created at its first step. */
static __always_inline struct thread_state *thread_get(__u64 tid) {
  struct thread_state *t = bpf_map_lookup_elem(&inflight, &tid);
  if (t) return t;
  /* -EEXIST cannot happen (only this thread creates its key); a failure shows as a failed lookup below. */
  bpf_map_update_elem(&inflight, &tid, &thread_state_zero, BPF_NOEXIST);
  t = bpf_map_lookup_elem(&inflight, &tid);
  if (!t) epc_drop(EPC_DROP_INFLIGHT_MAP_FULL);
  return t;
}

/* kind is a constant at every call site (always inlined), so slot[kind] is a fixed offset for the verifier. */
static __always_inline void if_push(__u64 tid, __u32 kind, __u64 a, __u64 b, __u64 c) {
  struct thread_state *t = thread_get(tid);
  if (!t || kind >= IF_NR) return;
  t->slot[kind].a = a;
  t->slot[kind].b = b;
  t->slot[kind].c = c;
  if (kind == IF_FAULT) t->fault_flags = 0;
  t->live |= 1u << kind;
}

static __always_inline struct inflight *if_get_in(struct thread_state *t, __u32 kind) {
  if (!t || kind >= IF_NR || !(t->live & (1u << kind))) return 0;
  return &t->slot[kind];
}

static __always_inline struct inflight *if_get(__u64 tid, __u32 kind) { return if_get_in(thread_find(tid), kind); }

/* Whether page is one the thread evicted and has not freed; forgets it. */
static __always_inline int ewb_page_take(struct thread_state *t, __u64 page) {
  if (!t || !page) return 0;
  if (t->ewb_page[0] == page) {
    t->ewb_page[0] = 0;
    return 1;
  }
  if (t->ewb_page[1] == page) {
    t->ewb_page[1] = 0;
    return 1;
  }
  return 0;
}

/* Pops the entry state; 0 when the entry step did not run (attached mid-call, or the entry was dropped). */
static __always_inline int if_pop(__u64 tid, __u32 kind, struct inflight *out) {
  struct thread_state *t = thread_find(tid);
  struct inflight *v = if_get_in(t, kind);
  if (!v) return 0;
  *out = *v;
  t->live &= ~(1u << kind);
  return 1;
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

/* Looks the enclave up for a page event; NULL (and a dropped event) for enclaves created before the probes ran. */
static __always_inline struct epc_encl_state *epc_encl_for_event(__u64 encl) {
  if (!encl) return 0;
  struct epc_encl_state *e = bpf_map_lookup_elem(&encls, &encl);
  if (!e) epc_drop(EPC_DROP_UNTRACKED_ENCLAVE);
  return e;
}

/* Deletes the enclave's entry, then adds its monotonic counters to its cgroup (and, for a release, counts it
 * released). In this order a scrape, which reads the cgroups before the enclaves, can miss the enclave for one
 * scrape but never count it twice (userspace keeps the high-water mark). */
static __always_inline void epc_encl_retire(__u64 encl, int released) {
  struct epc_encl_state *p = bpf_map_lookup_elem(&encls, &encl);
  if (!p) return;
  struct epc_encl_state e = *p;
  bpf_map_delete_elem(&encls, &encl);
  struct epc_cgroup_stats *cg = epc_cgroup(e.cgroup_id);
  if (!cg) return;
#define EPC_RETIRE_LIVE(field)
#define EPC_RETIRE_ENCL(field)
#define EPC_RETIRE_RETIRED(field) __sync_fetch_and_add(&cg->field, e.field);
#define EPC_RETIRE_CGROUP(field)
#define EPC_RETIRE(field, kind, where, ...) EPC_RETIRE_##where(field)
  EPC_WORKLOAD_FIELDS(EPC_RETIRE) /* every RETIRED row of epc_workload.h */
#undef EPC_RETIRE
  if (released) __sync_fetch_and_add(&cg->enclaves_released, 1);
}

/* ---- enclave lifetime ---- */

static __always_inline void acct_encl_create(__u64 tid, __u64 encl, __u64 cgroup_id, __u32 tgid, __u64 size_bytes) {
  if (!encl) return;
  /* An entry at this address is stale (its release was not seen): sgx_encl_create() runs once per struct sgx_encl
   * (SGX_ENCL_CREATED, ioctl.c:160) and a failed one deleted its entry. Keep its counters. */
  epc_encl_retire(encl, 0);
  struct epc_encl_state st = {.cgroup_id = cgroup_id, .size_bytes = size_bytes, .tgid = tgid};
  if (bpf_map_update_elem(&encls, &encl, &st, BPF_NOEXIST)) {
    epc_drop(EPC_DROP_ENCL_MAP_FULL);
    return;
  }
  epc_cgroup(cgroup_id); /* reserve the cgroup's entry now: a full map shows at creation, not at release */
  if_push(tid, IF_CREATE, encl, 0, 0);
}

/* sgx_encl_create() returned: 0 is a creation, counted for the enclave's cgroup; != 0 undoes it (the pages it freed
 * on the way out were subtracted), and it is neither created nor released. */
static __always_inline void acct_encl_create_ret(__u64 tid, long ret) {
  struct inflight v;
  if (!if_pop(tid, IF_CREATE, &v)) return; /* its entry was not seen: not a creation we tracked */
  if (ret != 0) {
    epc_encl_retire(v.a, 0);
    return;
  }
  struct epc_encl_state *e = bpf_map_lookup_elem(&encls, &v.a);
  struct epc_cgroup_stats *cg = e ? epc_cgroup(e->cgroup_id) : 0;
  if (cg) __sync_fetch_and_add(&cg->enclaves_created, 1);
}

/* Release entry: the enclave's counters move to its cgroup and its entry goes now, while the address cannot be
 * reused (kfree(encl) is the last thing sgx_encl_release() does, encl.c:767). The thread is marked: its frees until
 * the release returns are the enclave's teardown, not events. Nothing is deleted by address at the return. */
static __always_inline void acct_encl_release(__u64 tid, __u64 encl) {
  if (!encl) return;
  if_push(tid, IF_RELEASE, encl, 0, 0);
  epc_encl_retire(encl, 1);
}

static __always_inline void acct_encl_release_done(__u64 tid) {
  struct inflight v;
  if_pop(tid, IF_RELEASE, &v);
}

/* ---- fault wait (see acct_fault_exit) ---- */

static __always_inline void fault_mark_in(struct thread_state *t, __u32 flag) {
  if (t && (t->live & (1u << IF_FAULT))) t->fault_flags |= flag; /* per thread: no other CPU writes it */
}

static __always_inline void fault_mark(__u64 tid, __u32 flag) { fault_mark_in(thread_find(tid), flag); }

/* ---- EPC pages ---- */

static __always_inline void epc_add_resident(__u64 encl, __s64 delta) {
  struct epc_encl_state *e = epc_encl_for_event(encl);
  if (e) __sync_fetch_and_add(&e->resident_pages, delta);
}

/* Inside sgx_vepc_fault() / sgx_vepc_free_page(): EPC pages of KVM guests, whose owner is a struct sgx_vepc. */
static __always_inline int acct_in_vepc(struct thread_state *t) { return if_get_in(t, IF_VEPC) != 0; }

static __always_inline void acct_vepc_enter(__u64 tid) { if_push(tid, IF_VEPC, 0, 0, 0); }
static __always_inline void acct_vepc_exit(__u64 tid) {
  struct inflight v;
  if_pop(tid, IF_VEPC, &v);
}

/* sgx_alloc_epc_page() entry (kprobe flavor: the kretprobe cannot see the arguments). vepc: the owner is not a
 * struct sgx_encl_page (the caller did not read it). */
static __always_inline void acct_alloc_enter(__u64 tid, int vepc, __u64 owner_encl, __u64 secs_candidate) {
  if_push(tid, IF_ALLOC, owner_encl, secs_candidate, vepc);
}

/* Failed allocation: charged to the owning enclave, else to the cgroup of the task that asked. */
static __always_inline void acct_alloc_fail(__u64 owner_encl, __u64 secs_candidate, __u64 current_cgroup_id) {
  __u64 encl = epc_resolve(owner_encl, secs_candidate);
  struct epc_encl_state *e = encl ? bpf_map_lookup_elem(&encls, &encl) : 0;
  if (e) {
    __sync_fetch_and_add(&e->alloc_failures, 1);
    return;
  }
  struct epc_cgroup_stats *cg = epc_cgroup(current_cgroup_id);
  if (cg) __sync_fetch_and_add(&cg->alloc_failures, 1);
}

/* sgx_alloc_epc_page() done, with its arguments as the entry read them and its result (page 0 for ERR_PTR): the
 * fexit alone (it sees both), or the kretprobe with its entry's state. */
static __always_inline void acct_alloc_done(struct thread_state *t, int vepc, __u64 owner_encl,
                                            __u64 secs_candidate, __u64 current_cgroup_id, __u64 page) {
  /* Allocated again (5.15: a page this thread evicted went back to the free list without a free): a new life. */
  ewb_page_take(t, page);
  if (vepc) { /* vEPC: node-level only, never an enclave's */
    struct epc_node_stats *n = epc_node();
    if (!n) return;
    if (page)
      __sync_fetch_and_add(&n->vepc_pages, 1);
    else
      __sync_fetch_and_add(&n->vepc_alloc_failures, 1);
    return;
  }
  if (!page) {
    acct_alloc_fail(owner_encl, secs_candidate, current_cgroup_id);
    fault_mark_in(t, FAULT_RETRY); /* reclaim=false under sgx_vma_fault: -EBUSY, VM_FAULT_NOPAGE, retried */
    return;
  }
  __u64 encl = epc_resolve(owner_encl, secs_candidate);
  if (encl) epc_add_resident(encl, 1); /* owner NULL: a VA page, counted at sgx_encl_grow() return */
}

/* sgx_alloc_epc_page() kretprobe; page 0 for ERR_PTR. */
static __always_inline void acct_alloc_ret(__u64 tid, __u64 current_cgroup_id, __u64 page) {
  struct thread_state *t = thread_find(tid);
  struct inflight *v = if_get_in(t, IF_ALLOC);
  if (!t || !v) return;
  t->live &= ~(1u << IF_ALLOC);
  acct_alloc_done(t, v->c, v->a, v->b, current_cgroup_id, page);
}

/* sgx_free_epc_page() entry, before anything reads page->owner: frees that are decided by the page alone. Returns
 * 1 when the free is accounted (or is not an event), 0 when the owner must be read (acct_page_free).
 * - a page evicted by EWB: its residency dropped at EWB. In the reclaimer the last kref_put() can run
 *   sgx_encl_release() between EWB and this free (main.c:371-374), which kfree()s the sgx_encl_page that
 *   page->owner still points to: the owner must not be read.
 * - a VA page (owner NULL): charged to the enclave recorded at sgx_encl_grow() return.
 * - a vEPC page (owner is a struct sgx_vepc): node-level vEPC, incl. the error path of __sgx_vepc_fault (virt.c:70),
 *   which runs inside sgx_vepc_fault(). */
static __always_inline int acct_free_claimed(__u64 tid, __u64 page) {
  struct thread_state *t = thread_find(tid);
  if (ewb_page_take(t, page)) return 1;
  __u64 *va = page ? bpf_map_lookup_elem(&va_pages, &page) : 0;
  if (va) {
    __u64 encl = *va;
    bpf_map_delete_elem(&va_pages, &page);
    struct epc_encl_state *e = bpf_map_lookup_elem(&encls, &encl); /* gone: freed by its release, not an event */
    if (e) {
      __sync_fetch_and_add(&e->resident_pages, -1);
      __sync_fetch_and_add(&e->va_pages, -1);
    }
    return 1;
  }
  if (acct_in_vepc(t)) {
    struct epc_node_stats *n = epc_node();
    if (n) __sync_fetch_and_add(&n->vepc_pages, -1);
    return 1;
  }
  return 0;
}

/* sgx_free_epc_page() of an enclave page (owner read by the caller). Frees inside the thread's own
 * sgx_encl_release() of that enclave are its teardown. */
static __always_inline void acct_page_free(__u64 tid, __u64 owner_encl, __u64 secs_candidate) {
  __u64 encl = epc_resolve(owner_encl, secs_candidate);
  if (!encl) return; /* owner NULL and no VA entry: a VA page we did not see grow, or boot-time sanitising */
  struct inflight *r = if_get(tid, IF_RELEASE);
  if (r && r->a == encl) return;
  epc_add_resident(encl, -1);
}

/* sgx_encl_grow() entry and return: page is the new VA page's epc_page (0: a free slot was left, or ERR_PTR). */
static __always_inline void acct_va_grow_enter(__u64 tid, __u64 encl) { if_push(tid, IF_GROW, encl, 0, 0); }

static __always_inline void acct_va_grow_ret(__u64 tid, __u64 page) {
  struct inflight v;
  if (!if_pop(tid, IF_GROW, &v) || !page) return;
  struct epc_encl_state *e = epc_encl_for_event(v.a);
  if (!e) return;
  if (bpf_map_update_elem(&va_pages, &page, &v.a, BPF_ANY)) {
    epc_drop(EPC_DROP_VA_MAP_FULL); /* neither added nor, later, subtracted */
    return;
  }
  __sync_fetch_and_add(&e->resident_pages, 1);
  __sync_fetch_and_add(&e->va_pages, 1);
}

/* EWB: the page's contents leave the EPC. Its residency drops here, on every kernel: 5.15-5.18 put the page back on
 * the free list inside sgx_reclaim_pages() without sgx_free_epc_page() (5.15 main.c:413-417), 5.19+ free it with
 * sgx_free_epc_page(), which acct_free_claimed() then skips. Counted even when EWB fails (main.c:239-243): the page is
 * freed and its contents lost either way. */
static __always_inline void acct_ewb(__u64 tid, __u64 page, __u64 encl) {
  struct thread_state *t = page ? thread_get(tid) : 0;
  if (t) {
    t->ewb_page[1] = t->ewb_page[0];
    t->ewb_page[0] = page;
  }
  struct epc_encl_state *e = epc_encl_for_event(encl);
  if (!e) return;
  __sync_fetch_and_add(&e->resident_pages, -1);
  __sync_fetch_and_add(&e->swapped_pages, 1);
  __sync_fetch_and_add(&e->evicted_pages, 1);
}

/* ELDU: an evicted page is loaded back (its new EPC page is counted by the allocation). Inside a fault it marks the
 * fault as one that waited for a non-resident page; a failed ELDU (e.g. -EBUSY from its reclaim=false allocation,
 * encl.c:220) makes the fault a retry. Both marks are made when ELDU returns, still inside the fault: the fexit alone
 * sees the enclave page and the result; the kprobe flavor's entry keeps the enclave for its kretprobe. */
static __always_inline void acct_eldu_enter(__u64 tid, __u64 encl) { if_push(tid, IF_ELDU, encl, 0, 0); }

static __always_inline void acct_eldu_done(__u64 tid, __u64 encl, int ok) {
  fault_mark(tid, ok ? FAULT_LOADBACK : FAULT_LOADBACK | FAULT_RETRY);
  if (!ok) return;
  struct epc_encl_state *e = epc_encl_for_event(encl);
  if (!e) return;
  __sync_fetch_and_add(&e->loaded_back_pages, 1);
  if (e->swapped_pages > 0) __sync_fetch_and_add(&e->swapped_pages, -1); /* else evicted before the probes ran */
}

static __always_inline void acct_eldu_ret(__u64 tid, int ok) {
  struct inflight v;
  if (!if_pop(tid, IF_ELDU, &v)) return;
  acct_eldu_done(tid, v.a, ok);
}

/* ---- enclave page faults ---- */

static __always_inline void acct_fault_enter(__u64 tid, __u64 encl, __u64 addr, __u64 now_ns) {
  if_push(tid, IF_FAULT, encl, now_ns, addr & ~(__u64)(EPC_PAGE_SIZE - 1));
}

/* sgx_vma_fault() return. Both of its outcomes are VM_FAULT_NOPAGE (mapped, or -EBUSY: retry, encl.c:467), so a
 * retry is told by what failed inside the fault (FAULT_RETRY). The wait of a thread for a non-resident page runs
 * from the entry of its first fault on the address that could not be served at once (a retry, or a fault that had
 * to load the page back) to the return of the fault that maps it: the -EBUSY retry loop, the time between the
 * retries (outside any hooked function) and the final load-back. A served fault on another address abandons a
 * pending wait (not charged). */
static __always_inline void acct_fault_exit(__u64 tid, __u64 now_ns) {
  struct thread_state *t = thread_find(tid);
  struct inflight *f = if_get_in(t, IF_FAULT);
  if (!t || !f) return;
  t->live &= ~(1u << IF_FAULT);
  const __u32 flags = t->fault_flags;
  struct epc_encl_state *e = epc_encl_for_event(f->a);
  if (e) __sync_fetch_and_add(&e->page_faults, 1);
  const int pending = t->wait_addr && t->wait_addr == f->c;
  if (flags & FAULT_RETRY) {
    if (e) __sync_fetch_and_add(&e->fault_retries, 1);
    if (!pending) {
      t->wait_addr = f->c;
      t->wait_start_ns = f->b;
    }
    return;
  }
  const int waited = pending || (flags & FAULT_LOADBACK);
  const __u64 start = pending ? t->wait_start_ns : f->b;
  t->wait_addr = 0;
  if (e && waited && now_ns > start) __sync_fetch_and_add(&e->page_fault_ns, now_ns - start);
}

/* ---- node ---- */

static __always_inline void acct_reclaim(int by_ksgxd) {
  struct epc_node_stats *n = epc_node();
  if (!n) return;
  if (by_ksgxd)
    __sync_fetch_and_add(&n->reclaim_ksgxd, 1);
  else
    __sync_fetch_and_add(&n->reclaim_direct, 1);
}

static __always_inline void acct_free_pages(__s64 free_pages) {
  struct epc_node_stats *n = epc_node();
  if (!n) return;
  n->free_pages = free_pages;
  n->free_pages_seen = 1;
}

#endif

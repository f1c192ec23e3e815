// SPDX-License-Identifier: GPL-2.0
/* Probes on the in-kernel SGX driver (arch/x86/kernel/cpu/sgx/). Every hook exists twice: kprobe/kretprobe and
 * fentry/fexit; userspace loads one flavor per hook (fentry where the kernel has tracing programs and BTF for the
 * function, else kprobe) and switches off alone each hook whose function is missing or inlined.
 *
 * Handlers only extract plain values (core_fixes.bpf.h) and call the accounting (epc_account.bpf.h). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "core_fixes.bpf.h"
#include "epc.h"
#include "epc_account.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Address of the kernel's `static atomic_long_t sgx_nr_free_pages` (from kallsyms), 0 when unknown. */
const volatile __u64 nr_free_pages_addr = 0;

/* Entry -> return state, per thread and hook. */
enum inflight_kind {
  IF_CREATE = 1,
  IF_RELEASE,
  IF_ALLOC,
  IF_ELDU,
  IF_FAULT,
  IF_GROW,
  IF_VEPC_FAULT,
  IF_VEPC_FREE,
};

struct inflight {
  __u64 a;
  __u64 b;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, EPC_MAX_INFLIGHT);
  __type(key, __u64);
  __type(value, struct inflight);
} inflight SEC(".maps");

static __always_inline __u64 if_key(__u32 kind) {
  return ((__u64)(__u32)bpf_get_current_pid_tgid() << 8) | kind;
}

static __always_inline void if_push(__u32 kind, __u64 a, __u64 b) {
  __u64 key = if_key(kind);
  struct inflight v = {.a = a, .b = b};
  if (bpf_map_update_elem(&inflight, &key, &v, BPF_ANY)) epc_drop(EPC_DROP_INFLIGHT_MAP_FULL);
}

/* Pops the entry state; 0 when the entry hook did not run (attached mid-call, or the entry was dropped). */
static __always_inline int if_pop(__u32 kind, struct inflight *out) {
  __u64 key = if_key(kind);
  struct inflight *v = bpf_map_lookup_elem(&inflight, &key);
  if (!v) return 0;
  *out = *v;
  bpf_map_delete_elem(&inflight, &key);
  return 1;
}

static __always_inline int if_active(__u32 kind) {
  __u64 key = if_key(kind);
  return bpf_map_lookup_elem(&inflight, &key) != 0;
}

static __always_inline int is_err(__u64 ptr) { return ptr >= (__u64)-4095; }

/* ---- handlers, shared by both flavors ---- */

static __always_inline void on_create(void *encl, void *secs) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  acct_encl_create((__u64)encl, bpf_get_current_cgroup_id(), pid_tgid >> 32, epc_secs_size(secs));
  if_push(IF_CREATE, (__u64)encl, 0);
}

static __always_inline void on_create_ret(long ret) {
  struct inflight v;
  if (if_pop(IF_CREATE, &v) && ret != 0) acct_encl_create_failed(v.a);
}

static __always_inline void on_release(void *ref) {
  __u64 encl = epc_encl_of_kref(ref);
  acct_encl_release(encl);
  if_push(IF_RELEASE, encl, 0);
}

static __always_inline void on_release_ret(void) {
  struct inflight v;
  if (if_pop(IF_RELEASE, &v)) acct_encl_release_done(v.a);
}

static __always_inline void on_alloc(void *owner) {
  if_push(IF_ALLOC, epc_owner_encl(owner), epc_secs_candidate(owner));
}

static __always_inline void on_alloc_ret(__u64 ret) {
  struct inflight v;
  if (!if_pop(IF_ALLOC, &v)) return;
  if (is_err(ret))
    acct_alloc_fail(v.a, v.b, bpf_get_current_cgroup_id());
  else if (if_active(IF_VEPC_FAULT))
    acct_vepc(1);
  else
    acct_page_alloc(v.a, v.b);
}

static __always_inline void on_free(void *page) {
  if (if_active(IF_VEPC_FREE)) {
    acct_vepc(-1);
    return;
  }
  __u64 owner = epc_page_owner(page);
  acct_page_free(epc_owner_encl((void *)owner), epc_secs_candidate((void *)owner));
}

static __always_inline void on_ewb(void *page) {
  acct_ewb(epc_owner_encl((void *)epc_page_owner(page)));
}

static __always_inline void on_eldu(void *encl_page) { if_push(IF_ELDU, epc_owner_encl(encl_page), 0); }

static __always_inline void on_eldu_ret(__u64 ret) {
  struct inflight v;
  if (if_pop(IF_ELDU, &v) && !is_err(ret)) acct_eldu(v.a);
}

static __always_inline void on_fault(struct vm_fault *vmf) {
  if_push(IF_FAULT, epc_encl_of_vmf(vmf), bpf_ktime_get_ns());
}

static __always_inline void on_fault_ret(void) {
  struct inflight v;
  if (if_pop(IF_FAULT, &v)) acct_fault(v.a, bpf_ktime_get_ns() - v.b);
}

static __always_inline void on_reclaim(void) {
  char comm[16] = {};
  bpf_get_current_comm(comm, sizeof(comm));
  /* current_is_ksgxd() is static inline; the kernel thread is named "ksgxd" (sgx_page_reclaimer_init). */
  acct_reclaim(comm[0] == 'k' && comm[1] == 's' && comm[2] == 'g' && comm[3] == 'x' && comm[4] == 'd' &&
               comm[5] == 0);
}

static __always_inline void on_grow(void *encl) { if_push(IF_GROW, (__u64)encl, 0); }

static __always_inline void on_grow_ret(__u64 ret) {
  struct inflight v;
  /* NULL: the tail VA page had a free slot; ERR_PTR: no VA page */
  if (if_pop(IF_GROW, &v) && ret && !is_err(ret)) acct_va_grow(v.a);
}

static __always_inline void on_shrink(void *encl, void *va_page) {
  if (va_page) acct_va_shrink((__u64)encl);
}

/* ---- kprobe / kretprobe ---- */

SEC("kprobe/sgx_encl_create")
int BPF_KPROBE(kp_encl_create, void *encl, void *secs) { on_create(encl, secs); return 0; }
SEC("kretprobe/sgx_encl_create")
int BPF_KRETPROBE(kr_encl_create, long ret) { on_create_ret((int)ret); return 0; }

SEC("kprobe/sgx_encl_release")
int BPF_KPROBE(kp_encl_release, void *ref) { on_release(ref); return 0; }
SEC("kretprobe/sgx_encl_release")
int BPF_KRETPROBE(kr_encl_release) { on_release_ret(); return 0; }

SEC("kprobe/sgx_alloc_epc_page")
int BPF_KPROBE(kp_epc_alloc, void *owner) { on_alloc(owner); return 0; }
SEC("kretprobe/sgx_alloc_epc_page")
int BPF_KRETPROBE(kr_epc_alloc, void *ret) { on_alloc_ret((__u64)ret); return 0; }

SEC("kprobe/sgx_free_epc_page")
int BPF_KPROBE(kp_epc_free, void *page) { on_free(page); return 0; }

SEC("kprobe/sgx_encl_ewb")
int BPF_KPROBE(kp_ewb, void *page) { on_ewb(page); return 0; }

SEC("kprobe/sgx_encl_eldu")
int BPF_KPROBE(kp_eldu, void *encl_page) { on_eldu(encl_page); return 0; }
SEC("kretprobe/sgx_encl_eldu")
int BPF_KRETPROBE(kr_eldu, void *ret) { on_eldu_ret((__u64)ret); return 0; }

SEC("kprobe/sgx_vma_fault")
int BPF_KPROBE(kp_page_fault, struct vm_fault *vmf) { on_fault(vmf); return 0; }
SEC("kretprobe/sgx_vma_fault")
int BPF_KRETPROBE(kr_page_fault) { on_fault_ret(); return 0; }

SEC("kprobe/sgx_reclaim_pages")
int BPF_KPROBE(kp_reclaim) { on_reclaim(); return 0; }

SEC("kprobe/sgx_encl_grow")
int BPF_KPROBE(kp_va_grow, void *encl) { on_grow(encl); return 0; }
SEC("kretprobe/sgx_encl_grow")
int BPF_KRETPROBE(kr_va_grow, void *ret) { on_grow_ret((__u64)ret); return 0; }

SEC("kprobe/sgx_encl_shrink")
int BPF_KPROBE(kp_va_shrink, void *encl, void *va_page) { on_shrink(encl, va_page); return 0; }

SEC("kprobe/sgx_vepc_fault")
int BPF_KPROBE(kp_vepc_fault) { if_push(IF_VEPC_FAULT, 0, 0); return 0; }
SEC("kretprobe/sgx_vepc_fault")
int BPF_KRETPROBE(kr_vepc_fault) { struct inflight v; if_pop(IF_VEPC_FAULT, &v); return 0; }

SEC("kprobe/sgx_vepc_free_page")
int BPF_KPROBE(kp_vepc_free) { if_push(IF_VEPC_FREE, 0, 0); return 0; }
SEC("kretprobe/sgx_vepc_free_page")
int BPF_KRETPROBE(kr_vepc_free) { struct inflight v; if_pop(IF_VEPC_FREE, &v); return 0; }

/* ---- fentry / fexit (same handlers; arguments as BTF gives them) ---- */

SEC("fentry/sgx_encl_create")
int BPF_PROG(fe_encl_create, void *encl, void *secs) { on_create(encl, secs); return 0; }
SEC("fexit/sgx_encl_create")
int BPF_PROG(fx_encl_create, void *encl, void *secs, int ret) { on_create_ret(ret); return 0; }

SEC("fentry/sgx_encl_release")
int BPF_PROG(fe_encl_release, void *ref) { on_release(ref); return 0; }
SEC("fexit/sgx_encl_release")
int BPF_PROG(fx_encl_release, void *ref) { on_release_ret(); return 0; }

SEC("fentry/sgx_alloc_epc_page")
int BPF_PROG(fe_epc_alloc, void *owner, bool reclaim) { on_alloc(owner); return 0; }
SEC("fexit/sgx_alloc_epc_page")
int BPF_PROG(fx_epc_alloc, void *owner, bool reclaim, void *ret) { on_alloc_ret((__u64)ret); return 0; }

SEC("fentry/sgx_free_epc_page")
int BPF_PROG(fe_epc_free, void *page) { on_free(page); return 0; }

SEC("fentry/sgx_encl_ewb")
int BPF_PROG(fe_ewb, void *page) { on_ewb(page); return 0; }

SEC("fentry/sgx_encl_eldu")
int BPF_PROG(fe_eldu, void *encl_page) { on_eldu(encl_page); return 0; }
SEC("fexit/sgx_encl_eldu")
int BPF_PROG(fx_eldu, void *encl_page, void *secs_page, void *ret) { on_eldu_ret((__u64)ret); return 0; }

SEC("fentry/sgx_vma_fault")
int BPF_PROG(fe_page_fault, struct vm_fault *vmf) { on_fault(vmf); return 0; }
SEC("fexit/sgx_vma_fault")
int BPF_PROG(fx_page_fault, struct vm_fault *vmf) { on_fault_ret(); return 0; }

SEC("fentry/sgx_reclaim_pages")
int BPF_PROG(fe_reclaim) { on_reclaim(); return 0; }

SEC("fentry/sgx_encl_grow")
int BPF_PROG(fe_va_grow, void *encl) { on_grow(encl); return 0; }
SEC("fexit/sgx_encl_grow")
int BPF_PROG(fx_va_grow, void *encl, bool reclaim, void *ret) { on_grow_ret((__u64)ret); return 0; }

SEC("fentry/sgx_encl_shrink")
int BPF_PROG(fe_va_shrink, void *encl, void *va_page) { on_shrink(encl, va_page); return 0; }

SEC("fentry/sgx_vepc_fault")
int BPF_PROG(fe_vepc_fault) { if_push(IF_VEPC_FAULT, 0, 0); return 0; }
SEC("fexit/sgx_vepc_fault")
int BPF_PROG(fx_vepc_fault) { struct inflight v; if_pop(IF_VEPC_FAULT, &v); return 0; }

SEC("fentry/sgx_vepc_free_page")
int BPF_PROG(fe_vepc_free) { if_push(IF_VEPC_FREE, 0, 0); return 0; }
SEC("fexit/sgx_vepc_free_page")
int BPF_PROG(fx_vepc_free) { struct inflight v; if_pop(IF_VEPC_FREE, &v); return 0; }

/* ---- on demand (BPF_PROG_TEST_RUN from userspace) ----
 * EPC_EV_READ_FREE_PAGES: reads sgx_nr_free_pages at scrape time (the exporter's node free EPC).
 * Every other type: a synthetic event through the same accounting the probes use (tests/bpf/). */
static __always_inline int dispatch(const struct epc_test_event *ev) {
  switch (ev->type) {
    case EPC_EV_READ_FREE_PAGES: {
      long v = 0;
      if (!nr_free_pages_addr) return -2;
      if (bpf_probe_read_kernel(&v, sizeof(v), (const void *)nr_free_pages_addr)) return -14;
      acct_free_pages(v);
      return 0;
    }
    case EPC_EV_ENCL_CREATE: acct_encl_create(ev->encl, ev->cgroup_id, ev->tgid, ev->arg); break;
    case EPC_EV_ENCL_CREATE_FAILED: acct_encl_create_failed(ev->encl); break;
    case EPC_EV_ENCL_RELEASE: acct_encl_release(ev->encl); break;
    case EPC_EV_ENCL_RELEASE_DONE: acct_encl_release_done(ev->encl); break;
    case EPC_EV_PAGE_ALLOC: acct_page_alloc(ev->encl, ev->secs_candidate); break;
    case EPC_EV_PAGE_ALLOC_FAIL: acct_alloc_fail(ev->encl, ev->secs_candidate, ev->cgroup_id); break;
    case EPC_EV_PAGE_FREE: acct_page_free(ev->encl, ev->secs_candidate); break;
    case EPC_EV_EWB: acct_ewb(ev->encl); break;
    case EPC_EV_ELDU: acct_eldu(ev->encl); break;
    case EPC_EV_FAULT: acct_fault(ev->encl, ev->arg); break;
    case EPC_EV_RECLAIM: acct_reclaim(ev->arg != 0); break;
    case EPC_EV_VA_GROW: acct_va_grow(ev->encl); break;
    case EPC_EV_VA_SHRINK: acct_va_shrink(ev->encl); break;
    case EPC_EV_VEPC_ALLOC: acct_vepc(1); break;
    case EPC_EV_VEPC_FREE: acct_vepc(-1); break;
    case EPC_EV_FREE_PAGES: acct_free_pages((__s64)ev->arg); break;
    default: return -22;
  }
  return 0;
}

static long repeat_one(__u32 i, void *ctx) {
  dispatch((const struct epc_test_event *)ctx);
  return 0;
}

/* ---- on demand (BPF_PROG_TEST_RUN from userspace) ----
 * EPC_EV_READ_FREE_PAGES: reads sgx_nr_free_pages at scrape time (the exporter's node free EPC).
 * Every other type: a synthetic event through the same accounting the probes use (tests/bpf/). */
SEC("syscall")
int epc_event(struct epc_test_event *ctx) {
  struct epc_test_event ev = *ctx;
  if (ev.repeat > 1) return bpf_loop(ev.repeat, repeat_one, &ev, 0) < 0 ? -7 : 0;
  return dispatch(&ev);
}

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
#include "epc_identity.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Address of the kernel's `static atomic_long_t sgx_nr_free_pages` (from kallsyms), 0 when unknown. */
const volatile __u64 nr_free_pages_addr = 0;

/* How the start-up iterators recognise an enclave file: its f_op is the driver's `static const struct
 * file_operations sgx_encl_fops` (driver.c; address from kallsyms, 0 when unknown), or its inode is the
 * /dev/sgx_enclave character device (kernel dev_t, MKDEV(major, minor); 0 when unknown). */
const volatile __u64 sgx_encl_fops_addr = 0;
const volatile __u32 sgx_enclave_rdev = 0;

static __always_inline int is_err(__u64 ptr) { return ptr >= (__u64)-4095; }

static __always_inline __u64 cur_tid(void) { return (__u32)bpf_get_current_pid_tgid(); }

/* cgroup id -> path of the cgroup (struct epc_cgroup_path), for cgroups that created enclaves. Written once, at the
 * cgroup's first enclave; userspace deletes it with the cgroup's `cgroups` entry (Probes::forget_gone_cgroups). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, EPC_MAX_CGROUPS);
  __type(key, __u64);
  __type(value, struct epc_cgroup_path);
} cgroup_paths SEC(".maps");

/* The value is larger than the BPF stack: it is built here. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct epc_cgroup_path);
} cgroup_path_scratch SEC(".maps");

/* Records the path of cgroup kn under cgroup_id unless it is known. The names are read from kernfs while a task of
 * the cgroup runs or holds an enclave, so the cgroup exists; a failed read records nothing (userspace then resolves
 * the id from the cgroup tree, as before). Never touches the accounting. */
static __always_inline void record_cgroup_path(__u64 cgroup_id, struct kernfs_node *kn) {
  if (bpf_map_lookup_elem(&cgroup_paths, &cgroup_id)) return;
  __u32 zero = 0;
  struct epc_cgroup_path *p = bpf_map_lookup_elem(&cgroup_path_scratch, &zero);
  if (!p) return;
  if (!kn || BPF_CORE_READ(kn, id) != cgroup_id) return; /* moved between the two reads */
  p->depth = 0;
  p->truncated = 0;
#pragma unroll
  for (int i = 0; i < EPC_CGROUP_PATH_LEVELS; i++) {
    struct kernfs_node *parent = epc_kn_parent(kn);
    if (!parent) break; /* kn is the root, which has no name in the path */
    long n = bpf_probe_read_kernel_str(p->names[i], EPC_CGROUP_NAME_LEN, BPF_CORE_READ(kn, name));
    if (n < 0) return;
    if (n >= EPC_CGROUP_NAME_LEN) p->truncated = 1;
    p->depth = i + 1;
    kn = parent;
  }
  if (epc_kn_parent(kn)) p->truncated = 1; /* levels left above the last recorded one */
  bpf_map_update_elem(&cgroup_paths, &cgroup_id, p, BPF_NOEXIST);
}

/* ---- handlers, shared by both flavors: read the kernel, then call the accounting ---- */

static __always_inline void on_create(void *encl, void *secs) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u64 cgroup_id = bpf_get_current_cgroup_id();
  acct_encl_create((__u32)pid_tgid, (__u64)encl, cgroup_id, pid_tgid >> 32, epc_secs_size(secs));
  record_cgroup_path(cgroup_id, epc_current_cgroup_kn());
  identity_create((__u64)encl, cgroup_id, secs);
}

static __always_inline void on_create_ret(long ret) { acct_encl_create_ret(cur_tid(), ret); }

static __always_inline void on_release(void *ref) {
  __u64 encl = epc_encl_of_kref(ref);
  acct_encl_release(cur_tid(), encl);
  identity_release(encl);
}

static __always_inline void on_release_ret(void) { acct_encl_release_done(cur_tid()); }

static __always_inline void on_alloc(void *owner) {
  __u64 tid = cur_tid();
  if (acct_in_vepc(thread_find(tid))) /* owner is a struct sgx_vepc (virt.c:49): not read as an sgx_encl_page */
    acct_alloc_enter(tid, 1, 0, 0);
  else
    acct_alloc_enter(tid, 0, epc_owner_encl(owner), epc_secs_candidate(owner));
}

static __always_inline void on_alloc_ret(__u64 ret) {
  acct_alloc_ret(cur_tid(), bpf_get_current_cgroup_id(), is_err(ret) ? 0 : ret);
}

/* fexit alone: the owner is still the caller's (an encl_page it holds, &encl->secs, NULL for a VA page, or the
 * sgx_vepc), so it reads as the entry would have. */
static __always_inline void on_alloc_exit(void *owner, __u64 ret) {
  struct thread_state *t = thread_find(cur_tid());
  __u64 page = is_err(ret) ? 0 : ret;
  if (acct_in_vepc(t))
    acct_alloc_done(t, 1, 0, 0, bpf_get_current_cgroup_id(), page);
  else
    acct_alloc_done(t, 0, epc_owner_encl(owner), epc_secs_candidate(owner), bpf_get_current_cgroup_id(), page);
}

static __always_inline void on_free(void *page) {
  __u64 tid = cur_tid();
  if (acct_free_claimed(tid, (__u64)page)) return; /* decided by the page alone: page->owner not read */
  __u64 owner = epc_page_owner(page);
  acct_page_free(tid, epc_owner_encl((void *)owner), epc_secs_candidate((void *)owner));
}

static __always_inline void on_ewb(void *page) {
  acct_ewb(cur_tid(), (__u64)page, epc_owner_encl((void *)epc_page_owner(page)));
}

static __always_inline void on_eldu(void *encl_page) { acct_eldu_enter(cur_tid(), epc_owner_encl(encl_page)); }

static __always_inline void on_eldu_ret(__u64 ret) { acct_eldu_ret(cur_tid(), ret && !is_err(ret)); }


static __always_inline void on_fault(struct vm_fault *vmf) {
  acct_fault_enter(cur_tid(), epc_encl_of_vmf(vmf), epc_fault_addr(vmf), bpf_ktime_get_ns());
}

static __always_inline void on_fault_ret(void) { acct_fault_exit(cur_tid(), bpf_ktime_get_ns()); }

static __always_inline void on_reclaim(void) {
  char comm[16] = {};
  bpf_get_current_comm(comm, sizeof(comm));
  /* current_is_ksgxd() is a global function (6.1 main.c:436), not inline, and cannot be called from BPF; the kernel
   * thread is named "ksgxd" (sgx_page_reclaimer_init, main.c:427). */
  acct_reclaim(comm[0] == 'k' && comm[1] == 's' && comm[2] == 'g' && comm[3] == 'x' && comm[4] == 'd' &&
               comm[5] == 0);
}

static __always_inline void on_grow(void *encl) { acct_va_grow_enter(cur_tid(), (__u64)encl); }

/* NULL: the tail VA page had a free slot; ERR_PTR: no VA page */
static __always_inline void on_grow_ret(__u64 ret) {
  acct_va_grow_ret(cur_tid(), ret && !is_err(ret) ? epc_va_epc_page((void *)ret) : 0);
}

/* sgx_encl_shrink() frees its VA page with sgx_encl_free_epc_page() -> sgx_free_epc_page() (ioctl.c:51), where the
 * VA map charges it; the hook itself accounts nothing (and is inlined where EADD fails, ioctl.c:341). */
static __always_inline void on_shrink(void *encl, void *va_page) {}

static __always_inline void on_init(struct file *filep, unsigned int cmd, unsigned long arg) {
  identity_init_enter(cur_tid(), filep, cmd, arg);
}
static __always_inline void on_init_ret(long ret) { identity_init_exit(cur_tid(), ret, bpf_get_current_cgroup_id()); }
static __always_inline void on_sigstruct(const void *modulus) { identity_init_sigstruct(cur_tid(), (__u64)modulus); }

static __always_inline void on_vepc(void) { acct_vepc_enter(cur_tid()); }
static __always_inline void on_vepc_ret(void) { acct_vepc_exit(cur_tid()); }

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
int BPF_KPROBE(kp_vepc_fault) { on_vepc(); return 0; }
SEC("kretprobe/sgx_vepc_fault")
int BPF_KRETPROBE(kr_vepc_fault) { on_vepc_ret(); return 0; }

SEC("kprobe/sgx_vepc_free_page")
int BPF_KPROBE(kp_vepc_free) { on_vepc(); return 0; }
SEC("kretprobe/sgx_vepc_free_page")
int BPF_KRETPROBE(kr_vepc_free) { on_vepc_ret(); return 0; }

SEC("kprobe/sgx_ioctl")
int BPF_KPROBE(kp_encl_init, struct file *filep, unsigned int cmd, unsigned long arg) {
  on_init(filep, cmd, arg);
  return 0;
}
SEC("kretprobe/sgx_ioctl")
int BPF_KRETPROBE(kr_encl_init, long ret) { on_init_ret(ret); return 0; }

SEC("kprobe/__sgx_get_key_hash")
int BPF_KPROBE(kp_encl_sigstruct, void *tfm, const void *modulus) { on_sigstruct(modulus); return 0; }

/* ---- fentry / fexit (same handlers; arguments as BTF gives them). Where the entry program would only keep the
 * arguments for the return (hooks.h, FEXIT), the fexit alone does both: one program per call instead of two. ---- */

SEC("fentry/sgx_encl_create")
int BPF_PROG(fe_encl_create, void *encl, void *secs) { on_create(encl, secs); return 0; }
SEC("fexit/sgx_encl_create")
int BPF_PROG(fx_encl_create, void *encl, void *secs, int ret) { on_create_ret(ret); return 0; }

SEC("fentry/sgx_encl_release")
int BPF_PROG(fe_encl_release, void *ref) { on_release(ref); return 0; }
SEC("fexit/sgx_encl_release")
int BPF_PROG(fx_encl_release, void *ref) { on_release_ret(); return 0; }

SEC("fexit/sgx_alloc_epc_page")
int BPF_PROG(fx_epc_alloc, void *owner, bool reclaim, void *ret) { on_alloc_exit(owner, (__u64)ret); return 0; }

SEC("fentry/sgx_free_epc_page")
int BPF_PROG(fe_epc_free, void *page) { on_free(page); return 0; }

SEC("fentry/sgx_encl_ewb")
int BPF_PROG(fe_ewb, void *page) { on_ewb(page); return 0; }

SEC("fexit/sgx_encl_eldu")
int BPF_PROG(fx_eldu, struct sgx_encl_page___epc *encl_page, void *secs_page, void *ret) {
  /* encl_page is a BTF pointer here (read directly, see fe_page_fault): &encl->secs or an xarray entry, never NULL
   * (6.1 encl.c:248, 270). */
  acct_eldu_done(cur_tid(), (__u64)encl_page->encl, ret && !is_err((__u64)ret));
  return 0;
}

/* fentry arguments are BTF pointers: the fault entry (every attempt of the -EBUSY loop) reads them directly, with no
 * bpf_probe_read_kernel per field; CO-RE relocates the offsets as for BPF_CORE_READ. */
SEC("fentry/sgx_vma_fault")
int BPF_PROG(fe_page_fault, struct vm_fault *vmf) {
  acct_fault_enter(cur_tid(), (__u64)vmf->vma->vm_private_data, vmf->address, bpf_ktime_get_ns());
  return 0;
}
SEC("fexit/sgx_vma_fault")
int BPF_PROG(fx_page_fault, struct vm_fault *vmf) { on_fault_ret(); return 0; }

SEC("fentry/sgx_reclaim_pages")
int BPF_PROG(fe_reclaim) { on_reclaim(); return 0; }

SEC("fentry/sgx_encl_grow")
int BPF_PROG(fe_va_grow, void *encl) { on_grow(encl); return 0; }
/* Two signatures (core_fixes.bpf.h): userspace loads the one the kernel's BTF has. */
SEC("fexit/sgx_encl_grow")
int BPF_PROG(fx_va_grow, void *encl, bool reclaim, void *ret) { on_grow_ret((__u64)ret); return 0; }
SEC("fexit/sgx_encl_grow")
int BPF_PROG(fx_va_grow1, void *encl, void *ret) { on_grow_ret((__u64)ret); return 0; }

SEC("fentry/sgx_encl_shrink")
int BPF_PROG(fe_va_shrink, void *encl, void *va_page) { on_shrink(encl, va_page); return 0; }

SEC("fentry/sgx_vepc_fault")
int BPF_PROG(fe_vepc_fault) { on_vepc(); return 0; }
SEC("fexit/sgx_vepc_fault")
int BPF_PROG(fx_vepc_fault) { on_vepc_ret(); return 0; }

SEC("fentry/sgx_vepc_free_page")
int BPF_PROG(fe_vepc_free) { on_vepc(); return 0; }
SEC("fexit/sgx_vepc_free_page")
int BPF_PROG(fx_vepc_free) { on_vepc_ret(); return 0; }

SEC("fentry/sgx_ioctl")
int BPF_PROG(fe_encl_init, struct file *filep, unsigned int cmd, unsigned long arg) {
  on_init(filep, cmd, arg);
  return 0;
}
SEC("fexit/sgx_ioctl")
int BPF_PROG(fx_encl_init, struct file *filep, unsigned int cmd, unsigned long arg, long ret) {
  on_init_ret(ret);
  return 0;
}

/* __sgx_get_key_hash(tfm, const void *modulus, hash) has no fentry program: the verifier refuses to read an
 * argument of type pointer-to-const-void in a tracing program (6.1, 6.12); kp_encl_sigstruct serves both flavors. */

/* ---- start-up discovery: enclaves that existed before the probes (task iterators) ----
 * Userspace runs these once, after the probes are attached and only when it starts without pinned state
 * (docs/probes.md, "Restarts"). Each enclave file held by a task (iter/task_file) or mapped by one
 * (iter/task_vma: an enclave whose fd was closed after mmap()) seeds the enclave's entry as if its creation had been
 * seen: owner = the task's cgroup, resident = SECS (if in EPC) + child pages in EPC (secs_child_cnt, which the
 * driver keeps exact under the enclave's lock: +1 at EADD/EAUG/ELDU, -1 at EWB/EREMOVE) + VA pages, swapped = the
 * VA slots in use (one per evicted page, SECS included). Counters start at 0: the seeded entry covers what happens
 * from now on. The fields are read without the enclave's lock: a page event racing the read can be off by that
 * event (docs/probes.md says so). An enclave already in the map (created while the probes ran) is left alone. */

struct seed_walk {
  __u64 head;    /* &encl->va_pages */
  __u64 pos;     /* current list node */
  __u64 encl;
  __u64 va;      /* VA pages seen */
  __u64 swapped; /* VA slots in use */
  int failed;
};

/* One VA page of the walk: its slots and its va_pages entry (so its later free is charged to the enclave). */
static __always_inline int seed_va_step(struct seed_walk *w) {
  struct list_head *node = (struct list_head *)w->pos;
  __u64 next = (__u64)BPF_CORE_READ(node, next);
  if (!next) {
    w->failed = 1;
    return 1;
  }
  struct sgx_va_page___epc *va =
      (struct sgx_va_page___epc *)(w->pos - bpf_core_field_offset(struct sgx_va_page___epc, list));
  unsigned long slots[8] = {};
  __u64 epc_page = (__u64)BPF_CORE_READ(va, epc_page);
  if (!epc_page || bpf_core_read(&slots, sizeof(slots), &va->slots)) {
    w->failed = 1;
    return 1;
  }
  for (int i = 0; i < 8; i++) w->swapped += __builtin_popcountl(slots[i]);
  __u64 encl = w->encl; /* a map value must come from the stack or a map, not from a global function's argument */
  if (bpf_map_update_elem(&va_pages, &epc_page, &encl, BPF_ANY)) {
    epc_drop(EPC_DROP_VA_MAP_FULL);
    w->failed = 1;
    return 1;
  }
  w->va++;
  w->pos = next;
  return 0;
}

/* Walks encl->va_pages (a global function: verified once, not per caller). 0, or -1 when the enclave must stay
 * untracked (a read failed, a map is full, or more than EPC_SEED_MAX_VA_PAGES). */
__noinline int seed_walk_va(struct seed_walk *w) {
  if (!w) return -1;
  struct list_head *head = (struct list_head *)w->head;
  w->pos = (__u64)BPF_CORE_READ(head, next);
  for (int i = 0; i < EPC_SEED_MAX_VA_PAGES + 1; i++) {
    if (w->pos == w->head) return 0;
    if (!w->pos || i == EPC_SEED_MAX_VA_PAGES) return -1;
    if (seed_va_step(w)) return -1;
  }
  return -1;
}

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct seed_walk);
} seed_scratch SEC(".maps");

static __always_inline int is_enclave_file(struct file *f) {
  if (!f) return 0;
  if (sgx_encl_fops_addr) return (__u64)BPF_CORE_READ(f, f_op) == sgx_encl_fops_addr;
  return sgx_enclave_rdev && BPF_CORE_READ(f, f_inode, i_rdev) == sgx_enclave_rdev;
}

static __always_inline void seed_file(struct task_struct *task, struct file *f) {
  if (!task || !is_enclave_file(f)) return;
  __u64 encl = (__u64)BPF_CORE_READ(f, private_data);
  if (!encl || bpf_map_lookup_elem(&encls, &encl)) return; /* no enclave yet, or known (seen created or seeded) */
  struct sgx_encl___epc *e = (struct sgx_encl___epc *)encl;
  if (!(BPF_CORE_READ(e, flags) & EPC_SGX_ENCL_CREATED)) return; /* opened, no ECREATE yet: its create is an event */
  struct epc_node_stats *n = epc_node();
  __u32 zero = 0;
  struct seed_walk *w = bpf_map_lookup_elem(&seed_scratch, &zero);
  if (!n || !w) return;
  __sync_fetch_and_add(&n->seed_found, 1);
  w->head = encl + bpf_core_field_offset(struct sgx_encl___epc, va_pages);
  w->encl = encl;
  w->va = 0;
  w->swapped = 0;
  w->failed = 0;
  if (seed_walk_va(w) != 0) {
    __sync_fetch_and_add(&n->seed_skipped, 1);
    return;
  }
  struct kernfs_node *kn = epc_task_cgroup_kn(task);
  __u64 cgroup_id = kn ? BPF_CORE_READ(kn, id) : 0;
  const __u64 secs_resident = BPF_CORE_READ(e, secs.epc_page) ? 1 : 0;
  struct epc_encl_state st = {
      .cgroup_id = cgroup_id,
      .size_bytes = BPF_CORE_READ(e, size),
      .resident_pages = (__s64)(BPF_CORE_READ(e, secs_child_cnt) + secs_resident + w->va),
      .swapped_pages = (__s64)w->swapped,
      .va_pages = (__s64)w->va,
      .tgid = BPF_CORE_READ(task, tgid),
      .origin = EPC_ORIGIN_DISCOVERED,
  };
  if (bpf_map_update_elem(&encls, &encl, &st, BPF_NOEXIST)) {
    if (!bpf_map_lookup_elem(&encls, &encl)) epc_drop(EPC_DROP_ENCL_MAP_FULL);
    return;
  }
  epc_cgroup(cgroup_id);
  record_cgroup_path(cgroup_id, kn);
  const __u64 flags = BPF_CORE_READ(e, flags);
  identity_discovered(encl, cgroup_id, st.size_bytes, BPF_CORE_READ(e, attributes),
                      (flags & EPC_SGX_ENCL_INITIALIZED) != 0);
}

SEC("iter/task_file")
int seed_task_file(struct bpf_iter__task_file *ctx) {
  seed_file(ctx->task, ctx->file);
  return 0;
}

SEC("iter/task_vma")
int seed_task_vma(struct bpf_iter__task_vma *ctx) {
  struct vm_area_struct *vma = ctx->vma;
  if (vma) seed_file(ctx->task, BPF_CORE_READ(vma, vm_file));
  return 0;
}

/* ---- on demand (BPF_PROG_TEST_RUN from userspace) ----
 * EPC_EV_READ_FREE_PAGES: reads sgx_nr_free_pages at scrape time (the exporter's node free EPC).
 * Every other type: one handler step on plain values, through the same accounting the probes use (tests/bpf/). */
static __always_inline int dispatch(const struct epc_test_event *ev) {
  const __u64 tid = ev->tid;
  switch (ev->type) {
    case EPC_EV_READ_FREE_PAGES: {
      long v = 0;
      if (!nr_free_pages_addr) return -2;
      if (bpf_probe_read_kernel(&v, sizeof(v), (const void *)nr_free_pages_addr)) return -14;
      acct_free_pages(v);
      return 0;
    }
    case EPC_EV_ENCL_CREATE: acct_encl_create(tid, ev->encl, ev->cgroup_id, ev->tgid, ev->arg); break;
    case EPC_EV_ENCL_CREATE_RET: acct_encl_create_ret(tid, (long)ev->arg); break;
    case EPC_EV_ENCL_RELEASE: acct_encl_release(tid, ev->encl); break;
    case EPC_EV_ENCL_RELEASE_DONE: acct_encl_release_done(tid); break;
    case EPC_EV_PAGE_ALLOC:
      if (acct_in_vepc(thread_find(tid)))
        acct_alloc_enter(tid, 1, 0, 0);
      else
        acct_alloc_enter(tid, 0, ev->encl, ev->secs_candidate);
      break;
    case EPC_EV_PAGE_ALLOC_RET: acct_alloc_ret(tid, ev->cgroup_id, ev->page); break;
    case EPC_EV_PAGE_ALLOC_EXIT: {
      struct thread_state *t = thread_find(tid);
      if (acct_in_vepc(t))
        acct_alloc_done(t, 1, 0, 0, ev->cgroup_id, ev->page);
      else
        acct_alloc_done(t, 0, ev->encl, ev->secs_candidate, ev->cgroup_id, ev->page);
      break;
    }
    case EPC_EV_PAGE_FREE:
      if (!acct_free_claimed(tid, ev->page)) acct_page_free(tid, ev->encl, ev->secs_candidate);
      break;
    case EPC_EV_EWB: acct_ewb(tid, ev->page, ev->encl); break;
    case EPC_EV_ELDU: acct_eldu_enter(tid, ev->encl); break;
    case EPC_EV_ELDU_RET: acct_eldu_ret(tid, ev->arg != 0); break;
    case EPC_EV_ELDU_EXIT: acct_eldu_done(tid, ev->encl, ev->arg != 0); break;
    case EPC_EV_FAULT: acct_fault_enter(tid, ev->encl, ev->addr, ev->arg); break;
    case EPC_EV_FAULT_RET: acct_fault_exit(tid, ev->arg); break;
    case EPC_EV_RECLAIM: acct_reclaim(ev->arg != 0); break;
    case EPC_EV_VA_GROW: acct_va_grow_enter(tid, ev->encl); break;
    case EPC_EV_VA_GROW_RET: acct_va_grow_ret(tid, ev->page); break;
    case EPC_EV_VEPC_FAULT:
    case EPC_EV_VEPC_FREE: acct_vepc_enter(tid); break;
    case EPC_EV_VEPC_FAULT_RET:
    case EPC_EV_VEPC_FREE_RET: acct_vepc_exit(tid); break;
    case EPC_EV_FREE_PAGES: acct_free_pages((__s64)ev->arg); break;
    default: return -22;
  }
  return 0;
}

/* Loaded always (the free-pages reader runs at every scrape): only helpers and a program type of 5.15
 * (BPF_PROG_TYPE_SYSCALL is 5.14; tests/bpf/helper_versions_test.cpp checks every program's helper calls). */
SEC("syscall")
int epc_event(struct epc_test_event *ctx) {
  struct epc_test_event ev = *ctx;
  return dispatch(&ev);
}

/* ---- the cost benchmark only (tests/bpf/cost_parts.cpp; loaded with Options::load_bench_program) ---- */

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct epc_test_sequence);
} bench_seq SEC(".maps");

/* One step of a sequence: a global function, verified once rather than inlined per step. */
__noinline int bench_step(const struct epc_test_event *ev) {
  if (!ev) return 0;
  return dispatch(ev);
}

/* One call of the helper a handler makes before its accounting step (the test events give those values). */
static __always_inline void bench_helper(__u64 which) {
  __u64 src = which, dst = 0;
  char comm[16];
  switch (which) {
    case EPC_BH_PID_TGID: dst = bpf_get_current_pid_tgid(); break;
    case EPC_BH_CGROUP_ID: dst = bpf_get_current_cgroup_id(); break;
    case EPC_BH_KTIME: dst = bpf_ktime_get_ns(); break;
    case EPC_BH_PROBE_READ: bpf_probe_read_kernel(&dst, sizeof(dst), &src); break;
    case EPC_BH_COMM: bpf_get_current_comm(comm, sizeof(comm)); break;
    case EPC_BH_TASK: dst = bpf_get_current_task(); break;
    default: break;
  }
  asm volatile("" : : "r"(dst) : "memory"); /* keep the call */
}

static long repeat_one(__u32 i, void *ctx) {
  const struct epc_test_event *ev = ctx;
  if (ev->type == EPC_EV_HELPER) {
    bench_helper(ev->arg);
    return 0;
  }
  if (ev->type != EPC_EV_SEQUENCE) {
    bench_step(ev); /* not inlined here: three frames of dispatch() would not fit the BPF stack */
    return 0;
  }
  __u32 zero = 0;
  struct epc_test_sequence *s = bpf_map_lookup_elem(&bench_seq, &zero);
  if (!s) return 1;
  for (__u32 k = 0; k < EPC_TEST_SEQ_MAX && k < s->n; k++) bench_step(&s->ev[k]);
  return 0;
}

/* The cost benchmark's batch runner: ev.repeat events in one program run, so the kernel's two clock reads per run
 * are spread over many events. bpf_loop is 5.17: autoload is off unless Options::load_bench_program. */
SEC("syscall")
int epc_event_repeat(struct epc_test_event *ctx) {
  struct epc_test_event ev = *ctx;
  if (ev.repeat < 1) ev.repeat = 1;
  return bpf_loop(ev.repeat, repeat_one, &ev, 0) < 0 ? -7 : 0;
}

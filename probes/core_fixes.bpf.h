/* All kernel drift of the probes in one place (after bcc libbpf-tools/core_fixes.bpf.h).
 *
 * The SGX driver's structs are private to arch/x86/kernel/cpu/sgx/ and absent from the BTF of kernels built
 * without CONFIG_X86_SGX (like a typical build host), so they are declared here with preserve_access_index under
 * a "___epc" flavor: CO-RE matches them by name (sgx_encl, sgx_encl_page, ...) against the target kernel's BTF at
 * load time, and only the fields used below must exist there. Layouts are those of Debian 6.1.0-56 and 6.12.100
 * (arch/x86/kernel/cpu/sgx/{encl.h,sgx.h}, asm/sgx.h); field order here does not matter.
 *
 * Call sites use the accessors only; none of them branches on kernel versions. */
#ifndef EPC_CORE_FIXES_BPF_H
#define EPC_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

struct sgx_encl___epc;

struct sgx_epc_page___epc;

struct sgx_encl_page___epc {
  unsigned long desc;
  struct sgx_epc_page___epc *epc_page;
  struct sgx_encl___epc *encl;
} __attribute__((preserve_access_index));

/* flags, attributes, secs_child_cnt and va_pages are read by the start-up iterators only (epc.bpf.c, seed_*). */
struct sgx_encl___epc {
  unsigned long base;
  unsigned long size;
  unsigned long flags;
  __u64 attributes; /* SECS.ATTRIBUTES as ECREATE got them (u64 in 5.15-6.12) */
  unsigned int secs_child_cnt;
  struct sgx_encl_page___epc secs;
  struct kref refcount;
  struct list_head va_pages;
} __attribute__((preserve_access_index));

struct sgx_epc_page___epc {
  struct sgx_encl_page___epc *owner;
} __attribute__((preserve_access_index));

/* sgx_encl_grow() returns the new struct sgx_va_page * (NULL when the tail VA page still had a slot). */
struct sgx_va_page___epc {
  struct sgx_epc_page___epc *epc_page;
  unsigned long slots[8]; /* DECLARE_BITMAP(slots, SGX_VA_SLOT_COUNT = 512): a set bit holds an evicted page */
  struct list_head list;
} __attribute__((preserve_access_index));

/* enum sgx_encl_flags (encl.h): SGX_ENCL_CREATED = BIT(2), set once ECREATE succeeded (ioctl.c sgx_encl_create)
 * with set_bit(SGX_ENCL_CREATED, &encl->flags): the enum's value is used as a bit number, so the bit is 1 << 4. */
#define EPC_SGX_ENCL_CREATED (1UL << 4)

struct sgx_secs___epc {
  __u64 size;
  __u32 miscselect;
  __u64 attributes;
  __u64 xfrm;
} __attribute__((preserve_access_index));

/* enum sgx_encl_flags: SGX_ENCL_INITIALIZED = BIT(3), used as a bit number like SGX_ENCL_CREATED (above). */
#define EPC_SGX_ENCL_INITIALIZED (1UL << 8)

/* The enclave a page owner (struct sgx_encl_page *) belongs to; 0 for NULL owners (VA pages) and for the SECS
 * page while sgx_encl_create() runs (encl->secs.encl is set only after ECREATE). */
static __always_inline __u64 epc_owner_encl(const void *owner) {
  if (!owner) return 0;
  return (__u64)BPF_CORE_READ((struct sgx_encl_page___epc *)owner, encl);
}

/* If owner is &encl->secs, this is encl: used when owner->encl is still NULL (see above). The accounting checks
 * the candidate against the enclaves it tracks before trusting it. */
static __always_inline __u64 epc_secs_candidate(const void *owner) {
  if (!owner) return 0;
  return (__u64)owner - bpf_core_field_offset(struct sgx_encl___epc, secs);
}

static __always_inline __u64 epc_page_owner(const void *epc_page) {
  if (!epc_page) return 0;
  return (__u64)BPF_CORE_READ((struct sgx_epc_page___epc *)epc_page, owner);
}

/* sgx_encl_release(struct kref *ref): container_of(ref, struct sgx_encl, refcount). */
static __always_inline __u64 epc_encl_of_kref(const void *ref) {
  return (__u64)ref - bpf_core_field_offset(struct sgx_encl___epc, refcount);
}

static __always_inline __u64 epc_secs_size(const void *secs) {
  if (!secs) return 0;
  return BPF_CORE_READ((struct sgx_secs___epc *)secs, size);
}

/* The epc_page of a VA page returned by sgx_encl_grow(); 0 for NULL. */
static __always_inline __u64 epc_va_epc_page(const void *va_page) {
  if (!va_page) return 0;
  return (__u64)BPF_CORE_READ((struct sgx_va_page___epc *)va_page, epc_page);
}

/* sgx_vma_fault(struct vm_fault *vmf): the faulting address (vmf->address, page-aligned by the caller). */
static __always_inline __u64 epc_fault_addr(struct vm_fault *vmf) {
  if (!vmf) return 0;
  return BPF_CORE_READ(vmf, address);
}

/* sgx_encl_grow() signature drift. Before the SGX2 series (merged for 6.0; "x86/sgx: Support VA page allocation
 * without reclaiming") it is `static struct sgx_va_page *sgx_encl_grow(struct sgx_encl *encl)` in ioctl.c (5.15
 * ioctl.c:20); since then `struct sgx_va_page *sgx_encl_grow(struct sgx_encl *encl, bool reclaim)` in encl.c. An
 * fexit program sees the return value after the arguments, so there are two of them (fx_va_grow for two
 * arguments, fx_va_grow1 for one); userspace picks one from the FUNC_PROTO in the kernel's BTF
 * (epc::probes::encl_grow_arity). kprobes read the return register and need no variant.
 *
 * sgx_reclaim_pages() drift: before that series (5.15 main.c:413-417) evicted pages go back to the free list inside
 * sgx_reclaim_pages() without sgx_free_epc_page(); after it ("x86/sgx: Free up EPC pages directly to support large
 * page ranges") through sgx_free_epc_page() (6.1 main.c:374). The accounting drops residency at EWB on every
 * kernel and skips the later free of the same page (epc_account.bpf.h, acct_ewb), so no version branch is needed. */

/* sgx_vma_fault(struct vm_fault *vmf): the enclave is vmf->vma->vm_private_data. */
static __always_inline __u64 epc_encl_of_vmf(struct vm_fault *vmf) {
  if (!vmf) return 0;
  return (__u64)BPF_CORE_READ(vmf, vma, vm_private_data);
}

/* The cgroup v2 (default hierarchy) kernfs node of a task; of the current task its id is
 * bpf_get_current_cgroup_id(). */
static __always_inline struct kernfs_node *epc_task_cgroup_kn(struct task_struct *t) {
  return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn);
}

static __always_inline struct kernfs_node *epc_current_cgroup_kn(void) {
  return epc_task_cgroup_kn((struct task_struct *)bpf_get_current_task());
}

/* kernfs_node::parent became the RCU-protected __parent in 6.15 ("kernfs: Use RCU to access
 * kernfs_node::parent"); 5.15-6.14 have parent. Both are declared here (vmlinux.h has whichever the build host's
 * kernel has) and CO-RE keeps the one the target kernel's BTF has. */
struct kernfs_node___parent {
  struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct kernfs_node___rcu_parent {
  struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *epc_kn_parent(struct kernfs_node *kn) {
  if (bpf_core_field_exists(struct kernfs_node___rcu_parent, __parent))
    return BPF_CORE_READ((struct kernfs_node___rcu_parent *)kn, __parent);
  return BPF_CORE_READ((struct kernfs_node___parent *)kn, parent);
}

#endif

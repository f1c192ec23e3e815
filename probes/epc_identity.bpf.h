/* Which enclaves run where: per-enclave identity (MRENCLAVE, the signer's modulus, ISV fields, SECS attributes) and
 * failed SGX_IOC_ENCLAVE_INIT calls. Apart from the accounting (epc_account.bpf.h): nothing here changes a page
 * count, and a hook of this file that is missing only leaves identity fields unknown.
 *
 * Sources, per field (docs/probes.md, "Enclave identity"):
 * - SECS attributes, XFRM, MISCSELECT, size: the SECS the driver copied into the kernel (sgx_encl_create(encl, secs)).
 * - SIGSTRUCT fields: the kernel's copy, the one EINIT checks, reached through __sgx_get_key_hash(tfm, modulus, hash),
 *   which sgx_encl_init() calls with &sigstruct->modulus while the thread is inside SGX_IOC_ENCLAVE_INIT; where that
 *   static function is inlined or absent, the ioctl's user buffer at sgx_ioctl() entry (what the caller passed;
 *   a caller that rewrites it while the ioctl runs could make it differ from what EINIT saw).
 * - Whether INIT succeeded: sgx_ioctl()'s return value for SGX_IOC_ENCLAVE_INIT. */
#ifndef EPC_IDENTITY_BPF_H
#define EPC_IDENTITY_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "core_fixes.bpf.h"
#include "epc.h"
#include "epc_account.bpf.h"

/* Live enclaves' identities, ~500 bytes each, preallocated (~4 MiB): a map allocated at run time is unsafe from
 * kprobe programs (5.15 warns "trace type BPF program uses run-time allocation" and taints the log). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, EPC_MAX_ENCLAVES);
  __type(key, __u64);
  __type(value, struct epc_encl_identity);
} identities SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, EPC_MAX_INIT_INFLIGHT);
  __type(key, __u64);
  __type(value, struct epc_init_pending);
} init_pending SEC(".maps");

/* The values are larger than the BPF stack allows comfortably: they are built here. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct epc_encl_identity);
} identity_scratch SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct epc_init_pending);
} pending_scratch SEC(".maps");

/* A zeroed identity with the next enclave number, or NULL. */
static __always_inline struct epc_encl_identity *identity_blank(void) {
  __u32 zero = 0;
  struct epc_encl_identity *id = bpf_map_lookup_elem(&identity_scratch, &zero);
  struct epc_node_stats *n = epc_node();
  if (!id || !n) return 0;
  __builtin_memset(id, 0, sizeof(*id));
  id->seq = __sync_fetch_and_add(&n->enclave_seq, 1) + 1;
  return id;
}

/* sgx_encl_create(encl, secs) entry: the SECS fields. A retried ECREATE (the first failed) overwrites the entry. */
static __always_inline void identity_create(__u64 encl, __u64 cgroup_id, const void *secs) {
  struct epc_encl_identity *id = identity_blank();
  if (!id || !secs) return;
  const struct sgx_secs___epc *s = secs;
  id->cgroup_id = cgroup_id;
  id->created_ns = bpf_ktime_get_boot_ns();
  id->size_bytes = BPF_CORE_READ(s, size);
  id->attributes = BPF_CORE_READ(s, attributes);
  id->xfrm = BPF_CORE_READ(s, xfrm);
  id->miscselect = BPF_CORE_READ(s, miscselect);
  id->flags = EPC_ID_SECS;
  bpf_map_update_elem(&identities, &encl, id, BPF_ANY);
}

/* An enclave found at start-up (epc.bpf.c, seed_file): what struct sgx_encl keeps. Its SIGSTRUCT is gone (the
 * kernel frees its copy after INIT), so MRENCLAVE and the signer stay unknown. */
static __always_inline void identity_discovered(__u64 encl, __u64 cgroup_id, __u64 size, __u64 attributes,
                                                int initialized) {
  struct epc_encl_identity *id = identity_blank();
  if (!id) return;
  id->cgroup_id = cgroup_id;
  id->created_ns = bpf_ktime_get_boot_ns();
  id->size_bytes = size;
  id->attributes = attributes;
  id->flags = EPC_ID_DISCOVERED | (initialized ? EPC_ID_INITIALIZED : 0);
  bpf_map_update_elem(&identities, &encl, id, BPF_NOEXIST);
}

static __always_inline void identity_release(__u64 encl) { bpf_map_delete_elem(&identities, &encl); }

static __always_inline long read_mem(void *dst, __u32 n, __u64 src, int user) {
  return user ? bpf_probe_read_user(dst, n, (const void *)src) : bpf_probe_read_kernel(dst, n, (const void *)src);
}

/* Reads the SIGSTRUCT fields at sigstruct (user or kernel address) into p; 0 on success. */
static __always_inline int read_sigstruct(struct epc_init_pending *p, __u64 sigstruct, int user) {
  __u16 isv[2] = {};
  if (read_mem(p->modulus, sizeof(p->modulus), sigstruct + EPC_SIGSTRUCT_MODULUS_OFF, user)) return -1;
  if (read_mem(p->mrenclave, sizeof(p->mrenclave), sigstruct + EPC_SIGSTRUCT_ENCLAVEHASH_OFF, user)) return -1;
  if (read_mem(isv, sizeof(isv), sigstruct + EPC_SIGSTRUCT_ISVPRODID_OFF, user)) return -1;
  p->isv_prod_id = isv[0];
  p->isv_svn = isv[1];
  return 0;
}

/* sgx_ioctl(filep, cmd, arg) entry. For SGX_IOC_ENCLAVE_INIT: remember the enclave and read the caller's SIGSTRUCT
 * (struct sgx_enclave_init { __u64 sigstruct; } at arg); a kernel-copy read later in the same call replaces it. */
static __always_inline void identity_init_enter(__u64 tid, struct file *filep, __u32 cmd, __u64 arg) {
  if (cmd != EPC_SGX_IOC_ENCLAVE_INIT || !filep) return;
  __u32 zero = 0;
  struct epc_init_pending *p = bpf_map_lookup_elem(&pending_scratch, &zero);
  if (!p) return;
  __builtin_memset(p, 0, sizeof(*p));
  p->encl = (__u64)BPF_CORE_READ(filep, private_data);
  if (!p->encl) return;
  __u64 user_sigstruct = 0;
  if (!bpf_probe_read_user(&user_sigstruct, sizeof(user_sigstruct), (const void *)arg) && user_sigstruct &&
      !read_sigstruct(p, user_sigstruct, 1))
    p->flags = EPC_ID_SIG_USER;
  bpf_map_update_elem(&init_pending, &tid, p, BPF_ANY);
}

/* __sgx_get_key_hash(tfm, modulus, hash) entry: modulus is &sigstruct->modulus of the kernel's copy. Only inside
 * SGX_IOC_ENCLAVE_INIT (the pending entry): the function has no other caller, but the check costs one lookup. */
static __always_inline void identity_init_sigstruct(__u64 tid, __u64 modulus) {
  struct epc_init_pending *p = bpf_map_lookup_elem(&init_pending, &tid);
  if (!p || !modulus) return;
  /* A failed read may have overwritten part of the user buffer's fields: then nothing is known. */
  p->flags = read_sigstruct(p, modulus - EPC_SIGSTRUCT_MODULUS_OFF, 0) ? 0 : EPC_ID_SIG_KERNEL;
}

/* sgx_ioctl() return, for SGX_IOC_ENCLAVE_INIT: ret 0 makes the identity complete; any other value is a failed INIT,
 * counted on the enclave's owner (its cgroup's counter; the calling task's when the enclave is untracked). */
static __always_inline void identity_init_exit(__u64 tid, long ret, __u64 current_cgroup_id) {
  struct epc_init_pending *p = bpf_map_lookup_elem(&init_pending, &tid);
  if (!p) return;
  __u64 encl = p->encl;
  struct epc_encl_identity *id = bpf_map_lookup_elem(&identities, &encl);
  if (ret == 0) {
    if (id) {
      __builtin_memcpy(id->modulus, p->modulus, sizeof(id->modulus));
      __builtin_memcpy(id->mrenclave, p->mrenclave, sizeof(id->mrenclave));
      id->isv_prod_id = p->isv_prod_id;
      id->isv_svn = p->isv_svn;
      id->flags = (id->flags & ~(__u32)(EPC_ID_SIG_KERNEL | EPC_ID_SIG_USER)) | p->flags | EPC_ID_INITIALIZED;
    }
  } else {
    __u64 cgroup_id = current_cgroup_id;
    struct epc_encl_state *e = bpf_map_lookup_elem(&encls, &encl);
    if (e) cgroup_id = e->cgroup_id;
    if (id) {
      __sync_fetch_and_add(&id->init_failures, 1);
      id->init_ret = (__s32)ret;
    }
    struct epc_cgroup_stats *cg = epc_cgroup(cgroup_id);
    if (cg) __sync_fetch_and_add(&cg->init_failures, 1);
  }
  bpf_map_delete_elem(&init_pending, &tid);
}

#endif

/* Shared between the BPF programs (epc.bpf.c) and userspace (epc_probes.cpp, tests): fixed-width structs,
 * map bounds and event codes. Keep it C and layout-stable: both sides read the same bytes. */
#ifndef EPC_PROBES_EPC_H
#define EPC_PROBES_EPC_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "epc_workload.h"

/* Map bounds (docs/probes.md states the memory they cost). */
#define EPC_MAX_ENCLAVES 8192 /* live enclaves on one node */
#define EPC_MAX_CGROUPS 4096  /* cgroups that ever created an enclave and still exist */
#define EPC_MAX_INFLIGHT 8192 /* threads with entry->return state or a fault wait; LRU */
#define EPC_MAX_VA_PAGES 32768 /* live VA pages of tracked enclaves (1 per 512 enclave pages) */

#define EPC_PAGE_SIZE 4096

/* Recorded cgroup paths (struct epc_cgroup_path): levels below the root and bytes per name, NUL included. Deep
 * enough for the kubelet's layouts (kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/
 * cri-containerd-<64 hex>.scope is 4 levels, its longest name 85 bytes) with room for nested node runtimes. */
#define EPC_CGROUP_PATH_LEVELS 8
#define EPC_CGROUP_NAME_LEN 96

/* Why an event was not recorded (sgx_exporter_bpf_dropped_events_total{reason}). */
enum epc_drop_reason {
  EPC_DROP_ENCL_MAP_FULL = 0,
  EPC_DROP_CGROUP_MAP_FULL = 1,
  EPC_DROP_INFLIGHT_MAP_FULL = 2,
  EPC_DROP_UNTRACKED_ENCLAVE = 3, /* page event of an enclave created before the probes were attached */
  EPC_DROP_VA_MAP_FULL = 4,       /* a VA page that could not be remembered: neither added nor subtracted */
  EPC_DROP_NR = 5,
};

/* The numbers of the workload table (epc_workload.h) a struct holds: its member per row, by `where` and `kind`. */
#define EPC_BPF_TYPE_GAUGE __s64
#define EPC_BPF_TYPE_COUNTER __u64
#define EPC_IN_ENCL_LIVE(field, type)
#define EPC_IN_ENCL_ENCL(field, type) type field;
#define EPC_IN_ENCL_RETIRED(field, type) type field;
#define EPC_IN_ENCL_CGROUP(field, type)
#define EPC_IN_CGROUP_LIVE(field, type)
#define EPC_IN_CGROUP_ENCL(field, type)
#define EPC_IN_CGROUP_RETIRED(field, type) type field;
#define EPC_IN_CGROUP_CGROUP(field, type) type field;
#define EPC_ENCL_MEMBER(field, kind, where, ...) EPC_IN_ENCL_##where(field, EPC_BPF_TYPE_##kind)
#define EPC_CGROUP_MEMBER(field, kind, where, ...) EPC_IN_CGROUP_##where(field, EPC_BPF_TYPE_##kind)

/* One live enclave (key: kernel address of its struct sgx_encl). Page events touch only this entry (one hash
 * lookup per event); userspace sums live enclaves per cgroup. The entry is deleted when sgx_encl_release()
 * starts (its counters move to the cgroup then). Holds the table's ENCL and RETIRED rows: resident pages incl. SECS
 * and VA pages; page_fault_ns is the wait for non-resident pages (fault retry loop + load-back, acct_fault_exit). */
struct epc_encl_state {
  __u64 cgroup_id;
  EPC_WORKLOAD_FIELDS(EPC_ENCL_MEMBER)
  __u32 tgid;
  __u32 origin; /* enum epc_encl_origin */
};

/* How an enclave's entry came to be (sgx_exporter_ebpf_enclaves_tracked{origin}). */
enum epc_encl_origin {
  EPC_ORIGIN_CREATED = 0,    /* its sgx_encl_create() was seen */
  EPC_ORIGIN_DISCOVERED = 1, /* it existed before the probes: found by the start-up iterators (seed_*) */
};

/* The start-up iterators read at most this many VA pages of one enclave (1 VA page per 512 pages added: 2048 is
 * 4 GiB of added pages); a larger enclave is left untracked and counted in epc_node_stats.seed_skipped. */
#define EPC_SEED_MAX_VA_PAGES 2048

/* Per cgroup (key: cgroup v2 id of the task that created the enclave): the table's RETIRED rows (the monotonic
 * counters of its released enclaves, plus allocation failures no enclave could be charged with) and its CGROUP rows
 * (e.g. failed SGX_IOC_ENCLAVE_INIT calls on its enclaves, epc_identity.bpf.h). */
struct epc_cgroup_stats {
  EPC_WORKLOAD_FIELDS(EPC_CGROUP_MEMBER)
};

/* The path of a cgroup that created an enclave, recorded from the creating task's cgroup (kernfs names) when the
 * cgroup's first enclave is created, so that a container which lives and ends between two scrapes still resolves
 * to its pod and container after its cgroup directory is gone. names[0] is the cgroup's own name, names[1] its
 * parent's, ...; the root has depth 0. truncated: deeper than EPC_CGROUP_PATH_LEVELS or a name cut to
 * EPC_CGROUP_NAME_LEN (userspace then does not use it). Deleted with the cgroup's entry in `cgroups`. */
struct epc_cgroup_path {
  __u32 depth;
  __u32 truncated;
  char names[EPC_CGROUP_PATH_LEVELS][EPC_CGROUP_NAME_LEN];
};

/* Node-wide (array map, one element). */
struct epc_node_stats {
  __s64 free_pages;      /* last value of the kernel's sgx_nr_free_pages seen by a probe */
  __u64 free_pages_seen; /* 0 until a probe (or the on-demand reader) read it */
  __s64 vepc_pages;
  __u64 reclaim_ksgxd;
  __u64 reclaim_direct;
  __u64 dropped[EPC_DROP_NR];
  __u64 vepc_alloc_failures;
  __u64 seed_found;   /* live enclaves the start-up iterators visited (each once) */
  __u64 seed_skipped; /* of those, left untracked: more VA pages than EPC_SEED_MAX_VA_PAGES, or a read failed */
  __u64 enclave_seq;  /* enclaves given an identity since the state was made (epc_identity.bpf.h) */
};

/* ---- Enclave identity (epc_identity.bpf.h) ---- */

/* SIGSTRUCT is architectural (SDM Vol. 3D, 38.13; the kernel's struct sgx_sigstruct is the same packed layout): the
 * same offsets hold in the ioctl's user buffer and in the kernel's copy. */
#define EPC_SIGSTRUCT_MODULUS_OFF 128
#define EPC_SIGSTRUCT_MODULUS_SIZE 384
#define EPC_SIGSTRUCT_ENCLAVEHASH_OFF 960 /* body (900) + 60 */
#define EPC_SIGSTRUCT_ISVPRODID_OFF 1024  /* body + 124; ISVSVN follows */
#define EPC_SGX_IOC_ENCLAVE_INIT 0x4008a402 /* _IOW(SGX_MAGIC 0xA4, 0x02, struct sgx_enclave_init) */
#define EPC_MAX_INIT_INFLIGHT 1024        /* threads inside SGX_IOC_ENCLAVE_INIT at once; LRU */

enum epc_identity_flags {
  EPC_ID_INITIALIZED = 1 << 0, /* SGX_IOC_ENCLAVE_INIT returned 0 */
  EPC_ID_SIG_KERNEL = 1 << 1,  /* SIGSTRUCT fields read from the kernel's copy (the one EINIT checked) */
  EPC_ID_SIG_USER = 1 << 2,    /* SIGSTRUCT fields read from the ioctl's user buffer (no kernel copy hook) */
  EPC_ID_DISCOVERED = 1 << 3,  /* found by the start-up iterators: attributes and size from struct sgx_encl only */
  EPC_ID_SECS = 1 << 4,        /* attributes, XFRM, MISCSELECT, size read from the SECS at ECREATE */
};

/* One live enclave's identity (key: kernel address of its struct sgx_encl, as in `encls`). Written at ECREATE (SECS
 * fields) and at a successful SGX_IOC_ENCLAVE_INIT (SIGSTRUCT fields); deleted when sgx_encl_release() starts. Never
 * read by the accounting. MRSIGNER is SHA-256 of the modulus: computed by userspace. */
struct epc_encl_identity {
  __u64 cgroup_id;  /* the creating task's cgroup */
  __u64 created_ns; /* bpf_ktime_get_boot_ns() at ECREATE (at discovery for a discovered enclave) */
  __u64 seq;        /* this boot's enclave number (epc_node_stats.enclave_seq): userspace derives the id from it */
  __u64 size_bytes;
  __u64 attributes; /* SECS.ATTRIBUTES */
  __u64 xfrm;
  __u32 miscselect;
  __u32 flags; /* enum epc_identity_flags */
  __u32 init_failures;
  __s32 init_ret; /* the last failed SGX_IOC_ENCLAVE_INIT's return value */
  __u16 isv_prod_id;
  __u16 isv_svn;
  __u32 pad;
  __u8 mrenclave[32];
  __u8 modulus[EPC_SIGSTRUCT_MODULUS_SIZE];
};

/* A thread inside SGX_IOC_ENCLAVE_INIT (key: thread id): what it has read of the SIGSTRUCT so far. */
struct epc_init_pending {
  __u64 encl;
  __u32 flags; /* EPC_ID_SIG_KERNEL or EPC_ID_SIG_USER once the fields below are complete */
  __u16 isv_prod_id;
  __u16 isv_svn;
  __u8 mrenclave[32];
  __u8 modulus[EPC_SIGSTRUCT_MODULUS_SIZE];
};

/* Synthetic events for the test entry program (BPF_PROG_TEST_RUN). Each type is one handler step of epc.bpf.c
 * on plain values (what the handler read from the kernel is given in the fields), through the same accounting
 * functions the probes call. `tid` stands for the current thread (bpf_get_current_pid_tgid()). */
enum epc_event_type {
  EPC_EV_ENCL_CREATE = 1,     /* tid, encl, cgroup_id, tgid, arg = declared size in bytes */
  EPC_EV_ENCL_CREATE_RET,     /* tid, arg = return value of sgx_encl_create (!= 0: creation undone) */
  EPC_EV_ENCL_RELEASE,        /* tid, encl: sgx_encl_release() entry */
  EPC_EV_ENCL_RELEASE_DONE,   /* tid: sgx_encl_release() return */
  EPC_EV_PAGE_ALLOC,          /* tid, encl (owner->encl), secs_candidate: sgx_alloc_epc_page() entry */
  EPC_EV_PAGE_ALLOC_RET,      /* tid, page (0 = ERR_PTR), cgroup_id = current task's */
  EPC_EV_PAGE_FREE,           /* tid, page, encl (owner->encl as it would read), secs_candidate */
  EPC_EV_EWB,                 /* tid, page, encl */
  EPC_EV_ELDU,                /* tid, encl: sgx_encl_eldu() entry */
  EPC_EV_ELDU_RET,            /* tid, arg = 1 on success, 0 on ERR_PTR */
  EPC_EV_FAULT,               /* tid, encl, addr (vmf->address), arg = now ns: sgx_vma_fault() entry */
  EPC_EV_FAULT_RET,           /* tid, arg = now ns */
  EPC_EV_RECLAIM,             /* arg = 1 when ksgxd runs it */
  EPC_EV_VA_GROW,             /* tid, encl: sgx_encl_grow() entry */
  EPC_EV_VA_GROW_RET,         /* tid, page = the new VA page's epc_page (0: no new VA page or ERR_PTR) */
  EPC_EV_VEPC_FAULT,          /* tid: sgx_vepc_fault() entry */
  EPC_EV_VEPC_FAULT_RET,      /* tid */
  EPC_EV_VEPC_FREE,           /* tid: sgx_vepc_free_page() entry */
  EPC_EV_VEPC_FREE_RET,       /* tid */
  EPC_EV_FREE_PAGES,          /* arg = sgx_nr_free_pages */
  EPC_EV_READ_FREE_PAGES,     /* read sgx_nr_free_pages at the rodata address (on-demand reader) */
  EPC_EV_PAGE_ALLOC_EXIT,     /* tid, encl, secs_candidate, cgroup_id, page: sgx_alloc_epc_page() fexit alone */
  EPC_EV_ELDU_EXIT,           /* tid, encl, arg = 1 on success: sgx_encl_eldu() fexit alone */
  /* The cost benchmark's batch runner only (epc_event_repeat, tests/bpf/cost_parts.cpp): */
  EPC_EV_SEQUENCE,            /* the events of bench_seq's element, in order, each as its own step */
  EPC_EV_HELPER,              /* arg = enum epc_bench_helper: one call of a helper the handlers make */
};

/* The helpers the handlers call to read the kernel before the accounting (epc.bpf.c), timed one by one. */
enum epc_bench_helper {
  EPC_BH_NONE = 0,
  EPC_BH_PID_TGID,      /* bpf_get_current_pid_tgid */
  EPC_BH_CGROUP_ID,     /* bpf_get_current_cgroup_id */
  EPC_BH_KTIME,         /* bpf_ktime_get_ns */
  EPC_BH_PROBE_READ,    /* bpf_probe_read_kernel of 8 bytes (what one BPF_CORE_READ of a pointer or u64 is) */
  EPC_BH_COMM,          /* bpf_get_current_comm, 16 bytes */
  EPC_BH_TASK,          /* bpf_get_current_task */
  EPC_BH_NR,
};

struct epc_test_event {
  __u32 type;
  __u32 tgid;
  __u64 encl;
  __u64 secs_candidate;
  __u64 cgroup_id;
  __u64 arg;
  __u64 repeat; /* > 1: run the event this many times (epc_event_repeat only, for the cost benchmark) */
  __u64 tid;
  __u64 page;
  __u64 addr;
};

/* bench_seq's element: up to EPC_TEST_SEQ_MAX events, run in order by EPC_EV_SEQUENCE (a page swap's handler steps
 * in the state they meet on the paging path). */
#define EPC_TEST_SEQ_MAX 32
struct epc_test_sequence {
  __u32 n;
  __u32 pad;
  struct epc_test_event ev[EPC_TEST_SEQ_MAX];
};

#endif

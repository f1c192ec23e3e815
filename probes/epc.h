/* Shared between the BPF programs (epc.bpf.c) and userspace (epc_probes.cpp, tests): fixed-width structs,
 * map bounds and event codes. Keep it C and layout-stable: both sides read the same bytes. */
#ifndef EPC_PROBES_EPC_H
#define EPC_PROBES_EPC_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Map bounds (docs/probes.md states the memory they cost). */
#define EPC_MAX_ENCLAVES 8192 /* live enclaves on one node */
#define EPC_MAX_CGROUPS 4096  /* cgroups that ever created an enclave and still exist */
#define EPC_MAX_INFLIGHT 8192 /* entry->return pairs in flight (per thread and probe) */

#define EPC_PAGE_SIZE 4096

/* Why an event was not recorded (sgx_exporter_bpf_dropped_events_total{reason}). */
enum epc_drop_reason {
  EPC_DROP_ENCL_MAP_FULL = 0,
  EPC_DROP_CGROUP_MAP_FULL = 1,
  EPC_DROP_INFLIGHT_MAP_FULL = 2,
  EPC_DROP_UNTRACKED_ENCLAVE = 3, /* page event of an enclave created before the probes were attached */
  EPC_DROP_NR = 4,
};

/* One live enclave (key: kernel address of its struct sgx_encl). Page events touch only this entry (one hash
 * lookup per event); userspace sums live enclaves per cgroup. */
struct epc_encl_state {
  __u64 cgroup_id;
  __u64 size_bytes;
  __s64 resident_pages; /* incl. SECS and VA pages */
  __s64 swapped_pages;
  __s64 va_pages;
  __u64 evicted_pages;
  __u64 loaded_back_pages;
  __u64 page_faults;
  __u64 page_fault_ns;
  __u64 alloc_failures;
  __u32 tgid;
  __u32 released; /* sgx_encl_release() is running: its counters moved to the cgroup, its frees are not events */
};

/* Per cgroup (key: cgroup v2 id of the task that created the enclave): the monotonic counters of its released
 * enclaves, plus allocation failures no enclave could be charged with. */
struct epc_cgroup_stats {
  __u64 evicted_pages;
  __u64 loaded_back_pages;
  __u64 page_faults;
  __u64 page_fault_ns;
  __u64 alloc_failures;
};

/* Node-wide (array map, one element). */
struct epc_node_stats {
  __s64 free_pages;      /* last value of the kernel's sgx_nr_free_pages seen by a probe */
  __u64 free_pages_seen; /* 0 until a probe (or the on-demand reader) read it */
  __s64 vepc_pages;
  __u64 reclaim_ksgxd;
  __u64 reclaim_direct;
  __u64 dropped[EPC_DROP_NR];
};

/* Synthetic events for the test entry program (BPF_PROG_TEST_RUN): the same accounting functions the probes call. */
enum epc_event_type {
  EPC_EV_ENCL_CREATE = 1,     /* encl, cgroup_id, tgid, arg = declared size in bytes */
  EPC_EV_ENCL_CREATE_FAILED,  /* encl */
  EPC_EV_ENCL_RELEASE,        /* encl: sgx_encl_release() entry */
  EPC_EV_ENCL_RELEASE_DONE,   /* encl: sgx_encl_release() return */
  EPC_EV_PAGE_ALLOC,          /* encl (page owner's enclave), secs_candidate */
  EPC_EV_PAGE_ALLOC_FAIL,     /* encl, secs_candidate, cgroup_id = current task's */
  EPC_EV_PAGE_FREE,           /* encl, secs_candidate */
  EPC_EV_EWB,                 /* encl */
  EPC_EV_ELDU,                /* encl */
  EPC_EV_FAULT,               /* encl, arg = ns spent in the fault */
  EPC_EV_RECLAIM,             /* arg = 1 when ksgxd runs it */
  EPC_EV_VA_GROW,             /* encl */
  EPC_EV_VA_SHRINK,           /* encl */
  EPC_EV_VEPC_ALLOC,
  EPC_EV_VEPC_FREE,
  EPC_EV_FREE_PAGES,          /* arg = sgx_nr_free_pages */
  EPC_EV_READ_FREE_PAGES,     /* read sgx_nr_free_pages at the rodata address (on-demand reader) */
};

struct epc_test_event {
  __u32 type;
  __u32 tgid;
  __u64 encl;
  __u64 secs_candidate;
  __u64 cgroup_id;
  __u64 arg;
  __u64 repeat; /* > 1: run the event this many times in one program run (bpf_loop), for the cost benchmark */
};

#endif

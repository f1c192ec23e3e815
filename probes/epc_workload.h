/* The per-workload numbers of the ebpf collector, one row each. Every layer is generated from this list: the BPF
 * map values (struct epc_encl_state, struct epc_cgroup_stats in epc.h) and the step that moves a released enclave's
 * counters to its cgroup (epc_account.bpf.h); WorkloadCounters, the monotonic-counter handling, the replay keys and
 * the metric writes in userspace (epc_snapshot.h, exporter/collectors/ebpf*.cpp). Adding a number is a row here,
 * the BPF code that counts it, its test and its line in docs/metrics.md.
 *
 * Plain C, no includes: the BPF programs expand it too. A column a side does not use is never expanded there.
 *
 *   X(field, kind, where, metric, help, scale, probes)
 *   field   member name in every struct, and the key in the replay file (exporter/collectors/ebpf.h)
 *   kind    GAUGE: a current value, signed (__s64 / int64); COUNTER: monotonic, unsigned (__u64 / uint64): never
 *           goes back per label set (the collector keeps high-water marks)
 *   where   LIVE:    no field; one per live enclave entry
 *           ENCL:    in the live enclave's entry (struct epc_encl_state); gone with the enclave
 *           RETIRED: in the live enclave's entry, added to its cgroup's entry (struct epc_cgroup_stats) when the
 *                    enclave is released
 *           CGROUP:  in the cgroup's entry only (counted where no enclave entry is at hand)
 *   metric  the Prometheus family (labels: the workload's)
 *   help    its HELP text
 *   scale   from the field's unit to the metric's: AS_IS, PAGES_TO_BYTES (x 4096), NS_TO_SECONDS (/ 1e9); a gauge
 *           below 0 is written as 0
 *   probes  the hooks (probes/hooks.h) the metric needs, space-separated: while one is not attached the family is
 *           not written (a switched-off probe must not read as "nothing happened"); checked at compile time
 *
 * Rows are in the order the families are written. */
#ifndef EPC_PROBES_EPC_WORKLOAD_H
#define EPC_PROBES_EPC_WORKLOAD_H

#define EPC_LIFECYCLE "encl_create encl_release"

#define EPC_WORKLOAD_FIELDS(X)                                                                                        \
  X(enclaves, GAUGE, LIVE, "sgx_enclaves", "Live enclaves created by the workload.", AS_IS, EPC_LIFECYCLE)            \
  X(size_bytes, GAUGE, ENCL, "sgx_enclave_size_bytes",                                                                \
    "Sum of the declared sizes (SECS size) of the workload's live enclaves.", AS_IS, EPC_LIFECYCLE)                   \
  /* Churn, which the gauges miss for enclaves shorter than a scrape interval: a creation sgx_encl_create() returned  \
   * 0 for (one it undid is not counted; an enclave found at start-up was not seen created and is not counted), a     \
   * release of an enclave the probes track (sgx_encl_release(), found ones included). */                             \
  X(enclaves_created, COUNTER, CGROUP, "sgx_enclaves_created_total",                                                  \
    "Enclaves the workload created (SGX_IOC_ENCLAVE_CREATE succeeded).", AS_IS, "encl_create")                        \
  X(enclaves_released, COUNTER, CGROUP, "sgx_enclaves_released_total",                                                \
    "Enclaves of the workload that were released (their last file descriptor and mapping gone).", AS_IS,              \
    EPC_LIFECYCLE)                                                                                                    \
  /* Residency needs every place a page comes and goes: allocations, frees, VA pages (owner NULL: only va_grow        \
   * sees them) and EWB (5.15-5.18 free evicted pages without sgx_free_epc_page). Incl. SECS and VA pages. */         \
  X(resident_pages, GAUGE, ENCL, "sgx_epc_resident_bytes",                                                            \
    "EPC held by the workload's enclaves now, incl. SECS and VA pages.", PAGES_TO_BYTES,                              \
    EPC_LIFECYCLE " epc_alloc epc_free va_grow ewb")                                                                  \
  X(va_pages, GAUGE, ENCL, "sgx_epc_va_bytes",                                                                        \
    "EPC held as Version Array pages by the workload's enclaves now (in resident too).", PAGES_TO_BYTES,              \
    EPC_LIFECYCLE " va_grow epc_free")                                                                                \
  X(swapped_pages, GAUGE, ENCL, "sgx_epc_swapped_bytes", "Enclave pages evicted from EPC (EWB) and not loaded back.", \
    PAGES_TO_BYTES, EPC_LIFECYCLE " ewb eldu")                                                                        \
  X(evicted_pages, COUNTER, RETIRED, "sgx_epc_evicted_pages_total", "Enclave pages evicted from EPC (EWB).", AS_IS,   \
    "ewb")                                                                                                            \
  X(loaded_back_pages, COUNTER, RETIRED, "sgx_epc_loaded_back_pages_total",                                           \
    "Evicted enclave pages loaded back into EPC (ELDU).", AS_IS, "eldu")                                              \
  X(page_faults, COUNTER, RETIRED, "sgx_enclave_page_faults_total",                                                   \
    "Enclave page faults (sgx_vma_fault), retries included.", AS_IS, "page_fault")                                    \
  /* Wait for non-resident pages (fault retry loop + load-back, acct_fault_exit); retries and waits are told by       \
   * failed allocations and ELDU inside the fault. */                                                                 \
  X(page_fault_ns, COUNTER, RETIRED, "sgx_enclave_page_fault_seconds_total",                                          \
    "Seconds threads waited for enclave pages that were not resident: from the first fault on the address that "      \
    "could not be served at once to the return of the fault that mapped it.",                                         \
    NS_TO_SECONDS, "page_fault epc_alloc eldu")                                                                       \
  X(fault_retries, COUNTER, RETIRED, "sgx_enclave_page_fault_retries_total",                                          \
    "Enclave page faults that returned unmapped for want of an EPC page and were retried.", AS_IS,                    \
    "page_fault epc_alloc eldu")                                                                                      \
  /* Charged to the owning enclave, else to the cgroup of the task that asked. */                                     \
  X(alloc_failures, COUNTER, RETIRED, "sgx_epc_alloc_failures_total", "Failed EPC page allocations for enclaves.",    \
    AS_IS, "epc_alloc")                                                                                               \
  /* Failed SGX_IOC_ENCLAVE_INIT calls on its enclaves (epc_identity.bpf.h). */                                       \
  X(init_failures, COUNTER, CGROUP, "sgx_enclave_init_failures_total",                                                \
    "SGX_IOC_ENCLAVE_INIT calls on the workload's enclaves that failed (the driver refused, or EINIT rejected the "   \
    "SIGSTRUCT).",                                                                                                    \
    AS_IS, "encl_init")

#endif

/* The call interface between the host and the benchmark enclave: one struct in untrusted memory, its address
 * passed in RDI on EENTER. Plain C: included by the freestanding enclave and by the C++ host. */
#ifndef EPC_BENCH_ENCL_ABI_H
#define EPC_BENCH_ENCL_ABI_H

#include <stdint.h>

enum encl_op_type {
  ENCL_OP_NOP = 0,   /* enter and exit: the round-trip case */
  ENCL_OP_TOUCH = 1, /* touch heap pages idx[0..count) */
};

struct encl_op {
  uint64_t type;
  uint64_t heap_offset; /* heap start, relative to the enclave base */
  uint64_t heap_pages;
  uint64_t idx;         /* untrusted address of uint32_t page indices */
  uint64_t count;
  uint64_t result;      /* out: sum of the values read, or ENCL_BAD_INDEX */
};

#define ENCL_BAD_INDEX UINT64_MAX

#endif

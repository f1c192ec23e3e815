/* The benchmark enclave: freestanding, no libc. It touches pages of its heap (EADDed after the image) on
 * request; the host gives the heap bounds. A benchmark enclave trusts its host: nothing here is secret. */
#include "encl_abi.h"

void encl_body(struct encl_op *op, uint64_t encl_base)
{
	if (op->type != ENCL_OP_TOUCH) {
		op->result = 0;
		return;
	}
	unsigned char *heap = (unsigned char *)(encl_base + op->heap_offset);
	const uint32_t *idx = (const uint32_t *)op->idx;
	uint64_t n = op->count, pages = op->heap_pages, sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint32_t p = idx[i];
		if (p >= pages) {
			op->result = ENCL_BAD_INDEX;
			return;
		}
		volatile uint64_t *w = (volatile uint64_t *)(heap + (uint64_t)p * 4096);
		uint64_t v = *w;
		sum += v;
		*w = v + 1;
	}
	op->result = sum;
}

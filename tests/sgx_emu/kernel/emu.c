// SPDX-License-Identifier: GPL-2.0
/*
 * TEST KERNELS ONLY (CONFIG_X86_SGX_EMU): the ENCLS leaves done in C, so that the in-kernel SGX driver runs its own,
 * unchanged code on a CPU without SGX (QEMU/TCG). epc_exporter's tests boot such kernels to watch the driver create,
 * evict (ksgxd), load back and release enclave pages while the exporter's probes count them.
 *
 * What it is: EPC sections come from RAM reserved with memmap= (sgx_emu_epc=SIZE@BASE[,SIZE@BASE]); CPUID leaf
 * 0x12 is answered from that; the SGX CPU features are forced on; each leaf keeps the driver-visible effects the
 * driver relies on (page contents copied in and out of the EPC, a version in the VA slot, a check value in the
 * PCMD that ELDU verifies) and nothing of SGX's security (no EPCM, no encryption, no signature check, no access
 * control: pages are readable from outside the enclave, which on hardware reads the abort page). One part of SGX's
 * integrity is kept: the measurement. ECREATE, EADD and EEXTEND extend MRENCLAVE as the CPU does (SHA-256 over the
 * same 64-byte records, SDM Vol. 3D 38.x), and EINIT refuses a SIGSTRUCT whose ENCLAVEHASH is not that measurement
 * or whose attribute, XFRM or MISCSELECT masks the SECS does not meet (the RSA signature itself is not checked).
 * ENCLU's EENTER and EEXIT are done from the invalid-opcode trap (sgx_emu_enclu(), below), so enclaves run.
 *
 * Ground truth for the tests: per-leaf counts, the kernel's free EPC pages and the EPC size in
 * /sys/kernel/debug/sgx_emu/stats. Optional per-leaf busy-wait (sgx_emu_delay=EWB:12,ELDU:12, microseconds)
 * gives paging a hardware-like cost (an EWB or ELDU is ~40K cycles, ~12 us at 3.3 GHz).
 *
 * Never build this into a kernel that runs anything but tests.
 */
#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/xarray.h>
#include <crypto/sha2.h>
#include <asm/cpufeature.h>
#include <asm/trapnr.h>
#include <asm/sgx.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <asm/ptrace.h>
#include "sgx.h"
#include "encl.h"
#include "encls.h"

#ifndef SGX_ENCLS_FAULT_FLAG
#define SGX_ENCLS_FAULT_FLAG ENCLS_FAULT_FLAG	/* its name before 6.0 */
#endif

static const char *const sgx_emu_leaf_names[SGX_EMU_NR_LEAVES] = {
	[ECREATE] = "ECREATE", [EADD] = "EADD",     [EINIT] = "EINIT",
	[EREMOVE] = "EREMOVE", [EDGBRD] = "EDBGRD", [EDGBWR] = "EDBGWR",
	[EEXTEND] = "EEXTEND", [ELDU] = "ELDU",     [EBLOCK] = "EBLOCK",
	[EPA] = "EPA",         [EWB] = "EWB",       [ETRACK] = "ETRACK",
	[EAUG] = "EAUG",       [EMODPR] = "EMODPR", [EMODT] = "EMODT",
};

static atomic64_t sgx_emu_counts[SGX_EMU_NR_LEAVES];
static atomic64_t sgx_emu_integrity_failures;
static atomic64_t sgx_emu_einit_rejected;
static atomic64_t sgx_emu_version = ATOMIC64_INIT(0);
static unsigned int sgx_emu_delay_us[SGX_EMU_NR_LEAVES];

/* The one piece of EPCM state the driver depends on: which EPC pages EMODT made TRIM pages. EACCEPT (ENCLU, run
 * inside the enclave) cannot happen here, so a TRIM page counts as accepted at once: EMODPR on it faults with #PF,
 * which is how sgx_encl_remove_pages() learns that the enclave accepted the removal. The type travels with the
 * page through EWB/ELDU in the PCMD's SECINFO, as on hardware. Keyed by the EPC page's virtual page number. */
static DEFINE_XARRAY(sgx_emu_trimmed);

static bool sgx_emu_is_trimmed(void *epc)
{
	return xa_load(&sgx_emu_trimmed, (unsigned long)epc >> PAGE_SHIFT) != NULL;
}

static void sgx_emu_set_trimmed(void *epc, bool trimmed)
{
	unsigned long index = (unsigned long)epc >> PAGE_SHIFT;

	if (trimmed)
		xa_store(&sgx_emu_trimmed, index, xa_mk_value(1), GFP_KERNEL);
	else if (xa_load(&sgx_emu_trimmed, index))
		xa_erase(&sgx_emu_trimmed, index);
}

#define SGX_EMU_MAX_SECTIONS 2
static struct {
	u64 base;
	u64 size;
} sgx_emu_sections[SGX_EMU_MAX_SECTIONS];
static int sgx_emu_nr_sections;

/* sgx_emu_epc=SIZE@BASE[,SIZE@BASE]: the RAM (reserved with memmap=SIZE$BASE) that serves as EPC. Parsed early,
 * before the CPU features are finalised, so that forcing them on reaches every cpu_feature_enabled() check. */
static int __init sgx_emu_parse_epc(char *arg)
{
	while (arg && *arg && sgx_emu_nr_sections < SGX_EMU_MAX_SECTIONS) {
		char *p = arg;
		u64 size = memparse(p, &p);
		u64 base;

		if (*p != '@' || !size || (size & ~PAGE_MASK))
			return -EINVAL;
		base = memparse(p + 1, &p);
		if (base & ~PAGE_MASK)
			return -EINVAL;
		sgx_emu_sections[sgx_emu_nr_sections].base = base;
		sgx_emu_sections[sgx_emu_nr_sections].size = size;
		sgx_emu_nr_sections++;
		arg = (*p == ',') ? p + 1 : NULL;
	}
	if (!sgx_emu_nr_sections)
		return -EINVAL;
	setup_force_cpu_cap(X86_FEATURE_SGX);
	setup_force_cpu_cap(X86_FEATURE_SGX1);
	setup_force_cpu_cap(X86_FEATURE_SGX2);
	setup_force_cpu_cap(X86_FEATURE_SGX_LC);
	pr_warn("sgx_emu: ENCLS emulated in software over %d RAM section(s): test kernel, no SGX security\n",
		sgx_emu_nr_sections);
	return 0;
}
early_param("sgx_emu_epc", sgx_emu_parse_epc);

/* sgx_emu_delay=LEAF:US[,LEAF:US...] */
static int __init sgx_emu_parse_delay(char *arg)
{
	while (arg && *arg) {
		char *colon = strchr(arg, ':');
		char *next = strchr(arg, ',');
		unsigned int us;
		int i;

		if (!colon || (next && next < colon))
			return -EINVAL;
		*colon = '\0';
		if (next)
			*next = '\0';
		if (kstrtouint(colon + 1, 10, &us))
			return -EINVAL;
		for (i = 0; i < SGX_EMU_NR_LEAVES; i++)
			if (sgx_emu_leaf_names[i] && !strcmp(arg, sgx_emu_leaf_names[i]))
				sgx_emu_delay_us[i] = us;
		arg = next ? next + 1 : NULL;
	}
	return 0;
}
early_param("sgx_emu_delay", sgx_emu_parse_delay);

void sgx_emu_cpuid_count(unsigned int subleaf, u32 *eax, u32 *ebx, u32 *ecx, u32 *edx)
{
	*eax = *ebx = *ecx = *edx = 0;
	if (subleaf == 0) {
		*eax = BIT(0) | BIT(1);		/* SGX1, SGX2 */
		*edx = (36 << 8) | 31;		/* MaxEnclaveSize_64 = 2^36, _Not64 = 2^31 */
	} else if (subleaf == 1) {
		/* SECS.ATTRIBUTES that may be set: INIT, DEBUG, MODE64BIT, PROVISIONKEY, EINITTOKEN_KEY, KSS */
		*eax = BIT(0) | BIT(1) | BIT(2) | BIT(4) | BIT(5) | BIT(7);
		*ecx = 0x7;			/* XFRM: x87, SSE, AVX */
	} else if (subleaf >= SGX_CPUID_EPC && subleaf - SGX_CPUID_EPC < sgx_emu_nr_sections) {
		u64 base = sgx_emu_sections[subleaf - SGX_CPUID_EPC].base;
		u64 size = sgx_emu_sections[subleaf - SGX_CPUID_EPC].size;

		*eax = (base & GENMASK_ULL(31, 12)) | SGX_CPUID_EPC_SECTION;
		*ebx = (base >> 32) & GENMASK_ULL(19, 0);
		*ecx = (size & GENMASK_ULL(31, 12)) | 1;
		*edx = (size >> 32) & GENMASK_ULL(19, 0);
	}
}

static void sgx_emu_count(enum sgx_encls_function leaf)
{
	atomic64_inc(&sgx_emu_counts[leaf]);
	if (sgx_emu_delay_us[leaf])
		udelay(sgx_emu_delay_us[leaf]);
}

/* What EWB writes into the PCMD and ELDU checks: the page's version and a checksum of its contents. */
struct sgx_emu_pcmd_mac {
	u64 version;
	u64 sum;
};

static u64 sgx_emu_checksum(const void *page)
{
	const u64 *w = page;
	u64 h = 0xcbf29ce484222325ULL;
	int i;

	for (i = 0; i < PAGE_SIZE / sizeof(u64); i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return h;
}

/* EINIT's refusals (SDM Vol. 3D, EINIT status codes): the driver turns any of them into -EPERM. */
#define SGX_EMU_INVALID_ATTRIBUTE	2
#define SGX_EMU_INVALID_MEASUREMENT	4

/* The running measurement, kept where the CPU keeps it: in the SECS page (its reserved tail), so it travels with
 * the page through EWB/ELDU. last_eadd_*: the EPC page and enclave offset of the latest EADD, which EEXTEND (given
 * only EPC addresses) needs for its record; the driver extends a page right after adding it, under the enclave's
 * lock. */
struct sgx_emu_measure {
	struct sha256_state sha;
	u64 last_eadd_epc;
	u64 last_eadd_offset;
	u32 valid;		/* 0: an EEXTEND outside the latest added page: EINIT refuses the measurement */
};
static_assert(sizeof(struct sgx_emu_measure) <= sizeof(((struct sgx_secs *)0)->reserved4));

static struct sgx_emu_measure *sgx_emu_measure_of(void *secs)
{
	return (struct sgx_emu_measure *)((struct sgx_secs *)secs)->reserved4;
}

/* One 64-byte record: an 8-byte tag ("ECREATE", "EADD", "EEXTEND", NUL padded), then the leaf's fields. */
static void sgx_emu_measure_record(struct sgx_emu_measure *m, const char *tag, const void *fields, size_t len)
{
	u8 rec[64] = {};

	memcpy(rec, tag, strlen(tag));
	memcpy(rec + 8, fields, min_t(size_t, len, 56));
	sha256_update(&m->sha, rec, sizeof(rec));
}

static void sgx_emu_measure_create(void *secs_epc)
{
	struct sgx_secs *secs = secs_epc;
	struct sgx_emu_measure *m = sgx_emu_measure_of(secs);
	u8 f[12];

	memset(m, 0, sizeof(*m));
	sha256_init(&m->sha);
	m->valid = 1;
	memcpy(f, &secs->ssa_frame_size, 4);
	memcpy(f + 4, &secs->size, 8);
	sgx_emu_measure_record(m, "ECREATE", f, sizeof(f));
}

static void sgx_emu_measure_add(struct sgx_pageinfo *pginfo, void *epc)
{
	struct sgx_secs *secs = (void *)(unsigned long)pginfo->secs;
	struct sgx_emu_measure *m = sgx_emu_measure_of(secs);
	u8 f[56];
	u64 offset = pginfo->addr - secs->base;

	memcpy(f, &offset, 8);
	memcpy(f + 8, (void *)(unsigned long)pginfo->metadata, 48);	/* SECINFO's first 48 bytes */
	sgx_emu_measure_record(m, "EADD", f, sizeof(f));
	m->last_eadd_epc = (unsigned long)epc;
	m->last_eadd_offset = offset;
}

static void sgx_emu_measure_extend(void *secs, void *chunk)
{
	struct sgx_emu_measure *m = sgx_emu_measure_of(secs);
	u64 in_page = (unsigned long)chunk - m->last_eadd_epc;
	u64 offset = m->last_eadd_offset + in_page;

	if (in_page >= PAGE_SIZE || (in_page & 255))
		m->valid = 0;
	sgx_emu_measure_record(m, "EEXTEND", &offset, 8);
	sha256_update(&m->sha, chunk, 256);
}

static int sgx_emu_einit(struct sgx_sigstruct *ss, void *secs_epc)
{
	struct sgx_secs *secs = secs_epc;
	struct sgx_emu_measure *m = sgx_emu_measure_of(secs);
	struct sha256_state done = m->sha;	/* EINIT may be retried: the running state stays */
	u8 mrenclave[32];

	if ((secs->attributes & ss->body.attributes_mask) != (ss->body.attributes & ss->body.attributes_mask) ||
	    (secs->xfrm & ss->body.xfrm_mask) != (ss->body.xfrm & ss->body.xfrm_mask) ||
	    (secs->miscselect & ss->body.misc_mask) != (ss->body.miscselect & ss->body.misc_mask)) {
		atomic64_inc(&sgx_emu_einit_rejected);
		return SGX_EMU_INVALID_ATTRIBUTE;
	}
	sha256_final(&done, mrenclave);
	if (!m->valid || memcmp(mrenclave, ss->body.mrenclave, sizeof(mrenclave))) {
		atomic64_inc(&sgx_emu_einit_rejected);
		return SGX_EMU_INVALID_MEASUREMENT;
	}
	memcpy(secs->mrenclave, mrenclave, sizeof(mrenclave));
	secs->isv_prod_id = ss->body.isvprodid;
	secs->isv_svn = ss->body.isvsvn;
	secs->attributes |= SGX_ATTR_INIT;
	return 0;
}

int sgx_emu_encls(enum sgx_encls_function leaf, void *rbx, void *rcx, void *rdx)
{
	struct sgx_pageinfo *pginfo = rbx;

	sgx_emu_count(leaf);
	switch (leaf) {
	case EMODT: {		/* rbx: SECINFO with the new page type, rcx: EPC page */
		struct sgx_secinfo *secinfo = rbx;

		sgx_emu_set_trimmed(rcx, ((secinfo->flags >> 8) & 0xff) == SGX_PAGE_TYPE_TRIM);
		return 0;
	}
	case EMODPR:		/* rbx: SECINFO, rcx: EPC page; on an accepted TRIM page: #PF */
		return sgx_emu_is_trimmed(rcx) ? (SGX_ENCLS_FAULT_FLAG | X86_TRAP_PF) : 0;
	case EREMOVE:		/* rcx: EPC page, free again */
		sgx_emu_set_trimmed(rcx, false);
		return 0;
	case ECREATE:	/* rbx: PAGEINFO (contents = SECS), rcx: EPC page */
		memcpy(rcx, (void *)(unsigned long)pginfo->contents, PAGE_SIZE);
		sgx_emu_measure_create(rcx);
		return 0;
	case EADD:	/* rbx: PAGEINFO (contents = source page, metadata = SECINFO, secs = SECS), rcx: EPC page */
		memcpy(rcx, (void *)(unsigned long)pginfo->contents, PAGE_SIZE);
		sgx_emu_measure_add(pginfo, rcx);
		return 0;
	case EEXTEND:	/* rbx: SECS, rcx: 256-byte chunk of an EPC page */
		sgx_emu_measure_extend(rbx, rcx);
		return 0;
	case EINIT:	/* rbx: SIGSTRUCT, rcx: SECS, rdx: EINITTOKEN (unused: flexible launch control) */
		return sgx_emu_einit(rbx, rcx);
	case EPA:	/* rcx: EPC page that becomes a version array */
	case EAUG:	/* rbx: PAGEINFO, rcx: EPC page added zeroed to an initialised enclave */
		memset(rcx, 0, PAGE_SIZE);
		return 0;
	case EWB: {	/* rbx: PAGEINFO (contents = backing page, metadata = PCMD), rcx: EPC page, rdx: VA slot */
		struct sgx_pcmd *pcmd = (void *)(unsigned long)pginfo->metadata;
		struct sgx_emu_pcmd_mac mac = {
			.version = atomic64_inc_return(&sgx_emu_version),
			.sum = sgx_emu_checksum(rcx),
		};

		memcpy((void *)(unsigned long)pginfo->contents, rcx, PAGE_SIZE);
		memset(pcmd, 0, sizeof(*pcmd));
		if (sgx_emu_is_trimmed(rcx)) {
			pcmd->secinfo.flags = (u64)SGX_PAGE_TYPE_TRIM << 8;
			sgx_emu_set_trimmed(rcx, false);
		}
		pcmd->enclave_id = mac.version;
		BUILD_BUG_ON(sizeof(mac) > sizeof(pcmd->mac));
		memcpy(pcmd->mac, &mac, sizeof(mac));
		*(u64 *)rdx = mac.version;
		return 0;
	}
	case ELDU: {	/* rbx: PAGEINFO (contents = backing page, metadata = PCMD), rcx: EPC page, rdx: VA slot */
		struct sgx_pcmd *pcmd = (void *)(unsigned long)pginfo->metadata;
		struct sgx_emu_pcmd_mac mac;

		memcpy(&mac, pcmd->mac, sizeof(mac));
		memcpy(rcx, (void *)(unsigned long)pginfo->contents, PAGE_SIZE);
		if (*(u64 *)rdx != mac.version || sgx_emu_checksum(rcx) != mac.sum) {
			atomic64_inc(&sgx_emu_integrity_failures);
			return SGX_EMU_MAC_COMPARE_FAIL;
		}
		*(u64 *)rdx = 0;
		sgx_emu_set_trimmed(rcx, ((pcmd->secinfo.flags >> 8) & 0xff) == SGX_PAGE_TYPE_TRIM);
		return 0;
	}
	case EDGBRD:	/* rcx: address in the EPC, rbx: out */
		*(u64 *)rbx = *(u64 *)rcx;
		return 0;
	case EDGBWR:	/* rcx: address in the EPC, rbx: value */
		*(u64 *)rcx = (u64)(unsigned long)rbx;
		return 0;
	default:		/* EBLOCK, ETRACK: succeed */
		return 0;
	}
}

/*
 * ENCLU, the user-mode leaves, from the invalid-opcode trap (arch/x86/kernel/traps.c, test kernels only): QEMU/TCG
 * raises #UD for ENCLU, and the leaves an enclave needs to run are done here, so that the vDSO's
 * __vdso_sgx_enter_enclave and an unmodified enclave run. The enclave's code runs as ordinary user code in the
 * enclave's mapping (its pages are plain RAM, faulted in through the driver's sgx_vma_fault like every access), so
 * there is no enclave mode: no AEX (an exception inside the enclave is the process's, a page fault is served in
 * place), no SSA save, no TCS state, FS/GS not switched.
 *   EENTER  (RAX 2): RBX = TCS (in the enclave's mapping); RCX <- the address after ENCLU (the EEXIT target),
 *                    RAX <- TCS.CSSA, RIP <- enclave base + TCS.OENTRY.
 *   ERESUME (RAX 3): as EENTER (without AEX there is nothing to resume).
 *   EEXIT   (RAX 4): RIP <- RBX, RCX <- the address after ENCLU.
 *   EACCEPT (RAX 5), EMODPE (6), EACCEPTCOPY (7): RAX <- 0 (SGX2 page changes are already done by the driver).
 * Anything else (EREPORT, EGETKEY, ...) stays an invalid opcode (SIGILL).
 */
#define SGX_EMU_EENTER		2
#define SGX_EMU_ERESUME		3
#define SGX_EMU_EEXIT		4
#define SGX_EMU_EACCEPT		5
#define SGX_EMU_EMODPE		6
#define SGX_EMU_EACCEPTCOPY	7
#define SGX_EMU_NR_ENCLU	8
static atomic64_t sgx_emu_enclu_counts[SGX_EMU_NR_ENCLU];
static const char *const sgx_emu_enclu_names[SGX_EMU_NR_ENCLU] = {
	[SGX_EMU_EENTER] = "EENTER", [SGX_EMU_ERESUME] = "ERESUME", [SGX_EMU_EEXIT] = "EEXIT",
	[SGX_EMU_EACCEPT] = "EACCEPT", [SGX_EMU_EMODPE] = "EMODPE", [SGX_EMU_EACCEPTCOPY] = "EACCEPTCOPY",
};

/*
 * Reads user memory from the #UD handler. The bytes may be enclave pages that ksgxd evicted; a plain
 * copy_from_user() then faults in kernel mode, the driver's fault handler answers VM_FAULT_NOPAGE while it waits
 * for ksgxd to free EPC, and the kernel retries the faulting copy at once, with no scheduling point between: on a
 * non-preemptible kernel (one vCPU under TCG) ksgxd never runs again (RCU stall, seen in CI). So: copy with page
 * faults disabled; on a miss, take the fault once (fixup_user_fault), let others run, and try again.
 */
static int sgx_emu_read_user(void *dst, unsigned long uaddr, size_t n)
{
	struct mm_struct *mm = current->mm;
	unsigned long left;
	int ret;

	if (!mm)
		return -EFAULT;
	for (;;) {
		pagefault_disable();
		left = __copy_from_user_inatomic(dst, (const void __user *)uaddr, n);
		pagefault_enable();
		if (!left)
			return 0;
		if (fatal_signal_pending(current))
			return -EINTR;
		mmap_read_lock(mm);
		ret = fixup_user_fault(mm, uaddr + n - left, 0, NULL);
		mmap_read_unlock(mm);
		if (ret)
			return ret;
		cond_resched();
	}
}

/* The base of the enclave whose mapping holds addr, or 0. */
static unsigned long sgx_emu_enclave_base(unsigned long addr)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long base = 0;

	if (!mm)
		return 0;
	mmap_read_lock(mm);
	vma = find_vma(mm, addr);
	if (vma && vma->vm_start <= addr && vma->vm_ops == &sgx_vm_ops && vma->vm_private_data)
		base = ((struct sgx_encl *)vma->vm_private_data)->base;
	mmap_read_unlock(mm);
	return base;
}

static bool sgx_emu_eenter(struct pt_regs *regs)
{
	struct {
		u64 state, flags, ossa;
		u32 cssa, nssa;
		u64 oentry;
	} tcs;
	unsigned long base = sgx_emu_enclave_base(regs->bx);

	if (!base || sgx_emu_read_user(&tcs, regs->bx, sizeof(tcs)))
		return false;
	regs->cx = regs->ip + 3;
	regs->ax = tcs.cssa;
	regs->ip = base + tcs.oentry;
	return true;
}

bool sgx_emu_enclu(struct pt_regs *regs)
{
	u8 insn[3];
	unsigned long leaf = regs->ax;
	bool done = false;

	if (!sgx_emu_nr_sections)
		return false;
	local_irq_enable();	/* a user-mode trap: the reads below may fault */
	if (sgx_emu_read_user(insn, regs->ip, sizeof(insn)) || insn[0] != 0x0f || insn[1] != 0x01 ||
	    insn[2] != 0xd7 || leaf >= SGX_EMU_NR_ENCLU)
		goto out;
	switch (leaf) {
	case SGX_EMU_EENTER:
	case SGX_EMU_ERESUME:
		done = sgx_emu_eenter(regs);
		break;
	case SGX_EMU_EEXIT:
		regs->cx = regs->ip + 3;
		regs->ip = regs->bx;
		done = true;
		break;
	case SGX_EMU_EACCEPT:
	case SGX_EMU_EMODPE:
	case SGX_EMU_EACCEPTCOPY:
		regs->ax = 0;
		regs->ip += 3;
		done = true;
		break;
	}
	if (done)
		atomic64_inc(&sgx_emu_enclu_counts[leaf]);
out:
	local_irq_disable();
	return done;
}

static int sgx_emu_stats_show(struct seq_file *m, void *v)
{
	u64 bytes = 0;
	int i;

	for (i = 0; i < SGX_EMU_NR_LEAVES; i++)
		if (sgx_emu_leaf_names[i])
			seq_printf(m, "leaf %s %lld\n", sgx_emu_leaf_names[i],
				   (long long)atomic64_read(&sgx_emu_counts[i]));
	for (i = 0; i < sgx_emu_nr_sections; i++)
		bytes += sgx_emu_sections[i].size;
	seq_printf(m, "epc_bytes %llu\n", bytes);
	seq_printf(m, "epc_sections %d\n", sgx_emu_nr_sections);
	seq_printf(m, "free_pages %lu\n", sgx_emu_nr_free_pages());
	seq_printf(m, "eldu_integrity_failures %lld\n", (long long)atomic64_read(&sgx_emu_integrity_failures));
	seq_printf(m, "einit_rejected %lld\n", (long long)atomic64_read(&sgx_emu_einit_rejected));
	for (i = 0; i < SGX_EMU_NR_ENCLU; i++)
		if (sgx_emu_enclu_names[i])
			seq_printf(m, "enclu %s %lld\n", sgx_emu_enclu_names[i],
				   (long long)atomic64_read(&sgx_emu_enclu_counts[i]));
	for (i = 0; i < SGX_EMU_NR_LEAVES; i++)
		if (sgx_emu_delay_us[i])
			seq_printf(m, "delay_us %s %u\n", sgx_emu_leaf_names[i], sgx_emu_delay_us[i]);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(sgx_emu_stats);

static int __init sgx_emu_debugfs_init(void)
{
	struct dentry *dir;

	if (!sgx_emu_nr_sections)
		return 0;
	dir = debugfs_create_dir("sgx_emu", NULL);
	debugfs_create_file("stats", 0444, dir, NULL, &sgx_emu_stats_fops);
	return 0;
}
late_initcall(sgx_emu_debugfs_init);

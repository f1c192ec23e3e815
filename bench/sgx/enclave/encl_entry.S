/* Enclave entry: one TCS at offset 0, one SSA frame, a 16 KiB stack. Layout follows the SDM's TCS definition;
 * the structure mirrors the kernel's SGX selftest enclave (tools/testing/selftests/sgx). */

	.section ".tcs", "aw"
	.balign	4096
	.quad	0			/* STATE */
	.quad	0			/* FLAGS */
	.quad	encl_ssa		/* OSSA: offset from the enclave base (image linked at 0) */
	.long	0			/* CSSA */
	.long	1			/* NSSA */
	.quad	encl_entry		/* OENTRY */
	.quad	0			/* AEP (set by EENTER) */
	.quad	0			/* OFSBASE */
	.quad	0			/* OGSBASE */
	.long	0xFFFFFFFF		/* FSLIMIT */
	.long	0xFFFFFFFF		/* GSLIMIT */
	.fill	4024, 1, 0

	.text
	.global	encl_entry
encl_entry:
	/* RBX = TCS address = enclave base; RCX = the address after EENTER (the EEXIT target). */
	lea	encl_stack_top(%rip), %rax	/* position independent: the image runs at the enclave base */
	xchg	%rsp, %rax
	push	%rax			/* untrusted RSP */
	push	%rcx			/* EEXIT target */
	push	%rbx
	sub	$8, %rsp		/* RSP % 16 == 0 at the call (SysV ABI): three pushes left it at 8 */
	mov	%rbx, %rsi		/* encl_body(op = RDI, base = RSI) */
	call	encl_body
	add	$8, %rsp
	pop	%rbx
	/* Do not leak enclave state in volatile registers. */
	xor	%rcx, %rcx
	xor	%rdx, %rdx
	xor	%rdi, %rdi
	xor	%rsi, %rsi
	xor	%r8, %r8
	xor	%r9, %r9
	xor	%r10, %r10
	xor	%r11, %r11
	add	%rdx, %rdx		/* clear arithmetic flags */
	pop	%rbx			/* EEXIT target */
	pop	%rax
	mov	%rax, %rsp
	mov	$4, %rax		/* EEXIT */
	.byte	0x0f, 0x01, 0xd7	/* ENCLU */

	.section ".data", "aw"
	.balign	4096
encl_ssa:
	.space	4096
	.balign	4096
	.space	16384
encl_stack_top:

	.section .note.GNU-stack, "", @progbits

/* A second enclave signing key (generated at build time like bench/sgx's, never committed), so that a scenario
 * can run enclaves of two signers: the exporter must report two MRSIGNER values. */
#define EPC_STR2(x) #x
#define EPC_STR(x) EPC_STR2(x)

__asm__(".section .rodata\n"
        ".balign 64\n"
        ".global epc_emu_second_key\n"
        "epc_emu_second_key:\n"
        ".incbin \"" EPC_STR(EPC_SECOND_KEY) "\"\n"
        ".global epc_emu_second_key_end\n"
        "epc_emu_second_key_end:\n"
        ".previous\n");

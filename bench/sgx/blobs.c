/* The enclave image and the build-time signing key, embedded (paths come from the build). */
#define EPC_STR2(x) #x
#define EPC_STR(x) EPC_STR2(x)

__asm__(".section .rodata\n"
        ".balign 4096\n"  /* EADD sources must be page aligned; ELF segment offsets are */
        
        ".global epc_sgx_encl_image\n"
        "epc_sgx_encl_image:\n"
        ".incbin \"" EPC_STR(EPC_ENCL_IMAGE) "\"\n"
        ".global epc_sgx_encl_image_end\n"
        "epc_sgx_encl_image_end:\n"
        ".balign 64\n"
        ".global epc_sgx_sign_key\n"
        "epc_sgx_sign_key:\n"
        ".incbin \"" EPC_STR(EPC_SIGN_KEY) "\"\n"
        ".global epc_sgx_sign_key_end\n"
        "epc_sgx_sign_key_end:\n"
        ".previous\n");

/* Empty blobs for the key generator, which links image.cpp before the real image and key exist. */
const unsigned char epc_sgx_encl_image[1] = {0};
const unsigned char epc_sgx_encl_image_end[1] = {0};
const unsigned char epc_sgx_sign_key[1] = {0};
const unsigned char epc_sgx_sign_key_end[1] = {0};

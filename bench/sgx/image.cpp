#include "sgx/image.h"

#include <elf.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

extern "C" {
extern const std::uint8_t epc_sgx_encl_image[];
extern const std::uint8_t epc_sgx_encl_image_end[];
extern const std::uint8_t epc_sgx_sign_key[];
extern const std::uint8_t epc_sgx_sign_key_end[];
}

namespace epcbench::sgx {

std::span<const std::uint8_t> embedded_enclave_image() {
  return {epc_sgx_encl_image, static_cast<std::size_t>(epc_sgx_encl_image_end - epc_sgx_encl_image)};
}
std::span<const std::uint8_t> embedded_signing_key_pem() {
  return {epc_sgx_sign_key, static_cast<std::size_t>(epc_sgx_sign_key_end - epc_sgx_sign_key)};
}

Result<Layout> layout_from_elf(std::span<const std::uint8_t> elf, std::uint64_t heap_pages) {
  if (elf.size() < sizeof(Elf64_Ehdr)) return make_error("enclave image: shorter than an ELF header");
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_machine != EM_X86_64)
    return make_error("enclave image: not an x86-64 ELF64 file");
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > elf.size() ||
      std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > elf.size() - eh.e_phoff)
    return make_error("enclave image: program headers out of bounds");
  if (heap_pages > (std::uint64_t{1} << 36)) return make_error("heap too large");

  Layout l;
  std::uint64_t end = 0;
  int n = 0;
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, elf.data() + eh.e_phoff + std::size_t(i) * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD) continue;
    if ((ph.p_vaddr & 4095) != 0 || (ph.p_offset & 4095) != 0)
      return make_error("enclave image: PT_LOAD " + std::to_string(n) + " is not page aligned");
    if (ph.p_offset > elf.size() || ph.p_filesz > elf.size() - ph.p_offset || ph.p_memsz != ph.p_filesz)
      return make_error("enclave image: PT_LOAD " + std::to_string(n) + " out of bounds or with bss");
    if (ph.p_vaddr != end) return make_error("enclave image: PT_LOAD segments are not contiguous from 0");
    if (ph.p_flags & ~(PF_R | PF_W | PF_X)) return make_error("enclave image: bad segment flags");
    Segment s;
    s.offset = ph.p_vaddr;
    s.size = (ph.p_filesz + 4095) & ~std::uint64_t{4095};
    if (s.size != ph.p_filesz) return make_error("enclave image: segment size not a page multiple");
    s.src = elf.data() + ph.p_offset;
    if (n == 0) {
      if (ph.p_flags != (PF_R | PF_W) || s.size != 4096) return make_error("enclave image: first segment must be one RW TCS page");
      s.secinfo_flags = secinfo_flags(kPageTypeTcs, 0);
      s.prot = PROT_READ | PROT_WRITE;
    } else {
      std::uint64_t perms = 0;
      if (ph.p_flags & PF_R) perms |= kSecinfoR, s.prot |= PROT_READ;
      if (ph.p_flags & PF_W) perms |= kSecinfoW, s.prot |= PROT_WRITE;
      if (ph.p_flags & PF_X) perms |= kSecinfoX, s.prot |= PROT_EXEC;
      s.secinfo_flags = secinfo_flags(kPageTypeReg, perms);
    }
    end = s.offset + s.size;
    l.segments.push_back(s);
    ++n;
  }
  if (n < 2) return make_error("enclave image: expected a TCS segment and at least one code segment");
  if (heap_pages > 0) {
    Segment h;
    h.offset = end;
    h.size = heap_pages * 4096;
    h.secinfo_flags = secinfo_flags(kPageTypeReg, kSecinfoR | kSecinfoW);
    h.prot = PROT_READ | PROT_WRITE;
    h.measure = false;  // the heap's content (zeroes) is not part of the identity; its EADDs (offsets) are
    l.segments.push_back(h);
    end += h.size;
  }
  l.heap_offset = l.segments.back().offset;
  l.heap_pages = heap_pages;
  l.image_size = end;
  l.encl_size = 4096;
  while (l.encl_size < end) l.encl_size <<= 1;
  return l;
}

namespace {

void put64(std::uint8_t* p, std::uint64_t v) { std::memcpy(p, &v, 8); }
void put32(std::uint8_t* p, std::uint32_t v) { std::memcpy(p, &v, 4); }

}  // namespace

Digest compute_mrenclave(const Layout& l) {
  static const std::uint8_t zero_page[4096] = {};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::uint8_t rec[64];
  // ECREATE: "ECREATE\0", SSAFRAMESIZE (u32), SIZE (u64), 44 zero bytes.
  std::memset(rec, 0, sizeof rec);
  std::memcpy(rec, "ECREATE", 8);
  put32(rec + 8, l.ssa_frame_size);
  put64(rec + 12, l.encl_size);
  EVP_DigestUpdate(ctx, rec, 64);
  for (const Segment& s : l.segments) {
    for (std::uint64_t off = 0; off < s.size; off += 4096) {
      // EADD: "EADD\0\0\0\0", page offset, SECINFO.FLAGS, 40 zero bytes.
      std::memset(rec, 0, sizeof rec);
      std::memcpy(rec, "EADD", 4);
      put64(rec + 8, s.offset + off);
      put64(rec + 16, s.secinfo_flags);
      EVP_DigestUpdate(ctx, rec, 64);
      if (!s.measure) continue;
      const std::uint8_t* page = s.src != nullptr ? s.src + off : zero_page;
      // EEXTEND: one record per 256-byte chunk: "EEXTEND\0", chunk offset, 48 zero bytes, then the chunk.
      for (std::uint64_t c = 0; c < 4096; c += 256) {
        std::memset(rec, 0, sizeof rec);
        std::memcpy(rec, "EEXTEND", 8);
        put64(rec + 8, s.offset + off + c);
        EVP_DigestUpdate(ctx, rec, 64);
        EVP_DigestUpdate(ctx, page + c, 256);
      }
    }
  }
  Digest d{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, d.data(), &len);
  EVP_MD_CTX_free(ctx);
  return d;
}

Result<Pkey> load_private_key_pem(std::span<const std::uint8_t> pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return make_error("BIO_new_mem_buf failed");
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k == nullptr) return make_error("signing key: not a PEM private key");
  return Pkey(k);
}

Result<Pkey> generate_signing_key() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr);
  BIGNUM* e = BN_new();
  EVP_PKEY* k = nullptr;
  bool ok = ctx != nullptr && e != nullptr && BN_set_word(e, 3) == 1 && EVP_PKEY_keygen_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 3072) == 1 && EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) == 1 &&
            EVP_PKEY_keygen(ctx, &k) == 1;
  BN_free(e);
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return make_error("RSA-3072 e=3 key generation failed");
  return Pkey(k);
}

Digest mrsigner_of(EVP_PKEY* key) {
  Digest d{};
  BIGNUM* n = nullptr;
  std::uint8_t le[kModulusSize] = {};
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
      BN_bn2lebinpad(n, le, kModulusSize) == static_cast<int>(kModulusSize)) {
    unsigned int len = 0;
    EVP_Digest(le, sizeof le, d.data(), &len, EVP_sha256(), nullptr);
  }
  BN_free(n);
  return d;
}

Result<Sigstruct> make_sigstruct(const Digest& mrenclave, EVP_PKEY* key, const SigstructOptions& o) {
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    BN_free(e);
    return make_error("signing key: not an RSA key");
  }
  bool shape_ok = BN_num_bytes(n) == static_cast<int>(kModulusSize) && BN_is_word(e, 3);
  BN_free(e);
  if (!shape_ok) {
    BN_free(n);
    return make_error("signing key: SIGSTRUCT needs RSA-3072 with public exponent 3");
  }
  Sigstruct ss;
  std::memset(&ss, 0, sizeof ss);
  std::memcpy(ss.header.header1, kSigstructHeader1, 16);
  std::memcpy(ss.header.header2, kSigstructHeader2, 16);
  ss.header.vendor = 0;  // not Intel
  ss.header.date = o.date_bcd;
  ss.exponent = 3;
  ss.body.attributes = o.attributes;
  ss.body.xfrm = o.xfrm;
  ss.body.isvprodid = o.isvprodid;
  ss.body.isvsvn = o.isvsvn;
  std::memcpy(ss.body.enclavehash, mrenclave.data(), 32);

  std::uint8_t msg[256];
  std::memcpy(msg, &ss.header, 128);
  std::memcpy(msg + 128, &ss.body, 128);
  std::uint8_t sig_be[kModulusSize];
  std::size_t siglen = sizeof sig_be;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = md != nullptr && EVP_DigestSignInit(md, &pctx, EVP_sha256(), nullptr, key) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
            EVP_DigestSign(md, sig_be, &siglen, msg, sizeof msg) == 1 && siglen == kModulusSize;
  EVP_MD_CTX_free(md);
  if (!ok) {
    BN_free(n);
    return make_error("RSA signing failed");
  }

  // Q1 = floor(S^2 / M), Q2 = floor((S^3 - Q1*S*M) / M) = floor(S * (S^2 mod M) / M): EINIT's hint for
  // verifying without division.
  BN_CTX* bctx = BN_CTX_new();
  BIGNUM* s = BN_bin2bn(sig_be, kModulusSize, nullptr);
  BIGNUM* q1 = BN_new();
  BIGNUM* r = BN_new();
  BIGNUM* t = BN_new();
  BIGNUM* q2 = BN_new();
  ok = bctx && s && q1 && r && t && q2 && BN_sqr(t, s, bctx) == 1 && BN_div(q1, r, t, n, bctx) == 1 &&
       BN_mul(t, s, r, bctx) == 1 && BN_div(q2, nullptr, t, n, bctx) == 1 &&
       BN_bn2lebinpad(q1, ss.q1, kModulusSize) == static_cast<int>(kModulusSize) &&
       BN_bn2lebinpad(q2, ss.q2, kModulusSize) == static_cast<int>(kModulusSize) &&
       BN_bn2lebinpad(n, ss.modulus, kModulusSize) == static_cast<int>(kModulusSize) &&
       BN_bn2lebinpad(s, ss.signature, kModulusSize) == static_cast<int>(kModulusSize);
  BN_free(s);
  BN_free(q1);
  BN_free(r);
  BN_free(t);
  BN_free(q2);
  BN_free(n);
  BN_CTX_free(bctx);
  if (!ok) return make_error("Q1/Q2 computation failed");
  return ss;
}

std::string digest_hex(const Digest& d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string o;
  for (std::uint8_t b : d) {
    o += kHex[b >> 4];
    o += kHex[b & 15];
  }
  return o;
}

}  // namespace epcbench::sgx

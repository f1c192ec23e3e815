// The sgx backend's build-time pieces, checked without SGX hardware: the enclave image layout, MRENCLAVE
// (against an independent byte-by-byte computation of a tiny image), SIGSTRUCT (fields per the SDM, the
// signature verifies with OpenSSL, Q1/Q2 satisfy their defining equations), the vDSO symbol lookup, and that
// the backend skips with a clear reason where there is no SGX.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "sgx/image.h"
#include "sgx/sgx_backend.h"
#include "sgx/vdso.h"

namespace epcbench::sgx {
namespace {

TEST(EnclaveImage, LayoutOfTheEmbeddedImage) {
  auto img = embedded_enclave_image();
  ASSERT_GT(img.size(), 4096u);
  auto r = layout_from_elf(img, 100);
  ASSERT_TRUE(r) << r.error().message;
  const Layout& l = r.value();
  ASSERT_EQ(l.segments.size(), 4u);  // TCS, text, data, heap
  EXPECT_EQ(l.segments[0].offset, 0u);
  EXPECT_EQ(l.segments[0].size, 4096u);
  EXPECT_EQ(l.segments[0].secinfo_flags, 0x100u);  // PT_TCS, no RWX bits
  EXPECT_EQ(l.segments[1].secinfo_flags, 0x205u);  // PT_REG | R | X
  EXPECT_EQ(l.segments[2].secinfo_flags, 0x203u);  // PT_REG | R | W
  EXPECT_EQ(l.segments[3].secinfo_flags, 0x203u);
  EXPECT_TRUE(l.segments[0].measure && l.segments[1].measure && l.segments[2].measure);
  EXPECT_FALSE(l.segments[3].measure);
  for (std::size_t i = 1; i < l.segments.size(); ++i)
    EXPECT_EQ(l.segments[i].offset, l.segments[i - 1].offset + l.segments[i - 1].size);
  for (const auto& s : l.segments) {
    EXPECT_EQ(s.offset % 4096, 0u);
    EXPECT_EQ(s.size % 4096, 0u);
    if (s.src) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s.src) % 4096, 0u) << "EADD sources must be page aligned";
    }
  }
  EXPECT_EQ(l.heap_offset, l.segments[3].offset);
  EXPECT_EQ(l.segments[3].size, 100u * 4096);
  EXPECT_EQ(l.image_size, l.segments[3].offset + l.segments[3].size);
  EXPECT_GE(l.encl_size, l.image_size);
  EXPECT_LT(l.encl_size / 2, l.image_size);
  EXPECT_EQ(l.encl_size & (l.encl_size - 1), 0u);

  // The TCS points into the enclave: OSSA into the data segment, OENTRY into the code segment, NSSA = 1.
  std::uint64_t ossa, oentry;
  std::uint32_t nssa;
  std::memcpy(&ossa, l.segments[0].src + 16, 8);
  std::memcpy(&nssa, l.segments[0].src + 28, 4);
  std::memcpy(&oentry, l.segments[0].src + 32, 8);
  EXPECT_EQ(nssa, 1u);
  EXPECT_GE(oentry, l.segments[1].offset);
  EXPECT_LT(oentry, l.segments[1].offset + l.segments[1].size);
  EXPECT_GE(ossa, l.segments[2].offset);
  EXPECT_LT(ossa, l.segments[2].offset + l.segments[2].size);
  EXPECT_EQ(ossa % 4096, 0u);
}

TEST(EnclaveImage, RejectsBadImages) {
  std::vector<std::uint8_t> empty;
  EXPECT_FALSE(layout_from_elf(empty, 1));
  std::vector<std::uint8_t> garbage(8192, 0xAB);
  EXPECT_FALSE(layout_from_elf(garbage, 1));
  auto img = embedded_enclave_image();
  std::vector<std::uint8_t> truncated(img.begin(), img.begin() + 5000);  // segments beyond the end
  auto r = layout_from_elf(truncated, 1);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("out of bounds"), std::string::npos) << r.error().message;
  std::vector<std::uint8_t> bad_phoff(img.begin(), img.end());
  std::uint64_t huge = ~0ull;
  std::memcpy(bad_phoff.data() + 32, &huge, 8);  // e_phoff
  EXPECT_FALSE(layout_from_elf(bad_phoff, 1));
}

// Independent MRENCLAVE of a two-page image plus one heap page: the records are written out byte by byte
// (SDM: ECREATE, EADD and EEXTEND measurement records) and hashed in one go.
TEST(Mrenclave, MatchesHandComputationOfATinyImage) {
  alignas(4096) static std::uint8_t tcs[4096], code[4096];
  for (int i = 0; i < 4096; ++i) {
    tcs[i] = static_cast<std::uint8_t>(i * 7);
    code[i] = static_cast<std::uint8_t>(0xC3 ^ i);
  }
  Layout l;
  l.segments = {{0x0000, 4096, 0x100, 0, true, tcs}, {0x1000, 4096, 0x205, 0, true, code},
                {0x2000, 4096, 0x203, 0, false, nullptr}};
  l.image_size = 0x3000;
  l.encl_size = 0x4000;
  l.ssa_frame_size = 1;

  std::vector<std::uint8_t> m;
  auto bytes = [&](std::initializer_list<int> b) { for (int x : b) m.push_back(static_cast<std::uint8_t>(x)); };
  auto zeros = [&](int n) { m.insert(m.end(), n, 0); };
  // ECREATE: "ECREATE\0" | SSAFRAMESIZE=1 (u32) | SIZE=0x4000 (u64) | 44 zero bytes
  bytes({'E', 'C', 'R', 'E', 'A', 'T', 'E', 0, 1, 0, 0, 0, 0x00, 0x40, 0, 0, 0, 0, 0, 0});
  zeros(44);
  auto eadd = [&](int off_hi, int flags_lo, int flags_hi) {
    // "EADD\0\0\0\0" | offset (u64) | SECINFO.FLAGS (u64) | 40 zero bytes
    bytes({'E', 'A', 'D', 'D', 0, 0, 0, 0, 0, off_hi, 0, 0, 0, 0, 0, 0, flags_lo, flags_hi, 0, 0, 0, 0, 0, 0});
    zeros(40);
  };
  auto eextend = [&](int page_off_hi, const std::uint8_t* page) {
    for (int c = 0; c < 16; ++c) {
      // "EEXTEND\0" | offset of the 256-byte chunk (u64) | 48 zero bytes | the chunk
      bytes({'E', 'E', 'X', 'T', 'E', 'N', 'D', 0, 0, page_off_hi + c, 0, 0, 0, 0, 0, 0});
      zeros(48);
      m.insert(m.end(), page + c * 256, page + c * 256 + 256);
    }
  };
  eadd(0x00, 0x00, 0x01);
  eextend(0x00, tcs);
  eadd(0x10, 0x05, 0x02);
  eextend(0x10, code);
  eadd(0x20, 0x03, 0x02);  // heap page: EADD only
  ASSERT_EQ(m.size(), 64u + 3 * 64 + 2 * 16 * (64 + 256));

  std::uint8_t expect[32];
  SHA256(m.data(), m.size(), expect);
  Digest got = compute_mrenclave(l);
  EXPECT_EQ(std::memcmp(got.data(), expect, 32), 0);

  // Sensitivity: a measured byte, a page's permissions and the enclave size all change it.
  code[4095] ^= 1;
  EXPECT_NE(compute_mrenclave(l), got);
  code[4095] ^= 1;
  EXPECT_EQ(compute_mrenclave(l), got);
  l.segments[1].secinfo_flags = 0x203;
  EXPECT_NE(compute_mrenclave(l), got);
  l.segments[1].secinfo_flags = 0x205;
  l.encl_size = 0x8000;
  EXPECT_NE(compute_mrenclave(l), got);
}

TEST(Mrenclave, HeapSizeIsPartOfTheIdentity) {
  auto a = layout_from_elf(embedded_enclave_image(), 10);
  auto b = layout_from_elf(embedded_enclave_image(), 11);
  ASSERT_TRUE(a && b);
  EXPECT_NE(compute_mrenclave(a.value()), compute_mrenclave(b.value()));
}

std::vector<std::uint8_t> reversed(const std::uint8_t* p, std::size_t n) {
  std::vector<std::uint8_t> v(p, p + n);
  std::reverse(v.begin(), v.end());
  return v;
}

TEST(Sigstruct, FieldsAndSignatureWithTheBuildTimeKey) {
  auto key = load_private_key_pem(embedded_signing_key_pem());
  ASSERT_TRUE(key) << key.error().message;
  auto lay = layout_from_elf(embedded_enclave_image(), 64);
  ASSERT_TRUE(lay);
  Digest mr = compute_mrenclave(lay.value());
  auto ss = make_sigstruct(mr, key.value().get());
  ASSERT_TRUE(ss) << ss.error().message;
  const auto* raw = reinterpret_cast<const std::uint8_t*>(&ss.value());

  // SDM Table "Layout of Enclave Signature Structure (SIGSTRUCT)".
  const std::uint8_t h1[16] = {0x06, 0, 0, 0, 0xE1, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0};
  const std::uint8_t h2[16] = {0x01, 0x01, 0, 0, 0x60, 0, 0, 0, 0x60, 0, 0, 0, 0x01, 0, 0, 0};
  EXPECT_EQ(std::memcmp(raw + 0, h1, 16), 0);
  EXPECT_EQ(std::memcmp(raw + 24, h2, 16), 0);
  std::uint32_t vendor, exponent;
  std::memcpy(&vendor, raw + 16, 4);
  std::memcpy(&exponent, raw + 512, 4);
  EXPECT_TRUE(vendor == 0 || vendor == 0x8086);
  EXPECT_EQ(exponent, 3u);
  EXPECT_EQ(std::memcmp(raw + 960, mr.data(), 32), 0);  // ENCLAVEHASH
  std::uint64_t attributes, xfrm;
  std::memcpy(&attributes, raw + 928, 8);
  std::memcpy(&xfrm, raw + 936, 8);
  EXPECT_TRUE(attributes & kAttrMode64Bit);
  EXPECT_FALSE(attributes & kAttrDebug);
  EXPECT_EQ(xfrm & 3, 3u);
  for (int off : {44, 1028}) {  // reserved ranges are zero
    int len = off == 44 ? 84 : 12;
    EXPECT_TRUE(std::all_of(raw + off, raw + off + len, [](std::uint8_t b) { return b == 0; })) << off;
  }

  // Modulus (little-endian) is the key's.
  BIGNUM* n = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(key.value().get(), OSSL_PKEY_PARAM_RSA_N, &n), 1);
  BIGNUM* mod = BN_lebin2bn(raw + 128, 384, nullptr);
  EXPECT_EQ(BN_cmp(n, mod), 0);
  EXPECT_EQ(BN_num_bits(n), 3072);

  // The signature (little-endian) verifies: RSASSA-PKCS1-v1_5, SHA-256 over header || body.
  std::vector<std::uint8_t> msg(raw, raw + 128);
  msg.insert(msg.end(), raw + 900, raw + 1028);
  auto sig_be = reversed(raw + 516, 384);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key.value().get()), 1);
  EXPECT_EQ(EVP_DigestVerify(md, sig_be.data(), sig_be.size(), msg.data(), msg.size()), 1);
  // ... and not for a different MRENCLAVE.
  msg[128 + 60] ^= 1;
  ASSERT_EQ(EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key.value().get()), 1);
  EXPECT_NE(EVP_DigestVerify(md, sig_be.data(), sig_be.size(), msg.data(), msg.size()), 1);
  EVP_MD_CTX_free(md);

  // Q1 = floor(S^2 / M); Q2 = floor((S^3 - Q1 * S * M) / M).
  BN_CTX* ctx = BN_CTX_new();
  BIGNUM* s = BN_lebin2bn(raw + 516, 384, nullptr);
  BIGNUM* q1 = BN_lebin2bn(raw + 1040, 384, nullptr);
  BIGNUM* q2 = BN_lebin2bn(raw + 1424, 384, nullptr);
  BIGNUM *s2 = BN_new(), *s3 = BN_new(), *t = BN_new(), *want = BN_new();
  BN_mul(s2, s, s, ctx);
  BN_div(want, nullptr, s2, mod, ctx);
  EXPECT_EQ(BN_cmp(want, q1), 0) << "Q1";
  BN_mul(s3, s2, s, ctx);
  BN_mul(t, q1, s, ctx);
  BN_mul(t, t, mod, ctx);
  BN_sub(s3, s3, t);
  BN_div(want, nullptr, s3, mod, ctx);
  EXPECT_EQ(BN_cmp(want, q2), 0) << "Q2";
  for (BIGNUM* b : {n, mod, s, q1, q2, s2, s3, t, want}) BN_free(b);
  BN_CTX_free(ctx);
}

TEST(Sigstruct, RejectsKeysEinitWouldReject) {
  EVP_PKEY* k = EVP_RSA_gen(2048);  // e = 65537, 2048 bits
  ASSERT_NE(k, nullptr);
  Digest mr{};
  auto ss = make_sigstruct(mr, k);
  EXPECT_FALSE(ss);
  if (!ss) {
    EXPECT_NE(ss.error().message.find("exponent 3"), std::string::npos) << ss.error().message;
  }
  EVP_PKEY_free(k);
  std::vector<std::uint8_t> junk = {'n', 'o', 't', ' ', 'p', 'e', 'm'};
  EXPECT_FALSE(load_private_key_pem(junk));
}

TEST(Sigstruct, GeneratedKeysAreRsa3072WithExponent3) {
  auto k = generate_signing_key();
  ASSERT_TRUE(k) << k.error().message;
  BIGNUM* e = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(k.value().get(), OSSL_PKEY_PARAM_RSA_E, &e), 1);
  EXPECT_TRUE(BN_is_word(e, 3));
  BN_free(e);
  EXPECT_EQ(EVP_PKEY_get_bits(k.value().get()), 3072);
}

TEST(Vdso, FindsSymbolsOfTheRunningKernel) {
  if (getauxval(AT_SYSINFO_EHDR) == 0) GTEST_SKIP() << "no vDSO mapped in this process (booted with vdso=0?)";
  using Fn = int (*)(clockid_t, timespec*);
  auto fn = reinterpret_cast<Fn>(vdso_symbol("__vdso_clock_gettime"));
  ASSERT_NE(fn, nullptr);
  timespec a{}, b{};
  ASSERT_EQ(fn(CLOCK_MONOTONIC, &a), 0);
  ASSERT_EQ(clock_gettime(CLOCK_MONOTONIC, &b), 0);
  EXPECT_LE(a.tv_sec, b.tv_sec);
  EXPECT_EQ(vdso_symbol("__vdso_no_such_symbol"), nullptr);
}

TEST(SgxBackend, SkipsWithAClearReasonWithoutSgx) {
  auto b = make_backend("sgx", {});
  ASSERT_TRUE(b);
  auto why = b->unavailable();
  if (access("/dev/sgx_enclave", F_OK) != 0) {
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find("/dev/sgx_enclave"), std::string::npos) << *why;
    auto e = b->create({16});
    EXPECT_FALSE(e);
    return;
  }
  if (why) GTEST_SKIP() << *why;
}

// Runs only on SGX hardware: build a real enclave, touch its heap, enter and exit.
TEST(SgxBackend, BuildsAndEntersARealEnclave) {
  auto b = make_backend("sgx", {});
  if (auto why = b->unavailable()) GTEST_SKIP() << *why;
  auto e = b->create({64});
  ASSERT_TRUE(e) << e.error().message;
  std::vector<std::uint32_t> idx = {0, 5, 63, 5};
  auto r = e.value()->touch(idx);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value(), 1u);  // page 5 read as 0 then 1
  EXPECT_FALSE(e.value()->round_trip());
  std::vector<std::uint32_t> out_of_range = {64};
  EXPECT_FALSE(e.value()->touch(out_of_range));
}

}  // namespace
}  // namespace epcbench::sgx

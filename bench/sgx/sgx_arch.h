// SGX architectural structures (Intel SDM Vol. 3D, ch. 34 "SGX Instruction References" / "Data Structures"),
// defined here because the kernel keeps them out of its uapi headers. Offsets are checked at compile time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace epcbench::sgx {

inline constexpr std::uint64_t kAttrDebug = 1u << 1;
inline constexpr std::uint64_t kAttrMode64Bit = 1u << 2;
inline constexpr std::uint64_t kAttrProvisionKey = 1u << 4;  // needs SGX_IOC_ENCLAVE_PROVISION before INIT
inline constexpr std::uint64_t kAttrEinitTokenKey = 1u << 5;
inline constexpr std::uint64_t kAttrKss = 1u << 7;
inline constexpr std::uint64_t kXfrmLegacy = 3;  // x87 + SSE, always allowed

// SECINFO.FLAGS
inline constexpr std::uint64_t kSecinfoR = 1u << 0;
inline constexpr std::uint64_t kSecinfoW = 1u << 1;
inline constexpr std::uint64_t kSecinfoX = 1u << 2;
inline constexpr std::uint64_t kPageTypeTcs = 1;
inline constexpr std::uint64_t kPageTypeReg = 2;
inline constexpr std::uint64_t secinfo_flags(std::uint64_t page_type, std::uint64_t perms) {
  return (page_type << 8) | perms;
}

struct __attribute__((packed, aligned(4096))) Secs {
  std::uint64_t size;
  std::uint64_t base;
  std::uint32_t ssa_frame_size;
  std::uint32_t miscselect;
  std::uint8_t reserved1[24];
  std::uint64_t attributes;
  std::uint64_t xfrm;
  std::uint8_t mrenclave[32];
  std::uint8_t reserved2[32];
  std::uint8_t mrsigner[32];
  std::uint8_t reserved3[32];
  std::uint8_t config_id[64];
  std::uint16_t isvprodid;
  std::uint16_t isvsvn;
  std::uint16_t config_svn;
  std::uint8_t reserved4[3834];
};
static_assert(sizeof(Secs) == 4096);
static_assert(offsetof(Secs, attributes) == 48);
static_assert(offsetof(Secs, mrenclave) == 64);
static_assert(offsetof(Secs, isvprodid) == 256);

struct __attribute__((packed, aligned(64))) Secinfo {
  std::uint64_t flags;
  std::uint8_t reserved[56];
};
static_assert(sizeof(Secinfo) == 64);

inline constexpr std::size_t kModulusSize = 384;

// SIGSTRUCT: 1808 bytes. The signature covers header (bytes 0..127) followed by body (bytes 900..1027).
struct __attribute__((packed)) SigstructHeader {
  std::uint8_t header1[16];
  std::uint32_t vendor;
  std::uint32_t date;  // BCD yyyymmdd
  std::uint8_t header2[16];
  std::uint32_t swdefined;
  std::uint8_t reserved[84];
};
static_assert(sizeof(SigstructHeader) == 128);

struct __attribute__((packed)) SigstructBody {
  std::uint32_t miscselect;
  std::uint32_t miscmask;
  std::uint8_t reserved1[4];
  std::uint8_t isvfamilyid[16];
  std::uint64_t attributes;
  std::uint64_t xfrm;
  std::uint64_t attributes_mask;
  std::uint64_t xfrm_mask;
  std::uint8_t enclavehash[32];
  std::uint8_t reserved2[16];
  std::uint8_t isvextprodid[16];
  std::uint16_t isvprodid;
  std::uint16_t isvsvn;
};
static_assert(sizeof(SigstructBody) == 128);

struct __attribute__((packed)) Sigstruct {
  SigstructHeader header;                 // 0
  std::uint8_t modulus[kModulusSize];     // 128, little-endian
  std::uint32_t exponent;                 // 512
  std::uint8_t signature[kModulusSize];   // 516, little-endian
  SigstructBody body;                     // 900
  std::uint8_t reserved[12];              // 1028
  std::uint8_t q1[kModulusSize];          // 1040, little-endian
  std::uint8_t q2[kModulusSize];          // 1424, little-endian
};
static_assert(sizeof(Sigstruct) == 1808);
static_assert(offsetof(Sigstruct, exponent) == 512);
static_assert(offsetof(Sigstruct, signature) == 516);
static_assert(offsetof(Sigstruct, body) == 900);
static_assert(offsetof(Sigstruct, body) + offsetof(SigstructBody, attributes) == 928);
static_assert(offsetof(Sigstruct, body) + offsetof(SigstructBody, enclavehash) == 960);
static_assert(offsetof(Sigstruct, body) + offsetof(SigstructBody, isvprodid) == 1024);
static_assert(offsetof(Sigstruct, q1) == 1040);
static_assert(offsetof(Sigstruct, q2) == 1424);

// SDM-fixed header constants (as byte strings, little-endian in memory).
inline constexpr std::uint8_t kSigstructHeader1[16] = {0x06, 0x00, 0x00, 0x00, 0xE1, 0x00, 0x00, 0x00,
                                                       0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};
inline constexpr std::uint8_t kSigstructHeader2[16] = {0x01, 0x01, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00,
                                                       0x60, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00};

}  // namespace epcbench::sgx

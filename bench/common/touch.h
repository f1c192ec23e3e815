// The page touch every backend runs (inside the enclave for sgx): read the first 8 bytes of the page, add them
// to a sum and write them back incremented. A read and a write per page: an evicted page must be loaded back
// and the write dirties it, so it must be written out again on the next eviction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace epcbench {

inline std::uint64_t touch_pages(std::uint8_t* base, std::span<const std::uint32_t> idx) {
  std::uint64_t sum = 0;
  for (std::uint32_t i : idx) {
    volatile std::uint64_t* p = reinterpret_cast<volatile std::uint64_t*>(base + std::size_t{i} * 4096);
    std::uint64_t v = *p;
    sum += v;
    *p = v + 1;
  }
  return sum;
}

}  // namespace epcbench

#include "workloads.h"

#include <algorithm>

namespace epcbench {

std::string pattern_name(Pattern p) {
  switch (p) {
    case Pattern::kSequential: return "sequential";
    case Pattern::kRandom: return "random";
    case Pattern::kStrided: return "strided";
  }
  return "?";
}

std::optional<Pattern> parse_pattern(const std::string& s) {
  if (s == "sequential") return Pattern::kSequential;
  if (s == "random") return Pattern::kRandom;
  if (s == "strided") return Pattern::kStrided;
  return std::nullopt;
}

std::vector<std::uint32_t> make_pattern(Pattern p, std::size_t pages, std::uint64_t seed, std::size_t stride) {
  std::vector<std::uint32_t> v;
  v.reserve(pages);
  switch (p) {
    case Pattern::kSequential:
      for (std::size_t i = 0; i < pages; ++i) v.push_back(static_cast<std::uint32_t>(i));
      break;
    case Pattern::kRandom: {
      // Every page once per pass, in a random order (Fisher-Yates with xorshift64*): the working set is
      // exactly `pages`, unlike independent draws, which touch only about 63 % of them.
      for (std::size_t i = 0; i < pages; ++i) v.push_back(static_cast<std::uint32_t>(i));
      std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
      for (std::size_t i = pages; i > 1; --i) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        std::size_t j = static_cast<std::size_t>((x * 0x2545F4914F6CDD1Dull >> 11) % i);
        std::swap(v[i - 1], v[j]);
      }
      break;
    }
    case Pattern::kStrided:
      stride = std::max<std::size_t>(1, stride);
      for (std::size_t k = 0; k < stride; ++k)
        for (std::size_t i = k; i < pages; i += stride) v.push_back(static_cast<std::uint32_t>(i));
      break;
  }
  return v;
}

Result<std::uint64_t> run_pass(Enclave& e, const std::vector<std::uint32_t>& idx, std::size_t chunk) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < idx.size(); i += chunk) {
    std::size_t n = std::min(chunk, idx.size() - i);
    auto r = e.touch(std::span<const std::uint32_t>(idx.data() + i, n));
    if (!r) return r;
    sum += r.value();
  }
  return sum;
}

}  // namespace epcbench

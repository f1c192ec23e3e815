// Access patterns shared by every backend, and the loop that runs them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend.h"

namespace epcbench {

enum class Pattern { kSequential, kRandom, kStrided };

std::string pattern_name(Pattern p);
std::optional<Pattern> parse_pattern(const std::string& s);

// One pass over a working set of `pages`, each page once: sequential 0..n-1; random: a seeded permutation;
// strided: every `stride`-th page, then the next offset, until all pages are covered once.
std::vector<std::uint32_t> make_pattern(Pattern p, std::size_t pages, std::uint64_t seed = 1, std::size_t stride = 16);

// Touches idx in chunks of `chunk` indices per backend call (one enclave entry per chunk for sgx).
Result<std::uint64_t> run_pass(Enclave& e, const std::vector<std::uint32_t>& idx, std::size_t chunk = 4096);

}  // namespace epcbench

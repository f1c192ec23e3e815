// cgroup collector: EPC usage, limit, peak and limit hits per pod/container from the misc cgroup controller's
// sgx_epc resource (patched kernels only; see docs/collectors.md). Where the resource does not exist the
// collector writes nothing and succeeds: no data is not a failure.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/registry.h"
#include "host/result.h"

namespace epc {

// The collector keeps the descriptors of the cgroup directories and misc files it reads open from scrape to
// scrape (pread at offset 0), up to services.fds.keep (app/ derives it from RLIMIT_NOFILE); beyond it, files are
// opened, read and closed on every scrape. A cgroup that is removed or replaced is noticed by its parent
// directory's stamp and, on cgroupfs, by its files failing with ENODEV; its descriptors are closed and its series
// stop. The collector has no flags of its own.
std::unique_ptr<Collector> make_cgroup_collector(const CollectorServices& services, const NoOptions& options = {});

// ---- parsers (exposed for tests) ----

// One line of misc.capacity / misc.current / misc.max / misc.peak / misc.events: "<resource> <value>".
// value is nullopt for "max" (unlimited, misc.max only).
struct MiscEntry {
  std::string resource;
  std::optional<std::uint64_t> value;
};
// Empty text is valid (no resources). A line that is not "<name> <u64|max>" is an error.
Result<std::vector<MiscEntry>> parse_misc_file(std::string_view text);

// The value of one resource in a misc file, validating every line as parse_misc_file does, without allocating.
struct MiscValue {
  bool found = false;
  std::optional<std::uint64_t> value;  // nullopt for "max"
};
Result<MiscValue> scan_misc_file(std::string_view text, std::string_view resource);

// The entry for a resource ("sgx_epc", or "sgx_epc.max" in misc.events), if the file lists it.
const MiscEntry* find_misc_entry(const std::vector<MiscEntry>& entries, std::string_view resource);

}  // namespace epc

#include "map_reading.h"

#include <bpf/libbpf.h>

#include <atomic>

namespace epc::probes {

namespace {
std::atomic<bool> g_batch_reads{true};  // false: forced off (tests), or the kernel refused batch lookups

std::uint64_t count_keys(int fd) {
  std::uint64_t n = 0;
  for_each_key(fd, [&](std::uint64_t) { ++n; });
  return n;
}
}  // namespace

bool batch_reads() { return g_batch_reads.load(std::memory_order_relaxed); }
void set_batch_reads(bool enabled) { g_batch_reads.store(enabled, std::memory_order_relaxed); }

std::uint64_t count_entries(bpf_map* m) {
  const bpf_map_type t = bpf_map__type(m);
  if (bpf_map__key_size(m) != sizeof(std::uint64_t) || (t != BPF_MAP_TYPE_HASH && t != BPF_MAP_TYPE_LRU_HASH))
    return count_keys(bpf_map__fd(m));
  const std::size_t vsize = bpf_map__value_size(m);
  if (!batch_reads()) return count_keys(bpf_map__fd(m));
  std::uint32_t chunk = 256;
  std::vector<std::uint64_t> keys;
  std::vector<unsigned char> values;
  std::uint64_t in_batch = 0, out_batch = 0, n = 0;
  bool first = true;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    keys.resize(chunk);
    values.resize(static_cast<std::size_t>(chunk) * vsize);
    __u32 count = chunk;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc = bpf_map_lookup_batch(bpf_map__fd(m), first ? nullptr : &in_batch, &out_batch, keys.data(), values.data(),
                                  &count, &opts);
    int err = rc < 0 ? -rc : 0;
    if (err == ENOSPC && count == 0 && chunk < (1u << 16)) {
      chunk *= 2;
      continue;
    }
    n += count;
    if (err == ENOENT) return n;
    if (err != 0) return count_keys(bpf_map__fd(m));  // a fill figure: counted again, key by key
    in_batch = out_batch;
    first = false;
  }
  return n;
}

}  // namespace epc::probes

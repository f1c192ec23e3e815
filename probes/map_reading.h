// Reading the BPF maps in as few system calls as the kernel allows (for the loader's read(), not for BPF code).
#pragma once

#include <bpf/bpf.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "host/log_fields.h"

struct bpf_map;

namespace epc::probes {

// Map reads go through BPF_MAP_LOOKUP_BATCH (Linux 5.6+; a few hundred entries per system call) and fall back to a
// key-by-key walk where the kernel refuses it (then they stay key by key). false forces the key-by-key walk (tests
// compare the two: probes_testing.h).
bool batch_reads();
void set_batch_reads(bool enabled);

// Each key once. A hash map walk restarts from the first key when the previous key was deleted meanwhile (an
// enclave released during the scrape): without the seen-set such a walk would count enclaves twice.
template <class Fn>
void for_each_key(int fd, Fn fn) {
  std::uint64_t key = 0, next = 0;
  std::uint64_t* prev = nullptr;
  std::unordered_set<std::uint64_t> seen;
  for (int guard = 0; guard < 1'000'000 && bpf_map_get_next_key(fd, prev, &next) == 0; ++guard) {
    if (seen.insert(next).second) fn(next);
    key = next;
    prev = &key;
  }
}

// Each entry of a hash map with a u64 key and a value of type V: BPF_MAP_LOOKUP_BATCH in chunks (grown when one
// hash bucket holds more than a chunk: ENOSPC), then, where the kernel has no batch lookup (before 5.6: EINVAL;
// EPERM/ENOTSUPP from a policy) or a batch fails half-way, the key-by-key walk for the keys not seen yet. A key is
// delivered once.
template <class V, class Fn>
void for_each_entry(int fd, Fn fn) {
  std::unordered_set<std::uint64_t> seen;
  if (batch_reads()) {
    std::uint32_t chunk = 256;
    std::vector<std::uint64_t> keys;
    std::vector<V> values;
    std::uint64_t in_batch = 0, out_batch = 0;
    bool first = true;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      keys.resize(chunk);
      values.resize(chunk);
      __u32 count = chunk;
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      int rc = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(), values.data(), &count,
                                    &opts);
      int err = rc < 0 ? -rc : 0;
      if (err == ENOSPC && count == 0 && chunk < (1u << 16)) {
        chunk *= 2;
        continue;
      }
      for (__u32 i = 0; i < count && i < chunk; ++i)
        if (seen.insert(keys[i]).second) fn(keys[i], values[i]);
      if (err == ENOENT) return;  // the end of the map
      if (err != 0) {
        if (first && count == 0 && (err == EINVAL || err == EPERM || err == EOPNOTSUPP || err == 524 /* ENOTSUPP */)) {
          spdlog::debug("{}", log_fields("no batch map lookups here, reading maps key by key",
                                         {{"collector", "ebpf"}, {"err", std::strerror(err)}}));
          set_batch_reads(false);
        }
        break;
      }
      in_batch = out_batch;
      first = false;
    }
  }
  for_each_key(fd, [&](std::uint64_t key) {
    if (seen.count(key)) return;
    V v{};
    if (bpf_map_lookup_elem(fd, &key, &v) != 0) return;  // deleted meanwhile
    seen.insert(key);
    fn(key, v);
  });
}

// Entries of a map now (its fill, for sgx_exporter_bpf_map_entries): in batches of raw bytes where the map is a hash
// with u64 keys, else (per-CPU, array maps, batches refused) key by key.
std::uint64_t count_entries(bpf_map* m);

}  // namespace epc::probes

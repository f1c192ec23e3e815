// The maps read into a Snapshot (Probes::read), the identity cache, and the forgetting of gone cgroups.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <openssl/evp.h>
#include <time.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <set>
#include <string_view>
#include <unordered_set>

#include "epc.h"
#include "epc_probes.h"
#include "host/file_reader.h"
#include "map_reading.h"
#include "probes_obj.h"

namespace epc::probes {

// "/a/b/c" from a recorded path (names leaf first); "" when it was truncated or a name is not a plain directory
// name (the kernel wrote it, but the bytes are read as untrusted all the same).
std::string cgroup_path_of(const epc_cgroup_path& p) {
  if (p.truncated || p.depth > EPC_CGROUP_PATH_LEVELS) return {};
  if (p.depth == 0) return "/";
  std::string out;
  for (std::uint32_t i = p.depth; i-- > 0;) {
    const char* name = p.names[i];
    std::size_t len = strnlen(name, EPC_CGROUP_NAME_LEN);
    std::string_view n(name, len);
    if (len == 0 || len == EPC_CGROUP_NAME_LEN || n == "." || n == ".." || n.find('/') != n.npos) return {};
    out += '/';
    out += n;
  }
  return out;
}

namespace {
// A live enclave's numbers (its entry holds the ENCL and RETIRED rows of epc_workload.h; LIVE rows count it once)
// and a cgroup's (its entry holds the RETIRED and CGROUP rows).
#define EPC_FROM_ENCL_LIVE(field) c.field = 1;
#define EPC_FROM_ENCL_ENCL(field) c.field = e.field;
#define EPC_FROM_ENCL_RETIRED(field) c.field = e.field;
#define EPC_FROM_ENCL_CGROUP(field)
#define EPC_FROM_CGROUP_LIVE(field)
#define EPC_FROM_CGROUP_ENCL(field)
#define EPC_FROM_CGROUP_RETIRED(field) c.field = e.field;
#define EPC_FROM_CGROUP_CGROUP(field) c.field = e.field;
WorkloadCounters counters_of(const epc_encl_state& e) {
  WorkloadCounters c;
#define EPC_FROM(field, kind, where, ...) EPC_FROM_ENCL_##where(field)
  EPC_WORKLOAD_FIELDS(EPC_FROM)
#undef EPC_FROM
  return c;
}

WorkloadCounters counters_of(const epc_cgroup_stats& e) {
  WorkloadCounters c;
#define EPC_FROM(field, kind, where, ...) EPC_FROM_CGROUP_##where(field)
  EPC_WORKLOAD_FIELDS(EPC_FROM)
#undef EPC_FROM
  return c;
}

std::string hex_of(const unsigned char* p, std::size_t n) {
  static const char* k = "0123456789abcdef";
  std::string o;
  o.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    o += k[p[i] >> 4];
    o += k[p[i] & 15];
  }
  return o;
}

std::string sha256_hex(const void* data, std::size_t n) {
  unsigned char d[32];
  unsigned int len = 0;
  if (EVP_Digest(data, n, d, &len, EVP_sha256(), nullptr) != 1 || len != sizeof d) return {};
  return hex_of(d, sizeof d);
}

// FNV-1a over the modulus: tells whether a cached MRSIGNER still belongs to the bytes in the map (a retried INIT
// may bring another SIGSTRUCT under the same flags).
std::uint64_t fnv1a(const void* data, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// Seconds since the epoch of a CLOCK_BOOTTIME reading (bpf_ktime_get_boot_ns), 0 when it cannot be converted.
double boot_ns_to_unix(std::uint64_t boot_ns) {
  timespec rt{}, bt{};
  if (boot_ns == 0 || clock_gettime(CLOCK_REALTIME, &rt) != 0 || clock_gettime(CLOCK_BOOTTIME, &bt) != 0) return 0;
  const double now_boot = static_cast<double>(bt.tv_sec) + static_cast<double>(bt.tv_nsec) / 1e9;
  const double now_unix = static_cast<double>(rt.tv_sec) + static_cast<double>(rt.tv_nsec) / 1e9;
  return now_unix - (now_boot - static_cast<double>(boot_ns) / 1e9);
}

// The identity as the collector reports it. id: 12 hex digits of SHA-256("<boot id>/<enclave number>"): stable for
// the enclave's life and across exporter restarts that keep the pinned state, unique per node and boot, and not a
// kernel address. The cached digests are used where given.
EnclaveIdentity identity_of(const epc_encl_identity& v, const std::string& boot_id, const std::string* cached_id,
                            const std::string* cached_mrsigner) {
  EnclaveIdentity e;
  if (cached_id) {
    e.id = *cached_id;
  } else {
    const std::string name = boot_id + "/" + std::to_string(v.seq);
    e.id = sha256_hex(name.data(), name.size()).substr(0, 12);
  }
  e.cgroup_id = v.cgroup_id;
  e.initialized = (v.flags & EPC_ID_INITIALIZED) != 0;
  if (v.flags & EPC_ID_DISCOVERED) {
    e.source = "discovered";
  } else if (v.flags & (EPC_ID_SIG_KERNEL | EPC_ID_SIG_USER)) {
    e.source = (v.flags & EPC_ID_SIG_KERNEL) ? "kernel" : "user";
    e.mrenclave = hex_of(v.mrenclave, sizeof v.mrenclave);
    e.mrsigner = cached_mrsigner ? *cached_mrsigner : sha256_hex(v.modulus, sizeof v.modulus);
    e.isv_prod_id = v.isv_prod_id;
    e.isv_svn = v.isv_svn;
  } else {
    e.source = "unavailable";
  }
  e.attributes = v.attributes;
  e.xfrm = v.xfrm;
  e.miscselect = v.miscselect;
  e.size_bytes = v.size_bytes;
  e.created_unix = boot_ns_to_unix(v.created_ns);
  e.init_failures = v.init_failures;
  return e;
}

}  // namespace

namespace {
// A member of a map value as this build's C++ sees it.
struct MemberAt {
  const char* name;
  std::size_t offset, size;
};
#define EPC_AT_ENCL_LIVE(field)
#define EPC_AT_ENCL_ENCL(field) {#field, offsetof(epc_encl_state, field), sizeof(epc_encl_state::field)},
#define EPC_AT_ENCL_RETIRED(field) EPC_AT_ENCL_ENCL(field)
#define EPC_AT_ENCL_CGROUP(field)
#define EPC_AT_CGROUP_LIVE(field)
#define EPC_AT_CGROUP_ENCL(field)
#define EPC_AT_CGROUP_RETIRED(field) {#field, offsetof(epc_cgroup_stats, field), sizeof(epc_cgroup_stats::field)},
#define EPC_AT_CGROUP_CGROUP(field) EPC_AT_CGROUP_RETIRED(field)
#define EPC_AT_ENCL(field, kind, where, ...) EPC_AT_ENCL_##where(field)
#define EPC_AT_CGROUP(field, kind, where, ...) EPC_AT_CGROUP_##where(field)

// The value type of map `map` in the object's BTF is struct `type` of `size` bytes, with `members` (and `extra`
// members outside the table) where this build puts them.
Status check_map_value(bpf_object* obj, const char* map, const char* type, std::size_t size,
                       const std::vector<MemberAt>& members, std::size_t extra) {
  const struct btf* btf = bpf_object__btf(obj);
  const bpf_map* m = bpf_object__find_map_by_name(obj, map);
  if (!btf || !m) return make_error(std::string("the BPF object has no BTF or no map ") + map);
  const btf_type* t = btf__type_by_id(btf, bpf_map__btf_value_type_id(m));
  if (!t || !btf_is_struct(t) || std::string_view(btf__name_by_offset(btf, t->name_off)) != type)
    return make_error(std::string("map ") + map + ": value is not struct " + type);
  if (t->size != size || btf_vlen(t) != members.size() + extra)
    return make_error(std::string("struct ") + type + ": " + std::to_string(t->size) + " bytes, " +
                      std::to_string(btf_vlen(t)) + " members in the BPF object; this build has " +
                      std::to_string(size) + " bytes, " + std::to_string(members.size() + extra));
  for (const MemberAt& want : members) {
    bool found = false;
    const btf_member* bm = btf_members(t);
    for (int i = 0; i < btf_vlen(t); ++i, ++bm) {
      if (std::string_view(btf__name_by_offset(btf, bm->name_off)) != want.name) continue;
      found = true;
      const long msize = btf__resolve_size(btf, bm->type);
      if (btf_member_bit_offset(t, i) != want.offset * 8 || msize != static_cast<long>(want.size))
        return make_error(std::string("struct ") + type + "." + want.name + ": at byte " +
                          std::to_string(btf_member_bit_offset(t, i) / 8) + ", " + std::to_string(msize) +
                          " bytes in the BPF object; this build has byte " + std::to_string(want.offset) + ", " +
                          std::to_string(want.size) + " bytes");
    }
    if (!found) return make_error(std::string("struct ") + type + " has no member " + want.name + " in the BPF object");
  }
  return Status::Ok();
}
}  // namespace

Status check_object_layout() {
  std::size_t bytes = 0;
  const void* elf = epc_bpf__elf_bytes(&bytes);
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "epc_bpf");
  std::unique_ptr<bpf_object, void (*)(bpf_object*)> obj(bpf_object__open_mem(elf, bytes, &opts), bpf_object__close);
  if (!obj) return make_error("opening the embedded BPF object: " + errstr(errno));
  // epc_encl_state also holds cgroup_id, tgid and origin.
  if (Status st = check_map_value(obj.get(), "encls", "epc_encl_state", sizeof(epc_encl_state),
                                  {EPC_WORKLOAD_FIELDS(EPC_AT_ENCL)}, 3);
      !st)
    return st;
  return check_map_value(obj.get(), "cgroups", "epc_cgroup_stats", sizeof(epc_cgroup_stats),
                         {EPC_WORKLOAD_FIELDS(EPC_AT_CGROUP)}, 0);
}

Snapshot Probes::read(const std::function<void()>& between_walks) {
  Snapshot s;
  s.probes = states_;
  if (!obj_) return s;
  auto* skel = obj_->skel.get();
  if (skel->rodata->nr_free_pages_addr) {
    epc_test_event ev{};
    ev.type = EPC_EV_READ_FREE_PAGES;
    run_on_demand(bpf_program__fd(skel->progs.epc_event), ev);
  }
  // Each cgroup's released-enclave counters, then its live enclaves. A release moves an enclave's counters from
  // its entry to its cgroup after deleting the entry (epc_encl_retire): in this order a release during the read
  // is missed once at most (the collector keeps high-water marks), never counted twice.
  std::map<std::uint64_t, WorkloadCounters> per;
  int cg_fd = bpf_map__fd(skel->maps.cgroups);
  std::map<std::uint64_t, epc_cgroup_stats> read_cgroups;
  for_each_entry<epc_cgroup_stats>(cg_fd, [&](std::uint64_t id, const epc_cgroup_stats& v) {
    per[id] += counters_of(v);
    read_cgroups[id] = v;
  });
  if (between_walks) between_walks();
  int encl_fd = bpf_map__fd(skel->maps.encls);
  std::unordered_map<std::uint64_t, std::pair<std::int64_t, std::int64_t>> pages;  // enclave -> resident, swapped
  for_each_entry<epc_encl_state>(encl_fd, [&](std::uint64_t key, const epc_encl_state& e) {
    pages[key] = {e.resident_pages, e.swapped_pages};
    per[e.cgroup_id] += counters_of(e);
    ++(e.origin == EPC_ORIGIN_DISCOVERED ? s.enclaves_discovered : s.enclaves_created);
    read_cgroups.erase(e.cgroup_id);  // live in this read: not a candidate for forgetting
  });
  {
    std::lock_guard<std::mutex> g(reported_mu_);
    reported_idle_cgroups_ = std::move(read_cgroups);
  }
  // Identities, with their enclave's pages from the walk above (an enclave created since keeps 0).
  std::unordered_map<std::uint64_t, IdentityHashes> hashes;
  hashes.reserve(identity_hashes_.size());
  for_each_entry<epc_encl_identity>(bpf_map__fd(skel->maps.identities),
                                    [&](std::uint64_t key, const epc_encl_identity& v) {
                                      const std::uint64_t fnv = fnv1a(v.modulus, sizeof v.modulus);
                                      auto it = identity_hashes_.find(key);
                                      const bool hit = it != identity_hashes_.end() && it->second.seq == v.seq &&
                                                       it->second.flags == v.flags && it->second.modulus_fnv == fnv;
                                      EnclaveIdentity e = identity_of(v, boot_id_, hit ? &it->second.id : nullptr,
                                                                      hit ? &it->second.mrsigner : nullptr);
                                      if (hit)  // the cached entry moves over: no copy of its digests
                                        hashes.insert(identity_hashes_.extract(it));
                                      else
                                        hashes[key] = IdentityHashes{v.seq, v.flags, fnv, e.id, e.mrsigner};
                                      if (auto it = pages.find(key); it != pages.end()) {
                                        e.resident_pages = it->second.first;
                                        e.swapped_pages = it->second.second;
                                      }
                                      s.enclaves.push_back(std::move(e));
                                    });
  identity_hashes_ = std::move(hashes);  // enclaves gone from the map leave the cache with this
  std::set<std::uint64_t> identity_cgroups;
  for (const auto& e : s.enclaves) identity_cgroups.insert(e.cgroup_id);
  // The recorded paths in one walk, joined to the workloads and identities (not a lookup per workload).
  std::map<std::uint64_t, std::string> paths;
  for_each_entry<epc_cgroup_path>(bpf_map__fd(skel->maps.cgroup_paths), [&](std::uint64_t id, const epc_cgroup_path& p) {
    if (per.count(id) || identity_cgroups.count(id)) paths[id] = cgroup_path_of(p);
  });
  for (auto& [id, c] : per) {
    WorkloadEntry w;
    w.cgroup_id = id;
    w.counters = c;
    if (auto it = paths.find(id); it != paths.end()) w.recorded_path = it->second;
    s.workloads.push_back(std::move(w));
  }
  for (auto& e : s.enclaves)
    if (auto it = paths.find(e.cgroup_id); it != paths.end()) e.recorded_path = it->second;
  std::uint32_t zero = 0;
  epc_node_stats n{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.node), &zero, &n) == 0) {
    if (n.free_pages_seen) s.free_pages = n.free_pages;
    s.reclaim_ksgxd = n.reclaim_ksgxd;
    s.reclaim_direct = n.reclaim_direct;
    s.vepc_pages = n.vepc_pages;
    s.vepc_alloc_failures = n.vepc_alloc_failures;
    for (int i = 0; i < EPC_DROP_NR; ++i) s.dropped[kDropReasons[i]] = n.dropped[i];
    s.discovery_skipped = n.seed_skipped;
  }
  for (bpf_map* m : {skel->maps.encls, skel->maps.cgroups, skel->maps.cgroup_paths, skel->maps.inflight,
                     skel->maps.va_pages, skel->maps.identities,
                     skel->maps.init_pending}) {
    s.maps.push_back(MapFill{bpf_map__name(m), count_entries(m), bpf_map__max_entries(m)});
  }
  s.kretprobe_misses = kretprobe_misses(obj_->tracefs_events);
  s.program_stats_enabled = read_first_line(stats_enabled_path_) == "1";
  for (const auto& [name, fd, owned] : obj_->attached_progs) {  // the attached ones: ours, or the pinned links'
    if (fd < 0) continue;
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    s.programs.push_back(ProgramStats{name, info.run_cnt, info.run_time_ns});
  }
  s.state = state_;
  return s;
}

std::size_t Probes::forget_gone_cgroups(const std::function<bool(std::uint64_t)>& cgroup_exists) {
  if (!obj_) return 0;
  std::set<std::uint64_t> live;
  int encl_fd = bpf_map__fd(obj_->skel->maps.encls);
  for_each_entry<epc_encl_state>(encl_fd, [&](std::uint64_t, const epc_encl_state& e) { live.insert(e.cgroup_id); });
  int fd = bpf_map__fd(obj_->skel->maps.cgroups);
  std::vector<std::uint64_t> gone;
  std::unordered_set<std::uint64_t> kept;
  std::map<std::uint64_t, epc_cgroup_stats> reported;
  {
    std::lock_guard<std::mutex> g(reported_mu_);
    reported = reported_idle_cgroups_;
  }
  // Only what the last read reported, unchanged since: an enclave that ended (its counters moving to its cgroup)
  // and a cgroup removed after that read and before this call must be reported once more first.
  for_each_entry<epc_cgroup_stats>(fd, [&](std::uint64_t id, const epc_cgroup_stats& v) {
    auto it = reported.find(id);
    const bool reported_as_is = it != reported.end() && std::memcmp(&it->second, &v, sizeof v) == 0;
    if (!live.count(id) && reported_as_is && !cgroup_exists(id))
      gone.push_back(id);
    else
      kept.insert(id);
  });
  for (auto id : gone) bpf_map_delete_elem(fd, &id);
  // Recorded paths go with their cgroup's entry, and so do those whose entry was never made (cgroups map full).
  int path_fd = bpf_map__fd(obj_->skel->maps.cgroup_paths);
  std::vector<std::uint64_t> orphans;
  for_each_entry<epc_cgroup_path>(path_fd, [&](std::uint64_t id, const epc_cgroup_path&) {
    if (!live.count(id) && !kept.count(id)) orphans.push_back(id);
  });
  for (auto id : orphans) bpf_map_delete_elem(path_fd, &id);
  return gone.size();
}

}  // namespace epc::probes

#include "pinned_state.h"

#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "epc.skel.h"
#include "host/file_reader.h"
#include "host/log_fields.h"
#include "libbpf_owners.h"
#include "tracefs_kretprobes.h"

namespace epc::probes {

namespace {
// The first failure of a removal that goes on past it (what can be removed is).
void note_failure(Status& status, const std::string& what, int err) {
  if (status) status = make_error(what + ": " + std::strerror(err), err);
}
}  // namespace

bool is_bpffs(const std::string& path) {
  struct statfs st{};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

std::vector<std::string> list_pins(const std::string& dir) { return list_dir(dir).value_or({}); }

UnpinOutcome remove_layout_dir(const std::string& dir) {
  UnpinOutcome out;
  for (const auto& name : list_pins(dir)) {
    if (::unlink((dir + "/" + name).c_str()) == 0)
      ++out.removed;
    else
      note_failure(out.status, "removing " + dir + "/" + name, errno);
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) note_failure(out.status, "removing " + dir, errno);
  return out;
}

// The kernel frees a link (and closes its perf event) after an RCU grace period once its last pin is gone; until
// then tracefs refuses with EBUSY, so a refused event is asked again for up to 5 s.
std::size_t remove_pinned_tracefs_events(const std::string& tracefs, const std::string& only_layout) {
  if (tracefs.empty()) return 0;
  std::vector<std::string> ours;
  for (const auto& ev : read_kprobe_events(tracefs)) {
    if (ev.group.rfind(kPinnedGroupPrefix, 0) != 0) continue;
    if (!only_layout.empty() && ev.group != kPinnedGroupPrefix + only_layout) continue;
    ours.push_back(ev.removal());
  }
  for (int round = 0; !ours.empty(); ++round) {
    std::vector<std::string> busy;
    for (const auto& s : ours) {
      Status st = append_line(tracefs + "/kprobe_events", s);
      if (st) continue;
      if (st.error().errno_value == EBUSY && round < 100) {
        busy.push_back(s);
      } else {
        spdlog::warn(
            "{}",
            log_fields("kprobe event of removed pinned state not removed",
                       {{"collector", "ebpf"}, {"event", s.substr(2, s.size() - 3)}, {"err", st.error().message}}));
        return ours.size();
      }
    }
    ours.swap(busy);
    if (!ours.empty()) ::usleep(50'000);
  }
  return 0;
}

std::string layout_id(const std::string& tag) {
  std::size_t size = 0;
  const auto* bytes = static_cast<const unsigned char*>(epc_bpf__elf_bytes(&size));
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: a content id, not a security check
  auto mix = [&](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (std::size_t i = 0; i < size; ++i) mix(bytes[i]);
  for (char c : tag) mix(static_cast<unsigned char>(c));
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(h));
  return out;
}

UnpinOutcome unpin_all(const std::string& pin_path, const std::string& sys_path) {
  UnpinOutcome out;
  struct stat st{};
  if (::stat(pin_path.c_str(), &st) != 0) {
    if (errno != ENOENT) out.status = make_error(pin_path + ": " + std::strerror(errno), errno);
    return out;
  }
  for (const auto& layout : list_pins(pin_path)) {
    UnpinOutcome one = remove_layout_dir(pin_path + "/" + layout);
    out.removed += one.removed;
    if (out.status && !one.status) out.status = one.status;
  }
  if (::rmdir(pin_path.c_str()) != 0 && errno != ENOENT) note_failure(out.status, "removing " + pin_path, errno);
  if (std::size_t left = remove_pinned_tracefs_events(tracefs_dir(sys_path), ""); left && out.status)
    out.status = make_error(std::to_string(left) + " kprobe events of the pinned state could not be removed");
  return out;
}

bool pin_maps(bpf_object* obj, const std::string& pin_dir) {
  bpf_map* m;
  bpf_object__for_each_map(m, obj) {
    if (bpf_map__is_internal(m)) continue;
    if (bpf_map__pin(m, (pin_dir + "/map_" + bpf_map__name(m)).c_str()) != 0) {
      spdlog::warn("{}", log_fields("pinning a map failed: state is not pinned, a restart starts over",
                                    {{"collector", "ebpf"}, {"map", bpf_map__name(m)}, {"err", errstr(errno)}}));
      return false;
    }
  }
  return true;
}

}  // namespace epc::probes

// Pinned state (docs/probes.md, "Restarts"): <pin_path>/<layout id>/map_<name> for every map of the object,
// link_<program> for every attached program, so the probes keep counting while the exporter is down and the next
// instance with the same BPF object takes their state over. A kretprobe made through tracefs for pinned state is in
// group epc_exporter_p<layout id> (not a pid's group: it outlives the process), removed when the state is.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "host/result.h"

struct bpf_object;

namespace epc::probes {

// The layout id of this build's BPF object (+ tag): pinned state is taken over only by an identical object.
std::string layout_id(const std::string& tag);

// What a removal of pinned state removed, and its first failure (it goes on past one: what can go, goes).
struct UnpinOutcome {
  std::size_t removed = 0;  // pinned objects
  Status status;
};

// Removes pinned state below pin_path (every layout) and the kprobe events its links used. Nothing pinned is no
// error.
UnpinOutcome unpin_all(const std::string& pin_path, const std::string& sys_path);

// ---- for the loader ----

bool is_bpffs(const std::string& path);
// The entries of a pin directory, sorted; none when it cannot be listed (absent: nothing pinned).
std::vector<std::string> list_pins(const std::string& dir);
// Removes a layout directory: its pins (links detach when their last reference goes), then itself.
UnpinOutcome remove_layout_dir(const std::string& dir);
// Removes the kretprobe events of pinned state of the given layout ids ("" = every layout). Returns how many are
// left.
std::size_t remove_pinned_tracefs_events(const std::string& tracefs, const std::string& only_layout);
// Pins every map of the object in pin_dir (map_<name>). false: one could not be pinned (logged).
bool pin_maps(bpf_object* obj, const std::string& pin_dir);

}  // namespace epc::probes

// What a loaded Probes holds (the probes' own sources only: it includes the skeleton).
#pragma once

#include <string>
#include <vector>

#include "epc.skel.h"
#include "epc_probes.h"
#include "libbpf_owners.h"
#include "tracefs_kretprobes.h"

namespace epc::probes {

// One attached program, for its run counts: the skeleton's fd, or (taken over from a pinned link) one we own.
struct AttachedProgram {
  std::string name;
  int fd = -1;
  OwnedFd owned;
};

// Members go in reverse order: the links (a pinned link stays attached: only our fd goes), then the programs
// taken over from pinned links, then the skeleton with its programs and maps. The kretprobe events go between the
// links and the rest (the kernel refuses to remove an event in use).
struct Probes::Obj {
  SkelPtr skel;
  std::vector<AttachedProgram> attached_progs;
  std::vector<TracefsKretprobe> tracefs_events;  // removed after their links, unless the links are pinned
  bool keep_tracefs_events = false;
  std::vector<LinkPtr> links;
  ~Obj() {
    links.clear();
    if (!keep_tracefs_events)
      for (const auto& e : tracefs_events) remove_tracefs_event(e);
  }
};

}  // namespace epc::probes

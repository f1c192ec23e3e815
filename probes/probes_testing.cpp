#include "probes_testing.h"

#include <bpf/libbpf.h>

#include "epc.h"
#include "host/file_reader.h"
#include "host/parse.h"
#include "map_reading.h"
#include "probes_obj.h"

namespace epc::probes {

// The one door from the test library into a Probes (a friend of the class).
struct ProbesTestAccess {
  static epc_bpf* skel(const Probes& p) { return p.obj_ ? p.obj_->skel.get() : nullptr; }
  static int run(Probes& p, int fd, const epc_test_event& e) { return p.run_on_demand(fd, e); }
};

namespace testing {

int event_program_fd(const Probes& probes) {
  auto* s = ProbesTestAccess::skel(probes);
  return s ? bpf_program__fd(s->progs.epc_event) : -1;
}

int bench_program_fd(const Probes& probes) {
  auto* s = ProbesTestAccess::skel(probes);
  return s ? bpf_program__fd(s->progs.epc_event_repeat) : -1;
}

int run_event(Probes& probes, const epc_test_event& event) {
  return ProbesTestAccess::run(probes, event.repeat > 1 ? bench_program_fd(probes) : event_program_fd(probes), event);
}

void set_batch_reads(bool enabled) { probes::set_batch_reads(enabled); }

std::vector<std::pair<std::string, std::uint64_t>> map_memory_bytes(const Probes& probes) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  auto* skel = ProbesTestAccess::skel(probes);
  if (!skel) return out;
  for (bpf_map* m : {skel->maps.encls, skel->maps.cgroups, skel->maps.cgroup_paths, skel->maps.node,
                     skel->maps.inflight, skel->maps.va_pages}) {
    std::uint64_t bytes = 0;
    if (auto text = read_file("/proc/self/fdinfo/" + std::to_string(bpf_map__fd(m)), 64 << 10))
      for (std::string_view line : split_lines(*text))
        if (line.rfind("memlock:", 0) == 0) bytes = parse_u64(trim(line.substr(8))).value_or(0);
    out.emplace_back(bpf_map__name(m), bytes);
  }
  return out;
}

std::vector<std::string> loaded_programs(const Probes& probes) {
  std::vector<std::string> out;
  auto* skel = ProbesTestAccess::skel(probes);
  if (!skel) return out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    if (bpf_program__autoload(prog) && bpf_program__fd(prog) >= 0) out.emplace_back(bpf_program__name(prog));
  }
  return out;
}

}  // namespace testing
}  // namespace epc::probes

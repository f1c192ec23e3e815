// What only the tests and the benchmarks use of the probes (library epc_probes_testing; the exporter does not link
// it): synthetic events through the on-demand program (BPF_PROG_TEST_RUN), the batch-read switch, the benchmark's
// figures. A Probes started with Mode::kTestOnly has the maps and the on-demand program and attaches nothing.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "epc_probes.h"

struct epc_test_event;

namespace epc::probes::testing {

// Runs the on-demand program with one synthetic event (repeat > 1: the batch runner, Options::load_bench_program).
// Returns the program's return value, or -errno when the run itself failed (-EBADF: the program is not loaded).
int run_event(Probes& probes, const epc_test_event& event);
int event_program_fd(const Probes& probes);
int bench_program_fd(const Probes& probes);  // epc_event_repeat, -1 unless Options::load_bench_program and it loaded

// false forces the key-by-key map walk instead of BPF_MAP_LOOKUP_BATCH (tests compare the two); process-wide.
void set_batch_reads(bool enabled);

// Kernel memory of each map ("memlock" in fdinfo), for the benchmark's report.
std::vector<std::pair<std::string, std::uint64_t>> map_memory_bytes(const Probes& probes);
// Names of programs that were loaded.
std::vector<std::string> loaded_programs(const Probes& probes);

}  // namespace epc::probes::testing

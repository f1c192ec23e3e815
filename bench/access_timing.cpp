#include "access_timing.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>

namespace epcbench {
namespace {

void copy(const std::uint8_t* data, std::uint64_t size, std::uint64_t pos, void* dst, std::size_t n) {
  auto* d = static_cast<std::uint8_t*>(dst);
  for (std::size_t i = 0; i < n; ++i) d[i] = data[(pos + i) % size];
}

}  // namespace

std::uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

std::uint64_t thread_faults() {
  rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return std::uint64_t(ru.ru_minflt) + std::uint64_t(ru.ru_majflt);
}

SchedWatch::SchedWatch() {
  int state_off = -1;
  std::uint64_t tp_id = 0;
  for (const char* dir :
       {"/sys/kernel/tracing/events/sched/sched_switch/", "/sys/kernel/debug/tracing/events/sched/sched_switch/"}) {
    std::ifstream idf(std::string(dir) + "id");
    if (!(idf >> tp_id)) continue;
    std::ifstream ff(std::string(dir) + "format");
    std::string line;
    while (std::getline(ff, line)) {
      auto f = line.find(" prev_state;");
      auto o = line.find("offset:"), z = line.find("size:");
      if (f != std::string::npos && o != std::string::npos && z != std::string::npos) {
        state_off = std::atoi(line.c_str() + o + 7);
        state_size_ = std::atoi(line.c_str() + z + 5);
      }
    }
    break;
  }
  if (tp_id == 0 || state_off < 0 || state_size_ < 1 || state_size_ > 8) return;
  state_off_ = state_off;
  perf_event_attr a{};
  a.size = sizeof a;
  a.type = PERF_TYPE_TRACEPOINT;
  a.config = tp_id;
  a.sample_period = 1;
  a.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TIME | PERF_SAMPLE_RAW;
  a.use_clockid = 1;
  a.clockid = CLOCK_MONOTONIC;
  a.wakeup_events = 1u << 30;
  fd_sw_ = open_event(&a, -1);
  if (fd_sw_ < 0) return;
  ring_ = mmap(nullptr, (1 + kRingPages) * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd_sw_, 0);
  if (ring_ == MAP_FAILED) {
    ring_ = nullptr;
    return;
  }
  perf_event_attr pf{};
  pf.size = sizeof pf;
  pf.type = PERF_TYPE_SOFTWARE;
  pf.config = PERF_COUNT_SW_PAGE_FAULTS;
  pf.sample_period = 1;
  pf.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TIME;
  pf.use_clockid = 1;
  pf.clockid = CLOCK_MONOTONIC;
  fd_pf_ = open_event(&pf, fd_sw_);
  perf_event_attr cs{};
  cs.size = sizeof cs;
  cs.type = PERF_TYPE_SOFTWARE;
  cs.config = PERF_COUNT_SW_DUMMY;
  cs.context_switch = 1;
  cs.sample_id_all = 1;
  cs.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TIME;
  cs.use_clockid = 1;
  cs.clockid = CLOCK_MONOTONIC;
  fd_cs_ = open_event(&cs, fd_sw_);
  if (fd_pf_ < 0 || fd_cs_ < 0 || ioctl(fd_sw_, PERF_EVENT_IOC_ID, &id_sw_) != 0 ||
      ioctl(fd_pf_, PERF_EVENT_IOC_ID, &id_pf_) != 0)
    return;
  ok_ = true;
}

SchedWatch::~SchedWatch() {
  if (ring_) munmap(ring_, (1 + kRingPages) * 4096);
  for (int fd : {fd_sw_, fd_pf_, fd_cs_})
    if (fd >= 0) close(fd);
}

std::uint64_t SchedWatch::descheduled(std::uint64_t t0, std::uint64_t t1) {
  evs_.clear();
  if (!drain(&evs_)) return 0;  // lost records: claim nothing
  std::uint64_t first_fault = 0, last_fault = 0;
  for (const Ev& e : evs_)
    if (e.kind == 'F' && e.t >= t0 && e.t <= t1) {
      if (first_fault == 0) first_fault = e.t;
      last_fault = e.t;
    }
  std::uint64_t sum = 0, out = 0;
  bool plain = false;
  for (const Ev& e : evs_) {
    if (e.kind == 'O') {
      out = e.t;
      plain = e.state == 0;
    } else if (e.kind == 'I' && out != 0) {
      const std::uint64_t a = std::max(out, t0), b = std::min(e.t, t1);
      if (plain && b > a && (first_fault == 0 || out < first_fault || out > last_fault)) sum += b - a;
      out = 0;
    }
  }
  return sum;
}

int SchedWatch::open_event(void* attr, int group_out) {
  auto& a = *static_cast<perf_event_attr*>(attr);
  int fd = int(syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd >= 0 && group_out >= 0 && ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, group_out) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SchedWatch::drain(std::vector<Ev>* out) {
  auto* meta = static_cast<perf_event_mmap_page*>(ring_);
  if (!meta) return false;
  const std::uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
  std::uint64_t tail = meta->data_tail;
  const auto* data = static_cast<const std::uint8_t*>(ring_) + 4096;
  const std::uint64_t size = kRingPages * 4096;
  bool good = true;
  std::uint8_t buf[512];
  while (tail < head) {
    perf_event_header h;
    copy(data, size, tail, &h, sizeof h);
    if (h.size < sizeof h) break;
    if (out != nullptr && h.size <= sizeof buf) {
      copy(data, size, tail, buf, h.size);
      const std::uint8_t* p = buf + sizeof h;
      auto u64 = [&](std::size_t off) {
        std::uint64_t v;
        std::memcpy(&v, p + off, 8);
        return v;
      };
      if (h.type == PERF_RECORD_LOST) {
        good = false;
      } else if (h.type == PERF_RECORD_SAMPLE) {
        const std::uint64_t id = u64(0), t = u64(8);
        if (id == id_pf_) {
          out->push_back({'F', t, 0});
        } else if (id == id_sw_) {
          std::uint32_t raw_size;
          std::memcpy(&raw_size, p + 16, 4);
          std::uint64_t st = 0;
          if (std::size_t(state_off_ + state_size_) <= raw_size) std::memcpy(&st, p + 20 + state_off_, state_size_);
          out->push_back({'O', t, st});
        }
      } else if (h.type == PERF_RECORD_SWITCH && !(h.misc & PERF_RECORD_MISC_SWITCH_OUT)) {
        std::uint64_t t;
        std::memcpy(&t, buf + h.size - 16, 8);  // sample_id: time, identifier
        out->push_back({'I', t, 0});
      }
    }
    tail += h.size;
  }
  __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
  return good;
}

void AccessLog::prepare(std::size_t n) {
  lat_.assign(std::max(n, n_), 0);
  faulted_.assign(lat_.size(), 0);
  desched_.assign(lat_.size(), 0);
  n_ = 0;
  faults_ = 0;
  synced_ = false;
}

void AccessLog::resync() {
  faults_at_ = thread_faults();
  synced_ = true;
}

void AccessLog::record(std::uint64_t lat, bool faulted, std::uint64_t desched, std::uint64_t faults) {
  if (n_ == lat_.size()) {
    const std::size_t grown = std::max<std::size_t>(1024, 2 * n_);
    lat_.resize(grown, 0);
    faulted_.resize(grown, 0);
    desched_.resize(grown, 0);
    synced_ = false;  // the growth may have faulted
  }
  lat_[n_] = std::uint32_t(std::min<std::uint64_t>(lat, UINT32_MAX));
  faulted_[n_] = faulted ? 1 : 0;
  desched_[n_] = std::uint32_t(std::min<std::uint64_t>(desched, UINT32_MAX));
  ++n_;
  faults_ += faults;
}

std::uint64_t measure_trap_ns(SchedWatch& watch) {
  constexpr std::size_t kTrap = 64;
  constexpr std::size_t kPage = 4096;
  std::vector<std::uint32_t> trap;
  void* m = mmap(nullptr, kTrap * kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 0;
  auto* p = static_cast<std::uint8_t*>(m);
  for (std::size_t i = 0; i < kTrap; ++i) {
    volatile std::uint64_t* w = reinterpret_cast<volatile std::uint64_t*>(p + i * kPage);
    const std::uint64_t f0 = thread_faults();
    if (watch.ok()) watch.skip();
    const std::uint64_t t0 = monotonic_ns();
    (void)*w;
    const std::uint64_t t1 = monotonic_ns();
    const std::uint64_t d = watch.ok() ? watch.descheduled(t0, t1) : 0;
    if (thread_faults() == f0 + 1 && d == 0) trap.push_back(std::uint32_t(std::min<std::uint64_t>(t1 - t0, UINT32_MAX)));
  }
  munmap(m, kTrap * kPage);
  if (trap.empty()) return 0;
  std::nth_element(trap.begin(), trap.begin() + trap.size() / 2, trap.end());
  return trap[trap.size() / 2];
}

BlockedTime summarize(const AccessLog& log, std::uint64_t trap_raw_ns, std::uint64_t baseline_ns, std::size_t from,
                      std::size_t to) {
  BlockedTime r;
  to = std::min(to, log.size());
  from = std::min(from, to);
  std::vector<std::uint32_t> resident, slow;
  std::uint64_t sum_all = 0;
  for (std::size_t i = from; i < to; ++i) {
    sum_all += log.lat_[i];
    (log.faulted_[i] ? slow : resident).push_back(log.lat_[i]);
  }
  r.accesses = to - from;
  r.faulted_accesses = slow.size();
  r.access_seconds = double(sum_all) / 1e9;
  if (!resident.empty()) {
    std::nth_element(resident.begin(), resident.begin() + resident.size() / 2, resident.end());
    r.resident_p50_ns = resident[resident.size() / 2];
  }
  r.baseline_ns = baseline_ns != 0 ? baseline_ns : r.resident_p50_ns;
  r.trap_ns = trap_raw_ns > r.baseline_ns ? trap_raw_ns - r.baseline_ns : 0;
  double blocked = 0, descheduled = 0;
  for (std::size_t i = from; i < to; ++i) {
    if (!log.faulted_[i]) continue;
    const std::uint64_t lat = log.lat_[i];
    const std::uint64_t d = std::min<std::uint64_t>(log.desched_[i], lat);
    const std::uint64_t v = lat - d > r.trap_ns ? lat - d - r.trap_ns : 0;
    descheduled += double(d);
    blocked += v > r.baseline_ns ? double(v - r.baseline_ns) : 0.0;
  }
  r.blocked_seconds = blocked / 1e9;
  r.descheduled_seconds = descheduled / 1e9;
  if (!slow.empty()) {
    std::nth_element(slow.begin(), slow.begin() + slow.size() / 2, slow.end());
    r.faulted_p50_ns = slow[slow.size() / 2];
    r.faulted_max_ns = *std::max_element(slow.begin(), slow.end());
  }
  return r;
}

}  // namespace epcbench

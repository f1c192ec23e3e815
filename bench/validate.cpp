#include "validate.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "access_timing.h"
#include "json_text.h"
#include "sgx/image.h"
#include "sgx/sgx_backend.h"
#include "workloads.h"

namespace epcbench::validate {

std::string emulation_marker(std::string_view cmdline, bool emu_debugfs_exists) {
  // Word by word: "sgx_emu_epc=4M@0x10000000" is the emulating kernel's own parameter (tests/sgx_emu/kernel).
  std::size_t i = 0;
  while (i < cmdline.size()) {
    while (i < cmdline.size() && (cmdline[i] == ' ' || cmdline[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < cmdline.size() && cmdline[j] != ' ' && cmdline[j] != '\n') ++j;
    if (cmdline.substr(i, j - i).rfind("sgx_emu_epc=", 0) == 0)
      return "kernel command line has " + std::string(cmdline.substr(i, j - i)) +
             " (the SGX-emulating test kernel of tests/sgx_emu)";
    i = j;
  }
  if (emu_debugfs_exists) return "/sys/kernel/debug/sgx_emu exists (the SGX-emulating test kernel of tests/sgx_emu)";
  return "";
}

std::uint64_t va_pages_for(std::uint64_t added) { return (1 + added + 511) / 512; }
std::uint64_t epc_pages_for(std::uint64_t added) { return added + 1 + va_pages_for(added); }

Plan plan_for(std::uint64_t epc_pages, std::uint64_t free_pages, std::uint64_t image_pages) {
  Plan p;
  p.image_pages = image_pages;
  auto heap_for = [&](std::uint64_t target_each) -> std::uint64_t {
    // The largest heap whose enclave holds at most target_each EPC pages.
    if (target_each <= epc_pages_for(image_pages)) return 0;
    std::uint64_t heap = target_each - 1 - image_pages;
    while (heap > 0 && epc_pages_for(image_pages + heap) > target_each) --heap;
    return heap;
  };
  p.below_heap = heap_for(std::min(free_pages, epc_pages) / 4);  // 2 enclaves: half of the free EPC
  p.below_total = 2 * epc_pages_for(image_pages + p.below_heap);
  const std::uint64_t want = 2 * epc_pages;
  if (p.below_heap > 0 && want > p.below_total) p.over_heap = heap_for((want - p.below_total) / 2);
  p.over_total = p.below_total + 2 * epc_pages_for(image_pages + p.over_heap);
  return p;
}

namespace {

constexpr std::uint64_t kPage = 4096;
using Clock = std::chrono::steady_clock;

std::string read_small(const std::string& path, std::size_t max = 1 << 16) {
  std::ifstream f(path, std::ios::binary);
  std::string s(max, '\0');
  f.read(s.data(), static_cast<std::streamsize>(max));
  s.resize(static_cast<std::size_t>(f.gcount()));
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string fmt(double v, const char* f = "%.6g") {
  if (!std::isfinite(v)) return "n/a";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// ------------------------------------------------------------------------------------------------ the node

struct Node {
  std::string kernel, cpu, emulated_by;
  std::uint64_t epc_bytes = 0;
  double ghz = 0;                      // the CPU's nominal clock ("@ 2.80GHz"), else cpu MHz; 0 unknown
  std::optional<std::uint64_t> mem_available;  // bytes this process may still fill: MemAvailable, capped by its cgroup
};

std::optional<std::uint64_t> meminfo_available() {
  std::istringstream in(read_small("/proc/meminfo"));
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return std::nullopt;
}

// memory.max - memory.current of this process's cgroup v2, where it is limited.
std::optional<std::uint64_t> cgroup_memory_room() {
  auto path = cgroup_label_from_proc(read_small("/proc/self/cgroup"));
  if (!path) return std::nullopt;
  std::string dir = "/sys/fs/cgroup/" + (*path == "/" ? std::string() : *path);
  std::string max = trim(read_small(dir + "/memory.max")), cur = trim(read_small(dir + "/memory.current"));
  if (max.empty() || max == "max" || cur.empty()) return std::nullopt;
  std::uint64_t m = std::strtoull(max.c_str(), nullptr, 10), c = std::strtoull(cur.c_str(), nullptr, 10);
  return m > c ? m - c : 0;
}

Node read_node(std::size_t epc_fallback) {
  Node n;
  utsname u{};
  if (uname(&u) == 0) n.kernel = std::string(u.release) + " " + u.version;
  std::istringstream cpu(read_small("/proc/cpuinfo", 1 << 20));
  std::string line;
  double mhz = 0;
  while (std::getline(cpu, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string k = trim(line.substr(0, colon));
    while (!k.empty() && k.back() == '\t') k.pop_back();
    std::string v = line.substr(colon + 1);
    if (!v.empty() && v[0] == ' ') v.erase(0, 1);
    if (k == "model name" && n.cpu.empty()) n.cpu = v;
    if (k == "cpu MHz" && mhz == 0) mhz = std::atof(v.c_str());
  }
  if (auto at = n.cpu.rfind('@'); at != std::string::npos) n.ghz = std::atof(n.cpu.c_str() + at + 1);
  if (n.ghz <= 0 && mhz > 0) n.ghz = mhz / 1000;
  struct stat st{};
  n.emulated_by = emulation_marker(read_small("/proc/cmdline"), stat("/sys/kernel/debug/sgx_emu", &st) == 0);
  n.epc_bytes = sgx::host_epc_bytes();
  if (n.epc_bytes == 0) n.epc_bytes = epc_fallback;
  n.mem_available = meminfo_available();
  if (auto room = cgroup_memory_room(); room && (!n.mem_available || *room < *n.mem_available)) n.mem_available = room;
  return n;
}

// ------------------------------------------------------------------------------------------------ the exporter

// One scrape, read for this process's workload (the selector), the node, and the other workloads.
class View {
 public:
  View() = default;
  View(std::vector<Sample> s, const WorkloadSelector* sel) : s_(std::move(s)), sel_(sel) {}
  bool has_ours(std::string_view name) const {
    for (const auto& x : s_)
      if (x.name == name && sel_->matches(x)) return true;
    return false;
  }
  double ours(std::string_view name) const {
    double v = 0;
    for (const auto& x : s_)
      if (x.name == name && sel_->matches(x)) v += x.value;
    return v;
  }
  // Series of workloads (a pod or cgroup label) that are not this process's.
  double others(std::string_view name) const {
    double v = 0;
    for (const auto& x : s_)
      if (x.name == name && !sel_->matches(x) && (!x.label("pod").empty() || !x.label("cgroup").empty()))
        v += x.value;
    return v;
  }
  bool has(std::string_view name) const {
    for (const auto& x : s_)
      if (x.name == name) return true;
    return false;
  }
  double node(std::string_view name) const {
    double v = 0;
    for (const auto& x : s_)
      if (x.name == name) v += x.value;
    return v;
  }
  std::vector<const Sample*> all(std::string_view name, bool ours_only = false) const {
    std::vector<const Sample*> out;
    for (const auto& x : s_)
      if (x.name == name && (!ours_only || sel_->matches(x))) out.push_back(&x);
    return out;
  }
  // Per label value of `label`: the series' values (counters summed over the other labels).
  std::map<std::string, double> by_label(std::string_view name, std::string_view label) const {
    std::map<std::string, double> out;
    for (const auto& x : s_)
      if (x.name == name) out[std::string(x.label(label))] += x.value;
    return out;
  }

 private:
  std::vector<Sample> s_;
  const WorkloadSelector* sel_ = nullptr;
};

class Exporter {
 public:
  Exporter(HttpUrl url, const WorkloadSelector* sel) : url_(std::move(url)), sel_(sel) {}
  Result<View> scrape() const {
    auto s = epcbench::scrape(url_, 10000);
    if (!s) return s.error();
    return View(std::move(s.value()), sel_);
  }
  // Scrapes until pred holds (every 200 ms, up to `deadline`): the last view and whether pred held.
  std::pair<Result<View>, bool> wait_for(const std::function<bool(const View&)>& pred, std::chrono::seconds deadline) const {
    const auto end = Clock::now() + deadline;
    for (;;) {
      auto v = scrape();
      if (v && pred(v.value())) return {std::move(v), true};
      if (Clock::now() >= end) return {std::move(v), false};
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  // Until the node's free EPC, this workload's resident and evicted pages and the reclaim passes stopped moving
  // (ksgxd idle, as far as the exporter can tell): two scrapes in a row alike.
  Result<View> wait_quiet(std::chrono::seconds deadline = std::chrono::seconds(120)) const {
    std::optional<std::array<double, 4>> prev;
    auto key = [](const View& v) {
      return std::array<double, 4>{v.node("sgx_epc_free_bytes"), v.ours("sgx_epc_resident_bytes"),
                                   v.ours("sgx_epc_evicted_pages_total"), v.node("sgx_epc_reclaim_passes_total")};
    };
    auto r = wait_for(
        [&](const View& v) {
          auto k = key(v);
          bool same = prev && *prev == k;
          prev = k;
          return same;
        },
        deadline);
    return std::move(r.first);
  }
  const HttpUrl& url() const { return url_; }

 private:
  HttpUrl url_;
  const WorkloadSelector* sel_;
};

// ------------------------------------------------------------------------------------------------ the report

struct Check {
  std::string name;
  std::optional<bool> ok;  // nullopt: could not be checked (why in `note`)
  std::string expected, got, note;
};

struct Report {
  std::vector<Check> checks;
  std::vector<std::string> notes;
  void add(std::string name, bool ok, std::string expected, std::string got, std::string note = "") {
    checks.push_back({std::move(name), ok, std::move(expected), std::move(got), std::move(note)});
  }
  void skip(std::string name, std::string why) { checks.push_back({std::move(name), std::nullopt, "", "", std::move(why)}); }
  // An exact count: got == want.
  void eq(std::string name, std::optional<double> got, double want, std::string note = "") {
    add(std::move(name), got && std::fabs(*got - want) < 0.5, fmt(want, "%.0f"), got ? fmt(*got, "%.0f") : "missing",
        std::move(note));
  }
  // got within tol (relative) of want.
  void near(std::string name, std::optional<double> got, double want, double tol, std::string note = "") {
    bool ok = got && want > 0 && std::fabs(*got - want) <= tol * want;
    std::string g = got ? fmt(*got) : "missing";
    if (got && want > 0) g += " (" + fmt(100.0 * (*got - want) / want, "%+.1f") + " %)";
    add(std::move(name), ok, fmt(want) + " ± " + fmt(100 * tol, "%.0f") + " %", g, std::move(note));
  }
  std::string verdict() const {
    bool incomplete = false;
    for (const auto& c : checks) {
      if (c.ok && !*c.ok) return "fail";
      if (!c.ok) incomplete = true;
    }
    return incomplete || checks.empty() ? "incomplete" : "pass";
  }
};

// ------------------------------------------------------------------------------------------------ enclaves

// One enclave of the workload: built through the driver (CREATE, ADD_PAGES, INIT), mapped, never entered: its
// heap pages are touched from outside, as tests/sgx_emu's workload does (on hardware such a read returns the abort
// page's 0xFF, but the page is faulted in, and loaded back, exactly as for an access from inside).
struct Encl {
  sgx::BuiltEnclave b;
  std::uint64_t added = 0;  // EADDed pages
  ~Encl() {
    if (b.base != nullptr) munmap(b.base, b.layout.encl_size);
    if (b.fd >= 0) close(b.fd);
  }
  std::uint8_t* heap() const { return b.base + b.layout.heap_offset; }
  std::uint64_t heap_pages() const { return b.layout.heap_pages; }
};

Result<std::unique_ptr<Encl>> make_enclave(std::uint64_t heap_pages, EVP_PKEY* key, const sgx::Sigstruct* presigned) {
  auto lay = sgx::layout_from_elf(sgx::embedded_enclave_image(), heap_pages);
  if (!lay) return lay.error();
  std::uint64_t added = 0;
  for (const auto& s : lay.value().segments) added += s.size / kPage;
  sgx::CreateOptions o;
  o.presigned = presigned;
  auto b = sgx::create_enclave(std::move(lay.value()), key, o);
  if (!b) return b.error();
  auto e = std::make_unique<Encl>();
  e->b = std::move(b.value());
  e->added = added;
  return e;
}

void touch(std::uint8_t* page) {
  volatile std::uint64_t* w = reinterpret_cast<volatile std::uint64_t*>(page);
  std::uint64_t v = *w;
  *w = v + 1;
}

// Every heap page of the enclaves once: in order, or in a fixed random order (seed).
std::vector<std::uint8_t*> access_order(const std::vector<std::unique_ptr<Encl>>& es, bool random, std::uint64_t seed) {
  std::vector<std::uint8_t*> pages;
  for (const auto& e : es)
    for (std::uint64_t i = 0; i < e->heap_pages(); ++i) pages.push_back(e->heap() + i * kPage);
  if (!random) return pages;
  auto perm = make_pattern(Pattern::kRandom, pages.size(), seed);
  std::vector<std::uint8_t*> out(pages.size());
  for (std::size_t i = 0; i < perm.size(); ++i) out[i] = pages[perm[i]];
  return out;
}

double untimed_pass(const std::vector<std::uint8_t*>& order) {
  const std::uint64_t t0 = monotonic_ns();
  for (auto* p : order) touch(p);
  return double(monotonic_ns() - t0) / 1e9;
}

// ------------------------------------------------------------------------------------------------ overhead

// Switches the probes on and off: the user's commands, or a private exporter instance started and stopped here.
class ProbeSwitch {
 public:
  virtual ~ProbeSwitch() = default;
  virtual Status on() = 0;
  virtual Status off() = 0;
  virtual std::string describe() const = 0;
};

Status run_shell(const std::string& what, const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) return make_error(what + " failed (status " + std::to_string(rc) + "): " + cmd);
  return Status::Ok();
}

class CommandSwitch final : public ProbeSwitch {
 public:
  CommandSwitch(std::string attach, std::string detach, const Exporter& ex) : a_(attach), d_(detach), ex_(ex) {}
  Status on() override {
    if (auto st = run_shell("--exporter-attach-cmd", a_); !st) return st;
    // Attached once the exporter answers again with an attached probe.
    auto [v, ok] = ex_.wait_for([](const View& v) { return v.node("sgx_exporter_probe_attached") > 0; },
                                std::chrono::seconds(120));
    if (!ok) return make_error("after --exporter-attach-cmd the exporter did not report an attached probe within 120 s");
    return Status::Ok();
  }
  Status off() override { return run_shell("--exporter-detach-cmd", d_); }
  std::string describe() const override {
    return "--exporter-attach-cmd/--exporter-detach-cmd (the validated exporter attached and detached)";
  }

 private:
  std::string a_, d_;
  const Exporter& ex_;
};

std::string self_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string p(buf, static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

// epc_exporter beside this binary (the .deb, the emulated guest), in the build tree, or in /usr/bin.
std::string find_exporter_binary() {
  std::string d = self_dir();
  for (std::string c : {d + "/epc_exporter", d + "/../exporter/epc_exporter", std::string("/usr/bin/epc_exporter")})
    if (!d.empty() && access(c.c_str(), X_OK) == 0) return c;
  return "";
}

std::uint16_t free_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// A second exporter, eBPF collector only, unpinned (so stopping it detaches its probes, and it never takes over
// the node exporter's pinned state), on a loopback port of its own. Beside the node's exporter its probes run in
// addition to that one's: "attached" is the node's probes plus these, "detached" the node's alone.
class PrivateInstance final : public ProbeSwitch {
 public:
  PrivateInstance(std::string binary, std::string log) : bin_(std::move(binary)), log_(std::move(log)) {}
  ~PrivateInstance() override { (void)off(); }
  Status on() override {
    if (pid_ > 0) return Status::Ok();
    std::uint16_t port = free_loopback_port();
    if (port == 0) return make_error("no free loopback port for the private exporter instance");
    std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args = {bin_, listen, "--collector.ebpf.pin-path=", "--collector.disable-defaults",
                                     "--collector.ebpf", "--web.disable-exporter-metrics"};
    pid_t pid = fork();
    if (pid < 0) return make_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin_.c_str(), argv.data());
      _exit(127);
    }
    pid_ = pid;
    Exporter mine(HttpUrl{"127.0.0.1", port, "/metrics"}, &nobody_);
    const auto end = Clock::now() + std::chrono::seconds(180);
    for (;;) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return make_error("the private exporter instance (" + bin_ + ") exited during start-up (status " +
                          std::to_string(st) + "); its log: " + log_);
      }
      auto v = mine.scrape();
      if (v && v.value().node("sgx_exporter_probe_attached") > 0) return Status::Ok();
      if (v) {
        (void)off();
        return make_error("the private exporter instance attached no SGX probe (its log: " + log_ + ")");
      }
      if (Clock::now() >= end) {
        (void)off();
        return make_error("the private exporter instance did not answer within 180 s (its log: " + log_ + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  Status off() override {
    if (pid_ <= 0) return Status::Ok();
    kill(pid_, SIGTERM);
    const auto end = Clock::now() + std::chrono::seconds(30);
    int st = 0;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (Clock::now() >= end) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_ = -1;
    return Status::Ok();
  }
  std::string describe() const override {
    return "a private exporter instance (" + bin_ + ", eBPF collector, unpinned) started and stopped: its probes "
           "beside the node exporter's";
  }

 private:
  std::string bin_, log_;
  pid_t pid_ = -1;
  WorkloadSelector nobody_{"", "", "\x01"};
};

struct Overhead {
  std::optional<double> ratio;
  std::vector<double> on_s, off_s;
  std::string method, why_not;
};

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The same timed pass with the probes on and off, rounds in the order on,off / off,on / on,off ... (drift hits
// both sides alike); the ratio of the medians.
Overhead measure_overhead(ProbeSwitch& sw, const std::vector<std::uint8_t*>& order, int rounds, bool ends_on) {
  Overhead o;
  o.method = sw.describe();
  bool on = false;
  for (int r = 0; r < rounds && o.why_not.empty(); ++r) {
    for (int k = 0; k < 2; ++k) {
      bool want = (r % 2 == 0) == (k == 0);
      Status st = want ? sw.on() : sw.off();
      if (!st) {
        o.why_not = st.error().message;
        break;
      }
      on = want;
      (want ? o.on_s : o.off_s).push_back(untimed_pass(order));
    }
  }
  if (ends_on && !on) {
    if (Status st = sw.on(); !st && o.why_not.empty()) o.why_not = "re-attaching: " + st.error().message;
  }
  if (!ends_on && on) (void)sw.off();
  if (o.why_not.empty() && !o.on_s.empty() && !o.off_s.empty()) o.ratio = median(o.on_s) / median(o.off_s);
  return o;
}

// ------------------------------------------------------------------------------------------------ the run

struct Phase {
  std::string name;
  std::uint64_t enclaves = 0, size_bytes = 0, added = 0, secs = 0, va = 0;
};

Phase describe(const std::string& name, const std::vector<std::unique_ptr<Encl>>& es) {
  Phase p{name};
  for (const auto& e : es) {
    ++p.enclaves;
    p.size_bytes += e->b.layout.encl_size;
    p.added += e->added;
    p.secs += 1;
    p.va += va_pages_for(e->added);
  }
  return p;
}

// The checks every phase gets: live enclaves, declared size, pages held, VA pages.
void check_holdings(Report& rep, const View& v, const Phase& p) {
  rep.eq(p.name + ".enclaves", v.has_ours("sgx_enclaves") ? std::optional(v.ours("sgx_enclaves")) : std::nullopt,
         double(p.enclaves));
  rep.eq(p.name + ".declared_size_bytes",
         v.has_ours("sgx_enclave_size_bytes") ? std::optional(v.ours("sgx_enclave_size_bytes")) : std::nullopt,
         double(p.size_bytes));
  std::optional<double> held;
  if (v.has_ours("sgx_epc_resident_bytes") || v.has_ours("sgx_epc_swapped_bytes"))
    held = (v.ours("sgx_epc_resident_bytes") + v.ours("sgx_epc_swapped_bytes")) / double(kPage);
  rep.eq(p.name + ".resident_plus_swapped_pages", held, double(p.added + p.secs + p.va),
         "= pages added " + std::to_string(p.added) + " + SECS " + std::to_string(p.secs) + " + VA " +
             std::to_string(p.va) + " (resident " + fmt(v.ours("sgx_epc_resident_bytes") / kPage, "%.0f") +
             ", swapped " + fmt(v.ours("sgx_epc_swapped_bytes") / kPage, "%.0f") + ")");
  rep.eq(p.name + ".va_pages",
         v.has_ours("sgx_epc_va_bytes") ? std::optional(v.ours("sgx_epc_va_bytes") / double(kPage)) : std::nullopt,
         double(p.va), "ceil((SECS + pages added) / 512) per enclave");
}

std::string exporter_version(const View& v) {
  for (const Sample* s : v.all("sgx_exporter_build_info")) {
    std::string out(s->label("version"));
    if (!s->label("revision").empty()) out += " (" + std::string(s->label("revision")) + ")";
    return out;
  }
  return "";
}

void check_exporter_health(Report& rep, const View& first, const View& last) {
  // Probes: attached, or off with the reason the exporter gives.
  std::map<std::string, double> attached;
  for (const Sample* s : last.all("sgx_exporter_probe_attached")) attached[std::string(s->label("probe"))] = s->value;
  std::vector<std::string> bad, off;
  auto infos = last.all("sgx_exporter_probe_info");
  for (const Sample* s : infos) {
    std::string probe(s->label("probe"));
    if (attached[probe] == 1) continue;
    if (s->label("reason").empty())
      bad.push_back(probe);
    else
      off.push_back(probe + ": " + std::string(s->label("reason")));
  }
  std::string got = std::to_string(infos.size() - off.size() - bad.size()) + " attached";
  if (!off.empty()) {
    got += "; off:";
    for (auto& o : off) got += " [" + o + "]";
  }
  if (!bad.empty()) {
    got += "; off without a reason:";
    for (auto& b : bad) got += " " + b;
  }
  rep.add("exporter.probes_attached_or_off_with_reason", !infos.empty() && bad.empty(),
          "every probe attached, or off with a reason", infos.empty() ? "no sgx_exporter_probe_info" : got);
  // Events the probes could not record, and kretprobe returns missed, during the run.
  auto delta = [&](const char* name, const char* label) {
    auto a = first.by_label(name, label), b = last.by_label(name, label);
    std::string nonzero;
    for (auto& [k, v] : b)
      if (v - a[k] > 0) nonzero += (nonzero.empty() ? "" : ", ") + k + " +" + fmt(v - a[k], "%.0f");
    return nonzero;
  };
  if (!last.has("sgx_exporter_bpf_dropped_events_total")) {
    rep.add("exporter.no_dropped_events", false, "0 during the run", "sgx_exporter_bpf_dropped_events_total missing");
  } else {
    auto d = delta("sgx_exporter_bpf_dropped_events_total", "reason");
    rep.add("exporter.no_dropped_events", d.empty(), "0 during the run", d.empty() ? "0" : d);
  }
  if (!last.has("sgx_exporter_kretprobe_missed_total")) {
    rep.add("exporter.no_missed_kretprobes", true, "0 during the run", "0 (no tracefs kretprobes: fentry flavor)");
  } else {
    auto d = delta("sgx_exporter_kretprobe_missed_total", "program");
    rep.add("exporter.no_missed_kretprobes", d.empty(), "0 during the run", d.empty() ? "0" : d);
  }
}

struct PassFigures {
  std::string pattern;
  BlockedTime t;
  double exporter_loaded_back = NAN, exporter_stall_s = NAN;
};

struct Figures {
  std::optional<double> swap_ns, swap_ns_p50;
  BlockedTime below, over;
  std::vector<PassFigures> passes;  // the oversubscribed phase's timed passes, each on its own
  std::uint64_t stalled = 0;
  double exporter_loaded_back = NAN, exporter_stall_s = NAN;
  bool sched_watch = false;
  Overhead overhead;
  Plan plan;
};

std::string json_opt(const std::optional<double>& v) { return v ? json_number(*v) : "null"; }

std::string blocked_json(const BlockedTime& b) {
  return "{\"accesses\": " + std::to_string(b.accesses) + ", \"stalled_accesses\": " +
         std::to_string(b.faulted_accesses) + ", \"baseline_ns\": " + std::to_string(b.baseline_ns) +
         ", \"trap_ns\": " + std::to_string(b.trap_ns) + ", \"stalled_p50_ns\": " + std::to_string(b.faulted_p50_ns) +
         ", \"stalled_max_ns\": " + std::to_string(b.faulted_max_ns) + ", \"blocked_seconds\": " +
         json_number(b.blocked_seconds) + ", \"descheduled_seconds\": " + json_number(b.descheduled_seconds) + "}";
}

std::string sim_model_of(const Figures& f, const Node& n) {
  if (!f.swap_ns || n.ghz <= 0) return "";
  char b[96];
  std::snprintf(b, sizeof b, "--sim-model=cycles:%.0f,0 --sim-model-ghz=%.2f", *f.swap_ns * n.ghz, n.ghz);
  return b;
}

std::string to_json(const Report& rep, const Node& n, const Figures& f, const std::string& version,
                    const Options& o) {
  std::ostringstream j;
  const bool emu = !n.emulated_by.empty();
  j << "{\n  \"verdict\": " << json_quote(rep.verdict()) << ",\n";
  j << "  \"emulated\": " << (emu ? "true" : "false") << ",\n";
  j << "  \"emulation_detected_by\": " << (emu ? json_quote(n.emulated_by) : "null") << ",\n";
  j << "  \"figures_note\": "
    << json_quote(emu ? "EMULATED: an SGX-emulating test kernel (ENCLS leaves done in C, no SGX hardware); every "
                        "timing and ratio here is the emulation's, not SGX's"
                      : "measured on this node")
    << ",\n";
  j << "  \"checks\": [\n";
  for (std::size_t i = 0; i < rep.checks.size(); ++i) {
    const Check& c = rep.checks[i];
    j << "    {\"name\": " << json_quote(c.name) << ", \"ok\": " << (c.ok ? (*c.ok ? "true" : "false") : "null")
      << ", \"expected\": " << json_quote(c.expected) << ", \"got\": " << json_quote(c.got);
    if (!c.note.empty()) j << ", \"note\": " << json_quote(c.note);
    j << "}" << (i + 1 < rep.checks.size() ? "," : "") << "\n";
  }
  j << "  ],\n";
  j << "  \"overhead_ratio\": " << json_opt(f.overhead.ratio) << ",\n";
  j << "  \"overhead\": {\"method\": " << json_quote(f.overhead.method) << ", \"rounds\": " << o.overhead_rounds
    << ", \"why_not\": " << (f.overhead.why_not.empty() ? "null" : json_quote(f.overhead.why_not))
    << ", \"attached_pass_seconds\": [";
  for (std::size_t i = 0; i < f.overhead.on_s.size(); ++i) j << (i ? ", " : "") << json_number(f.overhead.on_s[i]);
  j << "], \"detached_pass_seconds\": [";
  for (std::size_t i = 0; i < f.overhead.off_s.size(); ++i) j << (i ? ", " : "") << json_number(f.overhead.off_s[i]);
  j << "]},\n";
  j << "  \"swap_ns\": " << json_opt(f.swap_ns) << ",\n";
  j << "  \"swap\": {\"what\": \"mean time an access lost to a page load-back in the oversubscribed phase (fault, "
       "ELDU, any wait for ksgxd to free a page; latency - baseline - time off the CPU)\", \"p50_ns\": "
    << json_opt(f.swap_ns_p50) << ", \"sim_model\": " << json_quote(sim_model_of(f, n)) << "},\n";
  j << "  \"kernel\": " << json_quote(n.kernel) << ",\n";
  j << "  \"cpu\": " << json_quote(n.cpu) << ",\n";
  j << "  \"exporter_version\": " << json_quote(version) << ",\n";
  j << "  \"exporter_url\": " << json_quote("http://" + o.exporter.host + ":" + std::to_string(o.exporter.port) +
                                            o.exporter.path)
    << ",\n";
  j << "  \"workload\": " << json_quote(o.selector.describe()) << ",\n";
  j << "  \"epc_bytes\": " << n.epc_bytes << ",\n";
  j << "  \"plan\": {\"image_pages\": " << f.plan.image_pages << ", \"below_epc_heap_pages\": " << f.plan.below_heap
    << ", \"oversubscribed_heap_pages\": " << f.plan.over_heap << ", \"below_epc_total_pages\": " << f.plan.below_total
    << ", \"oversubscribed_total_pages\": " << f.plan.over_total << "},\n";
  j << "  \"below_epc\": " << blocked_json(f.below) << ",\n";
  j << "  \"oversubscribed\": " << blocked_json(f.over) << ",\n";
  j << "  \"oversubscribed_passes\": [";
  for (std::size_t i = 0; i < f.passes.size(); ++i) {
    const auto& p = f.passes[i];
    std::string b = blocked_json(p.t);
    b.pop_back();  // '}'
    j << (i ? ", " : "") << b << ", \"pattern\": " << json_quote(p.pattern) << ", \"exporter_loaded_back\": "
      << json_number(p.exporter_loaded_back) << ", \"exporter_fault_stall_seconds\": " << json_number(p.exporter_stall_s)
      << "}";
  }
  j << "],\n";
  j << "  \"sched_watch\": " << (f.sched_watch ? "true" : "false") << ",\n";
  j << "  \"notes\": [";
  for (std::size_t i = 0; i < rep.notes.size(); ++i) j << (i ? ", " : "") << json_quote(rep.notes[i]);
  j << "]\n}\n";
  return j.str();
}

std::string to_markdown(const Report& rep, const Node& n, const Figures& f, const std::string& version,
                        const std::string& json) {
  std::ostringstream m;
  const bool emu = !n.emulated_by.empty();
  std::string verdict = rep.verdict();
  for (auto& c : verdict) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  m << "### epc_bench --validate: " << verdict << (emu ? " (EMULATED, not SGX hardware)" : "") << "\n\n";
  if (emu)
    m << "**Emulated**: " << n.emulated_by << ". Every figure below is the emulation's, not SGX hardware's.\n\n";
  m << "- kernel: `" << n.kernel << "`\n- CPU: " << n.cpu << "\n- EPC: " << fmt(double(n.epc_bytes) / (1 << 20), "%.1f")
    << " MiB\n- exporter: " << (version.empty() ? "unknown" : version) << "\n\n";
  m << "| check | ok | expected | got |\n|---|---|---|---|\n";
  for (const auto& c : rep.checks) {
    std::string got = c.got;
    if (!c.ok) got = "not checked: " + c.note;
    for (auto& ch : got)
      if (ch == '|' || ch == '\n') ch = '/';
    m << "| " << c.name << " | " << (c.ok ? (*c.ok ? "yes" : "**NO**") : "-") << " | " << c.expected << " | " << got
      << " |\n";
  }
  m << "\n" << (emu ? "Emulated figures" : "Figures") << ":\n";
  m << "- probes' overhead (attached / detached, median pass time): "
    << (f.overhead.ratio ? fmt(*f.overhead.ratio, "%.4f") : "not measured (" + f.overhead.why_not + ")") << "; "
    << f.overhead.method << "\n";
  m << "- page swap cost per stalled access: " << (f.swap_ns ? fmt(*f.swap_ns, "%.0f") + " ns" : "not measured");
  if (auto s = sim_model_of(f, n); !s.empty()) m << " (`epc_bench " << s << "`)";
  m << "\n";
  for (const auto& note : rep.notes) m << "- " << note << "\n";
  m << "\n<details><summary>validate.json</summary>\n\n```json\n" << json << "```\n</details>\n";
  return m.str();
}

}  // namespace

int run(const Options& o) {
  if (auto why = sgx::sgx_unavailable()) {
    std::fprintf(stderr, "epc_bench --validate: no SGX on this node: %s\n", why->c_str());
    return 77;
  }
  Node node = read_node(o.epc_bytes_fallback);
  Report rep;
  Figures fig;
  std::string version;
  if (!node.emulated_by.empty()) rep.notes.push_back("emulated: " + node.emulated_by);
  auto key = sgx::load_private_key_pem(sgx::embedded_signing_key_pem());
  if (!key) {
    std::fprintf(stderr, "epc_bench --validate: the enclave signing key: %s\n", key.error().message.c_str());
    return 1;
  }
  const std::string mrsigner = sgx::digest_hex(sgx::mrsigner_of(key.value().get()));
  Exporter ex(o.exporter, &o.selector);
  std::fprintf(stderr, "epc_bench --validate: exporter %s:%u%s, workload %s\n", o.exporter.host.c_str(),
               o.exporter.port, o.exporter.path.c_str(), o.selector.describe().c_str());

  // The exporter before anything of ours exists (it may still be starting: up to 60 s).
  auto [first, up] = ex.wait_for([](const View&) { return true; }, std::chrono::seconds(60));
  std::optional<View> v0;
  if (first) {
    v0 = first.value();
    version = exporter_version(*v0);
    rep.add("exporter.reachable", true, "answers", "answers");
  } else {
    rep.add("exporter.reachable", false, "answers", first.error().message);
  }
  if (node.epc_bytes == 0 && v0) {
    // No sysfs sgx_total_bytes and no CPUID leaf 0x12 here (a guest whose hypervisor hides them, or the emulating
    // kernel): the exporter's capacity, else what the kernel counts free plus what the probes see held.
    if (v0->has("sgx_epc_capacity_bytes")) {
      node.epc_bytes = std::uint64_t(v0->node("sgx_epc_capacity_bytes"));
      rep.notes.push_back("EPC size from the exporter's sgx_epc_capacity_bytes (none in sysfs or CPUID here)");
    } else if (v0->has("sgx_epc_free_bytes")) {
      node.epc_bytes = std::uint64_t(v0->node("sgx_epc_free_bytes") + v0->node("sgx_epc_resident_bytes") +
                                     v0->node("sgx_vepc_bytes"));
      rep.notes.push_back("EPC size = the exporter's free + held EPC at the start (no size in sysfs, CPUID or the "
                          "exporter here)");
    }
  }
  if (node.epc_bytes == 0)
    rep.notes.push_back("EPC size unknown (no sgx_total_bytes in sysfs, no CPUID leaf 0x12): give --sgx-epc-mib");
  const std::uint64_t epc_pages = node.epc_bytes / kPage;
  std::uint64_t free_pages = epc_pages;
  if (v0 && v0->has("sgx_epc_free_bytes")) free_pages = std::uint64_t(v0->node("sgx_epc_free_bytes")) / kPage;
  auto base_layout = sgx::layout_from_elf(sgx::embedded_enclave_image(), 0);
  std::uint64_t image_pages = 0;
  if (base_layout)
    for (const auto& s : base_layout.value().segments) image_pages += s.size / kPage;
  fig.plan = plan_for(epc_pages, free_pages, image_pages);

  SchedWatch watch;
  fig.sched_watch = watch.ok();
  if (!watch.ok())
    rep.notes.push_back("no per-access scheduling records (tracefs sched_switch or perf unavailable): blocked time "
                        "includes time off the CPU");
  const std::uint64_t trap_raw = measure_trap_ns(watch);

  std::vector<std::unique_ptr<Encl>> encls;
  std::string stop;  // why the run stopped early
  auto create = [&](int n, std::uint64_t heap) {
    const sgx::Sigstruct* pre = nullptr;
    for (int i = 0; i < n && stop.empty(); ++i) {
      auto e = make_enclave(heap, key.value().get(), pre);
      if (!e) {
        stop = "creating an enclave of " + std::to_string(heap) + " heap pages: " + e.error().message;
        return;
      }
      encls.push_back(std::move(e.value()));
      pre = &encls.back()->b.sigstruct;
    }
  };

  // ---- phase 1: below EPC (half the free EPC, 2 enclaves)
  if (fig.plan.below_heap == 0) stop = "the EPC (" + std::to_string(free_pages) + " pages free) is too small to plan";
  if (stop.empty()) create(2, fig.plan.below_heap);
  std::optional<View> va;
  if (stop.empty()) {
    std::fprintf(stderr, "epc_bench --validate: below EPC: 2 enclaves of %llu heap pages\n",
                 static_cast<unsigned long long>(fig.plan.below_heap));
    auto order = access_order(encls, false, 1);
    untimed_pass(order);  // maps every page
    AccessLog log(watch);
    log.prepare(order.size());
    for (auto* p : order) log.time([p] { touch(p); });
    fig.below = summarize(log, trap_raw);
    if (v0) {
      auto q = ex.wait_quiet();
      if (q) va = q.value();
    }
  }
  const Phase below = describe("below_epc", encls);
  if (va) {
    check_holdings(rep, *va, below);
    double ev = va->ours("sgx_epc_evicted_pages_total") - v0->ours("sgx_epc_evicted_pages_total");
    double lb = va->ours("sgx_epc_loaded_back_pages_total") - v0->ours("sgx_epc_loaded_back_pages_total");
    rep.add("below_epc.no_paging", ev == 0 && lb == 0, "evicted 0, loaded back 0",
            "evicted " + fmt(ev, "%.0f") + ", loaded back " + fmt(lb, "%.0f"));
    // Identity: every enclave's MRENCLAVE and MRSIGNER as built and signed here.
    const std::string mre = sgx::digest_hex(encls.front()->b.mrenclave);
    auto infos = va->all("sgx_enclave_info", true);
    std::size_t match = 0;
    std::string seen;
    for (const Sample* s : infos) {
      if (s->label("mrenclave") == mre && s->label("mrsigner") == mrsigner) ++match;
      seen += (seen.empty() ? "" : "; ") + std::string(s->label("mrenclave")).substr(0, 16) + ".../" +
              std::string(s->label("mrsigner")).substr(0, 16) + "...";
    }
    rep.add("identity.mrenclave_mrsigner", match == encls.size() && infos.size() == encls.size(),
            std::to_string(encls.size()) + " x mrenclave " + mre + ", mrsigner " + mrsigner,
            std::to_string(infos.size()) + " sgx_enclave_info series, " + std::to_string(match) + " matching" +
                (seen.empty() ? "" : " (" + seen + ")"));
    rep.add("workload.found", va->has_ours("sgx_enclaves"), "series of " + o.selector.describe(),
            va->has_ours("sgx_enclaves") ? "found" : "none: is the workload selector right (--exporter-pod)?");
  } else {
    const std::string why = !stop.empty() ? stop : "the exporter could not be scraped";
    for (const char* c : {"below_epc.enclaves", "below_epc.declared_size_bytes", "below_epc.resident_plus_swapped_pages",
                          "below_epc.va_pages", "below_epc.no_paging", "identity.mrenclave_mrsigner", "workload.found"})
      rep.skip(c, why);
  }

  // ---- phase 2: about twice the EPC (2 more enclaves), if the evicted pages' backing store fits in memory
  std::optional<View> vb0, vb1;
  std::vector<std::uint8_t*> over_order;
  if (stop.empty()) {
    const std::uint64_t swapped = fig.plan.over_total > free_pages ? fig.plan.over_total - free_pages : 0;
    const std::uint64_t need = swapped * kPage * 33 / 32 + (fig.plan.over_total * 12);  // + PCMD, + access log
    if (fig.plan.over_heap == 0) {
      stop = "no room for the oversubscribed phase";
    } else if (node.mem_available && need > *node.mem_available) {
      stop = "oversubscribing the EPC 2x needs about " + fmt(double(need) / (1 << 30), "%.1f") +
             " GiB of memory for the evicted pages' backing store; this process may use " +
             fmt(double(*node.mem_available) / (1 << 30), "%.1f") + " GiB (MemAvailable, its cgroup's memory.max)";
    }
  }
  if (stop.empty()) create(2, fig.plan.over_heap);
  if (stop.empty()) {
    std::fprintf(stderr, "epc_bench --validate: oversubscribed: 2 more enclaves of %llu heap pages (%llu EPC pages, "
                 "EPC %llu)\n", static_cast<unsigned long long>(fig.plan.over_heap),
                 static_cast<unsigned long long>(fig.plan.over_total), static_cast<unsigned long long>(epc_pages));
    auto seq = access_order(encls, false, 1);
    over_order = access_order(encls, true, 7);
    untimed_pass(seq);  // every page mapped once: from here on, a fault is a load-back
    if (v0) {
      auto s = ex.scrape();
      if (s) vb0 = s.value();
    }
    AccessLog log(watch);
    log.prepare(seq.size() + over_order.size());
    // Two timed passes, a scrape after each (so each pass's figures can be compared on their own too).
    std::optional<View> mid;
    for (auto* p : seq) log.time([p] { touch(p); });
    if (vb0) {
      auto s = ex.scrape();
      if (s) mid = s.value();
    }
    log.resync();
    for (auto* p : over_order) log.time([p] { touch(p); });
    if (vb0) {
      auto s = ex.scrape();
      if (s) vb1 = s.value();
    }
    // The resident pages' latency below EPC is the baseline: at 2x nearly every access of a pass may stall.
    fig.over = summarize(log, trap_raw, fig.below.baseline_ns);
    const View* at[3] = {vb0 ? &*vb0 : nullptr, mid ? &*mid : nullptr, vb1 ? &*vb1 : nullptr};
    for (int k = 0; k < 2; ++k) {
      PassFigures pf{k == 0 ? "sequential" : "random",
                     summarize(log, trap_raw, fig.below.baseline_ns, k == 0 ? 0 : seq.size(),
                               k == 0 ? seq.size() : log.size())};
      if (at[k] && at[k + 1]) {
        pf.exporter_loaded_back = at[k + 1]->ours("sgx_epc_loaded_back_pages_total") -
                                  at[k]->ours("sgx_epc_loaded_back_pages_total");
        pf.exporter_stall_s = at[k + 1]->ours("sgx_enclave_page_fault_seconds_total") -
                              at[k]->ours("sgx_enclave_page_fault_seconds_total");
      }
      fig.passes.push_back(pf);
    }
    fig.stalled = fig.over.faulted_accesses;
    if (fig.stalled > 0) {
      // Time lost per stall: blocked time plus the trap round trip each stall also pays.
      fig.swap_ns = (fig.over.blocked_seconds * 1e9 + double(fig.over.trap_ns) * double(fig.stalled)) /
                    double(fig.stalled);
      if (fig.over.faulted_p50_ns > fig.over.baseline_ns) fig.swap_ns_p50 = double(fig.over.faulted_p50_ns - fig.over.baseline_ns);
    }
  }
  const Phase over = describe("oversubscribed", encls);
  if (vb0 && vb1) {
    fig.exporter_loaded_back = vb1->ours("sgx_epc_loaded_back_pages_total") - vb0->ours("sgx_epc_loaded_back_pages_total");
    fig.exporter_stall_s = vb1->ours("sgx_enclave_page_fault_seconds_total") -
                           vb0->ours("sgx_enclave_page_fault_seconds_total");
    rep.near("oversubscribed.loaded_back_vs_stalled_accesses",
             vb1->has_ours("sgx_epc_loaded_back_pages_total") ? std::optional(fig.exporter_loaded_back) : std::nullopt,
             double(fig.stalled), 0.10,
             "load-backs the exporter counted during 2 timed passes over every page, against the accesses the "
             "workload saw fault (every page was mapped before them: a fault is a load-back)");
    rep.near("oversubscribed.fault_stall_seconds_vs_blocked",
             vb1->has_ours("sgx_enclave_page_fault_seconds_total") ? std::optional(fig.exporter_stall_s) : std::nullopt,
             fig.over.blocked_seconds, 0.15,
             "the exporter's page-fault wait against the workload's own blocked time, same passes");
    auto q = ex.wait_quiet();
    if (q) {
      check_holdings(rep, q.value(), over);
      const View& vq = q.value();
      double ev = vq.ours("sgx_epc_evicted_pages_total") - v0->ours("sgx_epc_evicted_pages_total");
      double lb = vq.ours("sgx_epc_loaded_back_pages_total") - v0->ours("sgx_epc_loaded_back_pages_total");
      rep.eq("oversubscribed.swapped_eq_evicted_minus_loaded_back",
             vq.has_ours("sgx_epc_swapped_bytes") ? std::optional(vq.ours("sgx_epc_swapped_bytes") / kPage) : std::nullopt,
             ev - lb, "evicted " + fmt(ev, "%.0f") + " - loaded back " + fmt(lb, "%.0f") + " since the start");
      rep.add("oversubscribed.paged", ev > 0 && lb > 0, "evictions and load-backs",
              "evicted " + fmt(ev, "%.0f") + ", loaded back " + fmt(lb, "%.0f"));
      vb1 = q.value();
    }
  } else {
    const std::string why = !stop.empty() ? stop : "the exporter could not be scraped";
    for (const char* c : {"oversubscribed.loaded_back_vs_stalled_accesses", "oversubscribed.fault_stall_seconds_vs_blocked",
                          "oversubscribed.enclaves", "oversubscribed.declared_size_bytes",
                          "oversubscribed.resident_plus_swapped_pages", "oversubscribed.va_pages",
                          "oversubscribed.swapped_eq_evicted_minus_loaded_back", "oversubscribed.paged"})
      rep.skip(c, why);
  }
  if (v0 && (vb1 || va)) {
    check_exporter_health(rep, *v0, vb1 ? *vb1 : *va);
  } else {
    for (const char* c : {"exporter.probes_attached_or_off_with_reason", "exporter.no_dropped_events",
                          "exporter.no_missed_kretprobes"})
      rep.skip(c, !stop.empty() ? stop : "the exporter could not be scraped");
  }

  // ---- the probes' overhead: the oversubscribed pass, attached and detached
  if (!over_order.empty()) {
    std::unique_ptr<ProbeSwitch> sw;
    if (!o.attach_cmd.empty() && !o.detach_cmd.empty()) {
      sw = std::make_unique<CommandSwitch>(o.attach_cmd, o.detach_cmd, ex);
    } else if (std::string bin = find_exporter_binary(); !bin.empty()) {
      sw = std::make_unique<PrivateInstance>(bin, o.out_dir + "/validate-exporter.log");
    } else {
      fig.overhead.why_not = "no --exporter-attach-cmd/--exporter-detach-cmd and no epc_exporter beside epc_bench";
    }
    if (sw) {
      std::fprintf(stderr, "epc_bench --validate: overhead, %d rounds: %s\n", o.overhead_rounds, sw->describe().c_str());
      fig.overhead = measure_overhead(*sw, over_order, o.overhead_rounds, !o.attach_cmd.empty());
    }
  } else {
    fig.overhead.why_not = !stop.empty() ? stop : "no oversubscribed phase";
  }

  // ---- release everything: nothing left resident, the node's free EPC back where it was
  encls.clear();
  if (v0) {
    const double free0 = v0->node("sgx_epc_free_bytes");
    const double held0 = v0->node("sgx_epc_resident_bytes") + v0->node("sgx_vepc_bytes");
    double want_free = free0;
    auto [vr, done] = ex.wait_for(
        [&](const View& v) {
          // Other workloads' pages we evicted (or they freed) are free now: the expected free EPC follows them.
          want_free = free0 + held0 - (v.node("sgx_epc_resident_bytes") + v.node("sgx_vepc_bytes"));
          return v.ours("sgx_epc_resident_bytes") == 0 && v.node("sgx_epc_free_bytes") == want_free;
        },
        std::chrono::seconds(60));
    if (vr) {
      const View& v = vr.value();
      rep.eq("released.resident_bytes_zero", v.ours("sgx_epc_resident_bytes"), 0,
             v.has_ours("sgx_epc_resident_bytes") ? "" : "no resident series left for the workload");
      rep.add("released.node_free_epc_restored",
              v.has("sgx_epc_free_bytes") && v.node("sgx_epc_free_bytes") == want_free,
              fmt(want_free / kPage, "%.0f") + " pages",
              v.has("sgx_epc_free_bytes") ? fmt(v.node("sgx_epc_free_bytes") / kPage, "%.0f") + " pages"
                                          : "sgx_epc_free_bytes missing",
              "free at the start " + fmt(free0 / kPage, "%.0f") + " pages, adjusted by what other workloads hold now");
      if (version.empty()) version = exporter_version(v);
    } else {
      rep.skip("released.resident_bytes_zero", "the exporter could not be scraped: " + vr.error().message);
      rep.skip("released.node_free_epc_restored", "the exporter could not be scraped");
    }
  }
  if (!stop.empty()) rep.notes.push_back("stopped early: " + stop);
  if (fig.overhead.ratio)
    rep.notes.push_back("overhead: attached " + fmt(median(fig.overhead.on_s), "%.4g") + " s, detached " +
                        fmt(median(fig.overhead.off_s), "%.4g") + " s per pass (median of " +
                        std::to_string(fig.overhead.on_s.size()) + ")");
  else
    rep.skip("overhead.measured", fig.overhead.why_not);
  if (!fig.swap_ns) rep.skip("swap.measured", !stop.empty() ? stop : "no access stalled in the oversubscribed phase");

  const std::string json = to_json(rep, node, fig, version, o);
  const std::string md = to_markdown(rep, node, fig, version, json);
  std::fputs(md.c_str(), stdout);
  std::fflush(stdout);
  bool wrote = true;
  for (auto [name, text] : {std::pair<const char*, const std::string*>{"validate.json", &json}, {"validate.md", &md}}) {
    std::ofstream f(o.out_dir + "/" + name);
    f << *text;
    wrote &= bool(f);
  }
  if (!wrote) std::fprintf(stderr, "epc_bench --validate: could not write validate.json/validate.md in %s\n", o.out_dir.c_str());
  std::fprintf(stderr, "epc_bench --validate: %s%s; %s/validate.json, %s/validate.md\n", rep.verdict().c_str(),
               node.emulated_by.empty() ? "" : " (emulated)", o.out_dir.c_str(), o.out_dir.c_str());
  return rep.verdict() == "pass" && wrote ? 0 : 1;
}

}  // namespace epcbench::validate

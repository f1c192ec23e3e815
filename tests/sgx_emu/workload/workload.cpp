// sgx_emu_workload: the guest side of tests/sgx_emu. Runs a plan (written by tests/sgx_emu/run-scenario) of
// processes placed in cgroups laid out as the kubelet makes them, each creating enclaves through the in-kernel
// driver's real ioctls (bench/sgx's create_enclave: CREATE, ADD_PAGES, INIT with a real SIGSTRUCT, mmap
// MAP_SHARED) and touching their pages from outside the enclave. On the SGX-emulating test kernel the EPC is
// plain RAM, so every page written must read back intact after eviction and load-back: checked, reported.
//
//   sgx_emu_workload run --plan FILE --out workload.json --ready FILE --release FIFO [--cgroup-root DIR] [--compact]
//   sgx_emu_workload idle [--stats FILE] [--stable-ms 1000] [--poll-ms 50] [--timeout-s 120]
//   sgx_emu_workload scrape --target NAME:PORT:PID [--target ...] [--rounds 40] [--warmup 3] --out FILE
//
// `run`: one process per plan `proc` (container or service), one thread per enclave, all concurrently. After
// every enclave finished its passes (and restarted containers ran), it writes the ready file, then keeps every
// enclave alive until a line is written to the release FIFO; then releases everything, waits for all
// processes and writes workload.json. Exit 0 when no operation failed (data mismatches are reported, not
// judged), 2 when one did.
// `run --compact`: one process creates every proc's enclaves, moving itself into each proc's cgroup in turn (scale
// scenarios; see run_compact).
// `idle`: waits until the emulation's EWB and ELDU counts stop changing (ksgxd idle), prints the stats file.
// `scrape`: timed scrapes of exporters, alternating (see cmd_scrape).
//
// Plan lines (key=value, values without spaces, empty allowed):
//   proc <i> cgroup=<path below the cgroup root> ns=<namespace> pod=<pod> container=<name> container_id=<hex>
//        restart_count=<n> after=<proc index or -1>
//   encl <e> proc=<i> size=<ELRANGE bytes> add=<pages EADDed> passes=<n> eaug=<pages> remove=<pages>
//        debug=0|1 toucher=self|fork|proc:<j> provision=0|1 grant=0|1 key=0|1 isvprodid=<n> isvsvn=<n>
//        bad_measurement=0|1 inside=<n>
// inside: after its outside passes, the enclave touches every heap page n more times itself, entered through the
// vDSO's __vdso_sgx_enter_enclave (EENTER/EEXIT: on the test kernels, emulated from the invalid-opcode trap); each
// pass increments every heap page's first word, so pass k must read the words' sum before the first pass plus
// (k-1) x heap pages, and afterwards every word, read from outside, is its old value plus n.
// Identity (issue: which enclaves run where): provision sets PROVISIONKEY, granted through /dev/sgx_provision
// unless grant=0 (the driver then refuses INIT); key 0 is bench/sgx's signing key, key 1 a second one (two
// MRSIGNERs); bad_measurement signs a wrong ENCLAVEHASH (the emulated EINIT refuses it). An enclave whose INIT
// was meant to fail stays alive uninitialised, untouched, until release; one whose INIT failed unplanned is an
// error.
// A proc with after=i starts once proc i finished its passes and exited (a container restart: the old
// container's enclaves are released and its cgroup removed first).
//   pause <k> after_pass=<n> fifo=<path> marks=<dir>
// Every enclave of a proc with after=-1 and more than n passes (n = 0: before its first pass, after its
// creation) stops there: it opens the FIFO (the guest's /init holds it open for writing from the start, so the
// open does not block), creates <marks>/<k>.<enclave>, and reads the FIFO until /init closes it (EOF).
//
// Blocked time: every access (read + check + write of one page) is timed and classified as bench/access_timing.h
// says (shared with `epc_bench --validate`); 64 back-to-back accesses to one heap page before and after the sweeps
// guarantee accesses that did not fault, for the baseline. The calibration accesses count like the others
// (accesses, faults, blocked time).
#include <asm/sgx.h>
#include <linux/perf_event.h>
#include <fcntl.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "access_timing.h"
#include "json_text.h"
#include "sgx/enclave/encl_abi.h"
#include "sgx/image.h"
#include "sgx/sgx_backend.h"
#include "sgx/vdso.h"

extern "C" const char epc_emu_second_key[], epc_emu_second_key_end[];  // second_key.c

namespace {

using epcbench::AccessLog;
using epcbench::BlockedTime;
using epcbench::measure_trap_ns;
using epcbench::SchedWatch;
using epcbench::summarize;
using epcbench::sgx::BuiltEnclave;
using epcbench::sgx::CreateOptions;
using epcbench::sgx::Layout;

constexpr std::uint64_t kPage = 4096;
constexpr std::uint32_t kPageTypeTrim = 4;  // SGX_PAGE_TYPE_TRIM (arch/x86/include/asm/sgx.h, not uapi)
constexpr std::uintptr_t kBaseStart = 0x100000000000ull;  // ELRANGE e at kBaseStart + e * kBaseSlot, in every
constexpr std::uintptr_t kBaseSlot = 0x100000000ull;      // process, so a received fd maps at the same address

std::uint64_t now_ns() { return epcbench::monotonic_ns(); }

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string json_str(const std::string& s) { return epcbench::json_quote(s); }

bool write_all(int fd, const void* p, std::size_t n) {
  auto* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= std::size_t(w);
  }
  return true;
}
bool read_all(int fd, void* p, std::size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= std::size_t(r);
  }
  return true;
}

// ---- the plan ----

struct Proc {
  int idx = 0;
  std::string cgroup, ns, pod, container, container_id;
  int restart_count = 0;
  int after = -1;
};
struct Encl {
  int idx = 0;
  int proc = 0;
  std::uint64_t size = 0;
  std::uint64_t add = 0, passes = 0, eaug = 0, remove = 0;
  bool debug = false;
  bool provision = false, grant = true, bad_measurement = false;
  int key = 0;
  std::uint16_t isvprodid = 0, isvsvn = 0;
  std::uint64_t inside = 0;
  std::string toucher = "self";  // self | fork | proc:<j>
  bool init_should_fail() const { return bad_measurement || (provision && !grant); }
  int toucher_proc = -1;
};
struct Pause {
  int idx = 0;
  std::uint64_t after_pass = 0;
  std::string fifo, marks;
};
struct Plan {
  std::vector<Proc> procs;
  std::vector<Encl> encls;
  std::vector<Pause> pauses;
};
std::vector<Pause> g_pauses;  // the plan's, for the touchers (forked processes inherit it)

std::map<std::string, std::string> kv_fields(std::istringstream& in) {
  std::map<std::string, std::string> m;
  std::string tok;
  while (in >> tok) {
    auto eq = tok.find('=');
    if (eq == std::string::npos) throw std::runtime_error("plan: token without '=': " + tok);
    m[tok.substr(0, eq)] = tok.substr(eq + 1);
  }
  return m;
}

Plan read_plan(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read plan " + path);
  Plan p;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string kind;
    int idx;
    in >> kind >> idx;
    auto m = kv_fields(in);
    auto num = [&](const char* k) -> std::uint64_t { return m.count(k) ? std::stoull(m[k]) : 0; };
    if (kind == "proc") {
      Proc pr;
      pr.idx = idx;
      pr.cgroup = m["cgroup"];
      pr.ns = m["ns"];
      pr.pod = m["pod"];
      pr.container = m["container"];
      pr.container_id = m["container_id"];
      pr.restart_count = int(num("restart_count"));
      pr.after = m.count("after") ? std::stoi(m["after"]) : -1;
      if (idx != int(p.procs.size())) throw std::runtime_error("plan: procs must be numbered 0.. in order");
      p.procs.push_back(pr);
    } else if (kind == "encl") {
      Encl e;
      e.idx = idx;
      e.proc = int(num("proc"));
      e.size = num("size");
      e.add = num("add");
      e.passes = num("passes");
      e.eaug = num("eaug");
      e.remove = num("remove");
      e.debug = num("debug") != 0;
      e.provision = num("provision") != 0;
      e.grant = !m.count("grant") || num("grant") != 0;
      e.bad_measurement = num("bad_measurement") != 0;
      e.key = int(num("key"));
      if (e.key != 0 && e.key != 1) throw std::runtime_error("plan: key must be 0 or 1");
      if (num("isvprodid") > 0xffff || num("isvsvn") > 0xffff) throw std::runtime_error("plan: isv fields are 16-bit");
      e.isvprodid = std::uint16_t(num("isvprodid"));
      e.isvsvn = std::uint16_t(num("isvsvn"));
      e.inside = num("inside");
      e.toucher = m.count("toucher") ? m["toucher"] : "self";
      if (e.toucher.rfind("proc:", 0) == 0) e.toucher_proc = std::stoi(e.toucher.substr(5));
      if (idx != int(p.encls.size())) throw std::runtime_error("plan: enclaves must be numbered 0.. in order");
      p.encls.push_back(e);
    } else if (kind == "pause") {
      Pause pa;
      pa.idx = idx;
      pa.after_pass = num("after_pass");
      pa.fifo = m["fifo"];
      pa.marks = m["marks"];
      if (pa.fifo.empty() || pa.marks.empty()) throw std::runtime_error("plan: pause needs fifo= and marks=");
      p.pauses.push_back(pa);
    } else {
      throw std::runtime_error("plan: unknown record " + kind);
    }
  }
  for (auto& e : p.encls) {
    if (e.proc < 0 || e.proc >= int(p.procs.size())) throw std::runtime_error("plan: enclave of an unknown proc");
    if (e.toucher_proc >= int(p.procs.size())) throw std::runtime_error("plan: toucher is an unknown proc");
    if (e.inside && (e.toucher != "self" || e.eaug || e.remove))
      throw std::runtime_error("plan: inside= needs toucher=self and no eaug/remove");
    if (e.init_should_fail() && e.toucher != "self")
      throw std::runtime_error("plan: an enclave whose INIT is to fail is never touched (toucher=self)");
  }
  return p;
}

// ---- touching ----

// Fixed-size result of one enclave's touches (crosses pipes and sockets as bytes).
struct TouchResult {
  std::uint64_t pages_touched = 0, pages_eaug = 0, pages_removed = 0;
  std::uint64_t accesses = 0, faulted_accesses = 0, faults = 0;
  std::uint64_t data_mismatches = 0, image_mismatches = 0;
  std::uint64_t baseline_ns = 0, faulted_p50_ns = 0, faulted_max_ns = 0;
  double blocked_seconds = 0, touch_seconds = 0, access_seconds = 0;
  double descheduled_seconds = 0;  // off CPU in faulted accesses while not waiting for a page (SchedWatch)
  std::uint64_t trap_ns = 0;       // the fault round trip outside the driver, once per faulted access
  std::uint64_t sched_watch = 0;   // 1 when SchedWatch ran (else blocked_seconds includes that time)
  std::uint64_t touch_start_ns = 0, touch_end_ns = 0;
  char first_mismatch[160] = {};
  char error[256] = {};
};
static_assert(sizeof(TouchResult) < 1024);

void set_error(TouchResult& r, const std::string& s) {
  if (r.error[0] == 0) std::snprintf(r.error, sizeof r.error, "%s", s.c_str());
}

// What a toucher needs besides the fd (the layout is recomputed from the embedded image).
struct EnclInfo {
  std::uint64_t base = 0, encl_size = 0, heap_pages = 0;
  std::uint64_t passes = 0, eaug = 0, remove = 0;
  std::uint64_t id = 0;
  std::uint64_t pausable = 0;  // 1: stops at the plan's pauses (a first-generation proc's enclave)
};

// Stops at the plan's pauses after pass `pass` (see the plan format above); false when the FIFO cannot be used.
bool pause_after(const EnclInfo& in, std::uint64_t pass, std::string& err) {
  if (!in.pausable) return true;
  for (const Pause& pa : g_pauses) {
    if (pa.after_pass != pass || in.passes <= pass) continue;
    int fd = open(pa.fifo.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = "pause " + std::to_string(pa.idx) + ": open " + pa.fifo + ": " + std::strerror(errno);
      return false;
    }
    std::ofstream(pa.marks + "/" + std::to_string(pa.idx) + "." + std::to_string(in.id)) << "at pause\n";
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
  }
  return true;
}

std::uint64_t tag_of(std::uint64_t id, std::uint64_t page, std::uint64_t generation) {
  return ((id + 1) << 48) ^ (page << 16) ^ (generation + 1);
}

// EAUG growth (first touches of unadded ELRANGE pages), `passes` sweeps over every page (image pages read and
// compared with the image, heap and EAUG pages read, checked and rewritten), then removal of the last `remove`
// heap pages (MODIFY_TYPES to TRIM, REMOVE_PAGES). Runs in whichever task the scenario says touches.
TouchResult touch_enclave(int fd, const Layout& l, const EnclInfo& in) {
  TouchResult r;
  auto* base = reinterpret_cast<std::uint8_t*>(in.base);
  if (in.eaug > 0) {
    if (l.image_size + in.eaug * kPage > l.encl_size) {
      set_error(r, "eaug pages do not fit in ELRANGE");
      return r;
    }
    void* m = mmap(base + l.image_size, in.eaug * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (m == MAP_FAILED) {
      set_error(r, errno_text("mmap EAUG range"));
      return r;
    }
  }
  // Access list: (page number, kind) with kind 0 = image page (read only), 1 = writable page.
  struct Access {
    std::uint32_t page;
    std::uint8_t writable;
  };
  std::vector<Access> sweep;
  for (const auto& s : l.segments)
    for (std::uint64_t off = 0; off < s.size; off += kPage)
      sweep.push_back({std::uint32_t((s.offset + off) / kPage), std::uint8_t(s.src == nullptr ? 1 : 0)});
  std::vector<Access> growth;
  for (std::uint64_t i = 0; i < in.eaug; ++i) growth.push_back({std::uint32_t(l.image_size / kPage + i), 1});
  sweep.insert(sweep.end(), growth.begin(), growth.end());
  r.pages_touched = sweep.size();

  // Calibration: kCalib back-to-back accesses to one heap page before and after the sweeps. Beyond the first,
  // they find the page resident, so the baseline exists even when every sweep access faults (oversubscribed).
  constexpr std::size_t kCalib = 64;
  std::vector<Access> calib(kCalib, Access{std::uint32_t(l.heap_offset / kPage), 1});
  const std::size_t total = growth.size() + in.passes * sweep.size() + 2 * kCalib;
  SchedWatch watch;
  AccessLog log(watch);
  log.prepare(total);
  r.sched_watch = watch.ok();
  std::vector<std::uint64_t> generation(l.encl_size / kPage, 0);  // writes so far per page
  auto image_word = [&](std::uint32_t page) -> std::uint64_t {
    for (const auto& s : l.segments)
      if (s.src != nullptr && page * kPage >= s.offset && page * kPage < s.offset + s.size) {
        std::uint64_t v;
        std::memcpy(&v, s.src + (page * kPage - s.offset), 8);
        return v;
      }
    return 0;
  };
  auto run = [&](const std::vector<Access>& list) {
    log.resync();
    for (const Access& a : list) {
      volatile std::uint64_t* w0 = reinterpret_cast<volatile std::uint64_t*>(base + std::uint64_t(a.page) * kPage);
      volatile std::uint64_t* w1 = w0 + (kPage / 8 - 1);
      std::uint64_t g = generation[a.page];
      std::uint64_t v0 = 0, v1 = 0;
      log.time([&] {
        v0 = *w0;
        v1 = a.writable ? *w1 : 0;
        if (a.writable) {
          std::uint64_t t = tag_of(in.id, a.page, g);
          *w0 = t;
          *w1 = t;
        }
      });
      if (a.writable) {
        std::uint64_t want = g == 0 ? 0 : tag_of(in.id, a.page, g - 1);
        if (v0 != want || v1 != want) {
          if (r.data_mismatches++ == 0)
            std::snprintf(r.first_mismatch, sizeof r.first_mismatch,
                          "page %u write %llu: read 0x%llx/0x%llx, expected 0x%llx", a.page,
                          (unsigned long long)g, (unsigned long long)v0, (unsigned long long)v1,
                          (unsigned long long)want);
        }
        generation[a.page] = g + 1;
      } else if (v0 != image_word(a.page)) {
        if (r.image_mismatches++ == 0 && r.first_mismatch[0] == 0)
          std::snprintf(r.first_mismatch, sizeof r.first_mismatch, "image page %u: read 0x%llx, expected 0x%llx",
                        a.page, (unsigned long long)v0, (unsigned long long)image_word(a.page));
      }
    }
  };
  // The fault round trip outside the driver, taken off every faulted access (access_timing.h).
  const std::uint64_t trap_raw = measure_trap_ns(watch);
  std::string pause_err;
  if (!pause_after(in, 0, pause_err)) set_error(r, pause_err);
  r.touch_start_ns = now_ns();
  run(calib);
  run(growth);
  r.pages_eaug = growth.size();
  for (std::uint64_t p = 0; p < in.passes; ++p) {
    run(sweep);
    if (p + 1 < in.passes && !pause_after(in, p + 1, pause_err)) set_error(r, pause_err);
  }
  run(calib);
  r.touch_end_ns = now_ns();
  r.touch_seconds = double(r.touch_end_ns - r.touch_start_ns) / 1e9;

  const BlockedTime bt = summarize(log, trap_raw);
  r.accesses = bt.accesses;
  r.faulted_accesses = bt.faulted_accesses;
  r.faults = log.faults();
  r.access_seconds = bt.access_seconds;
  r.baseline_ns = bt.baseline_ns;
  r.trap_ns = bt.trap_ns;
  r.blocked_seconds = bt.blocked_seconds;
  r.descheduled_seconds = bt.descheduled_seconds;
  r.faulted_p50_ns = bt.faulted_p50_ns;
  r.faulted_max_ns = bt.faulted_max_ns;

  if (in.remove > 0) {
    if (in.remove > in.heap_pages) {
      set_error(r, "remove_pages exceeds the heap");
      return r;
    }
    const std::uint64_t off = l.heap_offset + (in.heap_pages - in.remove) * kPage;
    const std::uint64_t len = in.remove * kPage;
    std::uint64_t done = 0;
    while (done < len) {
      sgx_enclave_modify_types mt{};
      mt.offset = off + done;
      mt.length = len - done;
      mt.page_type = kPageTypeTrim;
      int rc = ioctl(fd, SGX_IOC_ENCLAVE_MODIFY_TYPES, &mt);
      done += mt.count;
      if (rc != 0 && errno != EAGAIN && errno != EINTR) {
        set_error(r, errno_text("SGX_IOC_ENCLAVE_MODIFY_TYPES") + " (result " + std::to_string(mt.result) + ")");
        return r;
      }
      if (rc == 0 && mt.count == 0) break;
    }
    done = 0;
    while (done < len) {
      sgx_enclave_remove_pages rp{};
      rp.offset = off + done;
      rp.length = len - done;
      int rc = ioctl(fd, SGX_IOC_ENCLAVE_REMOVE_PAGES, &rp);
      done += rp.count;
      if (rc != 0 && errno != EAGAIN && errno != EINTR) {
        set_error(r, errno_text("SGX_IOC_ENCLAVE_REMOVE_PAGES") +
                         (errno == EPERM ? " (the driver removes a TRIM page only when EMODPR faults, i.e. after "
                                           "EACCEPT; the kernel's emulated EMODPR succeeded)"
                                         : ""));
        return r;
      }
      if (rc == 0 && rp.count == 0) break;
    }
    r.pages_removed = done / kPage;
  }
  return r;
}

// ---- SCM_RIGHTS ----

bool send_fd(int sock, int fd, const EnclInfo& info) {
  msghdr msg{};
  iovec iov{const_cast<EnclInfo*>(&info), sizeof info};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &msg, 0) == ssize_t(sizeof info);
}

int recv_fd(int sock, EnclInfo& info) {
  msghdr msg{};
  iovec iov{&info, sizeof info};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != ssize_t(sizeof info)) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  return -1;
}

// ---- one process (container or service) ----

struct Channels {
  std::vector<std::array<int, 2>> fdpass;  // per enclave: [0] creator's end, [1] toucher's end (or -1)
  int results = -1;                        // write end to the driver
};

std::mutex g_report_mu;
void report(int fd, const std::string& line) {
  std::lock_guard<std::mutex> g(g_report_mu);
  write_all(fd, line.data(), line.size());
}

struct Held {  // what stays alive until release
  int fd = -1;
  std::uint8_t* base = nullptr;
  std::uint64_t size = 0;
};

// What the enclave is, as built and signed here: what the exporter must report (empty until it was built).
struct Identity {
  std::string mrenclave, mrsigner;  // hex
  std::uint64_t attributes = 0;
  std::string init_error;  // a planned INIT failure: why
  std::uint64_t inside_passes = 0;  // passes the enclave ran itself, each checked
  std::string inside_error;
};

// The image builder's options for one planned enclave: size, its fixed ELRANGE slot, attributes, signed ISV fields.
CreateOptions create_options(const Encl& e) {
  CreateOptions co;
  co.encl_size = e.size;
  co.base = kBaseStart + std::uintptr_t(e.idx) * kBaseSlot;
  co.debug = e.debug;
  co.provision_key = e.provision;
  co.grant_provision = e.grant;
  co.isvprodid = e.isvprodid;
  co.isvsvn = e.isvsvn;
  return co;
}

// The enclave touches its heap itself, `passes` times (see the plan's inside=).
void touch_inside(const BuiltEnclave& be, std::uint64_t passes, Identity& id) {
  using EnterFn = int (*)(unsigned long, unsigned long, unsigned long, unsigned int, unsigned long, unsigned long,
                          sgx_enclave_run*);
  auto enter = reinterpret_cast<EnterFn>(epcbench::sgx::vdso_symbol("__vdso_sgx_enter_enclave"));
  if (!enter) {
    id.inside_error = "no __vdso_sgx_enter_enclave in the vDSO";
    return;
  }
  std::vector<std::uint32_t> idx(be.layout.heap_pages);
  for (std::uint32_t i = 0; i < idx.size(); ++i) idx[i] = i;
  // The first word of each heap page before the enclave runs (read from outside: plain RAM under the emulation).
  auto word = [&](std::uint32_t i) {
    return reinterpret_cast<volatile std::uint64_t*>(be.base + be.layout.heap_offset + std::uint64_t(i) * kPage);
  };
  std::vector<std::uint64_t> before(idx.size());
  std::uint64_t sum0 = 0;
  for (std::uint32_t i = 0; i < idx.size(); ++i) sum0 += before[i] = *word(i);
  for (std::uint64_t k = 1; k <= passes; ++k) {
    encl_op op{};
    op.type = ENCL_OP_TOUCH;
    op.heap_offset = be.layout.heap_offset;
    op.heap_pages = be.layout.heap_pages;
    op.idx = reinterpret_cast<std::uint64_t>(idx.data());
    op.count = idx.size();
    sgx_enclave_run run{};
    run.tcs = reinterpret_cast<std::uint64_t>(be.base) + be.layout.segments.front().offset;
    int rc = enter(reinterpret_cast<unsigned long>(&op), 0, 0, 2 /* EENTER */, 0, 0, &run);
    if (rc != 0 || run.function != 4 /* EEXIT */) {
      char b[160];
      std::snprintf(b, sizeof b, "pass %llu: __vdso_sgx_enter_enclave %d, leaf %u, vector %u at 0x%llx",
                    (unsigned long long)k, rc, run.function, unsigned(run.exception_vector),
                    (unsigned long long)run.exception_addr);
      id.inside_error = b;
      return;
    }
    const std::uint64_t want = sum0 + (k - 1) * be.layout.heap_pages;
    if (op.result != want) {
      id.inside_error = "pass " + std::to_string(k) + ": the enclave read " + std::to_string(op.result) +
                        ", expected " + std::to_string(want);
      return;
    }
    id.inside_passes = k;
  }
  for (std::uint32_t i = 0; i < idx.size(); ++i)
    if (*word(i) != before[i] + passes) {
      id.inside_error = "heap page " + std::to_string(i) + ": first word " + std::to_string(*word(i)) +
                        " after the enclave's passes, expected " + std::to_string(before[i] + passes);
      id.inside_passes = 0;
      return;
    }
}

std::string hex_of(const epcbench::sgx::Digest& d) { return epcbench::sgx::digest_hex(d); }

std::string result_json(const Plan& plan, const Encl& e, const TouchResult& r, const std::string& create_error,
                        std::uint64_t create_ns, std::uint64_t image_pages, bool alive, const Identity& id) {
  const Proc& p = plan.procs[e.proc];
  std::string toucher_cgroup = p.cgroup;
  if (e.toucher_proc >= 0) toucher_cgroup = plan.procs[e.toucher_proc].cgroup;
  std::ostringstream o;
  o.precision(9);
  o << "{\"id\": " << e.idx << ", \"namespace\": " << json_str(p.ns) << ", \"pod\": " << json_str(p.pod)
    << ", \"container\": " << json_str(p.container) << ", \"container_id\": " << json_str(p.container_id)
    << ", \"restart_count\": " << p.restart_count << ", \"cgroup\": " << json_str(p.cgroup)
    << ", \"toucher\": " << json_str(e.toucher) << ", \"toucher_cgroup\": " << json_str(toucher_cgroup)
    << ", \"alive_at_scrape\": " << (alive ? "true" : "false") << ", \"debug\": " << (e.debug ? "true" : "false")
    << ", \"provision_key\": " << (e.provision ? "true" : "false") << ", \"signing_key\": " << e.key
    << ", \"isv_prod_id\": " << e.isvprodid << ", \"isv_svn\": " << e.isvsvn
    << ", \"mrenclave\": " << json_str(id.mrenclave) << ", \"mrsigner\": " << json_str(id.mrsigner)
    << ", \"attributes\": " << id.attributes << ", \"init_expected_to_fail\": " << (e.init_should_fail() ? "true" : "false")
    << ", \"init_error\": " << json_str(id.init_error) << ", \"inside_planned\": " << e.inside
    << ", \"inside_passes\": " << id.inside_passes << ", \"inside_error\": " << json_str(id.inside_error)
    << ", \"size_bytes\": " << e.size << ", \"pages_added\": " << (create_error.empty() ? e.add : 0)
    << ", \"image_pages\": " << image_pages << ", \"pages_eaug\": " << r.pages_eaug
    << ", \"pages_removed\": " << r.pages_removed << ", \"pages_touched\": " << r.pages_touched
    << ", \"touch_passes\": " << e.passes << ", \"accesses\": " << r.accesses
    << ", \"faulted_accesses\": " << r.faulted_accesses << ", \"faults\": " << r.faults
    << ", \"baseline_ns\": " << r.baseline_ns << ", \"faulted_p50_ns\": " << r.faulted_p50_ns
    << ", \"faulted_max_ns\": " << r.faulted_max_ns << ", \"blocked_seconds\": " << r.blocked_seconds
    << ", \"descheduled_seconds\": " << r.descheduled_seconds << ", \"trap_ns\": " << r.trap_ns
    << ", \"sched_watch\": " << (r.sched_watch ? "true" : "false")
    << ", \"access_seconds\": " << r.access_seconds << ", \"touch_seconds\": " << r.touch_seconds
    << ", \"create_seconds\": " << double(create_ns) / 1e9 << ", \"touch_start_ns\": " << r.touch_start_ns
    << ", \"touch_end_ns\": " << r.touch_end_ns << ", \"data_mismatches\": " << r.data_mismatches
    << ", \"image_mismatches\": " << r.image_mismatches << ", \"first_mismatch\": " << json_str(r.first_mismatch)
    << ", \"error\": " << json_str(!create_error.empty() ? create_error : std::string(r.error)) << "}";
  return o.str();
}

// Creator thread of enclave e: build it, have it touched (here, by a forked child or by another process that
// receives the fd), report.
void creator_thread(const Plan& plan, const Encl& e, EVP_PKEY* const* keys, Channels& ch, bool alive,
                    std::mutex& mu, std::vector<Held>& held) {
  TouchResult r;
  std::string err;
  Identity ident;
  EVP_PKEY* key = keys[e.key];
  auto image = epcbench::sgx::embedded_enclave_image();
  auto probe = epcbench::sgx::layout_from_elf(image, 0);
  std::uint64_t image_pages = probe ? probe.value().image_size / kPage : 0;
  std::uint64_t t0 = now_ns(), t1 = t0;
  do {
    if (!probe) {
      err = probe.error().message;
      break;
    }
    if (e.add < image_pages + 1) {
      err = "add_pages " + std::to_string(e.add) + " < image pages + 1 (" + std::to_string(image_pages + 1) + ")";
      break;
    }
    auto lay = epcbench::sgx::layout_from_elf(image, e.add - image_pages);
    if (!lay) {
      err = lay.error().message;
      break;
    }
    CreateOptions co = create_options(e);
    co.wrong_measurement = e.bad_measurement;
    co.keep_uninitialised = e.init_should_fail();
    auto b = epcbench::sgx::create_enclave(lay.value(), key, co);
    t1 = now_ns();
    if (!b) {
      err = b.error().message;
      break;
    }
    BuiltEnclave& be = b.value();
    ident.mrenclave = hex_of(be.mrenclave);
    ident.mrsigner = hex_of(epcbench::sgx::mrsigner_of(key));
    ident.attributes = be.attributes;
    {
      std::lock_guard<std::mutex> g(mu);
      held.push_back({be.fd, be.base, be.init_error.empty() ? be.layout.encl_size : 0});
    }
    if (e.init_should_fail()) {  // planned: kept alive uninitialised, not touched
      if (be.init_error.empty()) err = "INIT succeeded but was planned to fail";
      ident.init_error = be.init_error;
      break;
    }
    EnclInfo info;
    info.base = reinterpret_cast<std::uint64_t>(be.base);
    info.encl_size = be.layout.encl_size;
    info.heap_pages = be.layout.heap_pages;
    info.passes = e.passes;
    info.eaug = e.eaug;
    info.remove = e.remove;
    info.id = std::uint64_t(e.idx);
    info.pausable = plan.procs[e.proc].after == -1 ? 1 : 0;
    if (e.toucher == "self") {
      r = touch_enclave(be.fd, be.layout, info);
      if (e.inside) touch_inside(be, e.inside, ident);
    } else if (e.toucher == "fork") {
      int pp[2];
      if (pipe2(pp, O_CLOEXEC) != 0) {
        err = errno_text("pipe");
        break;
      }
      pid_t pid = fork();
      if (pid < 0) {
        err = errno_text("fork");
        break;
      }
      if (pid == 0) {  // the child: only this thread exists here; touches the parent's enclave
        close(pp[0]);
        TouchResult cr = touch_enclave(be.fd, be.layout, info);
        write_all(pp[1], &cr, sizeof cr);
        _exit(0);
      }
      close(pp[1]);
      if (!read_all(pp[0], &r, sizeof r)) set_error(r, "forked toucher died without a result");
      close(pp[0]);
      int st;
      waitpid(pid, &st, 0);
    } else {
      int sock = ch.fdpass[e.idx][0];
      if (!send_fd(sock, be.fd, info)) {
        err = errno_text("sendmsg SCM_RIGHTS");
        break;
      }
      if (!read_all(sock, &r, sizeof r)) set_error(r, "fd receiver died without a result");
    }
  } while (false);
  report(ch.results, "result " + result_json(plan, e, r, err, t1 - t0, image_pages, alive, ident) + "\n");
}

// Receiver thread: gets enclave e's fd from its creator in another process, maps it at the same ELRANGE and
// touches it; sends the result back (the creator reports it).
void receiver_thread(const Encl& e, Channels& ch, std::mutex& mu, std::vector<Held>& held) {
  int sock = ch.fdpass[e.idx][1];
  EnclInfo info;
  TouchResult r;
  int fd = recv_fd(sock, info);
  do {
    if (fd < 0) {
      set_error(r, errno_text("recvmsg SCM_RIGHTS"));
      break;
    }
    auto lay = epcbench::sgx::layout_from_elf(epcbench::sgx::embedded_enclave_image(), info.heap_pages);
    if (!lay) {
      set_error(r, lay.error().message);
      break;
    }
    Layout l = lay.value();
    l.encl_size = info.encl_size;
    auto* base = reinterpret_cast<std::uint8_t*>(info.base);
    void* area = mmap(base, l.encl_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (area == MAP_FAILED) {
      set_error(r, errno_text("reserve the received ELRANGE"));
      break;
    }
    {
      std::lock_guard<std::mutex> g(mu);
      held.push_back({fd, base, l.encl_size});
    }
    bool ok = true;
    for (const auto& s : l.segments)
      if (mmap(base + s.offset, s.size, s.prot, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        set_error(r, errno_text("mmap received enclave segment"));
        ok = false;
        break;
      }
    if (ok) r = touch_enclave(fd, l, info);
  } while (false);
  write_all(sock, &r, sizeof r);
}

bool join_cgroup(const std::string& root, const std::string& cg, std::string& err) {
  std::string path = root + "/" + cg + "/cgroup.procs";
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "0\n", 2) != 2) {
    err = errno_text("join cgroup " + path);
    if (fd >= 0) close(fd);
    return false;
  }
  close(fd);
  return true;
}

[[noreturn]] void proc_main(const Plan& plan, int me, const std::string& cg_root, Channels& ch, int ctl,
                            const std::vector<bool>& alive) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const Proc& p = plan.procs[me];
  std::string err;
  if (!join_cgroup(cg_root, p.cgroup, err)) {
    report(ch.results, "error " + std::to_string(me) + " " + err + "\n");
    report(ch.results, "done " + std::to_string(me) + "\n");
    _exit(2);
  }
  // Close the fd-passing ends this process does not use, so a dead peer reads as EOF.
  for (const auto& e : plan.encls) {
    if (e.toucher_proc < 0) continue;
    if (e.proc != me && ch.fdpass[e.idx][0] >= 0) close(ch.fdpass[e.idx][0]);
    if (e.toucher_proc != me && ch.fdpass[e.idx][1] >= 0) close(ch.fdpass[e.idx][1]);
  }
  auto key = epcbench::sgx::load_private_key_pem(epcbench::sgx::embedded_signing_key_pem());
  auto key2 = epcbench::sgx::load_private_key_pem(
      {reinterpret_cast<const std::uint8_t*>(epc_emu_second_key),
       std::size_t(epc_emu_second_key_end - epc_emu_second_key)});
  if (!key || !key2) {
    report(ch.results, "error " + std::to_string(me) + " signing key: " + (!key ? key.error().message : key2.error().message) + "\n");
    report(ch.results, "done " + std::to_string(me) + "\n");
    _exit(2);
  }
  EVP_PKEY* const keys[2] = {key.value().get(), key2.value().get()};
  std::mutex mu;
  std::vector<Held> held;
  std::vector<std::thread> threads;
  for (const auto& e : plan.encls) {
    if (e.proc == me)
      threads.emplace_back(creator_thread, std::cref(plan), std::cref(e), keys, std::ref(ch),
                           bool(alive[me]), std::ref(mu), std::ref(held));
    if (e.toucher_proc == me) threads.emplace_back(receiver_thread, std::cref(e), std::ref(ch), std::ref(mu), std::ref(held));
  }
  for (auto& t : threads) t.join();
  report(ch.results, "done " + std::to_string(me) + "\n");
  char c;
  while (read(ctl, &c, 1) > 0 || errno == EINTR) {
  }
  for (const auto& h : held) {
    if (h.size) munmap(h.base, h.size);
    close(h.fd);
  }
  _exit(0);
}

// ---- the driver ----

bool mkdirs(const std::string& path) {
  std::string cur;
  std::istringstream in(path);
  std::string part;
  if (!path.empty() && path[0] == '/') cur = "";
  while (std::getline(in, part, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

int run_compact(const Plan& plan, const std::string& out, const std::string& ready, const std::string& release,
                const std::string& cg_root);

int cmd_run(int argc, char** argv) {
  std::string plan_path, out = "workload.json", ready, release, cg_root = "/sys/fs/cgroup";
  bool compact = false;
  for (int i = 2; i < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--compact") {
      compact = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", a.c_str());
      return 64;
    }
    if (a == "--plan") plan_path = argv[i + 1];
    else if (a == "--out") out = argv[i + 1];
    else if (a == "--ready") ready = argv[i + 1];
    else if (a == "--release") release = argv[i + 1];
    else if (a == "--cgroup-root") cg_root = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 64;
    }
  }
  Plan plan = read_plan(plan_path);
  if (compact) return run_compact(plan, out, ready, release, cg_root);
  g_pauses = plan.pauses;
  const int np = int(plan.procs.size());
  // A proc is alive at the scrape unless a restart replaces it.
  std::vector<bool> alive(np, true);
  for (const auto& p : plan.procs)
    if (p.after >= 0) alive[p.after] = false;

  Channels ch;
  ch.fdpass.assign(plan.encls.size(), {-1, -1});
  for (const auto& e : plan.encls)
    if (e.toucher_proc >= 0) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error(errno_text("socketpair"));
      ch.fdpass[e.idx] = {sv[0], sv[1]};
    }
  int rp[2];
  if (pipe2(rp, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe"));
  ch.results = rp[1];

  std::vector<pid_t> pids(np, -1);
  std::vector<int> ctl(np, -1);
  std::vector<bool> done(np, false), exited(np, false);
  std::vector<std::string> errors;
  const std::uint64_t start_ns = now_ns();
  auto spawn = [&](int i) {
    if (!mkdirs(cg_root + "/" + plan.procs[i].cgroup))
      errors.push_back(errno_text("mkdir cgroup " + plan.procs[i].cgroup));
    int cp[2];
    if (pipe2(cp, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe"));
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(errno_text("fork"));
    if (pid == 0) {
      close(cp[1]);
      close(rp[0]);
      for (int k = 0; k < np; ++k)  // other containers' control pipes: theirs alone, or they never see EOF
        if (ctl[k] >= 0) close(ctl[k]);
      proc_main(plan, i, cg_root, ch, cp[0], alive);
    }
    close(cp[0]);
    pids[i] = pid;
    ctl[i] = cp[1];
  };
  auto reap = [&](int i) {
    if (pids[i] < 0 || exited[i]) return;
    if (ctl[i] >= 0) close(ctl[i]);
    ctl[i] = -1;
    int st = 0;
    waitpid(pids[i], &st, 0);
    exited[i] = true;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      errors.push_back("proc " + std::to_string(i) + " exited with status " + std::to_string(st));
  };
  for (int i = 0; i < np; ++i)
    if (plan.procs[i].after < 0) spawn(i);
  // The driver keeps no fd-passing end both of whose processes run, so a dead peer reads as EOF.
  for (const auto& e : plan.encls)
    if (e.toucher_proc >= 0 && pids[e.proc] >= 0 && pids[e.toucher_proc] >= 0) {
      close(ch.fdpass[e.idx][0]);
      close(ch.fdpass[e.idx][1]);
      ch.fdpass[e.idx] = {-1, -1};
    }

  std::vector<std::string> results;
  std::string buf;
  auto all_ready = [&] {
    for (int i = 0; i < np; ++i)
      if (alive[i] && !done[i]) return false;
    return true;
  };
  while (!all_ready()) {
    pollfd pfd{rp[0], POLLIN, 0};
    int pr = poll(&pfd, 1, 500);
    if (pr == 0) {  // a process that died before reporting done would block us forever
      for (int i = 0; i < np; ++i) {
        if (pids[i] < 0 || exited[i] || done[i]) continue;
        int st = 0;
        if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
          exited[i] = done[i] = true;
          errors.push_back("proc " + std::to_string(i) + " died before finishing (status " + std::to_string(st) + ")");
        }
      }
      continue;
    }
    char tmp[4096];
    ssize_t n = read(rp[0], tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(tmp, std::size_t(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.rfind("result ", 0) == 0) {
        results.push_back(line.substr(7));
      } else if (line.rfind("error ", 0) == 0) {
        errors.push_back(line.substr(6));
      } else if (line.rfind("done ", 0) == 0) {
        int i = std::stoi(line.substr(5));
        done[i] = true;
        // A container restart: the old container exits (its enclaves are released), its cgroup goes, then
        // the new container starts in a new cgroup of the same pod.
        for (int j = 0; j < np; ++j)
          if (plan.procs[j].after == i) {
            reap(i);
            if (rmdir((cg_root + "/" + plan.procs[i].cgroup).c_str()) != 0)
              errors.push_back(errno_text("rmdir " + plan.procs[i].cgroup));
            spawn(j);
          }
      }
    }
  }
  const std::uint64_t ready_ns = now_ns();
  if (!ready.empty()) {
    std::ofstream(ready) << "ready\n";
  }
  std::fprintf(stderr, "sgx_emu_workload: every enclave finished its passes (%.3f s); waiting for release\n",
               double(ready_ns - start_ns) / 1e9);
  if (!release.empty()) {
    std::ifstream rel(release);  // blocks until the FIFO's writer opens it
    std::string line;
    std::getline(rel, line);
  }
  const std::uint64_t release_ns = now_ns();
  for (int i = 0; i < np; ++i) reap(i);
  // Collect results written after the ready point (none expected) until every writer is gone.
  close(rp[1]);
  {
    char tmp[4096];
    ssize_t n;
    while ((n = read(rp[0], tmp, sizeof tmp)) > 0) buf.append(tmp, std::size_t(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.rfind("result ", 0) == 0) results.push_back(line.substr(7));
      if (line.rfind("error ", 0) == 0) errors.push_back(line.substr(6));
    }
  }
  const std::uint64_t end_ns = now_ns();
  // Results sorted by enclave id.
  std::sort(results.begin(), results.end(), [](const std::string& a, const std::string& b) {
    return std::stoi(a.substr(a.find(':') + 1)) < std::stoi(b.substr(b.find(':') + 1));
  });
  bool failed = !errors.empty() || results.size() != plan.encls.size();
  for (const auto& r : results)
    if (r.find("\"error\": \"\"}") == std::string::npos) failed = true;
  std::ofstream o(out);
  o.precision(9);
  o << "{\"enclaves\": [";
  for (std::size_t i = 0; i < results.size(); ++i) o << (i ? ",\n  " : "\n  ") << results[i];
  o << "\n], \"errors\": [";
  for (std::size_t i = 0; i < errors.size(); ++i) o << (i ? ", " : "") << json_str(errors[i]);
  o << "], \"ready_seconds\": " << double(ready_ns - start_ns) / 1e9
    << ", \"release_seconds\": " << double(end_ns - release_ns) / 1e9 << ", \"ok\": " << (failed ? "false" : "true")
    << "}\n";
  o.close();
  return failed ? 2 : 0;
}

// ---- compact (run --compact) ----

// Every proc's enclaves created by this one process, proc after proc: it creates the proc's cgroup, moves itself
// there (cgroup.procs: the driver's caller is then that cgroup's task, and the probes take the owner's cgroup
// from the task calling sgx_encl_create), creates that proc's enclaves, and goes on to the next proc; then it
// keeps every enclave alive (fd open, segments mapped) until release. For scale scenarios: 1,000 workloads do not
// fit in a TCG guest as 1,000 processes. Enclaves are not touched (passes=0) and identical ones share the
// SIGSTRUCT of the first (signed once: RSA-3072 dominates a small enclave's creation under TCG).
int run_compact(const Plan& plan, const std::string& out, const std::string& ready, const std::string& release,
                const std::string& cg_root) {
  for (const auto& p : plan.procs)
    if (p.after >= 0) throw std::runtime_error("--compact: no container restarts (after=)");
  if (!plan.pauses.empty()) throw std::runtime_error("--compact: no pauses");
  for (const auto& e : plan.encls)
    if (e.toucher != "self" || e.passes || e.eaug || e.remove || e.inside || e.init_should_fail())
      throw std::runtime_error("--compact: enclave " + std::to_string(e.idx) +
                               ": only untouched enclaves (passes=0, no eaug/remove/inside/fork/fd passing/INIT failure)");
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  const rlim_t want = plan.encls.size() + 256;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    if (rl.rlim_max < want) rl.rlim_max = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) throw std::runtime_error(errno_text("setrlimit RLIMIT_NOFILE"));
  }
  auto key = epcbench::sgx::load_private_key_pem(epcbench::sgx::embedded_signing_key_pem());
  auto key2 = epcbench::sgx::load_private_key_pem(
      {reinterpret_cast<const std::uint8_t*>(epc_emu_second_key),
       std::size_t(epc_emu_second_key_end - epc_emu_second_key)});
  if (!key || !key2) throw std::runtime_error("signing key: " + (!key ? key.error().message : key2.error().message));
  EVP_PKEY* const keys[2] = {key.value().get(), key2.value().get()};
  auto image = epcbench::sgx::embedded_enclave_image();
  auto probe = epcbench::sgx::layout_from_elf(image, 0);
  if (!probe) throw std::runtime_error(probe.error().message);
  const std::uint64_t image_pages = probe.value().image_size / kPage;
  std::vector<std::vector<int>> by_proc(plan.procs.size());
  for (const auto& e : plan.encls) by_proc[e.proc].push_back(e.idx);
  std::map<std::string, std::unique_ptr<epcbench::sgx::Sigstruct>> signed_once;

  std::vector<std::string> results(plan.encls.size()), errors;
  std::vector<Held> held;
  held.reserve(plan.encls.size());
  const std::uint64_t start_ns = now_ns();
  std::uint64_t join_ns = 0, create_ns = 0;
  for (const auto& p : plan.procs) {
    std::string err;
    std::uint64_t t0 = now_ns();
    if (!mkdirs(cg_root + "/" + p.cgroup)) {
      errors.push_back(errno_text("mkdir cgroup " + p.cgroup));
      break;
    }
    if (!join_cgroup(cg_root, p.cgroup, err)) {
      errors.push_back(err);
      break;
    }
    std::uint64_t t1 = now_ns();
    join_ns += t1 - t0;
    for (int ei : by_proc[p.idx]) {
      const Encl& e = plan.encls[ei];
      std::string cerr;
      Identity ident;
      std::uint64_t c0 = now_ns(), c1 = c0;
      do {
        if (e.add < image_pages + 1) {
          cerr = "add_pages " + std::to_string(e.add) + " < image pages + 1";
          break;
        }
        auto lay = epcbench::sgx::layout_from_elf(image, e.add - image_pages);
        if (!lay) {
          cerr = lay.error().message;
          break;
        }
        CreateOptions co = create_options(e);
        const std::string sig_key = std::to_string(e.size) + "/" + std::to_string(e.add) + "/" +
                                    std::to_string(e.debug) + "/" + std::to_string(e.provision) + "/" +
                                    std::to_string(e.key) + "/" + std::to_string(e.isvprodid) + "/" +
                                    std::to_string(e.isvsvn);
        auto it = signed_once.find(sig_key);
        if (it != signed_once.end()) co.presigned = it->second.get();
        auto b = epcbench::sgx::create_enclave(lay.value(), keys[e.key], co);
        c1 = now_ns();
        if (!b) {
          cerr = b.error().message;
          break;
        }
        BuiltEnclave& be = b.value();
        if (it == signed_once.end())
          signed_once.emplace(sig_key, std::make_unique<epcbench::sgx::Sigstruct>(be.sigstruct));
        ident.mrenclave = hex_of(be.mrenclave);
        ident.mrsigner = hex_of(epcbench::sgx::mrsigner_of(keys[e.key]));
        ident.attributes = be.attributes;
        held.push_back({be.fd, be.base, be.layout.encl_size});
      } while (false);
      create_ns += c1 - c0;
      results[ei] = result_json(plan, e, TouchResult{}, cerr, c1 - c0, image_pages, true, ident);
      if (!cerr.empty()) errors.push_back("enclave " + std::to_string(ei) + ": " + cerr);
    }
    if (!errors.empty()) break;
    if ((p.idx + 1) % 250 == 0)
      std::fprintf(stderr, "sgx_emu_workload: compact: %d procs, %zu enclaves (%.1f s)\n", p.idx + 1, held.size(),
                   double(now_ns() - start_ns) / 1e9);
  }
  {  // out of the last workload's cgroup: what this process does from now on is nobody's
    std::string err;
    join_cgroup(cg_root, ".", err);
  }
  const std::uint64_t ready_ns = now_ns();
  std::fprintf(stderr,
               "sgx_emu_workload: compact: %zu procs, %zu enclaves alive (%.3f s: cgroups %.3f s, enclaves %.3f s); "
               "waiting for release\n",
               plan.procs.size(), held.size(), double(ready_ns - start_ns) / 1e9, double(join_ns) / 1e9,
               double(create_ns) / 1e9);
  if (!ready.empty()) std::ofstream(ready) << "ready\n";
  if (!release.empty()) {
    std::ifstream rel(release);
    std::string line;
    std::getline(rel, line);
  }
  const std::uint64_t release_ns = now_ns();
  for (const auto& h : held) {
    if (h.size) munmap(h.base, h.size);
    close(h.fd);
  }
  const std::uint64_t end_ns = now_ns();
  bool failed = !errors.empty();
  std::ofstream o(out);
  o.precision(9);
  o << "{\"enclaves\": [";
  bool first = true;
  for (const auto& r : results) {
    if (r.empty()) {
      failed = true;
      continue;
    }
    o << (first ? "\n  " : ",\n  ") << r;
    first = false;
  }
  o << "\n], \"errors\": [";
  for (std::size_t i = 0; i < errors.size(); ++i) o << (i ? ", " : "") << json_str(errors[i]);
  o << "], \"compact\": true, \"ready_seconds\": " << double(ready_ns - start_ns) / 1e9
    << ", \"cgroup_join_seconds\": " << double(join_ns) / 1e9 << ", \"create_seconds\": " << double(create_ns) / 1e9
    << ", \"release_seconds\": " << double(end_ns - release_ns) / 1e9 << ", \"ok\": " << (failed ? "false" : "true")
    << "}\n";
  o.close();
  return failed ? 2 : 0;
}

// ---- scrape ----

// One GET of http://127.0.0.1:<port>/metrics (HTTP/1.0, no compression); seconds from before connect() to the
// last byte, or < 0 on failure (err says why).
struct Target {
  std::string name;
  int port = 0;
  int pid = 0;
  std::vector<double> lat;
  std::uint64_t bytes = 0, series = 0;
  long long ticks0 = 0, ticks1 = 0;
  std::vector<std::string> durations;  // the last body's sgx_exporter_collector_duration_seconds samples
};

double http_get(int port, std::string& body, std::string& err) {
  body.clear();
  const std::uint64_t t0 = now_ns();
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    err = errno_text("socket");
    return -1;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(std::uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    err = errno_text("connect :" + std::to_string(port));
    close(s);
    return -1;
  }
  std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nUser-Agent: sgx_emu_workload\r\nAccept: text/plain\r\n\r\n";
  if (!write_all(s, req.data(), req.size())) {
    err = errno_text("send");
    close(s);
    return -1;
  }
  std::string resp;
  char buf[65536];
  std::uint64_t t_last = t0;
  while (true) {
    ssize_t n = read(s, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno_text("recv");
      close(s);
      return -1;
    }
    if (n == 0) break;
    t_last = now_ns();
    resp.append(buf, std::size_t(n));
  }
  close(s);
  auto hdr_end = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.", 0) != 0 || hdr_end == std::string::npos || resp.compare(9, 3, "200") != 0) {
    err = "bad response: " + resp.substr(0, std::min<std::size_t>(resp.size(), 80));
    return -1;
  }
  std::string headers = resp.substr(0, hdr_end);
  for (auto& c : headers) c = char(std::tolower(static_cast<unsigned char>(c)));
  body = resp.substr(hdr_end + 4);
  if (headers.find("transfer-encoding: chunked") != std::string::npos) {  // HTTP/1.0 should not get it; decode
    std::string dec;
    std::size_t i = 0;
    while (i < body.size()) {
      std::size_t le = body.find("\r\n", i);
      if (le == std::string::npos) break;
      std::size_t n = std::stoul(body.substr(i, le - i), nullptr, 16);
      if (n == 0) break;
      dec.append(body, le + 2, n);
      i = le + 2 + n + 2;
    }
    body.swap(dec);
  }
  return double(t_last - t0) / 1e9;
}

long long proc_ticks(int pid) {  // utime + stime of the whole process (every thread), in clock ticks
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream in(s.substr(rp + 2));
  std::string tok;
  long long ut = 0, st = 0;
  for (int field = 3; in >> tok; ++field) {  // field 3 is the state
    if (field == 14) ut = std::stoll(tok);
    if (field == 15) {
      st = std::stoll(tok);
      return ut + st;
    }
  }
  return -1;
}

long long proc_status_kib(int pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  return -1;
}

double percentile(std::vector<double> v, double p) {  // nearest rank, like tests/perf/perf.py's pct()
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  long k = std::lround(p / 100.0 * double(v.size()) + 0.5) - 1;
  k = std::max(0L, std::min(long(v.size()) - 1, k));
  return v[std::size_t(k)];
}

// sgx_emu_workload scrape --target NAME:PORT:PID [--target ...] [--rounds 40] [--warmup 3] --out FILE
// Rounds of one GET to each target in turn (alternating, so both see the same guest); per target: latency to the
// last byte (p50, p99, all samples), CPU time of its process over the rounds (/proc/PID/stat utime + stime) per
// scrape, VmRSS and VmHWM after, the last body's size, series count and sgx_exporter_collector_duration_seconds
// samples (where the exporter's time went). Exit 0, or 2 when a GET failed.
int cmd_scrape(int argc, char** argv) {
  std::vector<Target> targets;
  int rounds = 40, warmup = 3;
  std::string out;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--target") {
      Target t;
      auto c1 = v.find(':'), c2 = v.rfind(':');
      if (c1 == std::string::npos || c2 == c1) throw std::runtime_error("--target NAME:PORT:PID, not " + v);
      t.name = v.substr(0, c1);
      t.port = std::stoi(v.substr(c1 + 1, c2 - c1 - 1));
      t.pid = std::stoi(v.substr(c2 + 1));
      targets.push_back(t);
    } else if (a == "--rounds") {
      rounds = std::stoi(v);
    } else if (a == "--warmup") {
      warmup = std::stoi(v);
    } else if (a == "--out") {
      out = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 64;
    }
  }
  if (targets.empty() || out.empty() || rounds < 1) {
    std::fprintf(stderr, "scrape: needs --target and --out\n");
    return 64;
  }
  std::string body, err;
  for (int w = 0; w < warmup; ++w)
    for (auto& t : targets)
      if (http_get(t.port, body, err) < 0) {
        std::fprintf(stderr, "scrape: %s (warm-up): %s\n", t.name.c_str(), err.c_str());
        return 2;
      }
  for (auto& t : targets) t.ticks0 = proc_ticks(t.pid);
  const std::uint64_t t0 = now_ns();
  for (int r = 0; r < rounds; ++r)
    for (auto& t : targets) {
      double s = http_get(t.port, body, err);
      if (s < 0) {
        std::fprintf(stderr, "scrape: %s round %d: %s\n", t.name.c_str(), r, err.c_str());
        return 2;
      }
      t.lat.push_back(s);
      if (r == rounds - 1) {
        t.bytes = body.size();
        std::istringstream in(body);
        std::string line;
        while (std::getline(in, line)) {
          if (line.empty() || line[0] == '#') continue;
          ++t.series;
          if (line.rfind("sgx_exporter_collector_duration_seconds{", 0) == 0) t.durations.push_back(line);
        }
      }
    }
  const double wall = double(now_ns() - t0) / 1e9;
  for (auto& t : targets) t.ticks1 = proc_ticks(t.pid);
  const long tck = sysconf(_SC_CLK_TCK);
  std::ofstream o(out);
  o.precision(9);
  o << "{\"rounds\": " << rounds << ", \"warmup\": " << warmup << ", \"clk_tck\": " << tck
    << ", \"wall_seconds\": " << wall << ", \"targets\": {";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& t = targets[i];
    const long long dt = t.ticks1 - t.ticks0;
    o << (i ? ",\n " : "\n ") << json_str(t.name) << ": {\"port\": " << t.port << ", \"pid\": " << t.pid
      << ", \"p50_s\": " << percentile(t.lat, 50) << ", \"p99_s\": " << percentile(t.lat, 99)
      << ", \"cpu_ticks\": " << dt << ", \"cpu_s_per_scrape\": " << double(dt) / double(tck) / rounds
      << ", \"vm_rss_kib\": " << proc_status_kib(t.pid, "VmRSS") << ", \"vm_hwm_kib\": "
      << proc_status_kib(t.pid, "VmHWM") << ", \"threads\": " << proc_status_kib(t.pid, "Threads")
      << ", \"bytes\": " << t.bytes << ", \"series\": " << t.series << ", \"collector_durations\": [";
    for (std::size_t k = 0; k < t.durations.size(); ++k) o << (k ? ", " : "") << json_str(t.durations[k]);
    o << "], \"latency_s\": [";
    for (std::size_t k = 0; k < t.lat.size(); ++k) o << (k ? ", " : "") << t.lat[k];
    o << "]}";
  }
  o << "\n}}\n";
  return 0;
}

// ---- idle ----

std::map<std::string, long long> read_stats(const std::string& path, std::string& text) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  text = ss.str();
  std::map<std::string, long long> m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string a, b;
    long long v;
    if (!(l >> a)) continue;
    if (a == "leaf" || a == "delay_us") {
      if (l >> b >> v) m[a + " " + b] = v;
    } else if (l >> v) {
      m[a] = v;
    }
  }
  return m;
}

int cmd_idle(int argc, char** argv) {
  std::string stats = "/sys/kernel/debug/sgx_emu/stats";
  long stable_ms = 1000, poll_ms = 50, timeout_s = 120;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--stats") stats = argv[i + 1];
    else if (a == "--stable-ms") stable_ms = std::stol(argv[i + 1]);
    else if (a == "--poll-ms") poll_ms = std::stol(argv[i + 1]);
    else if (a == "--timeout-s") timeout_s = std::stol(argv[i + 1]);
  }
  std::string text;
  auto key = [](std::map<std::string, long long>& m) {
    return std::to_string(m["leaf EWB"]) + "/" + std::to_string(m["leaf ELDU"]) + "/" + std::to_string(m["free_pages"]);
  };
  auto m = read_stats(stats, text);
  if (text.empty()) {
    std::fprintf(stderr, "idle: cannot read %s\n", stats.c_str());
    return 2;
  }
  std::string last = key(m);
  std::uint64_t t0 = now_ns(), since = t0;
  while (true) {
    usleep(useconds_t(poll_ms * 1000));
    m = read_stats(stats, text);
    std::string k = key(m);
    std::uint64_t t = now_ns();
    if (k != last) {
      last = k;
      since = t;
    } else if (t - since >= std::uint64_t(stable_ms) * 1000000ull) {
      std::fputs(text.c_str(), stdout);
      std::fprintf(stdout, "idle_wait_seconds %.3f\n", double(t - t0) / 1e9);
      return 0;
    }
    if (t - t0 > std::uint64_t(timeout_s) * 1000000000ull) {
      std::fputs(text.c_str(), stdout);
      std::fprintf(stdout, "idle_wait_seconds %.3f\nidle_timeout 1\n", double(t - t0) / 1e9);
      return 1;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "run") return cmd_run(argc, argv);
    if (cmd == "idle") return cmd_idle(argc, argv);
    if (cmd == "scrape") return cmd_scrape(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sgx_emu_workload: %s\n", e.what());
    return 2;
  }
  std::fprintf(stderr,
               "usage: sgx_emu_workload run --plan FILE --out FILE --ready FILE --release FIFO [--cgroup-root DIR] "
               "[--compact]\n"
               "       sgx_emu_workload idle [--stats FILE] [--stable-ms N] [--poll-ms N] [--timeout-s N]\n"
               "       sgx_emu_workload scrape --target NAME:PORT:PID [--target ...] [--rounds N] [--warmup N] "
               "--out FILE\n");
  return 64;
}

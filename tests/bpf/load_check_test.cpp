// Proof 1: the BPF object's CO-RE relocations resolve against each Debian kernel's BTF (which has the SGX structs
// the build host lacks) and the verifier of the running kernel accepts every kprobe-flavor program built for it.
// fentry/fexit programs need their target function in the running kernel's BTF, which this host lacks: for them
// only the shared accessor code is checked here (it is the same code the kprobe twins run); they are loaded and
// attached for real in the QEMU kernel matrix (tests/kernel_matrix/).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "epc_probes.h"

namespace fs = std::filesystem;
using epc::probes::Mode;
using epc::probes::Options;
using epc::probes::Probes;

namespace {

fs::path shared_kernels() {
  if (const char* env = std::getenv("EPC_SHARED_KERNELS")) return env;
  std::stringstream ss(EPC_SHARED_KERNELS);
  std::string dir;
  while (std::getline(ss, dir, ':'))
    if (fs::is_directory(dir)) return dir;
  return {};
}

std::vector<fs::path> kernel_btfs() {
  std::vector<fs::path> out;
  fs::path dir = shared_kernels();
  if (dir.empty()) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().string().ends_with(".btf.xz")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

fs::path decompress(const fs::path& xz) {
  fs::path out = fs::temp_directory_path() / ("epc-loadcheck-" + std::to_string(::getpid()) + "-" +
                                              xz.filename().replace_extension("").string());
  std::string cmd = "xz -dc '" + xz.string() + "' > '" + out.string() + "'";
  if (std::system(cmd.c_str()) != 0) return {};
  return out;
}

}  // namespace

TEST(BpfLoadCheck, EveryKprobeProgramLoadsAgainstEachDebianKernelBtf) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
  auto btfs = kernel_btfs();
  if (btfs.empty()) GTEST_SKIP() << "no shared/kernels/*.btf.xz found (" << EPC_SHARED_KERNELS << ")";
  for (const auto& xz : btfs) {
    SCOPED_TRACE(xz.filename().string());
    fs::path btf = decompress(xz);
    ASSERT_FALSE(btf.empty()) << "xz -d failed for " << xz;
    Options o;
    o.mode = Mode::kLoadCheck;
    o.btf_custom_path = btf.string();
    auto p = Probes::start(o);
    fs::remove(btf);
    ASSERT_TRUE(p->loaded()) << p->load_error();
    auto progs = p->loaded_programs();
    std::size_t expected = 0;
    for (const auto& h : epc::probes::hook_specs()) {
      expected += h.has_return ? 2 : 1;
      auto has = [&](const std::string& n) { return std::find(progs.begin(), progs.end(), n) != progs.end(); };
      EXPECT_TRUE(has(std::string("kp_") + h.name)) << h.name;
      if (h.has_return) {
        EXPECT_TRUE(has(std::string("kr_") + h.name)) << h.name;
      }
    }
    EXPECT_EQ(progs.size(), expected + 1) << "kprobe programs + the on-demand program";
  }
}

// The host's own BTF has no SGX structs: relocations against it must fail, which shows the check above is real.
TEST(BpfLoadCheck, RefusedWithoutSgxTypes) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
  if (!fs::exists("/sys/kernel/btf/vmlinux")) GTEST_SKIP() << "no /sys/kernel/btf/vmlinux";
  if (std::system("grep -qw sgx_encl /proc/kallsyms 2>/dev/null") == 0 ||
      std::system("bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | grep -q \"STRUCT 'sgx_encl'\"") == 0)
    GTEST_SKIP() << "this kernel has the SGX driver";
  Options o;
  o.mode = Mode::kLoadCheck;
  auto p = Probes::start(o);
  EXPECT_FALSE(p->loaded());
  EXPECT_NE(p->load_error(), "");
}

// Per-probe start-up decisions with a fake kallsyms and kprobe PMU under a fake root, against Debian 6.1 BTF:
// a missing function and a compiler clone switch their probe off with the reason, the object still loads, and a
// probe whose attach fails (this kernel has none of the functions) is switched off alone, with the attach error.
TEST(ProbeSelection, MissingClonedAndUnattachableProbesAreOffAlone) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
  if (std::system("grep -q ' sgx_alloc_epc_page$' /proc/kallsyms 2>/dev/null") == 0)
    GTEST_SKIP() << "this kernel has the SGX driver: attaching would succeed";
  auto btfs = kernel_btfs();
  if (btfs.empty()) GTEST_SKIP() << "no shared/kernels/*.btf.xz found";
  fs::path btf = decompress(btfs.front());
  ASSERT_FALSE(btf.empty());
  fs::path root = fs::temp_directory_path() / ("epc-selection-" + std::to_string(::getpid()));
  fs::create_directories(root / "proc");
  fs::create_directories(root / "sys/bus/event_source/devices/kprobe");
  std::ofstream(root / "sys/bus/event_source/devices/kprobe/type") << "6\n";
  std::ofstream(root / "proc/kallsyms") << "ffffffff81050000 T sgx_alloc_epc_page\n"
                                           "ffffffff81051000 t sgx_encl_ewb.isra.0\n"
                                           "8000000000000000 b sgx_nr_free_pages\n";  // non-canonical: unreadable
  Options o;
  o.mode = Mode::kRun;
  o.kallsyms_path = (root / "proc/kallsyms").string();
  o.sys_path = (root / "sys").string();
  o.proc_path = (root / "proc").string();
  o.btf_custom_path = btf.string();
  o.prefer_fentry = false;
  auto p = Probes::start(o);
  fs::remove(btf);
  fs::remove_all(root);
  ASSERT_TRUE(p->loaded()) << p->load_error();
  std::map<std::string, epc::probes::ProbeState> st;
  for (const auto& s : p->states()) st[s.name] = s;
  ASSERT_EQ(st.size(), epc::probes::hook_specs().size());
  EXPECT_FALSE(st["epc_alloc"].attached);
  EXPECT_EQ(st["epc_alloc"].reason.rfind("attaching kp_epc_alloc failed", 0), 0u) << st["epc_alloc"].reason;
  EXPECT_NE(st["ewb"].reason.find("compiler clone"), std::string::npos) << st["ewb"].reason;
  EXPECT_EQ(st["encl_create"].reason, "sgx_encl_create not in kallsyms (inlined or absent)");
  // The free-pages reader fails safely on an unreadable address: no value rather than garbage.
  auto snap = p->read();
  EXPECT_FALSE(snap.free_pages.has_value());
  EXPECT_FALSE(snap.any_attached());
}

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

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/btf.h>

#include "epc_probes.h"
#include "probes_testing.h"

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

// Raw BTF of a 5.15 kernel built with the SGX driver (tests/sgx_emu builds it): <cache>/5.15-*/vmlinux.btf.
fs::path kernel_515_btf() {
  const char* env = std::getenv("EPC_KERNEL_CACHE");
  fs::path dir = env ? env : EPC_KERNEL_CACHE;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind("5.15-", 0) == 0 && fs::exists(e.path() / "vmlinux.btf"))
      found.push_back(e.path() / "vmlinux.btf");
  std::sort(found.begin(), found.end());
  return found.empty() ? fs::path{} : found.back();
}

// Loads the kprobe flavor and the on-demand program against `btf` (CO-RE) into the running kernel (verifier).
void expect_kprobe_flavor_loads(const fs::path& btf) {
  Options o;
  o.mode = Mode::kLoadCheck;
  o.btf_custom_path = btf.string();
  auto p = Probes::start(o);
  ASSERT_TRUE(p->loaded()) << p->load_error();
  auto progs = epc::probes::testing::loaded_programs(*p);
  std::size_t expected = 0;
  for (const auto& h : epc::probes::hook_specs()) {
    expected += h.has_return ? 2 : 1;
    auto has = [&](const std::string& n) { return std::find(progs.begin(), progs.end(), n) != progs.end(); };
    EXPECT_TRUE(has(std::string("kp_") + h.name)) << h.name;
    if (h.has_return) {
      EXPECT_TRUE(has(std::string("kr_") + h.name)) << h.name;
    }
  }
  // The start-up iterators load where the running kernel has the iterator types in its BTF (this host's does).
  std::size_t iters = 0;
  if (struct btf* vm = btf__load_vmlinux_btf(); vm && !libbpf_get_error(vm)) {
    for (const char* t : {"bpf_iter__task_file", "bpf_iter__task_vma"})
      if (btf__find_by_name_kind(vm, t, BTF_KIND_STRUCT) > 0) ++iters;
    btf__free(vm);
  }
  auto has = [&](const std::string& n) { return std::find(progs.begin(), progs.end(), n) != progs.end(); };
  EXPECT_EQ(has("seed_task_file") + has("seed_task_vma"), static_cast<int>(iters)) << "start-up iterators";
  EXPECT_EQ(progs.size(), expected + 1 + iters)
      << "kprobe programs + the on-demand program + the start-up iterators (not the benchmark's)";
}

// A minimal BTF with `void *sgx_encl_grow(struct sgx_encl *[, bool])`.
struct btf* synthetic_grow_btf(int args) {
  struct btf* b = btf__new_empty();
  int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  int boolean = btf__add_int(b, "_Bool", 1, BTF_INT_BOOL);
  int encl = btf__add_fwd(b, "sgx_encl", BTF_FWD_STRUCT);
  int encl_ptr = btf__add_ptr(b, encl);
  int ret = btf__add_ptr(b, 0);
  int proto = btf__add_func_proto(b, ret);
  btf__add_func_param(b, "encl", encl_ptr);
  if (args == 2) btf__add_func_param(b, "reclaim", boolean);
  btf__add_func(b, "sgx_encl_grow", BTF_FUNC_STATIC, proto);
  (void)i32;
  return b;
}

}  // namespace

// The workload table (probes/epc_workload.h) and the compiled object agree: every row's field is in the encls and
// cgroups maps' value types, at the offset and size this build's epc.h gives it (the BTF of the embedded object;
// nothing is loaded, no root needed).
TEST(ObjectLayout, TheTableFieldsAreTheMapValues) {
  const epc::Status st = epc::probes::check_object_layout();
  EXPECT_TRUE(st.ok()) << st.error().message;
}

// Audit point 2: sgx_encl_grow() has (encl, reclaim) on 6.x and (encl) on 5.15; the fexit reading its return must
// use ctx[2] resp. ctx[1]. The variant comes from the FUNC_PROTO in the kernel's BTF.
TEST(GrowVariant, ChosenFromTheFuncProto) {
  for (int args : {1, 2}) {
    struct btf* b = synthetic_grow_btf(args);
    EXPECT_EQ(epc::probes::btf_function_arity(b, "sgx_encl_grow"), args);
    EXPECT_EQ(epc::probes::encl_grow_fexit_variant(b), args == 2 ? "fx_va_grow" : "fx_va_grow1");
    btf__free(b);
  }
  struct btf* empty = btf__new_empty();
  EXPECT_EQ(epc::probes::btf_function_arity(empty, "sgx_encl_grow"), -1);
  EXPECT_EQ(epc::probes::encl_grow_fexit_variant(empty), "") << "absent: the kprobe flavor";
  btf__free(empty);
  EXPECT_EQ(epc::probes::encl_grow_fexit_variant(nullptr), "");
}

TEST(GrowVariant, DebianKernelsHaveTwoArguments) {
  auto btfs = kernel_btfs();
  if (btfs.empty()) GTEST_SKIP() << "no shared/kernels/*.btf.xz found (" << EPC_SHARED_KERNELS << ")";
  for (const auto& xz : btfs) {
    SCOPED_TRACE(xz.filename().string());
    fs::path path = decompress(xz);
    ASSERT_FALSE(path.empty());
    struct btf* b = btf__parse(path.c_str(), nullptr);
    fs::remove(path);
    ASSERT_TRUE(b);
    EXPECT_EQ(epc::probes::btf_function_arity(b, "sgx_encl_grow"), 2);
    EXPECT_EQ(epc::probes::encl_grow_fexit_variant(b), "fx_va_grow");
    btf__free(b);
  }
}

TEST(GrowVariant, Kernel515HasOneArgument) {
  fs::path k515 = kernel_515_btf();
  if (k515.empty()) GTEST_SKIP() << "no 5.15 kernel BTF at " << EPC_KERNEL_CACHE << "/5.15-*/vmlinux.btf yet";
  struct btf* b = btf__parse(k515.c_str(), nullptr);
  ASSERT_TRUE(b) << k515;
  EXPECT_EQ(epc::probes::btf_function_arity(b, "sgx_encl_grow"), 1) << k515;
  EXPECT_EQ(epc::probes::encl_grow_fexit_variant(b), "fx_va_grow1");
  btf__free(b);
}

// Audit point 1: the object loads against a 5.15 kernel's BTF (CO-RE), with the verifier of the running kernel.
TEST(BpfLoadCheck, KprobeFlavorLoadsAgainst515Btf) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
  fs::path k515 = kernel_515_btf();
  if (k515.empty()) GTEST_SKIP() << "no 5.15 kernel BTF at " << EPC_KERNEL_CACHE << "/5.15-*/vmlinux.btf yet";
  SCOPED_TRACE(k515.string());
  expect_kprobe_flavor_loads(k515);
}

TEST(BpfLoadCheck, EveryKprobeProgramLoadsAgainstEachDebianKernelBtf) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
  auto btfs = kernel_btfs();
  if (btfs.empty()) GTEST_SKIP() << "no shared/kernels/*.btf.xz found (" << EPC_SHARED_KERNELS << ")";
  for (const auto& xz : btfs) {
    SCOPED_TRACE(xz.filename().string());
    fs::path btf = decompress(xz);
    ASSERT_FALSE(btf.empty()) << "xz -d failed for " << xz;
    expect_kprobe_flavor_loads(btf);
    fs::remove(btf);
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

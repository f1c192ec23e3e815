// Every BPF program of the object may only call helpers its kernels have. Reads the object file as libbpf opens it
// (no load, no root): each program's instructions (bpf_program__insns), every BPF_CALL to a helper (src_reg 0;
// kfunc calls are refused outright), checked against the kernel version that added the helper
// (include/uapi/linux/bpf.h history; bcc docs/kernel-versions.md). An unknown helper fails: add it to the table.
//
// Programs loaded on every kernel (the on-demand syscall program and the kprobe flavor) and the fentry flavor must
// be <= 5.15 (Ubuntu 22.04 linux-azure, AKS). The benchmark's batch runner may be newer (autoload off by default).
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <map>
#include <set>
#include <string>
#include <utility>

namespace {

using Version = std::pair<int, int>;

// Helpers the probes call, with the release that added each.
const std::map<int, Version>& helper_versions() {
  static const std::map<int, Version> v = {
      {BPF_FUNC_map_lookup_elem, {3, 19}},      {BPF_FUNC_map_update_elem, {3, 19}},
      {BPF_FUNC_map_delete_elem, {3, 19}},      {BPF_FUNC_ktime_get_ns, {4, 1}},
      {BPF_FUNC_get_current_pid_tgid, {4, 2}},  {BPF_FUNC_get_current_comm, {4, 2}},
      {BPF_FUNC_get_current_cgroup_id, {4, 18}}, {BPF_FUNC_probe_read_kernel, {5, 5}},
      {BPF_FUNC_get_current_task, {4, 8}},      {BPF_FUNC_probe_read_kernel_str, {5, 5}},
      {BPF_FUNC_probe_read_user, {5, 5}},        {BPF_FUNC_ktime_get_boot_ns, {5, 8}},
      {BPF_FUNC_loop, {5, 17}},
  };
  return v;
}

// Program types and attach kinds by section prefix: the release that added each.
Version section_version(const std::string& sec) {
  if (sec.rfind("kprobe/", 0) == 0 || sec.rfind("kretprobe/", 0) == 0) return {4, 1};
  if (sec.rfind("fentry/", 0) == 0 || sec.rfind("fexit/", 0) == 0) return {5, 5};
  if (sec == "syscall") return {5, 14};
  if (sec == "iter/task_file") return {5, 8};  // bpf_iter__task_file
  if (sec == "iter/task_vma") return {5, 12};  // bpf_iter__task_vma
  return {99, 0};
}

struct ProgramCalls {
  std::string section;
  std::set<int> helpers;
  int kfunc_calls = 0;
};

std::map<std::string, ProgramCalls> calls_of(const char* path) {
  std::map<std::string, ProgramCalls> out;
  bpf_object* obj = bpf_object__open_file(path, nullptr);
  if (!obj) return out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    ProgramCalls pc;
    pc.section = bpf_program__section_name(prog);
    const bpf_insn* insn = bpf_program__insns(prog);
    for (std::size_t i = 0; i < bpf_program__insn_cnt(prog); ++i) {
      if (insn[i].code != (BPF_JMP | BPF_CALL)) continue;
      if (insn[i].src_reg == 0) pc.helpers.insert(insn[i].imm);
      if (insn[i].src_reg == BPF_PSEUDO_KFUNC_CALL) ++pc.kfunc_calls;
    }
    out[bpf_program__name(prog)] = pc;
  }
  bpf_object__close(obj);
  return out;
}

std::string str(Version v) { return std::to_string(v.first) + "." + std::to_string(v.second); }

TEST(HelperVersions, EveryAlwaysLoadedProgramRunsOn515) {
  const auto progs = calls_of(EPC_BPF_OBJECT_PATH);
  ASSERT_FALSE(progs.empty()) << "cannot open " << EPC_BPF_OBJECT_PATH;
  const Version k515{5, 15};
  bool saw_kprobe = false, saw_fentry = false, saw_syscall = false;
  for (const auto& [name, pc] : progs) {
    SCOPED_TRACE(name + " (" + pc.section + ")");
    // Only the cost benchmark's batch runner may need a newer kernel.
    const bool bench_only = name == "epc_event_repeat";
    const Version limit = bench_only ? Version{99, 0} : k515;
    EXPECT_LE(section_version(pc.section), limit) << "program type/attach newer than " << str(limit);
    EXPECT_EQ(pc.kfunc_calls, 0) << "kfunc calls are not allowed";
    for (int h : pc.helpers) {
      auto it = helper_versions().find(h);
      if (it == helper_versions().end()) {
        ADD_FAILURE() << "helper #" << h << " has no entry in the version table";
        continue;
      }
      EXPECT_LE(it->second, limit) << "helper #" << h << " needs " << str(it->second);
    }
    saw_kprobe = saw_kprobe || pc.section.rfind("kprobe/", 0) == 0;
    saw_fentry = saw_fentry || pc.section.rfind("fentry/", 0) == 0;
    saw_syscall = saw_syscall || name == "epc_event";
  }
  EXPECT_TRUE(saw_kprobe && saw_fentry && saw_syscall);
}

// The batch runner uses bpf_loop (5.17): the check above must see it, or it would not catch bpf_loop elsewhere.
TEST(HelperVersions, TheCheckSeesBpfLoopInTheBenchmarkProgram) {
  const auto progs = calls_of(EPC_BPF_OBJECT_PATH);
  ASSERT_TRUE(progs.count("epc_event_repeat"));
  EXPECT_TRUE(progs.at("epc_event_repeat").helpers.count(BPF_FUNC_loop));
  ASSERT_TRUE(progs.count("epc_event"));
  EXPECT_FALSE(progs.at("epc_event").helpers.count(BPF_FUNC_loop));
}

}  // namespace

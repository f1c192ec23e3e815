// The hooks on the SGX driver, written once: each hook's name (--collector.ebpf.disable-probes, the probe label),
// kernel function, whether it has a return program, and its flavors. Expanded into hook_specs(), the hook indexes
// and the skeleton members of each hook (programs_of, hooks.cpp): a program renamed in epc.bpf.c breaks the build.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

struct epc_bpf;
struct bpf_program;

// X(name, function, ret, flavors)
//   name      programs are kp_<name> / kr_<name> (kprobe, kretprobe) and fe_<name> / fx_<name> (fentry, fexit)
//   ret       RET: a return program too; NORET: entry only
//   flavors   BOTH: kprobe and fentry; KPROBE: kprobe only (fentry cannot read the function's argument);
//             FEXIT2: both, the fexit in two signatures fx_<name> and fx_<name>1 (encl_grow_fexit_variant);
//             FEXIT: both, the fentry flavor being the fexit alone (it sees the arguments and the return value, so
//             no fentry only to keep them: one program per call on the paging path instead of two)
// clang-format off
#define EPC_HOOKS(X)                                                                                           \
  X(encl_create,    "sgx_encl_create",    RET,   BOTH)                                                          \
  X(encl_release,   "sgx_encl_release",   RET,   BOTH)                                                          \
  X(epc_alloc,      "sgx_alloc_epc_page", RET,   FEXIT)                                                         \
  X(epc_free,       "sgx_free_epc_page",  NORET, BOTH)                                                          \
  X(ewb,            "sgx_encl_ewb",       NORET, BOTH)                                                          \
  X(eldu,           "sgx_encl_eldu",      RET,   FEXIT)                                                         \
  X(page_fault,     "sgx_vma_fault",      RET,   BOTH)                                                          \
  X(reclaim,        "sgx_reclaim_pages",  NORET, BOTH)                                                          \
  X(va_grow,        "sgx_encl_grow",      RET,   FEXIT2)                                                        \
  X(va_shrink,      "sgx_encl_shrink",    NORET, BOTH)                                                          \
  X(vepc_fault,     "sgx_vepc_fault",     RET,   BOTH)                                                          \
  X(vepc_free,      "sgx_vepc_free_page", RET,   BOTH)                                                          \
  /* Enclave identity (epc_identity.bpf.h): INIT's outcome and SIGSTRUCT (user buffer), and the kernel's copy */ \
  /* of SIGSTRUCT. fentry cannot read __sgx_get_key_hash's pointer-to-const-void argument (6.1, 6.12). */        \
  X(encl_init,      "sgx_ioctl",          RET,   BOTH)                                                          \
  X(encl_sigstruct, "__sgx_get_key_hash", NORET, KPROBE)
// clang-format on

namespace epc::probes {

// Indexes into hook_specs() (hook::va_grow, ...), and their number.
namespace hook {
#define EPC_HOOK_INDEX(name, ...) name,
enum : std::size_t { EPC_HOOKS(EPC_HOOK_INDEX) count };
#undef EPC_HOOK_INDEX
}  // namespace hook

// One hook of the driver: entry program and, for has_return, a return program, in two flavors.
struct HookSpec {
  const char* name;
  const char* function;
  bool has_return;
  // false: always a kprobe (no fentry program). fentry cannot read an argument whose BTF type is a pointer to
  // const void (the verifier, 6.1: "func '__sgx_get_key_hash' arg1 type UNKNOWN is not a struct").
  bool fentry = true;
  // false: the fentry flavor has no entry program (FEXIT: the fexit alone).
  bool fentry_entry = true;
};
const std::vector<HookSpec>& hook_specs();

// A hook's programs in the skeleton.
struct HookPrograms {
  bpf_program* kp;
  bpf_program* kr;  // null without return program
  bpf_program* fe;  // null for a kprobe-only hook and for a FEXIT hook
  bpf_program* fx;
  bpf_program* fx_alt = nullptr;  // another signature of the same fexit (see encl_grow_fexit_variant)
};
// Per hook, in hook_specs() order.
std::vector<HookPrograms> programs_of(epc_bpf* skel);

// Whether every name of a space-separated list is a hook (the `probes` column of epc_workload.h).
constexpr bool are_hook_names(std::string_view list) {
  constexpr std::string_view names[] = {
#define EPC_HOOK_NAME(name, ...) #name,
      EPC_HOOKS(EPC_HOOK_NAME)
#undef EPC_HOOK_NAME
  };
  while (!list.empty()) {
    const std::size_t end = list.find(' ');
    const std::string_view word = list.substr(0, end);
    bool found = false;
    for (std::string_view n : names) found = found || n == word;
    if (!found) return false;
    list = end == std::string_view::npos ? std::string_view{} : list.substr(end + 1);
  }
  return true;
}

}  // namespace epc::probes

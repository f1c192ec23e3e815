#include "hooks.h"

#include "epc.skel.h"
#include "epc_workload.h"

namespace epc::probes {

namespace {
#define EPC_HAS_RET_RET true
#define EPC_HAS_RET_NORET false
#define EPC_HAS_FENTRY_BOTH true
#define EPC_HAS_FENTRY_FEXIT2 true
#define EPC_HAS_FENTRY_KPROBE false
#define EPC_HAS_FENTRY_FEXIT true
#define EPC_FENTRY_ENTRY_BOTH true
#define EPC_FENTRY_ENTRY_FEXIT2 true
#define EPC_FENTRY_ENTRY_KPROBE false
#define EPC_FENTRY_ENTRY_FEXIT false

// Skeleton members per column: a program that does not exist for a hook is null, one that should exist is named
// and so checked by the compiler.
#define EPC_KR_RET(p, n) p.kr_##n
#define EPC_KR_NORET(p, n) nullptr
#define EPC_FE_BOTH(p, n) p.fe_##n
#define EPC_FE_FEXIT2(p, n) p.fe_##n
#define EPC_FE_KPROBE(p, n) nullptr
#define EPC_FE_FEXIT(p, n) nullptr
#define EPC_FX_RET_BOTH(p, n) p.fx_##n
#define EPC_FX_RET_FEXIT2(p, n) p.fx_##n
#define EPC_FX_RET_KPROBE(p, n) nullptr
#define EPC_FX_RET_FEXIT(p, n) p.fx_##n
#define EPC_FX_NORET_BOTH(p, n) nullptr
#define EPC_FX_NORET_KPROBE(p, n) nullptr
#define EPC_FXALT_BOTH(p, n) nullptr
#define EPC_FXALT_FEXIT2(p, n) p.fx_##n##1
#define EPC_FXALT_KPROBE(p, n) nullptr
#define EPC_FXALT_FEXIT(p, n) nullptr

// Every hook in the workload table's `probes` column exists (a renamed hook breaks the build there too).
#define EPC_CHECK_PROBES(field, kind, where, metric, help, unit, scale, probes, doc) \
  static_assert(are_hook_names(probes), "epc_workload.h: " #field " needs a probe that is not in EPC_HOOKS");
EPC_WORKLOAD_FIELDS(EPC_CHECK_PROBES)
#undef EPC_CHECK_PROBES
}  // namespace

const std::vector<HookSpec>& hook_specs() {
  static const std::vector<HookSpec> specs = {
#define EPC_HOOK_SPEC(name, function, ret, flavors) \
  {#name, function, EPC_HAS_RET_##ret, EPC_HAS_FENTRY_##flavors, EPC_FENTRY_ENTRY_##flavors},
      EPC_HOOKS(EPC_HOOK_SPEC)
#undef EPC_HOOK_SPEC
  };
  return specs;
}

std::vector<HookPrograms> programs_of(epc_bpf* s) {
  auto& p = s->progs;
  return {
#define EPC_HOOK_PROGRAMS(name, function, ret, flavors) \
  {p.kp_##name, EPC_KR_##ret(p, name), EPC_FE_##flavors(p, name), EPC_FX_##ret##_##flavors(p, name),  \
   EPC_FXALT_##flavors(p, name)},
      EPC_HOOKS(EPC_HOOK_PROGRAMS)
#undef EPC_HOOK_PROGRAMS
  };
}

}  // namespace epc::probes

#include "app/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "host/file_reader.h"
#include "host/parse.h"

namespace epc {
namespace {

int last_cap() {
  auto v = read_u64_file("/proc/sys/kernel/cap_last_cap");
  return v && *v < 64 ? static_cast<int>(*v) : 40;  // CAP_CHECKPOINT_RESTORE on 5.9+
}

Result<unsigned long long> hex_field(std::string_view status, std::string_view field) {
  for (auto line : split_lines(status)) {
    if (line.substr(0, field.size()) != field || line.size() <= field.size() || line[field.size()] != ':') continue;
    auto v = trim(line.substr(field.size() + 1));
    unsigned long long out = 0;
    if (v.empty() || v.size() > 16) return make_error("bad " + std::string(field));
    for (char c : v) {
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (d < 0) return make_error("bad " + std::string(field));
      out = out << 4 | static_cast<unsigned>(d);
    }
    return out;
  }
  return make_error("no " + std::string(field) + " in /proc/thread-self/status");
}

std::size_t thread_count() {
  std::error_code ec;
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++n;
  return n;
}

const char* const kNames[] = {
    "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill", "cap_setgid",
    "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast",
    "cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio",
    "cap_sys_chroot", "cap_sys_ptrace", "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice",
    "cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write",
    "cap_audit_control", "cap_setfcap", "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm",
    "cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf", "cap_checkpoint_restore"};

}  // namespace

std::string capability_names(unsigned long long mask) {
  if (mask == 0) return "0";
  std::string out;
  for (int i = 0; i < 64; ++i) {
    if (!(mask >> i & 1)) continue;
    if (!out.empty()) out += ',';
    out += i < static_cast<int>(std::size(kNames)) ? kNames[i] : "cap_" + std::to_string(i);
  }
  return out;
}

Result<CapabilityState> read_capability_state() {
  auto status = read_file("/proc/thread-self/status", 1 << 16);
  if (!status) return status.error();
  CapabilityState s;
  struct {
    const char* field;
    unsigned long long* out;
  } fields[] = {{"CapEff", &s.effective}, {"CapPrm", &s.permitted}, {"CapInh", &s.inheritable},
                {"CapBnd", &s.bounding}, {"CapAmb", &s.ambient}};
  for (auto& f : fields) {
    auto v = hex_field(*status, f.field);
    if (!v) return v.error();
    *f.out = *v;
  }
  auto nnp = hex_field(*status, "NoNewPrivs");
  s.no_new_privs = nnp && *nnp == 1;
  return s;
}

std::vector<int> steady_state_capabilities(std::string_view release, int unpriv_disabled, bool holds_bpf) {
  if (!holds_bpf || unpriv_disabled == 0) return {};
  // kernel/bpf/syscall.c, __sys_bpf(): the global "sysctl_unprivileged_bpf_disabled && !bpf_capable()" check
  // moved into map_create() and bpf_prog_load() in v6.5 (commit 1d28635abcf1, "bpf: move unprivileged checks
  // into map_create() and bpf_prog_load()"). Unparseable releases are treated as old.
  unsigned major = 0, minor = 0;
  std::size_t i = 0;
  while (i < release.size() && release[i] >= '0' && release[i] <= '9') major = major * 10 + (release[i++] - '0');
  bool parsed = i > 0 && i < release.size() && release[i] == '.';
  if (parsed) {
    std::size_t j = ++i;
    while (i < release.size() && release[i] >= '0' && release[i] <= '9') minor = minor * 10 + (release[i++] - '0');
    parsed = i > j;
  }
  if (parsed && (major > 6 || (major == 6 && minor >= 5))) return {};
  return {CAP_BPF};
}

bool process_holds_bpf_objects() {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    std::error_code lec;
    auto target = std::filesystem::read_symlink(it->path(), lec);
    if (!lec && target.native().rfind("anon_inode:bpf-", 0) == 0) return true;
  }
  return false;
}

int unprivileged_bpf_disabled() {
  auto v = read_u64_file("/proc/sys/kernel/unprivileged_bpf_disabled");
  return v ? static_cast<int>(*v) : 2;
}

Status drop_capabilities(const std::vector<int>& keep, bool allow_threads) {
  if (!allow_threads && thread_count() > 1)
    return make_error("cannot drop capabilities: " + std::to_string(thread_count()) +
                      " threads already run and would keep theirs");
  unsigned long long keep_mask = 0;
  for (int c : keep)
    if (c >= 0 && c < 64) keep_mask |= 1ULL << c;

  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return make_error(std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno), errno);

  // Bounding set first: dropping from it needs CAP_SETPCAP, which the capset below removes.
  const int last = last_cap();
  for (int c = 0; c <= last; ++c) {
    if (keep_mask >> c & 1) continue;
    if (::prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1) continue;
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EPERM && errno != EINVAL)
      return make_error(std::string("prctl(PR_CAPBSET_DROP): ") + std::strerror(errno), errno);
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return make_error(std::string("prctl(PR_CAP_AMBIENT_CLEAR_ALL): ") + std::strerror(errno), errno);

  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &hdr, data) != 0)
    return make_error(std::string("capget: ") + std::strerror(errno), errno);
  unsigned long long permitted = data[0].permitted | static_cast<unsigned long long>(data[1].permitted) << 32;
  unsigned long long target = permitted & keep_mask;
  for (int i = 0; i < 2; ++i) {
    data[i].effective = data[i].permitted = static_cast<__u32>(target >> (32 * i));
    data[i].inheritable = 0;
  }
  if (::syscall(SYS_capset, &hdr, data) != 0)
    return make_error(std::string("capset: ") + std::strerror(errno), errno);

  auto now = read_capability_state();
  if (!now) return now.error();
  if ((now->effective & ~keep_mask) || (now->permitted & ~keep_mask))
    return make_error("capabilities still held after dropping them: " + capability_names(now->permitted));
  return {};
}

}  // namespace epc

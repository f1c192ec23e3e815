#include "detect.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "hooks.h"
#include "host/file_reader.h"
#include "host/parse.h"
#include "libbpf_owners.h"

namespace epc::probes {

namespace {

bool path_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// /proc/kallsyms is 10 MiB and more on a distribution kernel with its modules: streamed line by line under a cap
// far above that (never held whole at start-up); only the lines mentioning "sgx" go to the parser.
constexpr std::size_t kKallsymsLimit = 256u << 20;

Result<KallsymsInfo> read_kallsyms(const std::string& path) {
  std::string lines;
  Status read = for_each_line(path, kKallsymsLimit, [&](std::string_view line) {
    if (line.find("sgx") != std::string_view::npos) lines.append(line).push_back('\n');
  });
  if (!read) return read.error();
  return parse_kallsyms(lines);
}

// The BTF the CO-RE relocations and the fentry choice look at: Options::btf_custom_path, else the running kernel's.
BtfPtr load_btf(const std::string& custom_path) {
  struct btf* b = custom_path.empty() ? btf__load_vmlinux_btf() : btf__parse(custom_path.c_str(), nullptr);
  if (b && libbpf_get_error(b)) b = nullptr;
  return BtfPtr(b);
}

// Whether the kernel's BTF has the task_file (5.8+) and task_vma (5.12+) iterator types the start-up discovery
// programs attach to.
void iterator_types(const struct btf* vmlinux, bool& file, bool& vma) {
  file = vmlinux && btf__find_by_name_kind(vmlinux, "bpf_iter__task_file", BTF_KIND_STRUCT) > 0;
  vma = vmlinux && btf__find_by_name_kind(vmlinux, "bpf_iter__task_vma", BTF_KIND_STRUCT) > 0;
}

}  // namespace

int btf_function_arity(const struct btf* btf, const char* fn) {
  if (!btf) return -1;
  int id = btf__find_by_name_kind(btf, fn, BTF_KIND_FUNC);
  if (id <= 0) return -1;
  const btf_type* func = btf__type_by_id(btf, id);
  if (!func) return -1;
  const btf_type* proto = btf__type_by_id(btf, func->type);
  if (!proto || !btf_is_func_proto(proto)) return -1;
  return btf_vlen(proto);
}

std::string encl_grow_fexit_variant(const struct btf* btf) {
  switch (btf_function_arity(btf, "sgx_encl_grow")) {
    case 2: return "fx_va_grow";   // (struct sgx_encl *, bool reclaim): SGX2 series, 6.0+
    case 1: return "fx_va_grow1";  // (struct sgx_encl *): 5.15
    default: return "";
  }
}

bool KallsymsInfo::has_function(const std::string& name) const {
  for (const auto& f : functions)
    if (f == name) return true;
  return false;
}

bool KallsymsInfo::has_renamed(const std::string& name) const {
  for (const auto& f : functions)
    if (f.size() > name.size() && f.compare(0, name.size(), name) == 0 && f[name.size()] == '.') return true;
  return false;
}

KallsymsInfo parse_kallsyms(const std::string& text) {
  KallsymsInfo info;
  info.readable = true;
  for (std::string_view line : split_lines(text)) {
    const auto fields = split_fields(line, " \t");
    if (fields.size() < 3 || fields[1].size() != 1) continue;
    const std::string addr(fields[0]), type(fields[1]), name(fields[2]);
    if (name.rfind("sgx_", 0) != 0 && name.rfind("__sgx_", 0) != 0) continue;
    char t = type[0];
    if (t == 't' || t == 'T') {
      info.any_sgx = true;
      info.functions.push_back(name);
    } else if ((name == "sgx_nr_free_pages" && (t == 'b' || t == 'B' || t == 'd' || t == 'D')) ||
               (name == "sgx_encl_fops" && (t == 'r' || t == 'R' || t == 'd' || t == 'D'))) {
      errno = 0;
      char* end = nullptr;
      unsigned long long a = std::strtoull(addr.c_str(), &end, 16);
      if (errno == 0 && end && *end == '\0')
        (name == "sgx_nr_free_pages" ? info.nr_free_pages_addr : info.encl_fops_addr) = a;
    }
  }
  return info;
}

Detection detect(const Options& options) {
  Detection d;
  if (options.mode == Mode::kRun) {
    if (auto read = read_kallsyms(options.kallsyms_path)) d.kallsyms = std::move(*read);
    d.btf = !options.btf_custom_path.empty() || path_exists("/sys/kernel/btf/vmlinux");
    d.kprobes = path_exists(options.sys_path + "/bus/event_source/devices/kprobe/type") ||
                path_exists(options.sys_path + "/kernel/tracing/kprobe_events") ||
                path_exists(options.sys_path + "/kernel/debug/tracing/kprobe_events");
    d.root = ::geteuid() == 0;
    BtfPtr btf = d.btf ? load_btf(options.btf_custom_path) : nullptr;
    d.tracing = btf && libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACING, nullptr) == 1;
    for (const auto& s : hook_specs())
      if (btf && btf__find_by_name_kind(btf.get(), s.function, BTF_KIND_FUNC) > 0) d.btf_functions.insert(s.function);
    d.grow_fexit = encl_grow_fexit_variant(btf.get());
    iterator_types(d.tracing ? btf.get() : nullptr, d.iter_file, d.iter_vma);
    // /dev/sgx_enclave's device number as the kernel writes it (MKDEV: major << 20 | minor).
    struct stat st{};
    if (::stat((options.dev_path + "/sgx_enclave").c_str(), &st) == 0 && S_ISCHR(st.st_mode))
      d.enclave_rdev = (major(st.st_rdev) << 20) | minor(st.st_rdev);
  } else if (options.mode == Mode::kLoadCheck) {
    // The iterators are tracing programs: they load where the running kernel has BTF and the iterator types.
    if (BtfPtr vmlinux = load_btf("")) iterator_types(vmlinux.get(), d.iter_file, d.iter_vma);
  } else if (!options.kallsyms_path.empty()) {  // kTestOnly: the free-pages reader still gets its address
    if (auto read = read_kallsyms(options.kallsyms_path)) d.kallsyms = std::move(*read);
  }
  return d;
}

std::vector<HookChoice> choose(const Detection& d, const Options& options) {
  const auto& specs = hook_specs();
  std::vector<HookChoice> out(specs.size());
  if (options.mode == Mode::kLoadCheck) {
    for (auto& c : out) c.how = Choice::kKprobe;
    return out;
  }
  if (options.mode != Mode::kRun) return out;  // kTestOnly: maps and the on-demand program only
  std::string all_off;
  if (!d.kallsyms.readable)
    all_off = "cannot read " + options.kallsyms_path;
  else if (!d.kallsyms.any_sgx)
    all_off = "no SGX driver in this kernel (no sgx_* function in kallsyms)";
  else if (!d.btf)
    all_off = "kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE needs CONFIG_DEBUG_INFO_BTF";
  else if (!d.root)
    all_off = "not root: loading BPF programs needs CAP_BPF and CAP_PERFMON";
  if (!all_off.empty()) {
    for (auto& c : out) c.reason = all_off;
    return out;
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto& c = out[i];
    const std::string fn = specs[i].function;
    const bool disabled =
        std::find(options.disabled.begin(), options.disabled.end(), specs[i].name) != options.disabled.end();
    if (disabled) {
      c.reason = "disabled by configuration";
    } else if (!d.kallsyms.has_function(fn)) {
      c.reason = d.kallsyms.has_renamed(fn) ? fn + " only exists as a compiler clone (.isra/.constprop/.part)"
                                            : fn + " not in kallsyms (inlined or absent)";
    } else if (options.prefer_fentry && specs[i].fentry && d.tracing && d.btf_functions.count(fn) &&
               (i != hook::va_grow || !d.grow_fexit.empty())) {
      c.how = Choice::kFentry;
    } else if (d.kprobes) {
      c.how = Choice::kKprobe;
    } else {
      c.reason = "no kprobes (no kprobe PMU or tracefs kprobe_events) and no fentry for " + fn;
    }
  }
  return out;
}

}  // namespace epc::probes

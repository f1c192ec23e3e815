#include "collectors/platform.h"

#include <algorithm>
#include <charconv>
#include <filesystem>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "host/file_reader.h"
#include "host/host_paths.h"
#include "host/parse.h"

namespace epc {
namespace {

constexpr std::uint32_t kSgxLeaf = 0x12;
constexpr int kMaxEpcSections = 8;  // SGX_MAX_EPC_SECTIONS in arch/x86/kernel/cpu/sgx/sgx.h

std::string clip(std::string_view s) {
  std::string out(s.substr(0, 60));
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return out;
}

Result<std::uint32_t> parse_hex32(std::string_view s) {
  if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return make_error("not a 0x number: '" + clip(s) + "'");
  s.remove_prefix(2);
  std::uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || ptr != s.data() + s.size()) return make_error("bad 32-bit hex number: '0x" + clip(s) + "'");
  return v;
}

class HardwareCpuidReader final : public CpuidReader {
 public:
  std::optional<CpuidRegs> query(std::uint32_t leaf, std::uint32_t subleaf) override {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(leaf, subleaf, &a, &b, &c, &d)) return std::nullopt;  // beyond the maximum leaf
    return CpuidRegs{a, b, c, d};
#else
    (void)leaf;
    (void)subleaf;
    return std::nullopt;
#endif
  }
};

class DumpCpuidReader final : public CpuidReader {
 public:
  explicit DumpCpuidReader(CpuidDump dump) : dump_(std::move(dump)) {}
  std::optional<CpuidRegs> query(std::uint32_t leaf, std::uint32_t subleaf) override {
    auto it = dump_.find({leaf, subleaf});
    if (it == dump_.end()) return std::nullopt;
    return it->second;
  }

 private:
  CpuidDump dump_;
};

std::string bit(bool b) { return b ? "1" : "0"; }

class PlatformCollector final : public Collector {
 public:
  PlatformCollector(const HostPaths& paths, std::unique_ptr<CpuidReader> cpuid, std::string cpuid_file)
      : paths_(paths), cpuid_(std::move(cpuid)), cpuid_file_(std::move(cpuid_file)) {}

  Status collect(MetricSink& sink) override {
    // cpuinfo: every Linux host has it, so absent means the host's /proc is not under --path.rootfs, and "no SGX
    // flag" would be a wrong answer; unreadable or garbage is a failure too.
    CpuFlags flags;
    auto text = paths_.read("/proc/cpuinfo", 4 << 20);
    if (!text) {
      if (text.error().not_found())
        return make_error(text.error().message + " (every host has it: is the host's /proc mounted under --path.rootfs?)",
                          ENOENT);
      return text.error();
    }
    auto parsed_flags = parse_cpuinfo_flags(*text);
    if (!parsed_flags) return make_error(paths_.proc("cpuinfo").string() + ": " + parsed_flags.error().message);
    flags = *parsed_flags;

    std::optional<SgxCpuid> sgx;
    if (!cpuid_file_.empty()) {
      auto text = read_file(cpuid_file_, 1 << 20);
      if (!text) return text.error();
      auto dump = parse_cpuid_dump(*text);
      if (!dump) return make_error(cpuid_file_ + ": " + dump.error().message);
      DumpCpuidReader reader(std::move(*dump));
      sgx = read_sgx_cpuid(reader);
    } else if (cpuid_) {
      sgx = read_sgx_cpuid(*cpuid_);
    }

    sink.info("sgx_platform_info",
              "SGX support of the node: CPU flags (cpuinfo), SGX1/SGX2 (CPUID 0x12) and the driver whose device "
              "nodes exist (in-kernel, dcap, isgx or none).",
              {{"cpu_sgx", bit(flags.sgx)},
               {"cpu_sgx_lc", bit(flags.sgx_lc)},
               {"sgx1", bit(sgx && sgx->sgx1)},
               {"sgx2", bit(sgx && sgx->sgx2)},
               {"driver", detect_sgx_driver(paths_)}});

    if (sgx) {
      const char* help = "Maximum enclave size supported by the CPU (CPUID 0x12.0), by enclave mode.";
      if (sgx->max_enclave_size_32)
        sink.gauge("sgx_platform_max_enclave_size_bytes", help, {{"mode", "32bit"}},
                   static_cast<double>(*sgx->max_enclave_size_32));
      if (sgx->max_enclave_size_64)
        sink.gauge("sgx_platform_max_enclave_size_bytes", help, {{"mode", "64bit"}},
                   static_cast<double>(*sgx->max_enclave_size_64));
      for (std::size_t i = 0; i < sgx->sections.size(); ++i)
        sink.gauge("sgx_epc_section_bytes", "Size of an EPC section reported by CPUID 0x12 (subleaf 2 + section).",
                   {{"section", std::to_string(i)}}, static_cast<double>(sgx->sections[i].size));
    }

    // EPC capacity per NUMA node from sysfs; CPUID's sections as a fallback (numa_node="").
    const char* cap_help = "EPC capacity: sysfs sgx_total_bytes per NUMA node, or the sum of CPUID's EPC sections "
                           "(numa_node=\"\") where sysfs does not say.";
    std::vector<std::pair<unsigned long long, unsigned long long>> per_node;
    const std::string node_dir = "/sys/devices/system/node/";
    auto names = paths_.list(node_dir, 4096);
    if (!names && !names.error().not_found()) return names.error();
    if (names) {
      for (const auto& n : *names) {
        if (n.size() < 5 || n.compare(0, 4, "node") != 0) continue;
        auto num = parse_u64(std::string_view(n).substr(4));
        if (!num) continue;  // "node", "nodeX": not a NUMA node directory
        auto bytes = paths_.read_u64(node_dir + n + "/x86/sgx_total_bytes");
        if (!bytes) {
          if (bytes.error().not_found() || bytes.error().errno_value == ENOTDIR) continue;
          return bytes.error();
        }
        per_node.emplace_back(*num, *bytes);
      }
    }
    std::sort(per_node.begin(), per_node.end());
    for (const auto& [node, bytes] : per_node)
      sink.gauge("sgx_epc_capacity_bytes", cap_help, {{"numa_node", std::to_string(node)}}, static_cast<double>(bytes));
    if (per_node.empty() && sgx && !sgx->sections.empty()) {
      double total = 0;
      for (const auto& s : sgx->sections) total += static_cast<double>(s.size);
      sink.gauge("sgx_epc_capacity_bytes", cap_help, {{"numa_node", ""}}, total);
    }
    return Status::Ok();
  }

 private:
  const HostPaths& paths_;
  std::unique_ptr<CpuidReader> cpuid_;
  std::string cpuid_file_;
};

}  // namespace

Result<CpuFlags> parse_cpuinfo_flags(std::string_view cpuinfo) {
  for (char c : cpuinfo) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n' && c != '\t' && c != '\r') return make_error("binary data in cpuinfo");
  }
  CpuFlags out;
  bool any_field = false;
  for (auto line : split_lines(cpuinfo)) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    any_field = true;
    if (trim(line.substr(0, colon)) != "flags") continue;
    for (auto f : split_fields(line.substr(colon + 1))) {
      if (f == "sgx") out.sgx = true;
      if (f == "sgx_lc") out.sgx_lc = true;
    }
    return out;  // the first CPU's flags speak for the node
  }
  if (!any_field) return make_error("no 'key : value' line in cpuinfo");
  return out;
}

Result<CpuidDump> parse_cpuid_dump(std::string_view text) {
  CpuidDump out;
  int lineno = 0;
  for (auto raw : split_lines(text)) {
    ++lineno;
    auto line = trim(raw);
    if (line.empty() || line.front() == '#' || line.substr(0, 3) == "CPU") continue;
    auto where = [&] { return "line " + std::to_string(lineno) + ": "; };
    // "0x00000012 0x02: eax=0x... ebx=0x... ecx=0x... edx=0x..."
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return make_error(where() + "expected '<leaf> <subleaf>: eax=... edx=...'");
    auto key = split_fields(line.substr(0, colon));
    auto regs = split_fields(line.substr(colon + 1));
    if (key.size() != 2 || regs.size() != 4) return make_error(where() + "expected '<leaf> <subleaf>: eax=... edx=...'");
    auto leaf = parse_hex32(key[0]);
    if (!leaf) return make_error(where() + leaf.error().message);
    auto sub = parse_hex32(key[1]);
    if (!sub) return make_error(where() + sub.error().message);
    CpuidRegs r;
    std::uint32_t* dst[4] = {&r.eax, &r.ebx, &r.ecx, &r.edx};
    static constexpr std::string_view names[4] = {"eax=", "ebx=", "ecx=", "edx="};
    for (int i = 0; i < 4; ++i) {
      if (regs[i].substr(0, 4) != names[i]) return make_error(where() + "expected " + std::string(names[i]));
      auto v = parse_hex32(regs[i].substr(4));
      if (!v) return make_error(where() + v.error().message);
      *dst[i] = *v;
    }
    out.try_emplace({*leaf, *sub}, r);
  }
  if (out.empty()) return make_error("no CPUID entries");
  return out;
}

std::unique_ptr<CpuidReader> make_hardware_cpuid_reader() { return std::make_unique<HardwareCpuidReader>(); }
std::unique_ptr<CpuidReader> make_dump_cpuid_reader(CpuidDump dump) {
  return std::make_unique<DumpCpuidReader>(std::move(dump));
}

std::optional<SgxCpuid> read_sgx_cpuid(CpuidReader& reader) {
  // Leaf 0 gives the maximum basic leaf; a dump without leaf 0 is trusted to hold what it holds.
  if (auto l0 = reader.query(0, 0); l0 && l0->eax < kSgxLeaf) return std::nullopt;
  if (auto l7 = reader.query(7, 0); l7 && !(l7->ebx & (1u << 2))) return std::nullopt;  // CPUID.(7,0):EBX.SGX
  auto s0 = reader.query(kSgxLeaf, 0);
  if (!s0) return std::nullopt;
  SgxCpuid out;
  out.sgx1 = s0->eax & 1u;
  out.sgx2 = s0->eax & 2u;
  // EDX[7:0] / EDX[15:8]: log2 of the maximum enclave size in 32-bit / 64-bit mode.
  unsigned n32 = s0->edx & 0xff, n64 = (s0->edx >> 8) & 0xff;
  if (n32 > 0 && n32 < 64) out.max_enclave_size_32 = std::uint64_t{1} << n32;
  if (n64 > 0 && n64 < 64) out.max_enclave_size_64 = std::uint64_t{1} << n64;
  for (int i = 0; i < kMaxEpcSections; ++i) {
    auto s = reader.query(kSgxLeaf, 2 + i);
    if (!s) break;
    unsigned type = s->eax & 0xf;
    if (type != 1) break;  // 0: no more sections; anything else is unknown and ends the list, as in the kernel
    EpcSection sec;
    sec.base = (std::uint64_t{s->ebx & 0xfffff} << 32) | (s->eax & 0xfffff000u);
    sec.size = (std::uint64_t{s->edx & 0xfffff} << 32) | (s->ecx & 0xfffff000u);
    if (sec.size == 0) continue;
    out.sections.push_back(sec);
  }
  return out;
}

std::string detect_sgx_driver(const HostPaths& paths) {
  if (paths.exists("/dev/sgx_enclave")) return "in-kernel";  // upstream driver, Linux 5.11+
  if (paths.exists("/dev/sgx/enclave")) return "dcap";       // out-of-tree DCAP driver (intel_sgx)
  if (paths.exists("/dev/isgx")) return "isgx";              // legacy out-of-tree driver
  return "none";
}

std::unique_ptr<Collector> make_platform_collector_for_test(const HostPaths& paths, std::unique_ptr<CpuidReader> cpuid) {
  return std::make_unique<PlatformCollector>(paths, std::move(cpuid), "");
}

void PlatformOptions::flags(FlagSet& f) {
  f.add_string("cpuid-file", "FILE",
               "Test and demo seam: CPUID leaf 0x12 from this dump (format of `cpuid -1 -r`) instead of the CPU.",
               cpuid_file);
}

Status PlatformOptions::validate() {
  if (cpuid_file.empty()) return {};
  std::error_code ec;
  if (!std::filesystem::is_regular_file(cpuid_file, ec))
    return make_error("--collector.platform.cpuid-file " + cpuid_file + ": not a regular file");
  return {};
}

std::unique_ptr<Collector> make_platform_collector(const CollectorServices& services, const PlatformOptions& options) {
  // The dump is read on every scrape (a test may change it); validate() checked that it is a file.
  if (!options.cpuid_file.empty())
    return std::make_unique<PlatformCollector>(services.paths, nullptr, options.cpuid_file);
  return std::make_unique<PlatformCollector>(services.paths, make_hardware_cpuid_reader(), "");
}

}  // namespace epc

#include "attribution/names.h"

#include "host/parse.h"

namespace epc {
namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string clip(std::string_view s) { return sanitize_label_value(s.substr(0, 80)); }

}  // namespace

bool is_pod_uid(std::string_view s) {
  if (s.size() == 32) {
    for (char c : s)
      if (!is_hex(c)) return false;
    return true;
  }
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

bool is_container_id(std::string_view s) {
  if (s.size() < 12 || s.size() > 128) return false;
  for (char c : s)
    if (!is_hex(c)) return false;
  return true;
}

bool is_k8s_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return true;
}

std::string sanitize_label_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(c < 0x20 || c == 0x7f ? '_' : static_cast<char>(c));
      ++i;
      continue;
    }
    // Multi-byte UTF-8: check the lead byte, the continuation bytes and reject overlong/surrogate forms.
    std::size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    bool ok = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && len == 3) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    }
    if (ok && len == 4) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (!ok) {
      out.push_back('?');
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

Result<PodLogDir> parse_pod_log_dir(std::string_view name) {
  auto fields = split_fields(name, "_");
  // Neither namespaces, pod names nor uids contain '_', so exactly three non-empty fields.
  if (fields.size() != 3 || name.front() == '_' || name.back() == '_' || name.find("__") != std::string_view::npos)
    return make_error("pod log directory '" + clip(name) + "' is not <namespace>_<pod>_<uid>");
  if (!is_k8s_name(fields[0]) || !is_k8s_name(fields[1]))
    return make_error("pod log directory '" + clip(name) + "': invalid namespace or pod name");
  if (!is_pod_uid(fields[2])) return make_error("pod log directory '" + clip(name) + "': invalid pod uid");
  return PodLogDir{std::string(fields[0]), std::string(fields[1]), std::string(fields[2])};
}

Result<ContainerLogName> parse_container_log_name(std::string_view name) {
  constexpr std::string_view kSuffix = ".log";
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix)
    return make_error("container log name '" + clip(name) + "' does not end in .log");
  auto stem = name.substr(0, name.size() - kSuffix.size());
  auto fields = split_fields(stem, "_");
  if (fields.size() != 3 || stem.front() == '_' || stem.back() == '_' || stem.find("__") != std::string_view::npos)
    return make_error("container log name '" + clip(name) + "' is not <pod>_<namespace>_<container>-<id>.log");
  auto last = fields[2];
  auto dash = last.rfind('-');
  if (dash == std::string_view::npos || dash == 0)
    return make_error("container log name '" + clip(name) + "': no <container>-<id>");
  auto container = last.substr(0, dash);
  auto id = last.substr(dash + 1);
  if (!is_k8s_name(fields[0]) || !is_k8s_name(fields[1]) || !is_k8s_name(container))
    return make_error("container log name '" + clip(name) + "': invalid pod, namespace or container name");
  if (!is_container_id(id)) return make_error("container log name '" + clip(name) + "': invalid container id");
  return ContainerLogName{std::string(fields[0]), std::string(fields[1]), std::string(container), std::string(id)};
}

Result<ProcCgroup> parse_proc_cgroup(std::string_view text) {
  ProcCgroup out;
  bool any = false;
  for (auto line : split_lines(text)) {
    if (trim(line).empty()) continue;
    auto c1 = line.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return make_error("cgroup line '" + clip(line) + "' is not <id>:<controllers>:<path>");
    auto id = parse_u64(line.substr(0, c1));
    if (!id) return make_error("cgroup line '" + clip(line) + "': bad hierarchy id");
    auto controllers = line.substr(c1 + 1, c2 - c1 - 1);
    auto path = line.substr(c2 + 1);  // may itself contain ':'
    if (path.empty() || path.front() != '/') return make_error("cgroup line '" + clip(line) + "': path is not absolute");
    if (*id == 0 && controllers.empty()) {
      out.has_unified = true;
      out.unified = std::string(path);
    } else {
      out.v1.emplace_back(std::string(controllers), std::string(path));
    }
    any = true;
  }
  if (!any) return make_error("empty cgroup file");
  return out;
}

std::string pick_cgroup_path(const ProcCgroup& cg) {
  auto v1_path = [&]() -> std::string {
    for (std::string_view want : {"misc", "memory", "cpu", "pids", "name=systemd"}) {
      for (const auto& [controllers, path] : cg.v1)
        for (auto c : split_fields(controllers, ","))
          if (c == want) return path;
    }
    return cg.v1.empty() ? std::string() : cg.v1.front().second;
  };
  if (cg.has_unified && cg.unified != "/") return cg.unified;
  std::string p = v1_path();
  if (!p.empty()) return p;
  return cg.has_unified ? cg.unified : std::string("/");
}

}  // namespace epc

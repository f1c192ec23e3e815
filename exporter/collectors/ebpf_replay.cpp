// Parser of the ebpf collector's replay file (format in ebpf.h). Strict: an unknown record, a bad number or a
// missing field is an error naming the line, so a broken fixture fails loudly instead of scraping zeros.
#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <iterator>
#include <utility>
#include <string>
#include <vector>

#include "collectors/ebpf.h"

namespace epc {

namespace {

constexpr std::size_t kMaxLines = 100000;

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    if (line[i] == '"') {  // quoted: up to the closing quote
      std::size_t end = line.find('"', i + 1);
      if (end == std::string_view::npos) end = line.size();
      out.push_back(line.substr(i, std::min(end + 1, line.size()) - i));
      i = end + 1;
      continue;
    }
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

template <class T>
bool parse_num(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_hex(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

// key=value fields into their variables; every key must be known; returns an error message or "". The keys are a
// short list searched in order: nothing is allocated per line (a replay of a full node has thousands).
template <class T>
std::string kv_fields(const std::vector<std::string_view>& f, std::size_t from,
                      std::initializer_list<std::pair<std::string_view, T*>> keys) {
  for (std::size_t i = from; i < f.size(); ++i) {
    auto eq = f[i].find('=');
    if (eq == std::string_view::npos) return "expected key=value, got '" + std::string(f[i]) + "'";
    const std::string_view key = f[i].substr(0, eq);
    auto it = std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.first == key; });
    if (it == keys.end()) return "unknown field '" + std::string(key) + "'";
    if (!parse_num(f[i].substr(eq + 1), *it->second)) return "bad number for '" + std::string(key) + "'";
  }
  return "";
}

}  // namespace

Result<probes::Snapshot> parse_ebpf_replay(std::string_view text) {
  probes::Snapshot s;
  std::size_t lineno = 0;
  bool any = false;
  while (!text.empty()) {
    if (++lineno > kMaxLines) return make_error("more than 100000 lines");
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto f = fields_of(line);
    if (f.empty() || f[0].front() == '#') continue;
    any = true;
    auto err = [&](const std::string& m) { return make_error("line " + std::to_string(lineno) + ": " + m); };
    const std::string_view kind = f[0];
    if (kind == "probe") {
      if (f.size() < 5) return err("probe needs: name function attach_type attached|\"off: reason\"");
      probes::ProbeState p;
      p.name = f[1];
      p.function = f[2];
      p.attach_type = f[3] == "-" ? "" : std::string(f[3]);
      std::string state(line.substr(f[4].data() - line.data()));
      if (state == "attached") {
        p.attached = true;
      } else if (state.size() >= 2 && state.front() == '"' && state.back() == '"') {
        p.reason = state.substr(1, state.size() - 2);
        if (p.reason.rfind("off: ", 0) == 0) p.reason = p.reason.substr(5);
      } else {
        return err("probe state must be attached or \"off: <reason>\"");
      }
      s.probes.push_back(std::move(p));
    } else if (kind == "workload") {
      if (f.size() < 2 || f[1].front() != '/') return err("workload needs an absolute cgroup path");
      probes::WorkloadEntry w;
      w.cgroup_path = f[1];
      // The keys are the workload table's fields (probes/epc_workload.h): gauges signed, counters unsigned.
      for (std::size_t i = 2; i < f.size(); ++i) {
        auto eq = f[i].find('=');
        if (eq == std::string_view::npos) return err("expected key=value, got '" + std::string(f[i]) + "'");
        const std::string_view key = f[i].substr(0, eq), value = f[i].substr(eq + 1);
        const probes::WorkloadField* field = nullptr;
        for (const auto& wf : probes::kWorkloadFields)
          if (key == wf.name) field = &wf;
        if (!field) return err("unknown field '" + std::string(key) + "'");
        auto& c = w.counters;
        if (!(field->gauge ? parse_num(value, c.*field->gauge) : parse_num(value, c.*field->counter)))
          return err("bad number for '" + std::string(key) + "'");
      }
      s.workloads.push_back(std::move(w));
    } else if (kind == "enclave") {
      if (f.size() < 2 || f[1].front() != '/') return err("enclave needs an absolute cgroup path");
      probes::EnclaveIdentity e;
      e.cgroup_path = f[1];
      // key -> value, in line order (a key given twice: the second is unknown once the first is taken).
      std::vector<std::pair<std::string_view, std::string_view>> kv;
      kv.reserve(f.size());
      for (std::size_t i = 2; i < f.size(); ++i) {
        auto eq = f[i].find('=');
        if (eq == std::string_view::npos) return err("expected key=value, got '" + std::string(f[i]) + "'");
        kv.emplace_back(f[i].substr(0, eq), f[i].substr(eq + 1));
      }
      auto take = [&](std::string_view k) -> std::optional<std::string_view> {
        auto it = std::find_if(kv.begin(), kv.end(), [&](const auto& p) { return p.first == k; });
        if (it == kv.end()) return std::nullopt;
        auto v = it->second;
        kv.erase(it);
        return v;
      };
      auto hex = is_lower_hex;
      auto id = take("id");
      if (!id || !hex(*id, 12)) return err("enclave needs id=<12 lowercase hex digits>");
      e.id = *id;
      auto state = take("state");
      if (!state || (*state != "initialized" && *state != "created")) return err("state must be initialized or created");
      e.initialized = *state == "initialized";
      auto source = take("source");
      if (!source || (*source != "kernel" && *source != "user" && *source != "discovered" && *source != "unavailable"))
        return err("source must be kernel, user, discovered or unavailable");
      e.source = *source;
      for (auto [key, out] : {std::pair{"mrenclave", &e.mrenclave}, std::pair{"mrsigner", &e.mrsigner}}) {
        if (auto v = take(key)) {
          if (!hex(*v, 64)) return err(std::string(key) + " must be 64 lowercase hex digits");
          *out = *v;
        }
      }
      for (auto [key, out] : {std::pair{"isv_prod_id", &e.isv_prod_id}, std::pair{"isv_svn", &e.isv_svn}}) {
        if (auto v = take(key)) {
          std::uint16_t n = 0;
          if (!parse_num(*v, n)) return err(std::string("bad number for '") + key + "'");
          *out = n;
        }
      }
      for (auto [key, out] : {std::pair{"attributes", &e.attributes}, std::pair{"xfrm", &e.xfrm}}) {
        if (auto v = take(key)) {
          if (v->substr(0, 2) != "0x" || !parse_hex(v->substr(2), *out)) return err(std::string(key) + " must be 0x<hex>");
        }
      }
      if (auto v = take("miscselect")) {
        std::uint64_t m = 0;
        if (v->substr(0, 2) != "0x" || !parse_hex(v->substr(2), m) || m > 0xffffffffu) return err("miscselect must be 0x<hex>");
        e.miscselect = static_cast<std::uint32_t>(m);
      }
      // What is left are the numbers; every key must be known.
      std::uint64_t created = 0;
      const std::pair<std::string_view, std::uint64_t*> unsigned_keys[] = {
          {"size_bytes", &e.size_bytes}, {"created", &created}, {"init_failures", &e.init_failures}};
      const std::pair<std::string_view, std::int64_t*> signed_keys[] = {{"resident_pages", &e.resident_pages},
                                                                        {"swapped_pages", &e.swapped_pages}};
      for (const auto& [key, v] : kv) {
        bool ok = false;
        auto is = [&key = key](const auto& k) { return k.first == key; };  // clang 14 cannot capture a binding
        if (auto u = std::find_if(std::begin(unsigned_keys), std::end(unsigned_keys), is); u != std::end(unsigned_keys))
          ok = parse_num(v, *u->second);
        else if (auto sg = std::find_if(std::begin(signed_keys), std::end(signed_keys), is); sg != std::end(signed_keys))
          ok = parse_num(v, *sg->second);
        else
          return err("unknown field '" + std::string(key) + "'");
        if (!ok) return err("bad number for '" + std::string(key) + "'");
      }
      e.created_unix = static_cast<double>(created);
      s.enclaves.push_back(std::move(e));
    } else if (kind == "node") {
      std::int64_t free_pages = -1, vepc = 0;
      std::uint64_t ksgxd = 0, direct = 0, vepc_failures = 0;
      std::vector<std::string_view> sf{f[0]}, uf{f[0]};
      for (std::size_t i = 1; i < f.size(); ++i) {
        auto key = f[i].substr(0, f[i].find('='));
        (key == "free_pages" || key == "vepc_pages" ? sf : uf).push_back(f[i]);
      }
      std::string m = kv_fields<std::int64_t>(sf, 1, {{"free_pages", &free_pages}, {"vepc_pages", &vepc}});
      if (m.empty())
        m = kv_fields<std::uint64_t>(uf, 1, {{"reclaim_ksgxd", &ksgxd}, {"reclaim_direct", &direct},
                                             {"vepc_alloc_failures", &vepc_failures}});
      if (!m.empty()) return err(m);
      if (free_pages >= 0) s.free_pages = free_pages;
      s.vepc_pages = vepc;
      s.reclaim_ksgxd = ksgxd;
      s.reclaim_direct = direct;
      s.vepc_alloc_failures = vepc_failures;
    } else if (kind == "dropped") {
      std::uint64_t n = 0;
      if (f.size() != 3 || !parse_num(f[2], n)) return err("dropped needs: reason count");
      s.dropped[std::string(f[1])] = n;
    } else if (kind == "map") {
      if (f.size() < 2) return err("map needs a name");
      probes::MapFill m{std::string(f[1]), 0, 0};
      std::string e = kv_fields<std::uint64_t>(f, 2, {{"entries", &m.entries}, {"max_entries", &m.max_entries}});
      if (!e.empty()) return err(e);
      s.maps.push_back(std::move(m));
    } else if (kind == "program") {
      if (f.size() < 2) return err("program needs a name");
      probes::ProgramStats p{std::string(f[1]), 0, 0};
      std::string e = kv_fields<std::uint64_t>(f, 2, {{"runs", &p.run_count}, {"run_ns", &p.run_time_ns}});
      if (!e.empty()) return err(e);
      s.programs.push_back(std::move(p));
      s.program_stats_enabled = true;
    } else {
      return err("unknown record '" + std::string(kind) + "'");
    }
  }
  if (!any) return make_error("empty replay file");
  return s;
}

}  // namespace epc

// epc_metrics_doc: docs/metrics.md's tables from the metric definitions (collectors/metric_groups.h), so the
// document cannot drift from what the exporter writes. Each table sits between
//   <!-- metrics: <group id> -->   and   <!-- end metrics -->
// and is regenerated whole; the prose around it is left alone.
//
//   epc_metrics_doc                 prints every table
//   epc_metrics_doc --check FILE    exit 1 (with the first differing line) when FILE's tables are not the generated
//                                   ones, or a group has no table, or a table names no group
//   epc_metrics_doc --write FILE    rewrites FILE's tables
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>

#include "collectors/metric_groups.h"

namespace {

constexpr std::string_view kBegin = "<!-- metrics: ";
constexpr std::string_view kEnd = "<!-- end metrics -->";

std::string cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else out.push_back(c);
  }
  return out;
}

std::string table(const epc::MetricGroup& g) {
  bool probes = false;
  for (const auto* d : g.defs) probes = probes || !d->probes.empty();
  std::string out = "| metric | type | labels | meaning |";
  out += probes ? " probes needed |\n|---|---|---|---|---|\n" : "\n|---|---|---|---|\n";
  for (const auto* d : g.defs) {
    std::string labels;
    if (d->labels.per_workload()) labels = "workload";
    for (std::size_t i = d->labels.size() - d->labels.own(); i < d->labels.size(); ++i)
      labels += (labels.empty() ? "" : ", ") + std::string(d->labels[i]);
    out += "| `" + std::string(d->name) + "` | " + (d->type == epc::MetricType::kCounter ? "counter" : "gauge") +
           " |" + (labels.empty() ? "" : " " + labels) + " | " + cell(d->doc.empty() ? d->help : d->doc) + " |";
    if (probes) {
      std::string p;
      std::istringstream names{std::string(d->probes)};
      for (std::string n; names >> n;) p += (p.empty() ? "" : ", ") + n;
      out += p.empty() ? " |" : " " + p + " |";
    }
    out += "\n";
  }
  return out;
}

// The document with every marked table regenerated; "" and a message in err when a marker is wrong.
std::string regenerate(const std::string& doc, std::string& err) {
  std::map<std::string, const epc::MetricGroup*> groups;
  const auto all = epc::all_metric_groups();
  for (const auto& g : all) groups[std::string(g.id)] = &g;
  std::map<std::string, int> seen;
  std::string out;
  std::size_t at = 0;
  while (true) {
    const std::size_t begin = doc.find(kBegin, at);
    if (begin == std::string::npos) break;
    const std::size_t close = doc.find("-->", begin);
    const std::size_t line_end = doc.find('\n', begin);
    if (close == std::string::npos || line_end == std::string::npos || close > line_end) {
      err = "unterminated table marker";
      return {};
    }
    std::string id = doc.substr(begin + kBegin.size(), close - begin - kBegin.size());
    while (!id.empty() && id.back() == ' ') id.pop_back();
    auto g = groups.find(id);
    if (g == groups.end()) {
      err = "table marker names no metric group: '" + id + "'";
      return {};
    }
    ++seen[id];
    const std::size_t end = doc.find(kEnd, line_end);
    if (end == std::string::npos) {
      err = "table '" + id + "' has no end marker";
      return {};
    }
    out.append(doc, at, line_end + 1 - at);
    out += table(*g->second);
    at = end;
  }
  out.append(doc, at, std::string::npos);
  for (const auto& g : all) {
    const std::string id(g.id);
    if (seen[id] != 1) {
      err = "metric group '" + id + "' has " + std::to_string(seen[id]) + " tables (expected one: " +
            std::string(kBegin) + id + " -->)";
      return {};
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (argc == 1) {
    for (const auto& g : epc::all_metric_groups()) std::cout << "### " << g.id << "\n" << table(g) << "\n";
    return 0;
  }
  if (argc != 3 || (mode != "--check" && mode != "--write")) {
    std::cerr << "usage: epc_metrics_doc [--check|--write FILE]\n";
    return 2;
  }
  std::ifstream in(argv[2]);
  if (!in) {
    std::cerr << argv[2] << ": cannot read\n";
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  std::string err;
  const std::string want = regenerate(doc, err);
  if (!err.empty()) {
    std::cerr << argv[2] << ": " << err << "\n";
    return 1;
  }
  if (mode == "--write") {
    if (want != doc) std::ofstream(argv[2], std::ios::trunc) << want;
    return 0;
  }
  if (want == doc) return 0;
  std::istringstream a(doc), b(want);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool ha = static_cast<bool>(std::getline(a, la)), hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) break;
    if (la != lb || ha != hb) {
      std::cerr << argv[2] << ":" << line << ": the metric tables differ from the definitions (regenerate: "
                << "epc_metrics_doc --write " << argv[2] << ")\n  file:      " << (ha ? la : "<end>")
                << "\n  generated: " << (hb ? lb : "<end>") << "\n";
      break;
    }
  }
  return 1;
}

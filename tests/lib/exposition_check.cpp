#include "exposition_check.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "promtext/prom_text.h"

namespace epc::test {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string show(const std::string& name, const Labels& labels) {
  std::string out = name + "{";
  for (std::size_t i = 0; i < labels.size(); ++i)
    out += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
  return out + "}";
}

std::string join(const std::vector<std::string>& names) {
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? "," : "") + names[i];
  return out + "}";
}

// "# TYPE name type" lines: family name -> type, and families typed more than once.
std::map<std::string, std::string> declared_types(std::string_view page, std::vector<std::string>& problems) {
  std::map<std::string, std::string> types;
  std::size_t pos = 0;
  while (pos < page.size()) {
    std::size_t end = page.find('\n', pos);
    std::string_view line = page.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? page.size() : end + 1;
    if (line.substr(0, 7) != "# TYPE ") continue;
    line.remove_prefix(7);
    std::size_t sp = line.find(' ');
    std::string name(line.substr(0, sp));
    std::string type(sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1));
    if (!types.emplace(name, type).second) problems.push_back("family " + name + " typed twice");
  }
  return types;
}

// The family a sample belongs to and whether a label of that name is structure (le, quantile) for this sample.
std::pair<std::string, std::string> family_of(const std::string& sample, const std::map<std::string, std::string>& types) {
  auto typed = [&](std::string_view suffix, const char* type) -> std::optional<std::string> {
    if (sample.size() <= suffix.size() || sample.compare(sample.size() - suffix.size(), suffix.size(), suffix) != 0)
      return std::nullopt;
    std::string base = sample.substr(0, sample.size() - suffix.size());
    auto it = types.find(base);
    if (it != types.end() && it->second == type) return base;
    return std::nullopt;
  };
  if (auto b = typed("_bucket", "histogram")) return {*b, "le"};
  for (const char* type : {"histogram", "summary"})
    for (std::string_view suffix : {"_sum", "_count"})
      if (auto b = typed(suffix, type)) return {*b, ""};
  auto it = types.find(sample);
  return {sample, it != types.end() && it->second == "summary" ? "quantile" : ""};
}

}  // namespace

std::vector<std::string> exposition_problems(std::string_view page) {
  std::vector<std::string> problems;
  auto parsed = promtext::parse_prometheus_text(page);
  if (auto* err = std::get_if<promtext::ParseError>(&parsed)) return {"does not parse: " + err->what()};
  const auto& samples = std::get<std::vector<promtext::Sample>>(parsed);
  auto types = declared_types(page, problems);

  struct Family {
    std::map<std::vector<std::string>, std::pair<std::string, int>> shapes;  // label names -> (first series, count)
    std::set<std::pair<std::string, Labels>> seen, seen_nonempty;
  };
  std::map<std::string, Family> families;
  std::string current;
  std::set<std::string> finished;
  for (const auto& s : samples) {
    auto [family, structural] = family_of(s.name, types);
    if (family != current) {
      if (finished.count(family)) problems.push_back("samples of family " + family + " are not together");
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    Family& f = families[family];
    std::vector<std::string> sorted_names;  // a label name twice in one series: the parser refuses the page
    for (const auto& [k, v] : s.labels)
      if (k != structural) sorted_names.push_back(k);
    std::sort(sorted_names.begin(), sorted_names.end());
    auto [shape, added] = f.shapes.emplace(sorted_names, std::make_pair(show(s.name, s.labels), 0));
    ++shape->second.second;

    Labels key = s.labels;
    std::sort(key.begin(), key.end());
    if (!f.seen.emplace(s.name, key).second) {
      problems.push_back(show(s.name, s.labels) + ": duplicate series");
      continue;
    }
    std::erase_if(key, [](const auto& kv) { return kv.second.empty(); });
    if (!f.seen_nonempty.emplace(s.name, key).second)
      problems.push_back(show(s.name, s.labels) +
                         ": the same series as another once empty labels are dropped (Prometheus keeps one of them)");
  }
  for (const auto& [name, f] : families) {
    if (f.shapes.size() < 2) continue;
    std::string msg = "family " + name + ": its series carry " + std::to_string(f.shapes.size()) +
                      " different sets of label names:";
    for (const auto& [names, first] : f.shapes)
      msg += " " + join(names) + " (" + std::to_string(first.second) + " series, e.g. " + first.first + ")";
    problems.push_back(msg);
  }
  return problems;
}

::testing::AssertionResult exposition_is_clean(std::string_view page) {
  auto problems = exposition_problems(page);
  if (problems.empty()) return ::testing::AssertionSuccess();
  auto failure = ::testing::AssertionFailure();
  failure << problems.size() << " exposition problem(s):";
  for (const auto& p : problems) failure << "\n  " << p;
  return failure;
}

}  // namespace epc::test

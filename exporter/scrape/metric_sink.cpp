#include "scrape/metric_sink.h"

#include <cstring>
#include <stdexcept>

#include "scrape/text_format.h"

namespace epc {
namespace {

void append_pair(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += "=\"";
  append_label_value(out, value);
  out.push_back('"');
}

std::string names_of(const LabelNames& l) {
  std::string out = "{";
  for (auto n : l) out.append(out.size() > 1 ? "," : "").append(n);
  return out + "}";
}

bool same_shape(const MetricDef& a, const MetricDef& b) {
  if (a.type != b.type || a.labels.size() != b.labels.size() || a.labels.per_workload() != b.labels.per_workload())
    return false;
  for (std::size_t i = 0; i < a.labels.size(); ++i)
    if (a.labels[i] != b.labels[i]) return false;
  return true;
}

// Decodes name="value",... (the text this file renders).
void decode_pairs(std::string_view text, Labels& out) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t eq = text.find('=', i);
    std::string name(text.substr(i, eq - i));
    std::string value;
    std::size_t j = eq + 2;  // past ="
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value.push_back(text[j] == 'n' ? '\n' : text[j]);
      } else {
        value.push_back(text[j]);
      }
    }
    out.emplace_back(std::move(name), std::move(value));
    i = j + 2;  // past ",
  }
}

}  // namespace

void render_workload_labels(std::string& out, const WorkloadLabels& w) {
  append_pair(out, kWorkloadLabelNames[0], w.namespace_name);
  out.push_back(',');
  append_pair(out, kWorkloadLabelNames[1], w.pod);
  out.push_back(',');
  append_pair(out, kWorkloadLabelNames[2], w.container);
  out.push_back(',');
  append_pair(out, kWorkloadLabelNames[3], w.cgroup);
}

MetricSink::MetricSink() {
  // kNoWorkload: every workload label empty.
  std::string none;
  render_workload_labels(none, WorkloadLabels{});
  workload_rendered(none, false);
}

WorkloadId MetricSink::workload_rendered(std::string_view text, bool container_level) {
  if (auto it = workload_index_.find(text); it != workload_index_.end()) return it->second;
  const std::string& stored = workload_texts_.emplace_back(text);
  const auto id = static_cast<WorkloadId>(workloads_.size());
  workloads_.push_back({stored, container_level});
  workload_index_.emplace(stored, id);
  return id;
}

WorkloadId MetricSink::workload(const WorkloadLabels& w) {
  scratch_.clear();
  render_workload_labels(scratch_, w);
  return workload_rendered(scratch_, !w.container.empty());
}

std::size_t MetricSink::family_index(const MetricDef& def) {
  if (&def == last_def_) return last_index_;
  auto it = by_def_.find(&def);
  if (it == by_def_.end()) {
    // A definition seen for the first time: a new family, or another definition object of a family already here
    // (it must say the same).
    std::uint32_t index;
    if (auto named = by_name_.find(def.name); named != by_name_.end()) {
      index = named->second;
      const MetricDef& mine = *families_[index].def;
      if (!same_shape(mine, def))
        throw std::logic_error("metric " + std::string(def.name) + " defined twice: " + names_of(mine.labels) +
                               " and " + names_of(def.labels) + (mine.type != def.type ? ", two types" : ""));
    } else {
      index = static_cast<std::uint32_t>(families_.size());
      families_.push_back({&def, {}});
      by_name_.emplace(def.name, index);
    }
    it = by_def_.emplace(&def, index).first;
  }
  last_def_ = &def;
  last_index_ = it->second;
  return it->second;
}

MetricSink::Family& MetricSink::family(const MetricDef& def) { return families_[family_index(def)]; }

const MetricSink::Family* MetricSink::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &families_[it->second];
}

void MetricSink::add(const MetricDef& def, WorkloadId w, std::span<const std::string_view> values, double value) {
  const LabelNames& names = def.labels;
  if (values.size() != names.own())
    throw std::logic_error("metric " + std::string(def.name) + ": " + std::to_string(values.size()) +
                           " label values for " + names_of(names));
  if (w != kNoWorkload && !names.per_workload())
    throw std::logic_error("metric " + std::string(def.name) + " is not per workload");
  Family& f = families_[family_index(def)];
  const auto at = static_cast<std::uint32_t>(label_text_.size());
  const std::size_t first = names.size() - values.size();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) label_text_.push_back(',');
    append_pair(label_text_, names[first + i], values[i]);
  }
  f.rows.push_back({w, at, static_cast<std::uint32_t>(label_text_.size() - at), value});
}

std::pair<std::uint32_t, std::uint32_t> MetricSink::store_labels(std::string_view rendered) {
  const auto at = static_cast<std::uint32_t>(label_text_.size());
  label_text_ += rendered;
  return {at, static_cast<std::uint32_t>(rendered.size())};
}

MetricSink::Mark MetricSink::mark() const {
  Mark m;
  m.families = families_.size();
  m.workloads = workloads_.size();
  m.label_text = label_text_.size();
  m.rows.reserve(families_.size());
  for (const auto& f : families_) m.rows.push_back(f.rows.size());
  return m;
}

void MetricSink::rollback(const Mark& m) {
  for (std::size_t i = 0; i < m.families; ++i) families_[i].rows.resize(m.rows[i]);
  for (std::size_t i = m.families; i < families_.size(); ++i) by_name_.erase(families_[i].def->name);
  std::erase_if(by_def_, [&](const auto& kv) { return kv.second >= m.families; });
  families_.resize(m.families);
  last_def_ = nullptr;
  for (std::size_t i = m.workloads; i < workloads_.size(); ++i) workload_index_.erase(workloads_[i].text);
  workloads_.resize(m.workloads);
  workload_texts_.resize(m.workloads);
  label_text_.resize(m.label_text);
}

std::size_t MetricSink::series_count() const {
  std::size_t n = 0;
  for (const auto& f : families_) n += f.rows.size();
  return n;
}

void MetricSink::render(std::string& out) const {
  // Written through a cursor into a buffer sized for the worst case, then cut to what was written: a full node's
  // scrape is tens of thousands of short pieces.
  std::size_t bound = 0;
  for (const auto& f : families_) {
    if (f.rows.empty()) continue;
    const MetricDef& d = *f.def;
    bound += 2 * d.help.size() + 2 * d.name.size() + 32;
    for (const Row& r : f.rows)
      bound += d.name.size() + workloads_[r.workload].text.size() + r.labels_len + kMaxValueChars + 5;
  }
  const std::size_t start = out.size();
  out.resize(start + bound);
  char* p = out.data() + start;
  auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  std::string help;
  for (const auto& f : families_) {
    if (f.rows.empty()) continue;
    const MetricDef& d = *f.def;
    help.clear();
    append_help(help, d.help);
    put("# HELP ");
    put(d.name);
    *p++ = ' ';
    put(help);
    put("\n# TYPE ");
    put(d.name);
    put(d.type == MetricType::kCounter ? " counter\n" : " gauge\n");
    const bool workload = d.labels.per_workload();
    const bool any = !d.labels.empty();
    for (const Row& r : f.rows) {
      put(d.name);
      if (any) {
        *p++ = '{';
        if (workload) put(workloads_[r.workload].text);
        if (r.labels_len > 0) {
          if (workload) *p++ = ',';
          put(std::string_view(label_text_).substr(r.labels_at, r.labels_len));
        }
        *p++ = '}';
      }
      *p++ = ' ';
      p = write_value(p, r.value);
      *p++ = '\n';
    }
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
}

std::string MetricSink::text() const {
  std::string out;
  render(out);
  return out;
}

Labels MetricSink::labels_of(const Family& f, const Row& r) const {
  Labels out;
  if (f.def->labels.per_workload()) decode_pairs(workloads_[r.workload].text, out);
  decode_pairs(row_labels(r), out);
  return out;
}

}  // namespace epc

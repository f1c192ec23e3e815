#include "render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace epctop {

const std::vector<ColumnInfo>& columns() {
  static const std::vector<ColumnInfo> cols = {
      {Column::Name, "WORKLOAD", 0, 'n', false},     {Column::Enclaves, "ENCL", 5, 'e', false},
      {Column::Resident, "RESIDENT", 9, 'r', false}, {Column::Swapped, "SWAPPED", 9, 'w', false},
      {Column::Evict, "EVICT/s", 8, 'v', false},     {Column::Loadback, "LOADB/s", 8, 'b', false},
      {Column::Faults, "FAULT/s", 8, 'f', false},    {Column::Stall, "STALL/s", 8, 't', false},
      {Column::Mrenclave, "MRENCLAVE", 13, 'm', true}, {Column::Mrsigner, "MRSIGNER", 13, 'g', true},
      {Column::Svn, "SVN", 6, 'i', true},            {Column::Debug, "DBG", 4, 'x', true},
  };
  return cols;
}

const ColumnInfo& column_info(Column c) {
  for (const auto& ci : columns())
    if (ci.column == c) return ci;
  return columns().front();
}

std::optional<Column> column_for_key(int key) {
  for (const auto& ci : columns())
    if (ci.key == key) return ci.column;
  return std::nullopt;
}

std::string format_bytes(double v) {
  if (!std::isfinite(v)) return "?";
  if (v == 0) return "0";
  const char* units = "BKMGTPE";
  double x = std::fabs(v);
  int u = 0;
  while (x >= 1024 && u < 6) { x /= 1024; ++u; }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%.0fB", x);
  else if (x < 10) std::snprintf(buf, sizeof buf, "%.1f%c", x, units[u]);
  else std::snprintf(buf, sizeof buf, "%.0f%c", x, units[u]);
  return (v < 0 ? "-" : "") + std::string(buf);
}

std::string format_rate(double v) {
  if (!std::isfinite(v)) return "?";
  char buf[32];
  double x = std::fabs(v);
  if (x == 0) return "0";
  if (x < 0.005) std::snprintf(buf, sizeof buf, "<0.01");
  else if (x < 10) std::snprintf(buf, sizeof buf, "%.2f", x);
  else if (x < 1000) std::snprintf(buf, sizeof buf, "%.1f", x);
  else if (x < 10000) std::snprintf(buf, sizeof buf, "%.0f", x);
  else if (x < 1e6) std::snprintf(buf, sizeof buf, "%.1fk", x / 1e3);
  else if (x < 1e9) std::snprintf(buf, sizeof buf, "%.1fM", x / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1fG", x / 1e9);
  return (v < 0 ? "-" : "") + std::string(buf);
}

namespace {

std::optional<double> numeric(const Row& r, Column c) {
  switch (c) {
    case Column::Enclaves: return r.enclaves;
    case Column::Resident: return r.resident;
    case Column::Swapped: return r.swapped;
    case Column::Evict: return r.evict_rate;
    case Column::Loadback: return r.loadback_rate;
    case Column::Faults: return r.fault_rate;
    case Column::Stall: return r.stall_rate;
    default: return std::nullopt;
  }
}

const std::string* text(const Row& r, Column c) {
  switch (c) {
    case Column::Name: return &r.name;
    case Column::Mrenclave: return &r.mrenclave;
    case Column::Mrsigner: return &r.mrsigner;
    case Column::Svn: return &r.isv_svn;
    case Column::Debug: return &r.debug;
    default: return nullptr;
  }
}

std::string cell(const Row& r, Column c) {
  if (const std::string* t = text(r, c)) {
    if (t->empty()) return "-";
    // Measurements are shown as their prefix, like short git hashes.
    if ((c == Column::Mrenclave || c == Column::Mrsigner) && t->find(' ') == std::string::npos)
      return t->substr(0, column_info(c).width - 1);
    return *t;
  }
  auto v = numeric(r, c);
  if (!v) return "-";
  if (c == Column::Resident || c == Column::Swapped) return format_bytes(*v);
  if (c == Column::Enclaves) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", *v);
    return buf;
  }
  return format_rate(*v);
}

// Cuts `s` to `w` characters, keeping both ends (pod names differ in their hash suffix).
std::string fit(const std::string& s, int w) {
  if (w <= 0) return "";
  if (static_cast<int>(s.size()) <= w) return s;
  if (w < 5) return s.substr(0, w);
  int tail = (w - 1) / 2;
  int head = w - 1 - tail;
  return s.substr(0, head) + "~" + s.substr(s.size() - tail);
}

std::string pad_right(const std::string& s, int w) {
  std::string t = fit(s, w);
  return t + std::string(w - t.size(), ' ');
}

std::string pad_left(const std::string& s, int w) {
  std::string t = fit(s, w);
  return std::string(w - t.size(), ' ') + t;
}

std::string clip(std::string s, int width) {
  if (static_cast<int>(s.size()) > width) s.resize(width);
  return s;
}

// Right-aligns `right` on a line that starts with `left`, when both fit.
std::string left_right(const std::string& left, const std::string& right, int width) {
  int gap = width - static_cast<int>(left.size()) - static_cast<int>(right.size());
  if (gap >= 1) return left + std::string(gap, ' ') + right;
  return clip(left, width);
}

std::string bar(double used, double cap, int w) {
  if (w < 3) return "";
  int inner = w - 2;
  int fill = cap > 0 ? static_cast<int>(std::lround(inner * std::clamp(used / cap, 0.0, 1.0))) : 0;
  return "[" + std::string(fill, '#') + std::string(inner - fill, '.') + "]";
}

std::string pct(double used, double cap) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", cap > 0 ? 100.0 * used / cap : 0.0);
  return buf;
}

std::string fmt_age(double s) {
  char buf[32];
  if (s < 10) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 600) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else std::snprintf(buf, sizeof buf, "%.0fm", s / 60);
  return buf;
}

std::vector<std::string> header(const Frame& f, const NodeInfo* n, const ViewState& v, std::size_t shown_rows,
                                int width) {
  std::vector<std::string> h;
  // 1: who
  std::string l1 = "epctop " + f.target;
  if (n && n->has_platform) {
    l1 += "  " + (n->driver.empty() ? std::string("?") : n->driver);
    if (n->sgx1) l1 += " SGX1";
    if (n->sgx2) l1 += " SGX2";
    if (n->flc) l1 += " FLC";
  }
  if (n && !n->version.empty()) l1 += "  exporter " + n->version;
  char every[48];
  std::snprintf(every, sizeof every, "%s every %gs", f.clock.c_str(), f.interval_s);
  std::string right = v.paused ? std::string("PAUSED ") + every : std::string(every);
  if (l1.size() + right.size() + 1 > static_cast<std::size_t>(width)) right = v.paused ? "PAUSED " + f.clock : f.clock;
  h.push_back(left_right(l1, right, width));
  if (!n) {
    h.push_back("EPC -");
    h.push_back("");
    h.push_back("");
  } else {
    // 2: EPC totals and a bar
    std::string l2 = "EPC " + (n->capacity_total ? format_bytes(*n->capacity_total) : std::string("?"));
    std::optional<double> used = n->used;
    if (!used && n->free && n->capacity_total) used = *n->capacity_total - *n->free;
    if (used) l2 += "  used " + format_bytes(*used);
    if (n->free) l2 += "  free " + format_bytes(*n->free);
    if (used && n->capacity_total) {
      std::string p = " " + pct(*used, *n->capacity_total);
      int bw = std::min(42, width - static_cast<int>(l2.size()) - static_cast<int>(p.size()) - 1);
      if (bw >= 10) l2 += " " + bar(*used, *n->capacity_total, bw);
      l2 += p;
    } else if (!n->free) {
      l2 += "  (free/used: eBPF collector off or probes missing)";
    }
    h.push_back(clip(l2, width));
    // 3: per NUMA node
    std::string l3;
    if (!n->free_numa.empty()) {
      for (const auto& [node, fr] : n->free_numa) {
        double cap = 0;
        for (const auto& [cn, c] : n->capacity)
          if (cn == node) cap = c;
        l3 += "numa" + node + " " + bar(cap - fr, cap, 12) + " " + format_bytes(cap - fr) + "/" + format_bytes(cap) + "  ";
      }
    } else if (!n->capacity.empty()) {
      l3 = "NUMA";
      for (const auto& [node, c] : n->capacity) l3 += "  " + (node.empty() ? std::string("all") : node) + ": " + format_bytes(c);
      if (n->free) l3 += "  (used/free node-wide only)";
    }
    h.push_back(clip(l3, width));
    // 4: reclaim, vEPC, exporter health
    std::string l4 = "reclaim/s";
    if (!n->has_reclaim) {
      l4 += " -";
    } else {
      l4 += " ksgxd " + (n->reclaim_ksgxd_rate ? format_rate(*n->reclaim_ksgxd_rate) : std::string("-"));
      l4 += " direct " + (n->reclaim_direct_rate ? format_rate(*n->reclaim_direct_rate) : std::string("-"));
    }
    l4 += "  vEPC " + (n->vepc ? format_bytes(*n->vepc) : std::string("-"));
    l4 += "  probes " + std::to_string(n->probes_attached) + "/" + std::to_string(n->probes_total);
    if (f.data_age_s) l4 += "  scrape " + fmt_age(*f.data_age_s) + " ago";
    if (!n->failed_collectors.empty()) {
      l4 += "  FAILED:";
      for (const auto& c : n->failed_collectors) l4 += " " + c;
    }
    if (n->workloads_aggregated && *n->workloads_aggregated > 0) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "  +%.0f in _overflow", *n->workloads_aggregated);
      l4 += buf;
    }
    h.push_back(clip(l4, width));
  }
  // 5: the view
  std::string l5 = std::string("level ") + level_name(v.level) + "  sort " + column_info(v.sort).title +
                   (v.descending ? " desc" : " asc") + "  ns " + (v.ns_filter.empty() ? std::string("all") : v.ns_filter) +
                   "  " + std::to_string(shown_rows) + (shown_rows == 1 ? " row" : " rows");
  h.push_back(clip(l5, width));
  return h;
}

bool row_less(const Row& a, const Row& b, Column c, bool desc) {
  if (const std::string* ta = text(a, c)) {
    const std::string* tb = text(b, c);
    if (*ta != *tb) {
      if (ta->empty()) return false;  // "-" last either way
      if (tb->empty()) return true;
      return desc ? *ta > *tb : *ta < *tb;
    }
  } else {
    auto va = numeric(a, c), vb = numeric(b, c);
    if (va.has_value() != vb.has_value()) return va.has_value();  // unknown last
    if (va && *va != *vb) return desc ? *va > *vb : *va < *vb;
  }
  return a.name < b.name;  // stable, readable tie-break
}

}  // namespace

std::vector<Row> select_rows(const Rows& rows, const ViewState& view) {
  std::vector<Row> out;
  for (const auto& r : rows.rows) {
    if (!view.ns_filter.empty()) {
      const std::string& hay = r.is_cgroup ? r.name : r.ns;
      if (hay.find(view.ns_filter) == std::string::npos) continue;
    }
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [&](const Row& a, const Row& b) { return row_less(a, b, view.sort, view.descending); });
  return out;
}

namespace {

const char* kHelp[] = {
    "epctop keys",
    "",
    "  n e r w v b f t   sort by WORKLOAD ENCL RESIDENT SWAPPED EVICT LOADB FAULT STALL",
    "  m g i x           sort by MRENCLAVE MRSIGNER SVN DBG (with enclave identity)",
    "  < >               sort by the column left / right",
    "  R                 reverse the sort order",
    "  1 2 3  l          level: pod, container, enclave; l cycles",
    "  /                 filter by namespace (substring; Enter applies, empty clears)",
    "  space p           pause / resume",
    "  h ?               this help (any key closes it)",
    "  q                 quit",
    "",
    "Rates (/s) are taken between the last two scrapes; a counter that went down",
    "was reset, its new value is what it counted since. '-': no data (yet).",
};

}  // namespace

Screen render(const Frame& f, const ViewState& v, int width, int height) {
  Screen s;
  if (width < 40 || height < 8) {
    s.lines.assign(std::max(height, 0), "");
    if (height > 0)
      s.lines[0] = clip("epctop: terminal " + std::to_string(width) + "x" + std::to_string(height) +
                        " too small; need 40x8", std::max(width, 0));
    return s;
  }
  std::optional<NodeInfo> node;
  Rows rows;
  std::vector<Row> shown;
  if (f.cur) {
    node = node_info(*f.cur, f.prev);
    rows = build_rows(*f.cur, f.prev, v.level);
    shown = select_rows(rows, v);
  }
  s.lines = header(f, node ? &*node : nullptr, v, shown.size(), width);

  // Columns that fit: identity columns only when exported; drop from the least useful until the name has room.
  std::vector<Column> cols;
  for (const auto& ci : columns())
    if (!ci.identity || rows.has_identity) cols.push_back(ci.column);
  const Column drop_order[] = {Column::Debug,   Column::Svn,      Column::Mrsigner, Column::Mrenclave,
                               Column::Loadback, Column::Swapped, Column::Enclaves, Column::Stall,
                               Column::Faults,  Column::Evict};
  auto fixed_width = [&] {
    int w = 0;
    for (Column c : cols) w += column_info(c).width;
    return w;
  };
  int hidden = 0;
  for (Column d : drop_order) {
    if (width - fixed_width() >= 16) break;
    auto it = std::find(cols.begin(), cols.end(), d);
    if (it != cols.end()) { cols.erase(it); ++hidden; }
  }
  int name_w = std::max(8, width - fixed_width());
  // On a wide terminal the numbers stay next to the names: the name column is as wide as the longest name.
  std::size_t longest = 16;
  for (const Row& r : shown) longest = std::max(longest, r.name.size() + 1);
  name_w = std::min(name_w, static_cast<int>(longest));

  std::string th;
  for (Column c : cols) {
    const ColumnInfo& ci = column_info(c);
    std::string title = ci.title;
    std::string t = (c == Column::Name) ? pad_right(title, name_w) : " " + pad_left(title, ci.width - 1);
    if (c == v.sort) {
      int lead = (c == Column::Name) ? 0 : static_cast<int>(t.size() - title.size());
      s.sort_x = static_cast<int>(th.size()) + lead;
      s.sort_w = static_cast<int>(std::min(title.size(), t.size()));
    }
    th += t;
  }
  s.table_header = static_cast<int>(s.lines.size());
  s.lines.push_back(clip(th, width));

  int body = height - static_cast<int>(s.lines.size()) - 1;
  std::vector<std::string> table;
  if (v.help) {
    for (const char* l : kHelp) table.emplace_back(l);
  } else if (!f.cur) {
    if (f.error.empty()) {
      table.push_back("waiting for the first scrape of " + f.target);
    } else {
      table.push_back("no data from " + f.target + ":");
      // Word-wrapped: the whole message is readable even on 80 columns (the status line is clipped).
      std::string line;
      std::size_t i = 0;
      while (i < f.error.size()) {
        std::size_t sp = f.error.find(' ', i);
        std::string word = f.error.substr(i, sp == std::string::npos ? std::string::npos : sp - i);
        i = sp == std::string::npos ? f.error.size() : sp + 1;
        if (!line.empty() && static_cast<int>(line.size() + 1 + word.size()) > width - 2) {
          table.push_back("  " + line);
          line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
      }
      if (!line.empty()) table.push_back("  " + line);
    }
  } else if (v.level == Level::Enclave && !rows.has_enclave_series) {
    table.push_back("no per-enclave data: this exporter exports no sgx_enclave_info series.");
    table.push_back("The enclave level needs them; press 1 (pod) or 2 (container).");
  } else if (shown.empty()) {
    table.push_back(rows.rows.empty() ? "no workloads with enclaves" : "no workload matches namespace '" + v.ns_filter + "'");
  } else {
    for (const Row& r : shown) {
      std::string line;
      for (Column c : cols)
        line += (c == Column::Name) ? pad_right(cell(r, c), name_w) : " " + pad_left(cell(r, c), column_info(c).width - 1);
      table.push_back(line);
    }
  }
  if (static_cast<int>(table.size()) > body) {
    std::size_t more = table.size() - (body - 1);
    table.resize(body - 1);
    table.push_back("... " + std::to_string(more) + " more" + (v.help ? "" : " (filter with /, or a taller terminal)"));
  }
  for (auto& l : table) s.lines.push_back(clip(l, width));
  while (static_cast<int>(s.lines.size()) < height - 1) s.lines.emplace_back();

  // Status line: a prompt, else the error, else a note, else the key hint.
  std::string st;
  char retry[64] = "";
  if (v.prompt) {
    st = "namespace filter: " + *v.prompt + "_";
  } else if (!f.error.empty()) {
    std::snprintf(retry, sizeof retry, "; retry in %.0fs", std::max(0.0, f.retry_in_s));
    st = "ERROR: " + f.error + retry;
    if (f.cur && f.data_age_s) st += "; data shown is " + fmt_age(*f.data_age_s) + " old";
    s.status_is_error = true;
  } else if (!v.message.empty()) {
    st = v.message;
  } else {
    st = f.batch ? "" : "h help  q quit  / namespace  1 2 3 level  sort: n e r w v b f t";
    if (hidden > 0)
      st = std::to_string(hidden) + " columns hidden (wider terminal)" + (st.empty() ? "" : "  ") + st;
    if (rows.resident_from_cgroup && f.cur) st = "RESIDENT from misc.current (no eBPF series)  " + st;
  }
  s.status = static_cast<int>(s.lines.size());
  s.lines.push_back(clip(st, width));
  // Label values may hold newlines and control bytes (the format escapes them) and the widths above count bytes:
  // the screen gets printable ASCII only, one byte one column.
  for (auto& l : s.lines)
    for (char& c : l)
      if (c < 0x20 || c > 0x7e) c = '?';
  return s;
}

}  // namespace epctop

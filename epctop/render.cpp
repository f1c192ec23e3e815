#include "render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>

namespace epctop {

const std::vector<ColumnInfo>& columns() {
  static const std::vector<ColumnInfo> cols = {
      {Column::Name, "WORKLOAD", 0, 'n', false, "WORKLOAD"},
      {Column::Enclaves, "ENCL", 5, 'e', false, "ENCL"},
      {Column::Resident, "RESIDENT", 9, 'r', false, "RESID"},
      {Column::Swapped, "SWAPPED", 9, 'w', false, "SWAP"},
      {Column::Evict, "EVICT/s", 8, 'v', false, "EVICT"},
      {Column::Loadback, "LOADB/s", 8, 'b', false, "LOADB"},
      {Column::Faults, "FAULT/s", 8, 'f', false, "FAULT"},
      {Column::Stall, "STALL/s", 8, 't', false, "STALL"},
      {Column::Mrenclave, "MRENCLAVE", 13, 'm', true, "MRENCLAVE"},
      {Column::Mrsigner, "MRSIGNER", 13, 'g', true, "MRSIGNER"},
      {Column::Svn, "SVN", 6, 'i', true, "SVN"},
      {Column::Debug, "DBG", 4, 'x', true, "DBG"},
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

std::string fit_to(const std::string& s, int w) {  // s cut at its end with '~' to w
  if (static_cast<int>(s.size()) <= w) return s;
  if (w <= 1) return std::string(std::max(w, 0), '~');
  return s.substr(0, w - 1) + "~";
}

}  // namespace

std::string fit_name(const Row& r, int w) {
  if (w <= 0) return "";
  if (static_cast<int>(r.name.size()) <= w) return r.name;
  if (r.pod.empty()) return fit(r.name, w);  // a cgroup path: both ends kept
  const std::string ns = r.ns.empty() ? "-" : r.ns;
  const std::string pod_rest = "/" + r.pod + (r.rest.empty() ? "" : "/" + r.rest);
  // The namespace cut first: "confid~/pod/container".
  if (const int room = w - static_cast<int>(pod_rest.size()); room >= 1) return fit_to(ns, room) + pod_rest;
  // Then the container (and enclave): "~/pod/cont~" (a namespace of one character, "-" for none, stays).
  const std::string head = (ns.size() <= 1 ? ns : "~") + "/" + r.pod;
  if (!r.rest.empty())
    if (const int room = w - static_cast<int>(head.size()) - 1; room >= 1) return head + "/" + fit_to(r.rest, room);
  if (static_cast<int>(head.size()) <= w) return head;
  // Last, the pod itself, cut in the middle: pod names differ in their hash suffix.
  return fit(r.pod, w);
}

namespace {

std::string clip(std::string s, int width) {
  if (static_cast<int>(s.size()) > width) s.resize(width);
  return s;
}

// Measuring the content's own width (render with width 0): no line is padded or cut.
constexpr int kUnbounded = 1 << 20;

// Right-aligns `right` on a line that starts with `left`, when both fit.
std::string left_right(const std::string& left, const std::string& right, int width) {
  if (width >= kUnbounded) return left + "  " + right;
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

const std::vector<std::string>& help_lines() {
  // At most 78 characters a line: the help fits an 80-column terminal whole.
  static const std::vector<std::string> lines = {
      "epctop keys",
      "",
      "  n e r w v b f t  sort by WORKLOAD ENCL RESIDENT SWAPPED EVICT LOADB FAULT",
      "                   STALL (the key again reverses the order)",
      "  m g i x          sort by MRENCLAVE MRSIGNER SVN DBG (with enclave identity)",
      "  < >              sort by the column to the left / right",
      "  R                reverse the sort order",
      "  1 2 3  l         level: pod, container, enclave; l cycles",
      "  /                namespace filter: Enter applies, Esc cancels, empty clears",
      "  space p          pause / resume",
      "  h ?              this help (any key closes it)",
      "  q                quit",
      "",
      "Rates (/s) are taken between the last two scrapes; a counter that went down",
      "was reset, its new value is what it counted since. '-': no data (yet).",
  };
  return lines;
}

namespace {

// Words of `text` in lines of at most `width` characters.
std::vector<std::string> wrap(const std::string& text, int width, const std::string& indent = "") {
  std::vector<std::string> out;
  std::string line = indent;
  bool empty = true;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t sp = text.find(' ', i);
    std::string word = text.substr(i, sp == std::string::npos ? std::string::npos : sp - i);
    i = sp == std::string::npos ? text.size() : sp + 1;
    if (word.empty()) continue;
    // A word wider than a line (a URL, a path) is split over lines rather than cut.
    while (width > static_cast<int>(indent.size()) + 1 &&
           static_cast<int>(indent.size() + word.size()) > width) {
      if (!empty) out.push_back(line);
      const std::size_t take = width - indent.size();
      out.push_back(indent + word.substr(0, take));
      word.erase(0, take);
      line = indent;
      empty = true;
    }
    if (word.empty()) continue;
    if (!empty && static_cast<int>(line.size() + 1 + word.size()) > width) {
      out.push_back(line);
      line = indent;
      empty = true;
    }
    line += (empty ? "" : " ") + word;
    empty = false;
  }
  if (!empty) out.push_back(line);
  for (auto& l : out)
    if (static_cast<int>(l.size()) > width) l.resize(std::max(width, 0));
  return out;
}

// Joins the parts that fit in `width`, in priority order; each part offers a long and a short form. The first part
// is clipped rather than left out.
std::string compose(const std::vector<std::pair<std::string, std::string>>& parts, int width) {
  std::string out;
  if (!parts.empty() && static_cast<int>(parts.front().first.size()) > width &&
      static_cast<int>(parts.front().second.size()) > width)
    return clip(parts.front().second.empty() ? parts.front().first : parts.front().second, width);
  for (const auto& [full, brief] : parts) {
    for (const std::string* form : {&full, &brief}) {
      if (form->empty()) continue;
      std::size_t need = out.size() + (out.empty() ? 0 : 2) + form->size();
      if (static_cast<int>(need) <= width) {
        out += (out.empty() ? "" : "  ") + *form;
        break;
      }
    }
  }
  return out;
}

// The table's columns at this width: which are shown, with long titles (each as wide as its title) or short ones
// (each as wide as its widest number), and the name column's width. The names get the width the numbers do not
// need: first the titles shrink to the numbers, then the namespace (and container) is cut, and only then are the
// least useful columns hidden, until every pod name fits whole.
struct Layout {
  std::vector<Column> cols;
  std::vector<int> widths;  // per column, the separating space included; the name column's is name_w
  bool short_titles = false;
  int hidden = 0;
  int name_w = 16;
};

Layout layout(const std::vector<Row>& shown, bool identity, int width) {
  std::vector<Column> cols;
  for (const auto& ci : columns())
    if (!ci.identity || identity) cols.push_back(ci.column);
  const int all = static_cast<int>(cols.size());
  auto long_w = [&](Column c) { return column_info(c).width; };
  auto short_w = [&](Column c) {
    int w = static_cast<int>(std::strlen(column_info(c).short_title));
    for (const Row& r : shown) w = std::max(w, static_cast<int>(cell(r, c).size()));
    return w + 1;
  };
  // What the names need: whole, and with only the pod whole ("~/pod/~", as fit_name() cuts them).
  int full = 16, least = 16;
  for (const Row& r : shown) {
    full = std::max(full, static_cast<int>(r.name.size()));
    const std::size_t pod_whole = r.pod.empty() ? std::min<std::size_t>(r.name.size(), 30)
                                                : std::min(r.name.size(), 2 + r.pod.size() + (r.rest.empty() ? 0 : 2));
    least = std::max(least, static_cast<int>(pod_whole));
  }
  auto make = [&](bool brief, int name_w) {
    Layout l;
    l.cols = cols;
    l.short_titles = brief;
    l.hidden = all - static_cast<int>(cols.size());
    l.name_w = name_w;
    for (Column c : cols) l.widths.push_back(c == Column::Name ? name_w : brief ? short_w(c) : long_w(c));
    return l;
  };
  auto fixed = [&](bool brief) {
    int w = 0;
    for (Column c : cols)
      if (c != Column::Name) w += brief ? short_w(c) : long_w(c);
    return w;
  };
  if (width <= 0) return make(false, full);  // as wide as the content
  // Hidden first when the pod names need it: identity, then LOADB, SWAPPED, ENCL; the rates only when the name
  // column would have less than 16 characters.
  const Column optional[] = {Column::Debug,    Column::Svn,     Column::Mrsigner, Column::Mrenclave,
                             Column::Loadback, Column::Swapped, Column::Enclaves};
  const Column last_resort[] = {Column::Stall, Column::Faults, Column::Evict};
  for (std::size_t next = 0;; ++next) {
    if (width - fixed(false) >= full) return make(false, full);
    if (width - fixed(true) >= full) return make(true, full);
    if (width - fixed(true) >= least) return make(true, width - fixed(true));
    if (next >= std::size(optional)) break;
    if (auto it = std::find(cols.begin(), cols.end(), optional[next]); it != cols.end()) cols.erase(it);
  }
  for (Column d : last_resort) {
    if (width - fixed(true) >= 16) break;
    if (auto it = std::find(cols.begin(), cols.end(), d); it != cols.end()) cols.erase(it);
  }
  return make(true, std::max(8, width - fixed(true)));
}

// The width the whole screen needs when nothing may be cut (batch output to a file or pipe).
int content_width(const Layout& l, const std::vector<std::string>& header_lines) {
  int w = 0;
  for (int cw : l.widths) w += cw;
  for (const auto& h : header_lines) w = std::max(w, static_cast<int>(h.size()));
  return std::max(w, 40);
}

}  // namespace

Screen render(const Frame& f, const ViewState& v, int width, int height) {
  Screen s;
  const bool content = width <= 0;
  if ((!content && width < 40) || height < 8) {
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
  const Layout lay = layout(shown, rows.has_identity, width);
  if (content) width = content_width(lay, header(f, node ? &*node : nullptr, v, shown.size(), kUnbounded));
  s.lines = header(f, node ? &*node : nullptr, v, shown.size(), width);

  std::string th;
  for (std::size_t i = 0; i < lay.cols.size(); ++i) {
    const Column c = lay.cols[i];
    const ColumnInfo& ci = column_info(c);
    const std::string title = lay.short_titles ? ci.short_title : ci.title;
    std::string t = (c == Column::Name) ? pad_right(title, lay.widths[i]) : " " + pad_left(title, lay.widths[i] - 1);
    if (c == v.sort) {
      int lead = (c == Column::Name) ? 0 : static_cast<int>(t.size() - title.size());
      s.sort_x = static_cast<int>(th.size()) + lead;
      s.sort_w = static_cast<int>(std::min(title.size(), t.size()));
    }
    th += t;
  }
  s.table_header = static_cast<int>(s.lines.size());
  s.lines.push_back(clip(th, width));

  // The status: an error word-wrapped over as many lines as it needs (at most 4; one line as wide as it is when
  // the width is the content's), else one line composed of what fits.
  std::vector<std::string> status;
  char retry[64] = "";
  if (v.prompt) {
    status.push_back(clip("namespace filter: " + *v.prompt + "_", width));
  } else if (!f.error.empty()) {
    std::snprintf(retry, sizeof retry, "; retry in %.0fs", std::max(0.0, f.retry_in_s));
    std::string st = "ERROR: " + f.error + retry;
    if (f.cur && f.data_age_s) st += "; data shown is " + fmt_age(*f.data_age_s) + " old";
    status = content ? std::vector<std::string>{st} : wrap(st, width);
    if (status.size() > 4) {
      status.resize(4);
      status.back() = clip(status.back(), width - 3) + "...";
    }
    s.status_is_error = true;
  } else {
    std::vector<std::pair<std::string, std::string>> parts;
    if (!f.note.empty()) parts.emplace_back(f.note, "");
    if (!v.message.empty()) parts.emplace_back(v.message, "");
    if (rows.resident_from_cgroup && f.cur)
      parts.emplace_back("RESIDENT from misc.current (no eBPF series)", "RESIDENT: misc.current");
    if (lay.hidden > 0)
      parts.emplace_back(std::to_string(lay.hidden) + (lay.hidden == 1 ? " column" : " columns") +
                             " hidden (wider terminal)",
                         "+" + std::to_string(lay.hidden) + " cols");
    if (!f.batch && v.message.empty())
      parts.emplace_back("h help  q quit  / namespace  1 2 3 level  sort: n e r w v b f t", "h help  q quit");
    status.push_back(compose(parts, width));
  }

  const int body = height - static_cast<int>(s.lines.size()) - static_cast<int>(status.size());
  std::vector<std::string> table;
  if (v.help) {
    table = help_lines();
  } else if (!f.cur) {
    table.push_back(f.error.empty() ? "waiting for the first scrape of " + f.target
                                    : "no data from " + f.target + " (the error is below)");
  } else if (v.level == Level::Enclave && !rows.has_enclave_series) {
    table = wrap("no per-enclave data: this exporter exports no sgx_enclave_info series. The enclave level needs "
                 "them; press 1 (pod) or 2 (container).", width);
  } else if (shown.empty()) {
    table.push_back(rows.rows.empty() ? "no workloads with enclaves" : "no workload matches namespace '" + v.ns_filter + "'");
  } else {
    for (const Row& r : shown) {
      std::string line;
      for (std::size_t i = 0; i < lay.cols.size(); ++i) {
        const Column c = lay.cols[i];
        line += (c == Column::Name) ? pad_right(fit_name(r, lay.widths[i]), lay.widths[i])
                                    : " " + pad_left(cell(r, c), lay.widths[i] - 1);
      }
      table.push_back(line);
    }
  }
  if (static_cast<int>(table.size()) > body && body >= 1) {
    std::size_t more = table.size() - (body - 1);
    table.resize(body - 1);
    table.push_back(compose({{"... " + std::to_string(more) + " more" +
                                  (v.help ? "" : " (filter with /, or a taller terminal)"),
                              "... " + std::to_string(more) + " more"}},
                            width));
  }
  for (auto& l : table) s.lines.push_back(clip(l, width));
  while (static_cast<int>(s.lines.size()) < height - static_cast<int>(status.size())) s.lines.emplace_back();
  s.status = static_cast<int>(s.lines.size());
  for (auto& l : status) s.lines.push_back(l);
  // Label values may hold newlines and control bytes (the format escapes them) and the widths above count bytes:
  // the screen gets printable ASCII only, one byte one column.
  for (auto& l : s.lines)
    for (char& c : l)
      if (c < 0x20 || c > 0x7e) c = '?';
  return s;
}

}  // namespace epctop

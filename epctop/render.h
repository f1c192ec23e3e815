// The screen as plain text lines: header, workload table, status line. Pure (no terminal, no clock), so unit
// tests assert exact lines and the ncurses front end only copies lines to the screen and adds attributes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model.h"

namespace epctop {

enum class Column { Name, Enclaves, Resident, Swapped, Evict, Loadback, Faults, Stall, Mrenclave, Mrsigner, Svn, Debug };

struct ColumnInfo {
  Column column;
  const char* title;
  int width;                // including the separating space; 0 for the flexible name column
  char key;                 // sort key; 0: none
  bool identity;            // shown only when the exporter exports sgx_enclave_info
  const char* short_title;  // on a narrow screen, where the columns are as wide as their numbers
};
const std::vector<ColumnInfo>& columns();
const ColumnInfo& column_info(Column c);
std::optional<Column> column_for_key(int key);

struct ViewState {
  Level level = Level::Container;
  Column sort = Column::Resident;
  bool descending = true;
  std::string ns_filter;  // substring of the namespace (cgroup rows: of the cgroup path); "" all
  bool paused = false;
  bool help = false;
  std::optional<std::string> prompt;  // the namespace filter being typed
  std::string message;                // one-off note (e.g. why a level has no rows)
};

// Everything one frame shows. `cur`/`prev` may be null (nothing fetched yet / first scrape).
struct Frame {
  std::string target;        // host:port shown in the header
  std::string clock;         // "22:42:01"
  double interval_s = 2;
  const Snapshot* cur = nullptr;
  const Snapshot* prev = nullptr;
  std::optional<double> data_age_s;   // since the shown data arrived
  std::string error;                  // last fetch/parse error; "" when the last fetch was good
  double retry_in_s = 0;
  bool batch = false;                 // --batch: no key hint on the status line
  std::string note;                   // --note: first on the status line (e.g. the demo's "made-up numbers")
};

struct Screen {
  std::vector<std::string> lines;  // exactly `height` lines, none longer than `width`
  int table_header = -1;           // line index of the column titles (drawn reversed)
  int sort_x = -1, sort_w = 0;     // the sorted column's title on that line (drawn underlined); -1: hidden
  int status = -1;                 // line index of the status line: the last one, or the first of an error's
  bool status_is_error = false;    // the status lines (status to the end) are an error, word-wrapped
};

// Rows of `rows` that pass the filter, in display order.
std::vector<Row> select_rows(const Rows& rows, const ViewState& view);

// width 0: as wide as the content needs (batch output to a file or pipe: nothing is cut).
Screen render(const Frame& frame, const ViewState& view, int width, int height);

// The name of a row in at most `width` characters, the pod kept whole as long as it fits: the namespace is cut
// first, then the container (and enclave), and only then the pod, in its middle (its hash suffix kept).
std::string fit_name(const Row& row, int width);

// The help screen's lines (the keys).
const std::vector<std::string>& help_lines();

// Number formats used in the table (exposed for tests and --batch).
std::string format_bytes(double v);
std::string format_rate(double v);

}  // namespace epctop

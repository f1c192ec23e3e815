// epctop: a live terminal view of an epc_exporter's /metrics (EPC held and paging per pod, container, enclave).
// A fetch thread scrapes every interval (the screen stays responsive while a slow or dead exporter times out);
// the main thread owns the screen and the keys. --batch/--once print text snapshots instead, like `top -b`.
#include <ncurses.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <clocale>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "fetch.h"
#include "model.h"
#include "options.h"
#include "promtext/prom_text.h"
#include "render.h"

namespace epctop {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string wall_clock() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

// One scrape: fetch, parse, check it is an exporter's page.
std::variant<Snapshot, std::string> scrape(const FetchOptions& opt, const std::atomic<bool>* cancel) {
  FetchResult r = fetch(opt, cancel);
  if (auto* e = std::get_if<FetchError>(&r)) return e->message;
  double t = now_s();
  ParseResult p = parse_prometheus_text(std::get<std::string>(r));
  if (auto* e = std::get_if<ParseError>(&p)) return "not Prometheus text: " + e->what();
  return make_snapshot(std::move(std::get<std::vector<Sample>>(p)), t);
}

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

// Batch: trailing empty lines of the table dropped, the status lines kept when they say something.
void print_batch(const Screen& s) {
  int last = s.status - 1;
  while (last > s.table_header && s.lines[last].empty()) --last;
  auto put = [](std::string l) {
    while (!l.empty() && l.back() == ' ') l.pop_back();
    std::cout << l << '\n';
  };
  for (int i = 0; i <= last; ++i) put(s.lines[i]);
  for (int i = std::max(s.status, 0); s.status >= 0 && i < static_cast<int>(s.lines.size()); ++i)
    if (!s.lines[i].empty()) put(s.lines[i]);
  std::cout.flush();
}

// What the renderer needs from one fetch loop's state (batch and live views alike).
Frame make_frame(const Options& o, const std::optional<Snapshot>& cur, const std::optional<Snapshot>& prev,
                 const std::string& error, double now) {
  Frame f;
  f.target = url_target(o.fetch.url);
  f.clock = wall_clock();
  f.interval_s = o.interval_s;
  f.cur = cur ? &*cur : nullptr;
  f.prev = prev ? &*prev : nullptr;
  if (cur) f.data_age_s = now - cur->t;
  f.error = error;
  f.note = o.note;
  return f;
}

// --batch without --width: a terminal's width, or (output to a file or pipe) the content's, so nothing is cut.
int batch_width(const Options& o) {
  if (o.width > 0) return o.width;
  winsize ws{};
  if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 0;
}

int run_batch(const Options& o) {
  std::optional<Snapshot> prev, cur;
  std::string error;
  int rc = 0;
  for (long n = 0; o.iterations == 0 || n < o.iterations; ++n) {
    if (n > 0) {
      // Interruptible wait (SIGINT/SIGTERM end the loop).
      double until = now_s() + o.interval_s;
      while (!g_stop && now_s() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (g_stop) break;
      std::cout << '\n';
    }
    auto r = scrape(o.fetch, &g_stop);
    if (auto* snap = std::get_if<Snapshot>(&r)) {
      if (cur) prev = std::move(cur);
      cur = std::move(*snap);
      error.clear();
      rc = 0;
    } else {
      error = std::get<std::string>(r);
      rc = 1;
      std::cerr << "epctop: " << o.fetch.url << ": " << error << '\n';
    }
    Frame f = make_frame(o, cur, prev, error, now_s());
    f.retry_in_s = o.interval_s;
    f.batch = true;
    int height = o.height > 0 ? o.height : 100000;
    print_batch(render(f, o.view, batch_width(o), height));
  }
  return rc;
}

// The fetch thread's hand-over to the screen.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::variant<Snapshot, std::string>> result;  // newest, not yet taken
  double next_attempt = 0;
  bool paused = false;
  bool refresh = false;
  std::atomic<bool> quit{false};
};

void fetch_loop(const Options& o, Shared& sh) {
  for (;;) {
    {
      std::unique_lock lk(sh.mu);
      sh.cv.wait(lk, [&] { return sh.quit || !sh.paused; });
      if (sh.quit) return;
    }
    double started = now_s();
    auto r = scrape(o.fetch, &sh.quit);
    std::unique_lock lk(sh.mu);
    if (sh.quit) return;
    sh.result = std::move(r);
    sh.next_attempt = started + o.interval_s;
    sh.cv.notify_all();
    sh.cv.wait_for(lk, std::chrono::duration<double>(std::max(0.0, sh.next_attempt - now_s())),
                   [&] { return sh.quit.load() || sh.refresh; });
    sh.refresh = false;
    if (sh.quit) return;
  }
}

void draw(const Screen& s, int width) {
  erase();
  for (int i = 0; i < static_cast<int>(s.lines.size()); ++i) {
    attr_t a = A_NORMAL;
    if (i == s.table_header) a = A_REVERSE;
    if (i >= s.status && s.status_is_error) a = A_BOLD;
    attrset(a);
    mvaddnstr(i, 0, s.lines[i].c_str(), width);
    if (i == s.table_header) {
      for (int x = static_cast<int>(s.lines[i].size()); x < width; ++x) mvaddch(i, x, ' ');
      if (s.sort_x >= 0 && s.sort_x < width)
        mvchgat(i, s.sort_x, std::min(s.sort_w, width - s.sort_x), A_REVERSE | A_BOLD | A_UNDERLINE, 0, nullptr);
    }
  }
  attrset(A_NORMAL);
  wnoutrefresh(stdscr);
  doupdate();
}

void cycle_sort(ViewState& v, int dir, bool identity) {
  const auto& cols = columns();
  int n = static_cast<int>(cols.size());
  int i = 0;
  for (; i < n; ++i)
    if (cols[i].column == v.sort) break;
  for (int step = 0; step < n; ++step) {
    i = (i + dir + n) % n;
    if (!cols[i].identity || identity) break;
  }
  v.sort = cols[i].column;
}

int run_live(const Options& o) {
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    std::cerr << "epctop: not a terminal; use --batch or --once for text output\n";
    return 2;
  }
  Shared sh;
  std::thread worker([&] { fetch_loop(o, sh); });
  initscr();
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  set_escdelay(25);
  timeout(200);

  ViewState view = o.view;
  std::optional<Snapshot> prev, cur;
  std::string error;
  double last_draw = 0;
  bool dirty = true;
  bool identity = false;
  while (!g_stop) {
    {
      std::lock_guard lk(sh.mu);
      if (sh.result) {
        if (auto* snap = std::get_if<Snapshot>(&*sh.result)) {
          if (cur) prev = std::move(cur);
          cur = std::move(*snap);
          error.clear();
          identity = build_rows(*cur, nullptr, Level::Container).has_identity;
        } else {
          error = std::get<std::string>(*sh.result);
        }
        sh.result.reset();
        dirty = true;
      }
    }
    int ch = getch();
    if (ch != ERR) dirty = true;
    if (ch == KEY_RESIZE) {
      // ncurses updated LINES/COLS; redraw below.
    } else if (view.prompt) {
      if (ch == '\n' || ch == KEY_ENTER) {
        view.ns_filter = *view.prompt;
        view.prompt.reset();
      } else if (ch == 27) {
        view.prompt.reset();
      } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (!view.prompt->empty()) view.prompt->pop_back();
      } else if (ch >= 0x20 && ch < 0x7f && view.prompt->size() < 63) {
        *view.prompt += static_cast<char>(ch);
      }
    } else if (view.help && ch != ERR) {
      view.help = false;
    } else if (ch != ERR) {
      view.message.clear();
      if (ch == 'q' || ch == 'Q') break;
      if (ch == 'h' || ch == '?') view.help = true;
      else if (ch == '/') view.prompt = view.ns_filter;
      else if (ch == ' ' || ch == 'p') {
        std::lock_guard lk(sh.mu);
        view.paused = sh.paused = !sh.paused;
        sh.cv.notify_all();
      } else if (ch == 'R') view.descending = !view.descending;
      else if (ch == '<' || ch == KEY_LEFT) cycle_sort(view, -1, identity);
      else if (ch == '>' || ch == KEY_RIGHT) cycle_sort(view, +1, identity);
      else if (ch == '1') view.level = Level::Pod;
      else if (ch == '2') view.level = Level::Container;
      else if (ch == '3') view.level = Level::Enclave;
      else if (ch == 'l') view.level = static_cast<Level>((static_cast<int>(view.level) + 1) % 3);
      else if (auto c = column_for_key(ch)) {
        if (column_info(*c).identity && !identity) {
          view.message = std::string("no ") + column_info(*c).title + " column: the exporter exports no sgx_enclave_info";
        } else if (view.sort == *c) {
          view.descending = !view.descending;
        } else {
          view.sort = *c;
          view.descending = *c != Column::Name;
        }
      } else {
        view.message = "unknown key; h for help";
      }
      if (view.level == Level::Enclave && (ch == '3' || ch == 'l') && cur &&
          !build_rows(*cur, nullptr, Level::Enclave).has_enclave_series)
        view.message = "enclave level: no per-enclave series (needs sgx_enclave_info)";
    }
    double t = now_s();
    if (dirty || t - last_draw >= 1.0) {
      Frame f = make_frame(o, cur, prev, error, t);
      {
        std::lock_guard lk(sh.mu);
        f.retry_in_s = sh.next_attempt - t;
      }
      int h = 0, w = 0;
      getmaxyx(stdscr, h, w);
      draw(render(f, view, w, h), w);
      last_draw = t;
      dirty = false;
    }
  }
  {
    std::lock_guard lk(sh.mu);
    sh.quit = true;
    sh.cv.notify_all();
  }
  worker.join();
  endwin();
  return 0;
}

}  // namespace
}  // namespace epctop

int main(int argc, char** argv) {
  using namespace epctop;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = parse_options(args);
  if (auto* e = std::get_if<std::string>(&parsed)) {
    std::cerr << "epctop: " << *e << '\n';
    return 2;
  }
  Options o = std::get<Options>(parsed);
  if (o.help) {
    std::cout << kUsage;
    return 0;
  }
  if (o.version) {
    std::cout << "epctop " EPCTOP_VERSION "\n";
    return 0;
  }
  if (!o.password_file.empty()) {
    std::string err;
    if (!read_password_file(o.password_file, o.fetch.password, err)) {
      std::cerr << "epctop: " << err << '\n';
      return 2;
    }
  }
  std::setlocale(LC_ALL, "");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  fetch_global_init();
  return o.batch ? run_batch(o) : run_live(o);
}

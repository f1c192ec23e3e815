// Command line of epctop: pure parsing (argv in, Options or a message out), so it is unit-tested.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "fetch.h"
#include "render.h"

namespace epctop {

struct Options {
  FetchOptions fetch;
  std::string password_file;
  double interval_s = 2;
  bool batch = false;
  long iterations = 0;  // batch: 0 = until interrupted
  int width = 0;        // batch: 0 = the terminal's width, or the content's when stdout is not a terminal
  int height = 0;       // batch: 0 = every row
  ViewState view;
  std::string note;     // --note: shown first on the status line
  bool help = false, version = false;
};

std::variant<Options, std::string> parse_options(const std::vector<std::string>& args);

// "host:port" -> "http://host:port/metrics"; "http://h:p" -> "http://h:p/metrics"; other URLs unchanged.
std::string normalize_url(const std::string& u);

// "host:port" of a URL, for the header.
std::string url_target(const std::string& u);

extern const char* const kUsage;

}  // namespace epctop

// Typed command-line flags, declared next to the code they configure (as node_exporter's collectors declare their
// kingpin flags in their own files): a FlagSet binds each flag to a field of an options struct, and giving the flag
// a value checks it and writes the field. Nothing reads an option by a string key, so a mistyped name is a compile
// error, not an empty string at run time. app/flags.cpp parses the command line against every set and prints --help.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "host/result.h"

namespace epc {

struct FlagDef {
  std::string name;          // without "--", prefix included: "web.listen-address", "collector.ebpf.per-enclave"
  std::string placeholder;   // "ADDRESS", "N", "FILE"; "" for a boolean (--name, --no-name, --name=true|false)
  std::string help;
  std::string default_text;  // shown as "(default: ...)"; booleans "on" or "off"; "" shows none
  // Checks and stores one value (a boolean gets "true" or "false"). The error message leaves out the flag's name:
  // the parser puts "--name: " in front.
  std::function<Status(std::string_view value)> set;
  // The value in effect, as it would be given ("true"/"false" for a boolean): the resolved configuration.
  std::function<std::string()> get;

  bool boolean() const { return placeholder.empty(); }
};

class FlagSet {
 public:
  // prefix: prepended to every name, e.g. "collector.ebpf."
  explicit FlagSet(std::string title = "", std::string prefix = "") : title_(std::move(title)), prefix_(std::move(prefix)) {}

  // The target's value when the flag is declared is its default (shown in --help).
  void add_bool(std::string name, std::string help, bool& target);
  // check (optional) validates the value before it is stored.
  void add_string(std::string name, std::string placeholder, std::string help, std::string& target,
                  std::function<Status(std::string_view)> check = nullptr);
  // A whole number from min to max.
  void add_uint(std::string name, std::string placeholder, std::string help, unsigned& target, unsigned min,
                unsigned max);
  // A duration with its unit ("10s", "500ms", "5m") of at least min_ms, stored in milliseconds.
  void add_duration_ms(std::string name, std::string help, unsigned& target_ms, unsigned min_ms);
  // One of the allowed words.
  void add_choice(std::string name, std::string placeholder, std::string help, std::string& target,
                  std::vector<std::string> allowed);
  // Comma-separated items (empty items dropped), each checked by check_item (optional).
  void add_list(std::string name, std::string placeholder, std::string help, std::vector<std::string>& target,
                std::function<Status(std::string_view)> check_item = nullptr);
  // Anything else: def.name gets the prefix.
  void add(FlagDef def);

  const std::string& title() const { return title_; }
  const std::vector<FlagDef>& defs() const { return defs_; }

 private:
  std::string title_;
  std::string prefix_;
  std::vector<FlagDef> defs_;
};

// "10s", "500ms", "2m", "1.5s" -> milliseconds. Bare numbers are rejected (the unit is required); at most a day.
Result<unsigned> parse_duration_ms(const std::string& text);
// Milliseconds back as the shortest of "5m", "10s", "250ms" (for defaults in --help).
std::string format_duration_ms(unsigned ms);

}  // namespace epc

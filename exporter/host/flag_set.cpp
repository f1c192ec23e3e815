#include "host/flag_set.h"

#include <charconv>
#include <cmath>

#include "host/parse.h"

namespace epc {

void FlagSet::add(FlagDef def) {
  def.name = prefix_ + def.name;
  defs_.push_back(std::move(def));
}

void FlagSet::add_bool(std::string name, std::string help, bool& target) {
  add({std::move(name), "", std::move(help), target ? "on" : "off", [&target](std::string_view v) -> Status {
         if (v != "true" && v != "false") return make_error("'" + std::string(v) + "' is not true or false");
         target = v == "true";
         return {};
       },
       [&target] { return std::string(target ? "true" : "false"); }});
}

void FlagSet::add_string(std::string name, std::string placeholder, std::string help, std::string& target,
                         std::function<Status(std::string_view)> check) {
  add({std::move(name), std::move(placeholder), std::move(help), target,
       [&target, check = std::move(check)](std::string_view v) -> Status {
         if (check)
           if (auto s = check(v); !s) return s;
         target = std::string(v);
         return {};
       },
       [&target] { return target; }});
}

void FlagSet::add_uint(std::string name, std::string placeholder, std::string help, unsigned& target, unsigned min,
                       unsigned max) {
  add({std::move(name), std::move(placeholder), std::move(help), std::to_string(target),
       [&target, min, max](std::string_view v) -> Status {
         auto n = parse_u64(v);
         if (!n || *n < min || *n > max)
           return make_error("'" + std::string(v) + "' is not a whole number from " + std::to_string(min) + " to " +
                             std::to_string(max));
         target = static_cast<unsigned>(*n);
         return {};
       },
       [&target] { return std::to_string(target); }});
}

void FlagSet::add_duration_ms(std::string name, std::string help, unsigned& target_ms, unsigned min_ms) {
  add({std::move(name), "DURATION", std::move(help), format_duration_ms(target_ms),
       [&target_ms, min_ms](std::string_view v) -> Status {
         auto ms = parse_duration_ms(std::string(v));
         if (!ms || *ms < min_ms)
           return make_error("'" + std::string(v) + "' is not a duration like 10s, 500ms or 5m" +
                             (min_ms ? " of at least " + format_duration_ms(min_ms) : std::string()));
         target_ms = *ms;
         return {};
       },
       [&target_ms] { return format_duration_ms(target_ms); }});
}

void FlagSet::add_choice(std::string name, std::string placeholder, std::string help, std::string& target,
                         std::vector<std::string> allowed) {
  add({std::move(name), std::move(placeholder), std::move(help), target,
       [&target, allowed = std::move(allowed)](std::string_view v) -> Status {
         for (const auto& a : allowed)
           if (v == a) {
             target = a;
             return {};
           }
         std::string list;
         for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
         return make_error("'" + std::string(v) + "' is not one of " + list);
       },
       [&target] { return target; }});
}

void FlagSet::add_list(std::string name, std::string placeholder, std::string help, std::vector<std::string>& target,
                       std::function<Status(std::string_view)> check_item) {
  std::string shown;
  for (const auto& item : target) shown += (shown.empty() ? "" : ",") + item;
  add({std::move(name), std::move(placeholder), std::move(help), std::move(shown),
       [&target, check = std::move(check_item)](std::string_view v) -> Status {
         std::vector<std::string> items;
         for (auto item : split_fields(v, ",")) {
           if (check)
             if (auto s = check(item); !s) return s;
           items.emplace_back(item);
         }
         target = std::move(items);
         return {};
       },
       [&target] {
         std::string out;
         for (const auto& item : target) out += (out.empty() ? "" : ",") + item;
         return out;
       }});
}

Result<unsigned> parse_duration_ms(const std::string& text) {
  std::string_view s = trim(text);
  std::size_t unit_at = s.find_first_not_of("0123456789.");
  if (unit_at == 0 || unit_at == std::string_view::npos) return make_error("duration needs a unit (ms, s, m)");
  std::string_view num = s.substr(0, unit_at), unit = s.substr(unit_at);
  double v = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || ptr != num.data() + num.size()) return make_error("bad number in duration");
  double factor = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : -1;
  if (factor < 0) return make_error("unknown duration unit '" + std::string(unit) + "'");
  double ms = v * factor;
  if (!std::isfinite(ms) || ms > 24.0 * 3600 * 1000) return make_error("duration longer than a day");
  return static_cast<unsigned>(std::llround(ms));
}

std::string format_duration_ms(unsigned ms) {
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace epc

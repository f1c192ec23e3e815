#include "scrape/config.h"

namespace epc {

const std::string& Config::collector_flag(const std::string& collector, const std::string& flag) const {
  static const std::string empty;
  auto it = collector_flags.find(collector + "." + flag);
  return it == collector_flags.end() ? empty : it->second;
}

}  // namespace epc

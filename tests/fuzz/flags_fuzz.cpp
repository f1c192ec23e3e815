// The command-line parser: one argument per input line, against the product's real collector table.
#include <string>
#include <vector>

#include "app/flags.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::vector<std::string> args;
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      args.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  args.push_back(cur);
  auto parsed = epc::parse_flags(args, epc::all_collectors());
  if (parsed && parsed->action == epc::ParsedFlags::Action::kRun) {
    const auto& c = *parsed;
    FUZZ_CHECK(c.web.max_requests >= 1 && c.web.max_requests <= 1024);
    FUZZ_CHECK(c.web.request_timeout_ms >= 1);
    FUZZ_CHECK(!c.web.telemetry_path.empty() && c.web.telemetry_path[0] == '/');
    FUZZ_CHECK(!c.rootfs.empty());
    FUZZ_CHECK(c.collectors.size() == epc::all_collectors().size());
  } else if (!parsed) {
    FUZZ_CHECK(!parsed.error().message.empty());
  }
  (void)epc::parse_duration_ms(std::string(as_text(data, size)));
  return 0;
}

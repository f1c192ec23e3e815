// How collectors are made: what each may use, its typed options, and the list of every collector of the product.
// Above attribution/ (a collector resolves cgroups to workloads), below app/ (main and the flag parser read it).
//
// A collector's options are a struct in its own file (node_exporter: each collector declares its own flags), with
//   void flags(FlagSet&);     binds --collector.<name>.<flag> to its fields (FlagSet's prefix is set by the caller)
//   Status validate();        checks that need several fields or a file; runs before anything starts
// and its factory takes them: std::unique_ptr<Collector> make(const CollectorServices&, const Options&).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/flag_set.h"
#include "scrape/collector.h"

namespace epc {

class HostPaths;
class Attribution;

// The process's file descriptors as app/ split them at start (RLIMIT_NOFILE, the HTTP connection cap and a reserve
// for BPF objects, libraries, logs and transient reads): a collector may keep `keep` of them open between scrapes.
// The web layer's flags are not a collector's business; this number is.
struct FdBudget {
  std::size_t keep = 0;  // 0: open, read and close every file on every scrape
};
// Descriptors kept free in every split: BPF objects, libraries, logs, transient reads.
inline constexpr std::size_t kFdReserve = 256;
// What the soft limit leaves collectors after the reserve and the connection cap (already fitted to the limit).
std::size_t kept_fd_budget(std::size_t soft_limit, std::size_t max_connections);

// What a collector may use; everything outlives the collector.
struct CollectorServices {
  const HostPaths& paths;
  Attribution& attribution;
  FdBudget fds{};
};

// One collector's options, parsed into its typed struct: the flags bound to it, its checks, its factory.
class CollectorOptions {
 public:
  virtual ~CollectorOptions() = default;
  virtual const FlagSet& flags() const = 0;
  virtual Status validate() = 0;
  virtual std::unique_ptr<Collector> make(const CollectorServices& services) const = 0;
};

template <class Options>
class TypedCollectorOptions final : public CollectorOptions {
 public:
  using Make = std::unique_ptr<Collector> (*)(const CollectorServices&, const Options&);
  TypedCollectorOptions(const std::string& collector, Make make)
      : flags_("collector " + collector, "collector." + collector + "."), make_(make) {
    options_.flags(flags_);
  }
  // Bound by address: neither copied nor moved.
  TypedCollectorOptions(const TypedCollectorOptions&) = delete;
  TypedCollectorOptions& operator=(const TypedCollectorOptions&) = delete;

  const FlagSet& flags() const override { return flags_; }
  Status validate() override { return options_.validate(); }
  std::unique_ptr<Collector> make(const CollectorServices& services) const override { return make_(services, options_); }
  const Options& options() const { return options_; }

 private:
  Options options_;
  FlagSet flags_;
  Make make_;
};

// A collector without options of its own.
struct NoOptions {
  void flags(FlagSet&) {}
  Status validate() { return {}; }
};

struct CollectorSpec {
  std::string name;
  bool enabled_by_default = true;
  std::string help;
  // Its options with their defaults, flags bound (one instance per parse).
  std::function<std::unique_ptr<CollectorOptions>()> options;

  template <class Options>
  static CollectorSpec make(std::string name, bool enabled_by_default, std::string help,
                            typename TypedCollectorOptions<Options>::Make factory) {
    const std::string n = name;
    return {std::move(name), enabled_by_default, std::move(help),
            [n, factory] { return std::make_unique<TypedCollectorOptions<Options>>(n, factory); }};
  }
};

// Every collector of the product, in scrape order (exporter/collectors/registry.cpp).
const std::vector<CollectorSpec>& all_collectors();

// One collector as the command line left it.
struct ConfiguredCollector {
  const CollectorSpec* spec = nullptr;
  std::unique_ptr<CollectorOptions> options;
  bool enabled = false;

  // The typed options, or null when the collector's options are of another type.
  template <class Options>
  const Options* as() const {
    auto* typed = dynamic_cast<const TypedCollectorOptions<Options>*>(options.get());
    return typed ? &typed->options() : nullptr;
  }
};

}  // namespace epc

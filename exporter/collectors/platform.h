#pragma once

#include <memory>

#include "core/collector.h"

namespace epc {

std::unique_ptr<Collector> make_platform_collector(const CollectorServices& services);

}  // namespace epc

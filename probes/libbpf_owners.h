// Owners of libbpf objects: move-only, each released by its deleter, never throwing. A descriptor is an
// epc::OwnedFd (host/owned_fd.h).
#pragma once

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <memory>
#include <string>
#include <system_error>

#include "host/owned_fd.h"

struct epc_bpf;  // the skeleton (epc.skel.h, generated): only the probes' own sources include it

namespace epc::probes {

struct SkelDeleter {
  void operator()(epc_bpf* s) const;  // epc_bpf__destroy (epc_probes.cpp)
};
// Destroying a pinned link only closes our fd: the link stays attached while its pin exists.
struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
struct BtfDeleter {
  void operator()(struct btf* b) const { btf__free(b); }
};
using SkelPtr = std::unique_ptr<epc_bpf, SkelDeleter>;
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;
using BtfPtr = std::unique_ptr<struct btf, BtfDeleter>;

// libbpf reports errors as negative (or positive) errno values.
inline std::string errstr(int err) { return std::system_category().message(err < 0 ? -err : err); }

}  // namespace epc::probes

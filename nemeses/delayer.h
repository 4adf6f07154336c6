// The NFQUEUE delayer of the packet nemesis: its C source (nemeses/delayer/delayer.c), embedded
// byte for byte when faultline is built. The packet nemesis uploads it to each node and
// compiles it there; it is never compiled into faultline.
//
// Thread safety: constant data.
#pragma once

#include <string_view>

namespace faultline::nemeses {

// The bytes of nemeses/delayer/delayer.c as they were at build time.
std::string_view delayer_source();

}  // namespace faultline::nemeses

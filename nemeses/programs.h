// Programs the nemeses compile on the nodes, never into faultline: their C sources, embedded
// byte for byte when faultline is built (CMakeLists.txt, nemeses/embed.cmake).
//   nemeses/delayer/delayer.c      the packet nemesis's NFQUEUE delayer (gcc, libnetfilter-queue)
//   nemeses/clockstep/clockstep.c  the clock nemesis's bump and strobe of the system clock (gcc)
// A nemesis uploads a source on stdin and compiles it on the node at setup.
//
// Thread safety: constant data.
#pragma once

#include <string>
#include <string_view>

namespace faultline::nemeses {

// The bytes of nemeses/delayer/delayer.c as they were at build time.
std::string_view delayer_source();
// The bytes of nemeses/clockstep/clockstep.c as they were at build time.
std::string_view clockstep_source();
// A short, stable name for a source's content (16 hex digits of its FNV-1a 64 hash): a program
// built from it is named after it, so a node never runs a binary built from another version.
std::string source_tag(std::string_view source);

}  // namespace faultline::nemeses

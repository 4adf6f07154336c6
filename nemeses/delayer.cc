#include "nemeses/delayer.h"

// Generated from nemeses/delayer/delayer.c by nemeses/delayer/embed.cmake (CMakeLists.txt).
#include "nemeses/delayer/delayer_source.h"

namespace faultline::nemeses {

std::string_view delayer_source() { return kDelayerSource; }

}  // namespace faultline::nemeses

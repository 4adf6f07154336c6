// Faultline's version, written to every run's test.json.
#pragma once

namespace faultline {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace faultline

#include "tests/support/paths.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace faultline::testing {

std::filesystem::path shared_histories() {
  if (const char* env = std::getenv("FAULTLINE_SHARED")) {
    auto p = std::filesystem::path(env) / "histories";
    if (std::filesystem::exists(p)) return p;
  }
  auto p = source_dir().parent_path() / "shared" / "histories";
  if (std::filesystem::exists(p)) return p;
  return {};
}

CommandResult run_shell(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

int test_size(int ci, int full) {
  const char* s = std::getenv("FAULTLINE_TEST_SIZE");
  return s && std::string(s) == "full" ? full : ci;
}

}  // namespace faultline::testing

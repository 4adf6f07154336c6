// MemoryLimit and Watchdog: each in a child process, since both act on the whole process.
#include "harness/run/limits.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <new>
#include <vector>

using namespace faultline;

namespace {

// Runs `body` in a forked child and returns its exit status (or 128 + signal).
template <typename F>
int in_child(F body) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("a memory limit makes a large allocation fail with bad_alloc", "[limits]") {
  CHECK(in_child([] {
          run::MemoryLimit limit(64u << 20);
          try {
            std::vector<char> big(512u << 20, 1);
            return big[1000] == 1 ? 1 : 4;
          } catch (const std::bad_alloc&) {
            return 3;
          }
        }) == 3);
  // After the limit is gone, the same allocation succeeds.
  CHECK(in_child([] {
          { run::MemoryLimit limit(64u << 20); }
          std::vector<char> big(512u << 20, 1);
          return big[1000] == 1 ? 0 : 4;
        }) == 0);
}

TEST_CASE("the watchdog ends a run past its limit with exit 2, and not one that finished",
          "[limits]") {
  CHECK(in_child([] {
          run::Watchdog w(0.1, "test: unknown: over the limit");
          sleep(30);  // the watchdog fires after 0.1 s + 5 s of grace
          return 0;
        }) == 2);
  CHECK(in_child([] {
          { run::Watchdog w(0.1, "test: unknown"); }
          return 0;
        }) == 0);
}

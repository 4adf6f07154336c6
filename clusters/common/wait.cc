#include "clusters/common/wait.h"

#include <exception>
#include <thread>

#include "clusters/common/text.h"

namespace faultline::clusters {

std::string ms_since(std::chrono::steady_clock::time_point t) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t)
                            .count()) +
         " ms";
}

int64_t ms_count(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

bool poll_until(std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds interval,
                const std::function<bool()>& ready) {
  for (;;) {
    if (ready()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

std::string log_tail(Session& s, const std::string& file, int lines, const std::string& drop) {
  Command c = drop.empty() ? Command{"tail", "-n", std::to_string(lines), "--", file}
                           : Command::shell(
                                 "[ -r \"$1\" ] || { echo \"cannot read $1\" >&2; exit 1; }\n"
                                 "grep -v -F -e \"$3\" -- \"$1\" | tail -n \"$2\"",
                                 {file, std::to_string(lines), drop});
  c.idempotent = true;
  c.with_timeout(std::chrono::seconds(10));
  try {
    ExecResult r = s.exec(c);
    if (!r.ok() && r.out.empty()) return "(log unavailable: " + trim(r.err) + ")";
    return trim(r.out);
  } catch (const std::exception& e) {
    return std::string("(log unavailable: ") + e.what() + ")";
  }
}

}  // namespace faultline::clusters

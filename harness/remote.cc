#include "harness/remote.h"

#include <string>

namespace faultline {
namespace {

std::string trimmed(const std::string& s, size_t max_chars = 2000) {
  std::string out = s;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (out.size() > max_chars) out = out.substr(0, max_chars) + "...";
  return out;
}

std::string failed_message(const Command& command, const ExecResult& r) {
  std::string m = "`" + describe(command) + "` exited with status " + std::to_string(r.exit_status);
  std::string err = trimmed(r.err);
  std::string out = trimmed(r.out);
  if (!err.empty()) m += "; stderr: " + err;
  if (!out.empty()) m += "; stdout: " + out;
  return m;
}

}  // namespace

CommandTimeoutError::CommandTimeoutError(std::string node, const Command& command,
                                         std::chrono::milliseconds timeout, ExecResult partial)
    : RemoteError(std::move(node), "`" + describe(command) + "` timed out after " +
                                       std::to_string(timeout.count()) + " ms"),
      partial_(std::move(partial)) {}

CommandFailed::CommandFailed(std::string node, const Command& command, ExecResult result)
    : RemoteError(std::move(node), failed_message(command, result)),
      command_(describe(command)),
      result_(std::move(result)) {}

ExecResult Session::run_checked(const Command& command) {
  ExecResult r = exec(command);
  if (r.exit_status != 0) throw CommandFailed(node(), command, std::move(r));
  return r;
}

}  // namespace faultline

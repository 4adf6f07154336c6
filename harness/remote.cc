#include "harness/remote.h"

#include <string>
#include <vector>

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

namespace {

class DeadlineSession : public Session {
 public:
  DeadlineSession(std::unique_ptr<Session> inner, std::chrono::milliseconds timeout)
      : inner_(std::move(inner)), timeout_(timeout) {}
  const std::string& node() const override { return inner_->node(); }
  ExecResult exec(const Command& command) override {
    Command c = command;
    if (c.timeout.count() <= 0) c.timeout = timeout_;
    // The node kills the command a little after we give up on it, so a command whose node
    // stops answering does not run on for ever once it answers again.
    auto node_side =
        std::chrono::duration_cast<std::chrono::seconds>(c.timeout) + std::chrono::seconds(2);
    std::vector<std::string> argv = {"timeout", "-s", "KILL",
                                     std::to_string(node_side.count()) + "s"};
    argv.insert(argv.end(), c.argv.begin(), c.argv.end());
    c.argv = std::move(argv);
    try {
      return inner_->exec(c);
    } catch (const CommandTimeoutError& e) {
      throw CommandTimeoutError(node(), command, c.timeout, e.partial());
    }
  }
  void upload(const std::filesystem::path& local, const std::string& remote_path) override {
    inner_->upload(local, remote_path);
  }
  void download(const std::string& remote_path, const std::filesystem::path& local) override {
    inner_->download(remote_path, local);
  }

 private:
  std::unique_ptr<Session> inner_;
  std::chrono::milliseconds timeout_;
};

class DeadlineRemote : public Remote {
 public:
  DeadlineRemote(std::shared_ptr<Remote> inner, std::chrono::milliseconds timeout)
      : inner_(std::move(inner)), timeout_(timeout) {}
  std::vector<std::string> nodes() const override { return inner_->nodes(); }
  std::unique_ptr<Session> session(const std::string& node) override {
    return std::make_unique<DeadlineSession>(inner_->session(node), timeout_);
  }

 private:
  std::shared_ptr<Remote> inner_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::shared_ptr<Remote> make_deadline_remote(std::shared_ptr<Remote> inner,
                                             std::chrono::milliseconds timeout) {
  return std::make_shared<DeadlineRemote>(std::move(inner), timeout);
}

ExecResult Session::run_checked(const Command& command) {
  ExecResult r = exec(command);
  if (r.exit_status != 0) throw CommandFailed(node(), command, std::move(r));
  return r;
}

}  // namespace faultline

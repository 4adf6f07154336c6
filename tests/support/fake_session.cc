#include "tests/support/fake_session.h"

namespace faultline::testing {

void FakeScript::then_return(ExecResult r) {
  std::lock_guard<std::mutex> lock(mu);
  steps.push_back([r](const Command&) { return r; });
}

void FakeScript::then_return(int status, std::string out, std::string err) {
  ExecResult r;
  r.exit_status = status;
  r.out = std::move(out);
  r.err = std::move(err);
  then_return(std::move(r));
}

void FakeScript::then_drop_before_start(const std::string& node, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu);
  steps.push_back([node, why](const Command&) -> ExecResult {
    throw TransportError(node, "connect: " + why, false);
  });
}

void FakeScript::then_drop_while_running(const std::string& node, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu);
  steps.push_back([node, why](const Command&) -> ExecResult {
    throw TransportError(node, "connection lost while running: " + why, true);
  });
}

void FakeScript::then_timeout(const std::string& node) {
  std::lock_guard<std::mutex> lock(mu);
  steps.push_back([node](const Command& c) -> ExecResult {
    throw CommandTimeoutError(node, c, std::chrono::milliseconds(1), ExecResult{});
  });
}

void FakeScript::then_transfer_drop(const std::string& node) {
  std::lock_guard<std::mutex> lock(mu);
  transfer_steps.push_back([node](const Command&) -> ExecResult {
    throw TransportError(node, "sftp: connection reset", true);
  });
}

size_t FakeScript::exec_count() {
  std::lock_guard<std::mutex> lock(mu);
  return commands.size();
}

FakeSession::FakeSession(std::string node, std::shared_ptr<FakeScript> script)
    : node_(std::move(node)),
      script_(script ? std::move(script) : std::make_shared<FakeScript>()) {}

ExecResult FakeSession::exec(const Command& command) {
  FakeScript::Step step;
  {
    std::lock_guard<std::mutex> lock(script_->mu);
    command_line(command);  // malformed commands fail here as they would for real
    script_->commands.push_back(command);
    if (!script_->steps.empty()) {
      step = std::move(script_->steps.front());
      script_->steps.pop_front();
    } else {
      step = script_->fallback;
    }
  }
  if (!step) return ExecResult{};
  return step(command);
}

void FakeSession::upload(const std::filesystem::path& local, const std::string& remote_path) {
  FakeScript::Step step;
  {
    std::lock_guard<std::mutex> lock(script_->mu);
    script_->transfers.push_back("upload " + local.string() + " -> " + remote_path);
    if (!script_->transfer_steps.empty()) {
      step = std::move(script_->transfer_steps.front());
      script_->transfer_steps.pop_front();
    }
  }
  if (step) step(Command{"upload"});
}

void FakeSession::download(const std::string& remote_path, const std::filesystem::path& local) {
  FakeScript::Step step;
  {
    std::lock_guard<std::mutex> lock(script_->mu);
    script_->transfers.push_back("download " + remote_path + " -> " + local.string());
    if (!script_->transfer_steps.empty()) {
      step = std::move(script_->transfer_steps.front());
      script_->transfer_steps.pop_front();
    }
  }
  if (step) step(Command{"download"});
}

FakeRemote::FakeRemote(std::vector<std::string> nodes) : nodes_(std::move(nodes)) {
  for (const auto& n : nodes_) scripts_[n] = std::make_shared<FakeScript>();
}

std::unique_ptr<Session> FakeRemote::session(const std::string& node) {
  auto it = scripts_.find(node);
  if (it == scripts_.end()) throw UnknownNodeError("unknown node '" + node + "'");
  return std::make_unique<FakeSession>(node, it->second);
}

FakeScript& FakeRemote::script(const std::string& node) {
  auto it = scripts_.find(node);
  if (it == scripts_.end()) throw UnknownNodeError("unknown node '" + node + "'");
  return *it->second;
}

}  // namespace faultline::testing

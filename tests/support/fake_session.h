// FakeSession: a scripted Session for unit tests (of the retry decorator now; of databases,
// nemeses and clients later).
//
// Each exec takes the next scripted step: a result to return, or an error to throw (transport
// drops before or after the command started, timeouts, ...). With the script exhausted, exec
// calls the fallback handler (default: exit 0, empty output). Every call is recorded, so a
// test can assert which commands ran and how often. upload/download copy nothing; they are
// recorded and may also be scripted to fail.
//
// FakeRemote hands out FakeSessions sharing one script per node.
//
// Thread safety: a FakeSession's state is guarded by a mutex, so tests may also inspect it
// from another thread; one thread at a time uses it as a Session, as for any Session.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "harness/remote.h"

namespace faultline::testing {

struct FakeScript {
  using Step = std::function<ExecResult(const Command&)>;  // may throw

  std::mutex mu;
  std::deque<Step> steps;              // consumed by exec, in order
  std::deque<Step> transfer_steps;     // consumed by upload/download; result is ignored
  Step fallback;                       // when `steps` is empty; default: exit 0
  std::vector<Command> commands;       // every exec, in order
  std::vector<std::string> transfers;  // "upload L -> R" / "download R -> L"

  // Helpers for scripting.
  void then_return(ExecResult r);
  void then_return(int status, std::string out = "", std::string err = "");
  void then_drop_before_start(const std::string& node,
                              const std::string& why = "connection refused");
  void then_drop_while_running(const std::string& node,
                               const std::string& why = "connection reset by peer");
  void then_timeout(const std::string& node);
  void then_transfer_drop(const std::string& node);
  size_t exec_count();
};

class FakeSession : public Session {
 public:
  explicit FakeSession(std::string node, std::shared_ptr<FakeScript> script = nullptr);
  const std::string& node() const override { return node_; }
  ExecResult exec(const Command& command) override;
  void upload(const std::filesystem::path& local, const std::string& remote_path) override;
  void download(const std::string& remote_path, const std::filesystem::path& local) override;
  FakeScript& script() { return *script_; }

 private:
  std::string node_;
  std::shared_ptr<FakeScript> script_;
};

class FakeRemote : public Remote {
 public:
  explicit FakeRemote(std::vector<std::string> nodes);
  std::vector<std::string> nodes() const override { return nodes_; }
  std::unique_ptr<Session> session(const std::string& node) override;
  FakeScript& script(const std::string& node);

 private:
  std::vector<std::string> nodes_;
  std::map<std::string, std::shared_ptr<FakeScript>> scripts_;
};

}  // namespace faultline::testing

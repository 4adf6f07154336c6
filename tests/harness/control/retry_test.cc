#include "harness/control/retry.h"

#include <catch2/catch.hpp>
#include <iostream>
#include <random>

#include "tests/support/fake_session.h"

using namespace faultline;
using faultline::testing::FakeRemote;
using faultline::testing::FakeScript;
using faultline::testing::FakeSession;
using std::chrono::milliseconds;

namespace {

struct Harness {
  std::shared_ptr<FakeScript> script = std::make_shared<FakeScript>();
  std::vector<milliseconds> waits;
  std::unique_ptr<Session> session;

  explicit Harness(int tries = 4, uint64_t seed = 1) {
    control::RetryPolicy p;
    p.max_tries = tries;
    p.initial_backoff = milliseconds(100);
    p.max_backoff = milliseconds(400);
    p.seed = seed;
    p.sleep = [this](milliseconds d) { waits.push_back(d); };
    session = control::make_retrying_session(std::make_unique<FakeSession>("n1", script), p);
  }
};

}  // namespace

TEST_CASE("retry: a drop before the command started is retried, then succeeds", "[retry]") {
  Harness h;
  h.script->then_drop_before_start("n1");
  h.script->then_drop_before_start("n1");
  h.script->then_return(0, "n1\n");
  ExecResult r = h.session->exec(Command{"hostname"});
  CHECK(r.out == "n1\n");
  CHECK(h.script->exec_count() == 3);
  CHECK(h.waits.size() == 2);
}

TEST_CASE("retry: a command that ran and failed is never retried", "[retry]") {
  Harness h;
  h.script->then_return(1, "", "boom");
  ExecResult r = h.session->exec(Command{"false"});
  CHECK(r.exit_status == 1);
  CHECK(h.script->exec_count() == 1);
  h.script->then_return(2, "", "bad");
  CHECK_THROWS_AS(h.session->run_checked(Command{"false"}), CommandFailed);
  CHECK(h.script->exec_count() == 2);
  CHECK(h.waits.empty());
}

TEST_CASE("retry: a connection lost while running is not re-run unless idempotent", "[retry]") {
  Harness h;
  h.script->then_drop_while_running("n1");
  CHECK_THROWS_AS(h.session->exec(Command{"mkdir", "/x"}), TransportError);
  CHECK(h.script->exec_count() == 1);

  h.script->then_drop_while_running("n1");
  h.script->then_return(0, "ok");
  Command read{"cat", "/etc/hostname"};
  read.idempotent = true;
  CHECK(h.session->exec(read).out == "ok");
  CHECK(h.script->exec_count() == 3);
}

TEST_CASE("retry: timeouts and host-key errors are not retried", "[retry]") {
  Harness h;
  h.script->then_timeout("n1");
  CHECK_THROWS_AS(h.session->exec(Command{"sleep", "100"}), CommandTimeoutError);
  h.script->steps.push_back(
      [](const Command&) -> ExecResult { throw HostKeyError("n1", "host key mismatch"); });
  CHECK_THROWS_AS(h.session->exec(Command{"true"}), HostKeyError);
  h.script->steps.push_back(
      [](const Command&) -> ExecResult { throw AuthError("n1", "key refused"); });
  CHECK_THROWS_AS(h.session->exec(Command{"true"}), AuthError);
  CHECK(h.script->exec_count() == 3);
  CHECK(h.waits.empty());
}

TEST_CASE("retry: after the last try, the error names node, command, tries and cause", "[retry]") {
  Harness h(3);
  for (int i = 0; i < 5; ++i) h.script->then_drop_before_start("n1", "Connection refused");
  try {
    h.session->exec(Command{"hostname"});
    FAIL("expected RetriesExhausted");
  } catch (const control::RetriesExhausted& e) {
    CHECK(e.node() == "n1");
    CHECK(e.tries() == 3);
    CHECK_THAT(e.what(), Catch::Contains("node n1") && Catch::Contains("`hostname`") &&
                             Catch::Contains("3 tries") && Catch::Contains("Connection refused"));
  }
  CHECK(h.script->exec_count() == 3);
  CHECK(h.waits.size() == 2);
}

TEST_CASE("retry: transfers are retried (they overwrite)", "[retry]") {
  Harness h;
  h.script->then_transfer_drop("n1");
  h.session->upload("/tmp/a", "/tmp/b");
  CHECK(h.script->transfers.size() == 2);
}

TEST_CASE("retry: backoff grows, is capped and jittered within bounds", "[retry]") {
  uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::cout << "retry backoff test seed: " << seed << "\n";
  control::RetryPolicy p;
  p.max_tries = 8;
  p.initial_backoff = milliseconds(100);
  p.max_backoff = milliseconds(1000);
  p.jitter = 0.5;
  p.seed = seed;
  auto waits = control::backoff_schedule(p);
  REQUIRE(waits.size() == 7);
  int64_t nominal[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (size_t i = 0; i < waits.size(); ++i) {
    CHECK(waits[i].count() <= nominal[i]);
    CHECK(waits[i].count() >= nominal[i] / 2);
  }
  CHECK(control::backoff_schedule(p) == waits);  // same seed, same waits
  p.jitter = 0;
  auto fixed = control::backoff_schedule(p);
  for (size_t i = 0; i < fixed.size(); ++i) CHECK(fixed[i].count() == nominal[i]);
}

TEST_CASE("retry: a retrying remote wraps every session", "[retry]") {
  auto fake = std::make_shared<FakeRemote>(std::vector<std::string>{"n1", "n2"});
  fake->script("n2").then_drop_before_start("n2");
  control::RetryPolicy p;
  p.sleep = [](milliseconds) {};
  auto remote = control::make_retrying_remote(fake, p);
  CHECK(remote->nodes() == std::vector<std::string>{"n1", "n2"});
  CHECK(remote->session("n2")->exec(Command{"true"}).ok());
  CHECK(fake->script("n2").exec_count() == 2);
  CHECK_THROWS_AS(remote->session("n9"), UnknownNodeError);
}

TEST_CASE("retry: a command's timeout bounds all its tries together", "[retry][regression]") {
  // Issue 14 item 3 (found by the frozen-sshd test): a teardown command with a 60 s deadline
  // took 110 s against a node that stopped answering, five tries of a channel open each.
  Harness h(10);
  for (int i = 0; i < 10; ++i) h.script->then_drop_before_start("n1");
  Command c{"true"};
  c.timeout = milliseconds(500);
  try {
    h.session->exec(c);
    FAIL("exec returned");
  } catch (const control::RetriesExhausted& e) {
    // Waits of 100, 200, 400 ms would pass the 500 ms budget before the fourth try.
    CHECK(e.tries() < 10);
  }
  int64_t waited = 0;
  for (auto w : h.waits) waited += w.count();
  CHECK(waited < 500);
  // Each try is given what is left of the timeout.
  for (const auto& sent : h.script->commands) CHECK(sent.timeout <= milliseconds(500));
}

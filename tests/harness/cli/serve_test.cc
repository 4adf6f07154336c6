// `faultline serve`: the list of runs, a run's files, and no path outside the results
// directory (.., encoded .., symlinks out). On 127.0.0.1 with an ephemeral port.
#include "harness/cli/serve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace faultline;
namespace fs = std::filesystem;

namespace {

fs::path make_tree() {
  fs::path base = fs::temp_directory_path() / ("faultline-serve-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::path run = base / "results" / "memory-register" / "20260101T120000";
  fs::create_directories(run);
  std::ofstream(run / "test.json") << "{}";
  std::ofstream(run / "results.json") << R"({"valid":"invalid"})";
  std::ofstream(run / "report.html") << "<html>the report</html>";
  std::ofstream(run / "history.jsonl")
      << R"({"index":0,"time":1000,"process":0,"type":"invoke","f":"read","value":null})"
      << "\n"
      << R"({"index":1,"time":2000,"process":0,"type":"ok","f":"read","value":1})"
      << "\n";
  std::ofstream(base / "secret.txt") << "TOP-SECRET";
  fs::create_directory_symlink("20260101T120000", base / "results" / "memory-register" / "latest");
  fs::create_symlink(base / "secret.txt", base / "results" / "escape.txt");
  return base;
}

// Sends `raw_path` exactly as given (no normalisation) and returns the whole response.
std::string http_get(int port, const std::string& raw_path, const std::string& host = "localhost") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string req =
      "GET " + raw_path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  REQUIRE(::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

int status_of(const std::string& response) {
  auto sp = response.find(' ');
  return sp == std::string::npos ? 0 : std::stoi(response.substr(sp + 1, 3));
}

}  // namespace

TEST_CASE("serve: resolve_inside refuses .. and symlinks out of the root") {
  fs::path base = make_tree();
  fs::path root = base / "results";
  CHECK(cli::resolve_inside(root, "/memory-register/20260101T120000/report.html"));
  CHECK(cli::resolve_inside(root, "memory-register/latest/report.html"));
  CHECK_FALSE(cli::resolve_inside(root, "/../secret.txt"));
  CHECK_FALSE(cli::resolve_inside(root, "/memory-register/../../secret.txt"));
  CHECK_FALSE(cli::resolve_inside(root, "/escape.txt"));
  CHECK_FALSE(cli::resolve_inside(root, std::string("/a\0b", 4)));
  fs::remove_all(base);
}

TEST_CASE("serve: runs, files and reports over HTTP, nothing outside the results directory") {
  fs::path base = make_tree();
  cli::ResultsServer server({base / "results", "127.0.0.1", 0, {}});
  int port = server.bind();
  REQUIRE(port > 0);
  std::thread t([&] { server.run(); });

  std::string index = http_get(port, "/");
  CHECK(status_of(index) == 200);
  CHECK(index.find("memory-register") != std::string::npos);
  CHECK(index.find("2026-01-01 12:00:00 UTC") != std::string::npos);
  CHECK(index.find("invalid") != std::string::npos);

  std::string report = http_get(port, "/memory-register/20260101T120000/report.html");
  CHECK(status_of(report) == 200);
  CHECK(report.find("the report") != std::string::npos);
  std::string files = http_get(port, "/memory-register/20260101T120000/");
  CHECK(status_of(files) == 200);
  CHECK(files.find("results.json") != std::string::npos);
  CHECK(status_of(http_get(port, "/memory-register/20260101T120000/nope")) == 404);

  // The bundle, packed on request, as an attachment named after the test and run.
  CHECK(index.find("/memory-register/20260101T120000/bundle.tar.gz") != std::string::npos);
  CHECK(files.find("download the bundle") != std::string::npos);
  std::string bundle = http_get(port, "/memory-register/20260101T120000/bundle.tar.gz");
  CHECK(status_of(bundle) == 200);
  CHECK(bundle.find("filename=\"memory-register-20260101T120000.tar.gz\"") != std::string::npos);
  auto body = bundle.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  CHECK(bundle.substr(body + 4, 2) == "\x1f\x8b");                            // gzip
  CHECK(status_of(http_get(port, "/memory-register/bundle.tar.gz")) == 404);  // not a run

  // Two runs or series compared (faultline compare's page), offered by a form on the index.
  CHECK(index.find("<form action=\"/compare\"") != std::string::npos);
  std::string cmp = http_get(port, "/compare?a=memory-register&b=memory-register/20260101T120000");
  CHECK(status_of(cmp) == 200);
  CHECK(cmp.find("<h1>Compare</h1>") != std::string::npos);
  CHECK(cmp.find("1 runs") != std::string::npos);
  CHECK(status_of(http_get(port, "/compare?a=../x&b=memory-register")) == 400);

  for (const char* bad :
       {"/../secret.txt", "/memory-register/../../secret.txt", "/%2e%2e/secret.txt",
        "/memory-register/%2E%2E/%2E%2E/secret.txt", "/escape.txt", "/..%2fsecret.txt"}) {
    INFO(bad);
    std::string r = http_get(port, bad);
    CHECK(r.find("TOP-SECRET") == std::string::npos);
    CHECK(status_of(r) >= 400);
  }
  server.stop();
  t.join();
  fs::remove_all(base);
}

// Issue 14 item 10: serve answered any Host, so a web page could point a DNS name of its own at
// 127.0.0.1 (DNS rebinding) and read the results through the visitor's browser.
TEST_CASE("serve: only addresses, localhost, the bind address and --allow-host names as Host",
          "[serve][regression]") {
  CHECK(cli::host_allowed("localhost", "127.0.0.1", {}));
  CHECK(cli::host_allowed("LOCALHOST:8080", "127.0.0.1", {}));
  CHECK(cli::host_allowed("127.0.0.1:8080", "127.0.0.1", {}));
  CHECK(cli::host_allowed("10.1.2.3", "0.0.0.0", {}));
  CHECK(cli::host_allowed("[::1]:8080", "127.0.0.1", {}));
  CHECK(cli::host_allowed("results.lan:8080", "127.0.0.1", {"Results.lan"}));
  CHECK(cli::host_allowed("box.example", "box.example", {}));
  for (const char* bad :
       {"", "evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.nip.io",
        "[::1", "[evil]:80", "localhost:80x", "localhost:", "a:b:c"}) {
    INFO(bad);
    CHECK_FALSE(cli::host_allowed(bad, "127.0.0.1", {"results.lan"}));
  }

  fs::path base = make_tree();
  cli::ResultsServer server({base / "results", "127.0.0.1", 0, {"results.lan"}});
  int port = server.bind();
  REQUIRE(port > 0);
  std::thread t([&] { server.run(); });
  const std::string report = "/memory-register/20260101T120000/report.html";
  CHECK(status_of(http_get(port, report, "localhost:" + std::to_string(port))) == 200);
  CHECK(status_of(http_get(port, report, "127.0.0.1:" + std::to_string(port))) == 200);
  CHECK(status_of(http_get(port, report, "results.lan")) == 200);
  for (const char* evil : {"evil.example", "rebind.attacker.test:8080"}) {
    INFO(evil);
    std::string r = http_get(port, report, evil);
    CHECK(status_of(r) == 421);
    CHECK(r.find("the report") == std::string::npos);
    CHECK(status_of(http_get(port, "/", evil)) == 421);
  }
  server.stop();
  t.join();
  fs::remove_all(base);
}

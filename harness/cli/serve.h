// `faultline serve`: a small HTTP server over a results directory (cpp-httplib; the library
// is included only by serve.cc).
//
//   GET /                    the runs, newest first: time, test, run, verdict, links
//   GET /<test>/<run>/       a run's files (and its report.html)
//   GET /<path>              a file of the results directory
// Paths with a ".." component, and paths that resolve (through symlinks) outside the results
// directory, are refused with 403. Binds to 127.0.0.1 unless told otherwise. A request whose
// Host header is not an address, "localhost", the bind address or a name given with
// --allow-host is refused with 421: a web page's script can point a DNS name of its own at
// 127.0.0.1 (DNS rebinding) and read the results through the browser unless the name is
// checked.
//
// Thread safety: start() once; stop() from any thread; the server answers on its own threads.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace faultline::cli {

struct ServeOptions {
  std::filesystem::path root = "results";
  std::string bind = "127.0.0.1";
  int port = 8080;                         // 0: any free port (see ResultsServer::port)
  std::vector<std::string> allowed_hosts;  // --allow-host: DNS names the server answers to
};

// Whether a request's Host header (name or address, optional ":port") is one the server
// answers: an IPv4 or bracketed IPv6 address, "localhost", `bind`, or one of `allowed`
// (names compared without case). An empty header is refused.
bool host_allowed(const std::string& host_header, const std::string& bind,
                  const std::vector<std::string>& allowed);

// The file `rel` (a URL path, already percent-decoded, with or without a leading '/') names
// inside `root`, or nullopt when it has a ".." component, a NUL byte, or resolves outside
// root. The result may not exist.
std::optional<std::filesystem::path> resolve_inside(const std::filesystem::path& root,
                                                    const std::string& rel);

// The runs of a results directory as an HTML page.
std::string runs_index_html(const std::filesystem::path& root);

class ResultsServer {
 public:
  explicit ResultsServer(ServeOptions options);
  ~ResultsServer();
  // Binds the port; returns it. Throws std::runtime_error when it cannot.
  int bind();
  // Serves until stop(). REQUIRES: bind() succeeded.
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace faultline::cli

// `faultline serve [--port 8080] [--bind 127.0.0.1] [RESULTS_DIR]` (serve.h). The only file
// that includes cpp-httplib.
#include "harness/cli/serve.h"

#include <arpa/inet.h>
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <set>
#include <vector>

#include "harness/cli/cli.h"
#include "harness/errors.h"
#include "harness/files.h"
#include "harness/op.h"
#include "harness/report/failure.h"
#include "harness/report/report.h"
#include "harness/run/baseline.h"
#include "harness/run/results.h"
#include "harness/run_dir.h"

namespace faultline::cli {

namespace fs = std::filesystem;

std::optional<fs::path> resolve_inside(const fs::path& root, const std::string& rel) {
  if (rel.find('\0') != std::string::npos || rel.find('\\') != std::string::npos) {
    return std::nullopt;
  }
  fs::path p;
  std::stringstream in(rel);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return std::nullopt;
    p /= part;
  }
  std::error_code ec;
  fs::path base = fs::canonical(root, ec);
  if (ec) return std::nullopt;
  fs::path full = fs::weakly_canonical(base / p, ec);
  if (ec) return std::nullopt;
  // Inside root: base is a prefix of full, component by component.
  auto b = base.begin();
  auto f = full.begin();
  for (; b != base.end(); ++b, ++f) {
    if (f == full.end() || *b != *f) return std::nullopt;
  }
  return full;
}

bool host_allowed(const std::string& header, const std::string& bind,
                  const std::vector<std::string>& allowed) {
  std::string host = header, port;
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    if (close == std::string::npos) return false;
    std::string rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      port = rest.substr(1);
    }
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return false;
  } else {
    size_t colon = host.find(':');
    if (colon != std::string::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (port.empty() && colon != std::string::npos) return false;
  }
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  if (host.empty()) return false;
  std::string lower = host;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (header[0] == '[') return true;  // an IPv6 address, checked above
  in_addr a4{};
  if (inet_pton(AF_INET, lower.c_str(), &a4) == 1) return true;
  if (lower == "localhost") return true;
  auto same = [&](std::string name) {
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name == lower;
  };
  if (same(bind)) return true;
  return std::any_of(allowed.begin(), allowed.end(), same);
}

namespace {

struct RunRow {
  std::string stamp, test, run, verdict;
};

std::string pretty_stamp(const std::string& s) {
  // 20261126T021500[-2] -> 2026-11-26 02:15:00 UTC
  if (s.size() < 15 || s[8] != 'T') return s;
  return s.substr(0, 4) + "-" + s.substr(4, 2) + "-" + s.substr(6, 2) + " " + s.substr(9, 2) + ":" +
         s.substr(11, 2) + ":" + s.substr(13, 2) + " UTC" + s.substr(15);
}

const char* kPageStyle =
    "<style>body{font:14px/1.4 system-ui,sans-serif;margin:20px auto;max-width:1100px;"
    "padding:0 16px}table{border-collapse:collapse}td,th{padding:3px 12px 3px 0;text-align:"
    "left;border-bottom:1px solid #eee}.valid{color:#13621f}.invalid{color:#8e1b14;font-weight:"
    "600}.unknown{color:#7a5300}</style>";

std::string content_type(const fs::path& p) {
  std::string e = p.extension().string();
  if (e == ".html") return "text/html; charset=utf-8";
  if (e == ".json") return "application/json";
  if (e == ".svg") return "image/svg+xml";
  if (e == ".png") return "image/png";
  if (e == ".xml") return "application/xml";
  return "text/plain; charset=utf-8";
}

// The bundle of a run (failure.h write_bundle), made on request: GET <run>/bundle.tar.gz.
constexpr const char* kBundleName = "bundle.tar.gz";

std::string listing_html(const fs::path& dir, const std::string& url) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    names.push_back(e.path().filename().string() + (e.is_directory() ? "/" : ""));
  }
  std::sort(names.begin(), names.end());
  std::string h = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" +
                  report::html_escape(url) + "</title>" + kPageStyle +
                  "</head><body><p><a href=\"/\">all runs</a></p><h1>" + report::html_escape(url) +
                  "</h1>";
  if (fs::exists(RunDir(dir).report_html()))
    h += "<p><a href=\"report.html\"><b>report.html</b></a></p>";
  if (RunDir::is_run(dir)) {
    h += "<p><a href=\"" + std::string(kBundleName) +
         "\" download>download the bundle</a> (history.edn, reports, graphs, node logs, "
         "repro.json: what a vendor needs)</p>";
  }
  h += "<ul>";
  for (const auto& n : names) {
    h += "<li><a href=\"" + report::html_escape(n) + "\">" + report::html_escape(n) + "</a></li>";
  }
  return h + "</ul></body></html>";
}

// Packs the run into a temporary file (removed again) and answers with it as an attachment
// named <test>-<run>.tar.gz; tar failing is a 500 with its message.
void serve_bundle(const RunDir& run, httplib::Response& res) {
  const std::string name = run.path().parent_path().filename().string() + "-" +
                           run.path().filename().string() + ".tar.gz";
  fs::path tmp =
      fs::temp_directory_path() / ("faultline-bundle-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(reinterpret_cast<uintptr_t>(&res)) + ".tar.gz");
  try {
    report::write_bundle(run, tmp);
    res.set_content(read_file(tmp), "application/gzip");
    res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
  } catch (const std::exception& e) {
    res.status = 500;
    res.set_content(std::string("500 cannot pack the bundle: ") + e.what() + "\n", "text/plain");
  }
  std::error_code ec;
  fs::remove(tmp, ec);
}

// GET /compare?a=<test>[/<run>]&b=...: faultline compare's page for two runs or series inside
// the results directory.
void serve_compare(const fs::path& root, const httplib::Request& req, httplib::Response& res) {
  const std::string a = req.get_param_value("a"), b = req.get_param_value("b");
  auto pa = resolve_inside(root, a), pb = resolve_inside(root, b);
  if (a.empty() || b.empty() || !pa || !pb) {
    res.status = 400;
    res.set_content(
        "400 compare needs a and b, each a test or run inside the results "
        "directory\n",
        "text/plain");
    return;
  }
  try {
    Json c = run::compare_runs(run::read_runs(*pa), run::read_runs(*pb));
    c["a-path"] = a;
    c["b-path"] = b;
    res.set_content(run::compare_html(c), "text/html; charset=utf-8");
  } catch (const std::exception& e) {
    res.status = 500;
    res.set_content(std::string("500 cannot compare: ") + e.what() + "\n", "text/plain");
  }
}

}  // namespace

std::string runs_index_html(const fs::path& root) {
  std::vector<RunRow> rows;
  std::error_code ec;
  for (const auto& t : fs::directory_iterator(root, ec)) {
    if (t.is_symlink() || !t.is_directory()) continue;
    for (const auto& r : fs::directory_iterator(t.path(), ec)) {
      if (r.is_symlink() || !r.is_directory()) continue;
      if (!RunDir::is_run(r.path())) continue;
      RunRow row{r.path().filename().string(), t.path().filename().string(),
                 r.path().filename().string(), "not checked"};
      try {
        Json j = Json::parse(read_file(RunDir(r.path()).results_json()));
        row.verdict = j.value("valid", std::string("unknown"));
      } catch (const std::exception&) {
      }
      rows.push_back(row);
    }
  }
  std::sort(rows.begin(), rows.end(), [](const RunRow& a, const RunRow& b) {
    return a.stamp != b.stamp ? a.stamp > b.stamp : a.test < b.test;
  });
  std::string h =
      std::string(
          "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Faultline runs</title>") +
      kPageStyle + "</head><body><h1>Faultline runs</h1><p>" +
      report::html_escape(fs::absolute(root).string()) + " · " + std::to_string(rows.size()) +
      " runs</p>";
  // Compare any two runs, or two tests' series of runs (faultline compare).
  std::set<std::string> tests;
  std::string options;
  for (const auto& r : rows) tests.insert(r.test);
  for (const auto& t : tests) {
    options += "<option value=\"" + report::html_escape(t) + "\">" + report::html_escape(t) +
               " (every run)</option>";
  }
  for (const auto& r : rows) {
    const std::string v = r.test + "/" + r.run;
    options +=
        "<option value=\"" + report::html_escape(v) + "\">" + report::html_escape(v) + "</option>";
  }
  if (!rows.empty()) {
    h += "<form action=\"/compare\" method=\"get\" style=\"margin:12px 0\">Compare <select "
         "name=\"a\">" +
         options + "</select> with <select name=\"b\">" + options +
         "</select> <button>compare</button></form>";
  }
  h += "<table><tr><th>time</th><th>test</th><th>verdict</th><th>report</th><th>files</th><th>"
       "bundle</th></tr>";
  for (const auto& r : rows) {
    std::string base = "/" + r.test + "/" + r.run + "/";
    h += "<tr><td>" + report::html_escape(pretty_stamp(r.stamp)) + "</td><td>" +
         report::html_escape(r.test) + "</td><td class=\"" + report::html_escape(r.verdict) +
         "\">" + report::html_escape(r.verdict) + "</td><td><a href=\"" +
         report::html_escape(base) + "report.html\">report</a></td><td><a href=\"" +
         report::html_escape(base) + "\">files</a></td><td><a href=\"" + report::html_escape(base) +
         kBundleName + "\" download>tar.gz</a></td></tr>";
  }
  return h + "</table></body></html>";
}

struct ResultsServer::Impl {
  ServeOptions options;
  httplib::Server server;
};

ResultsServer::ResultsServer(ServeOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  fs::path root = impl_->options.root;
  impl_->server.set_pre_routing_handler(
      [o = impl_->options](const httplib::Request& req, httplib::Response& res) {
        if (host_allowed(req.get_header_value("Host"), o.bind, o.allowed_hosts)) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        res.status = 421;
        res.set_content(
            "421 misdirected request: this server answers to its addresses, localhost and the "
            "names given with --allow-host, not to Host '" +
                report::html_escape(req.get_header_value("Host")) + "'\n",
            "text/plain");
        return httplib::Server::HandlerResponse::Handled;
      });
  impl_->server.Get(R"(/.*)", [root](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/" || req.path.empty()) {
      res.set_content(runs_index_html(root), "text/html; charset=utf-8");
      return;
    }
    if (req.path == "/compare") {
      serve_compare(root, req, res);
      return;
    }
    auto p = resolve_inside(root, req.path);
    if (!p) {
      res.status = 403;
      res.set_content("403 forbidden: outside the results directory\n", "text/plain");
      return;
    }
    std::error_code ec;
    if (p->filename() == kBundleName && !fs::exists(*p, ec) && RunDir::is_run(p->parent_path())) {
      serve_bundle(RunDir(p->parent_path()), res);
      return;
    }
    if (fs::is_directory(*p, ec)) {
      if (req.path.back() != '/') {
        res.set_redirect(req.path + "/");
        return;
      }
      res.set_content(listing_html(*p, req.path), "text/html; charset=utf-8");
      return;
    }
    if (!fs::is_regular_file(*p, ec)) {
      res.status = 404;
      res.set_content("404 not found\n", "text/plain");
      return;
    }
    try {
      res.set_content(read_file(*p), content_type(*p).c_str());
    } catch (const std::exception&) {
      res.status = 500;
      res.set_content("500 cannot read\n", "text/plain");
    }
  });
}

ResultsServer::~ResultsServer() { stop(); }

int ResultsServer::bind() {
  const ServeOptions& o = impl_->options;
  if (o.port == 0) {
    int port = impl_->server.bind_to_any_port(o.bind.c_str());
    if (port <= 0) throw std::runtime_error("cannot bind " + o.bind + " (any port)");
    return port;
  }
  if (!impl_->server.bind_to_port(o.bind.c_str(), o.port)) {
    throw std::runtime_error("cannot bind " + o.bind + ":" + std::to_string(o.port));
  }
  return o.port;
}

void ResultsServer::run() { impl_->server.listen_after_bind(); }

void ResultsServer::stop() {
  if (impl_) impl_->server.stop();
}

namespace {

struct ServeFlags {
  std::string dir = "results", bind = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> allow_host;
};

const bool serve_registered = register_command(
    {"serve", "Serve a results directory over HTTP: the runs, their files and reports",
     [](CLI::App& app) {
       auto f = std::make_shared<ServeFlags>();
       app.add_option("results_dir", f->dir, "Results directory (default results)");
       app.add_option("--port", f->port, "Port (default 8080; 0: any free port)");
       app.add_option("--bind", f->bind, "Address to listen on (default 127.0.0.1)");
       app.add_option("--allow-host", f->allow_host,
                      "A DNS name the server may be reached by (Host header); addresses and "
                      "localhost always are (repeatable)");
       return [f] {
         if (!fs::is_directory(f->dir)) throw ConfigError(f->dir + ": not a directory");
         ResultsServer server({f->dir, f->bind, f->port, f->allow_host});
         int port = 0;
         try {
           port = server.bind();
         } catch (const std::runtime_error& e) {
           throw ConfigError(e.what());
         }
         std::cout << "serving " << fs::absolute(f->dir).string() << " on http://" << f->bind << ":"
                   << port << "/ (Ctrl-C to stop)\n"
                   << std::flush;
         server.run();
         return 0;
       };
     }});

}  // namespace
}  // namespace faultline::cli

#include "harness/report/plot.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "harness/command.h"
#include "harness/control/local_exec.h"
#include "harness/files.h"
#include "harness/remote.h"

namespace faultline::report {

namespace fs = std::filesystem;

std::optional<fs::path> find_program(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return fs::path(name);
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream in(dirs);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    fs::path p = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

namespace {

// "start-partition" -> {"start", "partition"}; "kill" -> {"kill", "kill"}.
// Names go into gnuplot titles: keep only safe characters.
std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    out += ok ? c : '_';
  }
  return out.substr(0, 40);
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Whole or not at all: a full disk throws (the report says the plot is missing) instead of
// leaving a truncated data file for gnuplot.
void write_text(const fs::path& p, const std::string& text) { write_file_atomic(p, text); }

double quantile(std::vector<double>& v, double q) {
  size_t i =
      static_cast<size_t>(std::min<double>(v.size() - 1, std::floor(q * (v.size() - 1) + 0.5)));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

}  // namespace

std::string nemesis_colour(const std::string& name) {
  static const char* kPalette[] = {"#f5a623", "#9b59b6", "#e74c3c", "#3498db",
                                   "#16a085", "#7f8c8d", "#d35400", "#2c3e50"};
  uint32_t h = 2166136261u;
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  return kPalette[h % (sizeof kPalette / sizeof kPalette[0])];
}

PlotOutput plot_run(const History& history, const fs::path& out_dir, const PlotOptions& options) {
  PlotOutput out;
  auto gp = find_program(options.gnuplot);
  if (!gp) {
    out.notes.push_back("gnuplot not found: no latency or throughput plots (install gnuplot-nox)");
    return out;
  }
  fs::create_directories(out_dir);

  // Client operations with a completion and times.
  struct Point {
    double t_s, lat_ms;
    OpType type;
  };
  std::vector<Point> pts;
  double end_s = 0;
  const int64_t origin = options.origin_ns;
  auto rel_s = [origin](int64_t ns) { return static_cast<double>(ns - origin) / 1e9; };
  for (const Operation& o : client_operations(history)) {
    if (!o.complete || o.invoke->time_ns < 0 || o.complete->time_ns < 0) continue;
    double t = std::max(0.0, rel_s(o.invoke->time_ns));
    double lat = (o.complete->time_ns - o.invoke->time_ns) / 1e6;
    pts.push_back({t, std::max(lat, 1e-3), o.complete->type});
    end_s = std::max(end_s, rel_s(o.complete->time_ns));
  }
  if (pts.empty()) {
    out.notes.push_back("no timed client operations: no plots");
    return out;
  }

  // Raw points, one file per completion type.
  const std::pair<OpType, const char*> kTypes[] = {
      {OpType::kOk, "ok"}, {OpType::kFail, "fail"}, {OpType::kInfo, "info"}};
  const std::map<std::string, std::string> kTypeColour = {
      {"ok", "#2e9e44"}, {"fail", "#d0312d"}, {"info", "#e0a000"}};
  std::map<std::string, size_t> raw_counts;
  for (auto [type, name] : kTypes) {
    std::string text;
    for (const Point& p : pts) {
      if (p.type != type) continue;
      text += num(p.t_s) + " " + num(p.lat_ms) + "\n";
      ++raw_counts[name];
    }
    write_text(out_dir / ("latency-" + std::string(name) + ".dat"), text);
  }

  // Buckets for quantiles and throughput.
  double dt = end_s <= 200 ? 1.0 : end_s / 200;
  size_t nb = static_cast<size_t>(end_s / dt) + 1;
  std::vector<std::vector<double>> lat_ok(nb);
  std::vector<std::array<int64_t, 3>> counts(nb, {0, 0, 0});
  for (const Point& p : pts) {
    size_t b = std::min(nb - 1, static_cast<size_t>(p.t_s / dt));
    int k = p.type == OpType::kOk ? 0 : p.type == OpType::kFail ? 1 : 2;
    ++counts[b][static_cast<size_t>(k)];
    if (p.type == OpType::kOk) lat_ok[b].push_back(p.lat_ms);
  }
  std::string qtext, rtext;
  for (size_t b = 0; b < nb; ++b) {
    // The middle of the bucket, or the end of the history for its last, partial bucket.
    double mid = std::min((static_cast<double>(b) + 0.5) * dt, end_s);
    if (!lat_ok[b].empty()) {
      auto& v = lat_ok[b];
      qtext += num(mid) + " " + num(quantile(v, 0.5)) + " " + num(quantile(v, 0.95)) + " " +
               num(quantile(v, 0.99)) + " " + num(*std::max_element(v.begin(), v.end())) + "\n";
    }
    rtext += num(mid) + " " + num(counts[b][0] / dt) + " " + num(counts[b][1] / dt) + " " +
             num(counts[b][2] / dt) + "\n";
  }
  write_text(out_dir / "latency-quantiles.dat", qtext);
  write_text(out_dir / "rate.dat", rtext);

  // Nemesis regions: numbers and safe names only reach the script.
  std::string regions, legend;
  std::map<std::string, bool> named;
  int obj = 1;
  for (const NemesisInterval& n : nemesis_intervals(history)) {
    std::string colour = nemesis_colour(n.name);
    regions += "set object " + std::to_string(obj++) + " rect from " +
               num(std::max(0.0, rel_s(n.start_ns))) + ", graph 0 to " +
               num(std::max(rel_s(std::max(n.end_ns, n.start_ns + 1)), 1e-6)) +
               ", graph 1 fc rgb \"" + colour + "\" fs transparent solid 0.18 noborder behind\n";
    if (!named[n.name]) {
      named[n.name] = true;
      legend += ", NaN with boxes fc rgb \"" + colour +
                "\" fs transparent solid 0.3 noborder title \"" + safe_name(n.name) + "\"";
    }
  }

  bool raw_png = pts.size() > 5000;
  std::string size = std::to_string(options.width_px) + "," + std::to_string(options.height_px);
  std::string svg_term =
      "set terminal svg size " + size + " dynamic font \"sans,10\" background rgb \"white\"\n";
  std::string png_term =
      "set terminal pngcairo size " + size + " font \"sans,9\" background rgb \"white\"\n";
  // The setup, when known, is one narrow grey band left of 0, labelled with its length.
  std::string setup;
  double left = 0;
  std::string xlabel = "time (s)";
  if (options.setup_ns >= 0) {
    left = -std::max(end_s, 1e-3) * 0.04;
    setup = "set object " + std::to_string(obj++) + " rect from " + num(left) +
            ", graph 0 to 0, graph 1 fc rgb \"#d8d8d8\" fs solid 1.0 noborder behind\n"
            "set label \"setup\" at " +
            num(left / 2) +
            ", graph 0.5 center rotate by 90 font \",8\" textcolor rgb \"#555555\"\n";
    char buf[96];
    std::snprintf(buf, sizeof buf,
                  "time since the main phase started (s); setup (grey) took %.1f s",
                  static_cast<double>(options.setup_ns) / 1e9);
    xlabel = buf;
  }
  std::string common = "set xlabel \"" + xlabel +
                       "\"\nset grid\nset key outside right top\nset xrange [" + num(left) + ":" +
                       num(std::max(end_s, 1e-3)) + "]\n" + regions + setup;
  // One script per image, so that one failing plot does not take the others with it.
  std::vector<std::pair<std::string, std::string>> scripts;  // script file -> text

  std::string raw_file = raw_png ? "latency-raw.png" : "latency-raw.svg";
  std::string raw_plot;
  for (auto [type, name] : kTypes) {
    if (!raw_counts[name]) continue;
    raw_plot += std::string(raw_plot.empty() ? "plot " : ", ") + "\"latency-" + name +
                ".dat\" using 1:2 with points pt 7 ps 0.3 lc rgb \"" + kTypeColour.at(name) +
                "\" title \"" + name + "\"";
  }
  scripts.push_back(
      {"latency-raw.gp",
       (raw_png ? png_term : svg_term) + "set output \"" + raw_file + "\"\n" + common +
           "set title \"latency (raw)\"\nset ylabel \"latency (ms)\"\nset logscale y\n" + raw_plot +
           legend + "\nunset output\n"});
  out.files.push_back({raw_file, "Latency of every operation (by invocation time)"});

  if (!qtext.empty()) {
    scripts.push_back(
        {"latency-quantiles.gp",
         svg_term + "set output \"latency-quantiles.svg\"\n" + common +
             "set title \"latency quantiles (ok ops, per " + num(dt) +
             " s)\"\nset ylabel \"latency (ms)\"\nset logscale y\n"
             "plot \"latency-quantiles.dat\" using 1:2 with lines lw 1.5 title \"p50\", "
             "\"\" using 1:3 with lines lw 1.5 title \"p95\", "
             "\"\" using 1:4 with lines lw 1.5 title \"p99\", "
             "\"\" using 1:5 with lines lw 1 dt 2 title \"max\"" +
             legend + "\nunset output\n"});
    out.files.push_back({"latency-quantiles.svg", "Latency quantiles"});
  }
  scripts.push_back(
      {"rate.gp",
       svg_term + "set output \"rate.svg\"\n" + common +
           "unset logscale y\nset title \"throughput (per " + num(dt) +
           " s)\"\nset ylabel \"ops/s\"\nset yrange [0:*]\n"
           "plot \"rate.dat\" using 1:2 with steps lw 1.5 lc rgb \"#2e9e44\" title \"ok\", "
           "\"\" using 1:3 with steps lw 1.5 lc rgb \"#d0312d\" title \"fail\", "
           "\"\" using 1:4 with steps lw 1.5 lc rgb \"#e0a000\" title \"info\"" +
           legend + "\nunset output\n"});
  out.files.push_back({"rate.svg", "Throughput"});

  // Clock offsets, when the clock nemesis ran: every nemesis completion carrying
  // {"offsets-ms": {node: ms}} is a step of each node's offset from true time.
  std::map<std::string, std::string> offsets;  // node -> data text
  if (auto steps = clock_offset_steps(history)) {
    for (const auto& [node, v] : *steps) {
      for (const auto& [t, ms] : v)
        offsets[node] += num(std::max(0.0, rel_s(t))) + " " + num(ms) + "\n";
    }
  }
  if (!offsets.empty()) {
    std::string plot;
    int i = 0;
    for (const auto& [node, text] : offsets) {
      std::string file = "clock-" + std::to_string(i++) + ".dat";
      // Hold the last offset to the end of the run.
      std::string last = text.substr(text.rfind('\n', text.size() - 2) + 1);
      last = last.substr(last.find(' ') + 1);
      write_text(out_dir / file, text + num(end_s) + " " + last);
      plot += std::string(plot.empty() ? "plot " : ", ") + "\"" + file +
              "\" using 1:2 with steps lw 1.5 title \"" + safe_name(node) + "\"";
    }
    scripts.push_back({"clock.gp", svg_term + "set output \"clock.svg\"\n" + common +
                                       "unset logscale y\nset title \"clock offsets\"\n"
                                       "set ylabel \"offset from true time (ms)\"\n" +
                                       plot + legend + "\nunset output\n"});
    out.files.push_back({"clock.svg", "Clock offset of each node (clock nemesis)"});
  }

  auto session = control::make_local_session("localhost");
  for (const auto& [file, text] : scripts) {
    write_text(out_dir / file, "set encoding utf8\n" + text);
    try {
      Command cmd{gp->string(), file};
      cmd.in(out_dir.string()).with_timeout(std::chrono::seconds(options.timeout_s));
      ExecResult r = session->exec(cmd);
      if (r.exit_status != 0) {
        std::string err = r.err.size() > 300 ? r.err.substr(r.err.size() - 300) : r.err;
        out.notes.push_back("gnuplot failed on " + file + " (exit " +
                            std::to_string(r.exit_status) + "): " + err);
      }
    } catch (const std::exception& e) {
      out.notes.push_back("gnuplot could not run " + file + ": " + e.what());
    }
  }
  // Keep only the images that were really written.
  std::vector<std::pair<std::string, std::string>> made;
  for (auto& f : out.files) {
    std::error_code ec;
    if (fs::file_size(out_dir / f.first, ec) > 0 && !ec) made.push_back(f);
  }
  out.files = made;
  return out;
}

std::optional<std::string> render_dot_svg(const std::string& dot_source, std::string* note,
                                          const std::string& dot_program) {
  auto dot = find_program(dot_program);
  if (!dot) {
    if (note)
      *note = "graphviz (dot) not found: cycle graphs shown as dot source (install graphviz)";
    return std::nullopt;
  }
  try {
    auto session = control::make_local_session("localhost");
    Command cmd{dot->string(), "-Tsvg"};
    cmd.with_stdin(dot_source).with_timeout(std::chrono::seconds(60));
    ExecResult r = session->exec(cmd);
    auto at = r.out.find("<svg");
    if (r.exit_status != 0 || at == std::string::npos) {
      if (note) *note = "dot failed: " + r.err.substr(0, 300);
      return std::nullopt;
    }
    return r.out.substr(at);
  } catch (const std::exception& e) {
    if (note) *note = std::string("dot could not run: ") + e.what();
    return std::nullopt;
  }
}

}  // namespace faultline::report

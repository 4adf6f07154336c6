// report.html as a person sees it: a real run of the misbehaving in-process database (list
// appends: Elle cycles with graphs), its page opened in headless Chromium (Debian `chromium`,
// installed by scripts/install-deps.sh), and the DOM the page built checked: the failure
// summary's anomaly table with links to the witnesses, a cycle graph drawn as an image, the
// timeline's first screen drawn with operations under the one-band setup, the plots. A
// screenshot is left beside the run for a person to look at (its path is printed).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <regex>

#include "harness/files.h"
#include "harness/report/plot.h"
#include "tests/support/local_cluster.h"
#include "tests/support/paths.h"

using namespace faultline;
using namespace faultline::testing;
namespace fs = std::filesystem;

namespace {

size_t count(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (auto at = s.find(part); at != std::string::npos; at = s.find(part, at + part.size())) ++n;
  return n;
}

// Removes the scratch directory however the test leaves.
struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("faultline-render-" + std::to_string(::getpid()));
  Scratch() { fs::remove_all(dir); }
  ~Scratch() {
    std::error_code ec;
    if (!std::getenv("FAULTLINE_KEEP_RENDER")) fs::remove_all(dir, ec);
  }
};

}  // namespace

TEST_CASE("report.html renders in headless Chromium with the anomaly table, a graph and ops") {
  FAULTLINE_REQUIRE_ROOT();
  auto chromium = report::find_program("chromium");
  // ./test.sh installs it (scripts/install-deps.sh); a missing one is a failed set-up, not a
  // pass.
  INFO("chromium missing: run scripts/install-deps.sh (as root)");
  REQUIRE(chromium);
  Scratch scratch;
  CommandResult run = run_shell(faultline_binary() +
                                " run --db memory-stale --workload list-append --time-limit 3"
                                " --concurrency 4 --seed 11 --results-dir " +
                                scratch.dir.string() + " 2>&1");
  INFO(run.output);
  REQUIRE(run.status == 1);  // memory-stale is invalid by design
  fs::path report = fs::canonical(scratch.dir / "latest") / "report.html";
  REQUIRE(fs::exists(report));

  const std::string flags =
      " --headless --no-sandbox --disable-gpu --hide-scrollbars --mute-audio"
      " --virtual-time-budget=10000 --window-size=1280,2000 ";
  auto start = std::chrono::steady_clock::now();
  CommandResult dom = run_shell(chromium->string() + flags + "--dump-dom file://" +
                                report.string() + " 2>/dev/null");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WARN("chromium rendered " << report << " in " << secs << " s");
  REQUIRE(dom.status == 0);
  const std::string& page = dom.output;
  // The failure summary: its anomaly table, each row linking to its smallest witness.
  CHECK(count(page, "id=\"witness-table\"") == 1);
  CHECK(count(page, "href=\"#witness-") >= 1);
  CHECK(count(page, "class=\"witness\" id=\"witness-") >= 1);
  // A cycle graph, drawn by dot and embedded as an image.
  CHECK(count(page, "<img class=\"graph\"") >= 1);
  // Plots, and the timeline drew operations (the script ran) under the setup band.
  CHECK(count(page, "<img class=\"plot\"") >= 3);
  CHECK(count(page, "class=\"setup\"") == 1);
  size_t ops = count(page, "class=\"op ok") + count(page, "class=\"op fail") +
               count(page, "class=\"op info");
  CHECK(ops >= 10);
  // The timeline's first screen shows operations: one drawn within the first 800 px.
  std::smatch m;
  static const std::regex kTop(R"(class="op ok[^"]*"[^>]*style="top: (\d+(\.\d+)?)px)");
  REQUIRE(std::regex_search(page, m, kTop));
  CHECK(std::stod(m[1].str()) < 800);

  fs::path png = report.parent_path() / "report.png";
  CommandResult shot = run_shell(chromium->string() + flags + "--screenshot=" + png.string() +
                                 " file://" + report.string() + " >/dev/null 2>&1");
  CHECK(shot.status == 0);
  REQUIRE(fs::exists(png));
  CHECK(fs::file_size(png) > 20000);
  CHECK(read_file(png).substr(1, 3) == "PNG");
  WARN("screenshot: " << png << " (FAULTLINE_KEEP_RENDER=1 keeps it)");
}

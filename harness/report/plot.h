// Plots of a run (latency, throughput, nemesis regions) drawn by gnuplot, and cycle graphs
// drawn by graphviz `dot`.
//
// Both tools are optional: find_program() says whether one is on PATH, and every function here
// reports a missing or failing tool as a note instead of throwing, so a report is still written
// without them. The tools are run through the local-exec Session with an argv (never a shell
// string): gnuplot reads a script we write from constants and numbers only, with its data in
// files of the plot directory (its working directory); dot reads the graph on stdin.
//
// Thread safety: free functions; plot_run writes only inside its `out_dir`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/history.h"

namespace faultline::report {

// The full path of `name` found on $PATH (or `name` itself when it holds a '/' and is
// executable); nullopt when there is none.
std::optional<std::filesystem::path> find_program(const std::string& name);

// The fault intervals of a history: nemesis_intervals (harness/history.h).

// A fixed colour (#rrggbb) for a nemesis name, the same in plots and in the timeline.
std::string nemesis_colour(const std::string& name);

struct PlotOptions {
  std::string gnuplot = "gnuplot";  // program name or path
  int width_px = 900, height_px = 360;
  int timeout_s = 120;
  // History time drawn as 0 (the main phase's start, report.h time_axis), and the setup's
  // length before it, drawn as one narrow grey band left of 0 (-1: none).
  int64_t origin_ns = 0;
  int64_t setup_ns = -1;
};

struct PlotOutput {
  // Image files written in out_dir, in display order, each with its title:
  // "latency-raw.png" (or .svg), "latency-quantiles.svg", "rate.svg".
  std::vector<std::pair<std::string, std::string>> files;
  std::vector<std::string> notes;  // why something is missing (tool absent, gnuplot failed)
};

// Writes the data files, one gnuplot script per image (*.gp) and the images into out_dir
// (created); a plot that fails is a note, the others are still drawn.
// Raw latency is a PNG when there are more than 5000 points (an SVG would be too heavy),
// otherwise an SVG.
PlotOutput plot_run(const History& history, const std::filesystem::path& out_dir,
                    const PlotOptions& options = {});

// SVG text (from "<svg") of a graphviz graph, or nullopt with *note set.
std::optional<std::string> render_dot_svg(const std::string& dot_source, std::string* note,
                                          const std::string& dot_program = "dot");

}  // namespace faultline::report

// ssh_bench: exec round-trip latency and parallel throughput over SSH, run by hand.
//
//   ssh_bench [--nodes-file FILE | --name NAME] [--calls 1000] [--threads 6] [--seconds 5]
//             [--up] [--subnet 10.77.202.0/24]
//
// With --up (root), brings up a 3-node local cluster NAME (default flbench) first, timing it,
// and takes it down afterwards, timing that too. Otherwise it uses the running local cluster
// NAME (default fl) or the nodes of --nodes-file.
//
// Prints: cluster up/down seconds; sequential `true` round trip on one reused session
// (median, p90, p99 over --calls calls); connect+exec on a fresh remote (median of 20);
// parallel throughput with --threads sessions on one node, and on every node at once.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "harness/control/inventory.h"
#include "harness/control/ssh.h"
#include "harness/remote.h"

using namespace faultline;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// Runs `threads` sessions per node on `nodes` for `seconds`; returns calls per second per node.
double throughput(Remote& remote, const std::vector<std::string>& nodes, int threads,
                  double seconds) {
  std::atomic<long> calls{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  for (const auto& n : nodes) {
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, n] {
        auto s = remote.session(n);
        while (!stop) {
          s->run_checked(Command{"true"});
          ++calls;
        }
      });
    }
  }
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  double secs = ms_since(t0) / 1000.0;
  return static_cast<double>(calls) / secs / static_cast<double>(nodes.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::string name, nodes_file, subnet = "10.77.202.0/24";
  int calls = 1000, threads = 6;
  double seconds = 5;
  bool up = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "ssh_bench: " << a << " needs a value\n";
        std::exit(254);
      }
      return argv[++i];
    };
    if (a == "--name")
      name = next();
    else if (a == "--nodes-file")
      nodes_file = next();
    else if (a == "--subnet")
      subnet = next();
    else if (a == "--calls")
      calls = std::stoi(next());
    else if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--seconds")
      seconds = std::stod(next());
    else if (a == "--up")
      up = true;
    else {
      std::cerr << "ssh_bench: unknown argument " << a << "\n";
      return 254;
    }
  }
  try {
    std::unique_ptr<control::LocalClusterProvisioner> prov;
    control::Inventory inv;
    if (up) {
      if (name.empty()) name = "flbench";
      prov = control::make_local_cluster_provisioner();
      control::LocalClusterOptions o;
      o.name = name;
      o.subnet = subnet;
      auto t0 = Clock::now();
      std::ostringstream log;
      inv = prov->up(o, log);
      std::cout << "cluster up (3 nodes): " << ms_since(t0) / 1000.0 << " s\n";
    } else {
      control::InventoryOptions io;
      io.nodes_file = nodes_file;
      io.local_cluster = nodes_file.empty() ? (name.empty() ? "fl" : name) : "";
      inv = control::resolve_inventory(io);
    }
    auto remote = control::make_ssh_remote(inv);
    std::string node = inv.nodes.front().name;
    {
      auto s = remote->session(node);
      for (int i = 0; i < 20; ++i) s->run_checked(Command{"true"});  // warm up
      std::vector<double> lat;
      lat.reserve(static_cast<size_t>(calls));
      for (int i = 0; i < calls; ++i) {
        auto t = Clock::now();
        s->run_checked(Command{"true"});
        lat.push_back(ms_since(t));
      }
      std::cout << std::fixed << std::setprecision(3) << "exec `true` on " << node
                << ", one session, " << calls << " calls: median " << pct(lat, 0.5) << " ms, p90 "
                << pct(lat, 0.9) << " ms, p99 " << pct(lat, 0.99) << " ms\n";
    }
    {
      std::vector<double> lat;
      for (int i = 0; i < 20; ++i) {
        auto fresh = control::make_ssh_remote(inv);
        auto t = Clock::now();
        fresh->session(node)->run_checked(Command{"true"});
        lat.push_back(ms_since(t));
      }
      std::cout << "connect + exec on a new connection, 20 calls: median " << pct(lat, 0.5)
                << " ms\n";
    }
    std::cout << std::setprecision(0);
    for (int t : {1, threads}) {
      std::cout << "throughput, " << t << " sessions on " << node << ": "
                << throughput(*remote, {node}, t, seconds) << " execs/s\n";
    }
    std::cout << "throughput, " << threads << " sessions on each of " << inv.nodes.size()
              << " nodes at once: " << throughput(*remote, inv.names(), threads, seconds)
              << " execs/s per node\n";
    if (prov) {
      remote.reset();
      auto t0 = Clock::now();
      std::ostringstream log;
      prov->down(name, log);
      std::cout << std::setprecision(3) << "cluster down: " << ms_since(t0) / 1000.0 << " s\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "ssh_bench: " << e.what() << "\n";
    return 255;
  }
  return 0;
}

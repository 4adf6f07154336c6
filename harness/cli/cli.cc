#include "harness/cli/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <sstream>
#include <vector>

#include "harness/control/inventory.h"
#include "harness/errors.h"
#include "harness/history.h"
#include "harness/registry.h"
#include "harness/version.h"

namespace faultline::cli {
namespace {
std::vector<CliCommand>& commands() {
  static std::vector<CliCommand> v;
  return v;
}
}  // namespace

bool register_command(CliCommand command) {
  commands().push_back(std::move(command));
  return true;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

int run_cli(int argc, char** argv) {
  if (auto dups = registry_duplicates(); !dups.empty()) {
    for (const auto& d : dups) {
      std::cerr << "faultline: internal error: " << d
                << " registered twice (two files claim the name; rename one)\n";
    }
    return kExitInternal;
  }
  CLI::App app{"faultline: consistency tests for multi-master replicated databases"};
  app.set_version_flag("--version", std::string(kVersion));
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, std::function<int()>>> actions;
  auto sorted = commands();
  std::sort(sorted.begin(), sorted.end(),
            [](const CliCommand& a, const CliCommand& b) { return a.name < b.name; });
  for (const auto& c : sorted) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    actions.emplace_back(sub, c.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitBadInput;
  }
  for (auto& [sub, action] : actions) {
    if (!sub->parsed()) continue;
    try {
      return action();
    } catch (const HistoryError& e) {
      std::cerr << "faultline: " << e.what() << "\n";
      for (size_t i = 1; i < e.problems().size(); ++i) {
        const auto& p = e.problems()[i];
        std::cerr << "faultline: " << e.source() << ":" << p.line << ": " << p.reason << "\n";
      }
      return kExitBadInput;
    } catch (const ConfigError& e) {
      std::cerr << "faultline: " << e.what() << "\n";
      return kExitBadInput;
    } catch (const std::exception& e) {
      std::cerr << "faultline: internal error: " << e.what() << "\n";
      return kExitInternal;
    }
  }
  return kExitBadInput;
}

void add_inventory_options(CLI::App& app, control::InventoryOptions& o) {
  app.add_option("--nodes", o.nodes, "Comma-separated nodes: HOST, USER@HOST, HOST:PORT");
  app.add_option("--nodes-file", o.nodes_file,
                 "File with one node per line (# comments), or an inventory.json");
  app.add_option("--ssh-user", o.ssh_user, "SSH user (default root)");
  app.add_option("--ssh-key", o.ssh_key,
                 "Private key file (default: ssh-agent, then ~/.ssh/id_ed25519, id_rsa)");
  app.add_option("--ssh-port", o.ssh_port, "SSH port (default 22)");
  app.add_option("--ssh-known-hosts", o.ssh_known_hosts,
                 "known_hosts file (default ~/.ssh/known_hosts)");
  app.add_option("--ssh-strict-host-key-checking", o.strict_host_key_checking,
                 "yes (default): verify host keys; no: accept a host's key the first time "
                 "(as OpenSSH's accept-new; a changed key is always refused). Given, it "
                 "applies to every node, nodes-file values included")
      ->check(CLI::IsMember({"yes", "no"}));
  app.add_option("--local-cluster", o.local_cluster,
                 "Use the nodes of this running local cluster (`faultline cluster up`)");
}

}  // namespace faultline::cli

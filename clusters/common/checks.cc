#include "clusters/common/checks.h"

namespace faultline::clusters {

NodeCheck binary_check(const std::string& name, const std::string& path,
                       const std::vector<std::string>& version_args, const std::string& fix) {
  NodeCheck c;
  c.name = name;
  c.script =
      "[ -x \"$1\" ] || { echo \"no $1 on the node\"; exit 1; }; b=$1; shift; "
      "v=$(\"$b\" \"$@\" 2>&1 | grep -m1 .); echo \"${v:-$b (no version printed)}\"";
  c.args = {path};
  c.args.insert(c.args.end(), version_args.begin(), version_args.end());
  c.fix = fix;
  return c;
}

NodeCheck file_check(const std::string& name, const std::string& path, const std::string& fix) {
  NodeCheck c;
  c.name = name;
  c.script = "[ -e \"$1\" ] || { echo \"no $1 on the node\"; exit 1; }; echo \"$1\"";
  c.args = {path};
  c.fix = fix;
  return c;
}

NodeCheck port_check(int port, const std::string& ours, const std::string& what) {
  NodeCheck c;
  c.name = "port " + std::to_string(port);
  c.script =
      "command -v ss >/dev/null || { echo 'no ss (iproute2): cannot see who listens'; exit 3; }; "
      "l=$(ss -Hltnp \"sport = :$1\" 2>/dev/null); "
      "[ -n \"$l\" ] || { echo \"free ($3)\"; exit 0; }; "
      "p=$(printf '%s\\n' \"$l\" | grep -o 'users:((\"[^\"]*\",pid=[0-9]*' | head -n 1 | "
      "sed 's/users:((\"//; s/\",pid=/ pid /'); "
      "case \"$p\" in \"$2 \"*) echo \"held by $p, an earlier run's $2: setup replaces it\"; "
      "exit 0;; esac; "
      "echo \"in use by ${p:-a process ss does not name}: $3 needs it\"; exit 1";
  c.args = {std::to_string(port), ours, what};
  c.fix = "stop what listens there, or run the database on other nodes";
  return c;
}

}  // namespace faultline::clusters

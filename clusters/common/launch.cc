#include "clusters/common/launch.h"

#include "harness/errors.h"
#include "harness/secure_dir.h"

namespace faultline::clusters {
namespace {

std::string expand(std::string s, const std::string& node) {
  const std::string key = "{node}";
  for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + node.size())) {
    s.replace(at, key.size(), node);
  }
  return s;
}

}  // namespace

const char* const kLaunchLeftoversShell = R"sh(
fl_launch_leftovers() {
  for _q in "$@"; do
    case $_q in ''|*[!0-9]*) continue ;; esac
    rm -f "/dev/shm/sem.faketime_sem_$_q" "/dev/shm/faketime_shm_$_q"
  done
  return 0
}
)sh";

std::vector<std::string> launch_env_argv(const DbContext& ctx, const std::string& node,
                                         const std::map<std::string, std::string>& extra) {
  const LaunchEnv& launch = ctx.launch;
  if (launch.env.empty()) return {};
  std::map<std::string, std::string> env;
  for (const auto& [k, v] : launch.env) env[k] = expand(v, node);
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out = {"env"};
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::optional<Command> prepare_launch_command(const DbContext& ctx, const std::string& node,
                                              const std::string& where) {
  const LaunchEnv& launch = ctx.launch;
  if (launch.files.empty()) return std::nullopt;
  std::vector<std::string> args;
  for (const auto& [path, content] : launch.files) {
    std::string p = expand(path, node);
    check_dir_option(p, where + ": launch file of " +
                            (launch.why.empty() ? std::string("a nemesis") : launch.why));
    args.push_back(p);
    args.push_back(content);
  }
  Command c = Command::shell(std::string(kPrivateDirShell) + R"sh(
while [ $# -ge 2 ]; do
  fl_private_dir "$(dirname "$1")" 755 || exit 3
  if [ ! -e "$1" ]; then
    printf '%s' "$2" > "$1.tmp" && chmod 644 "$1.tmp" && mv -f "$1.tmp" "$1" || exit 1
  fi
  chmod 644 "$1" || exit 1
  shift 2
done
)sh",
                             std::move(args));
  c.idempotent = true;
  return c;
}

}  // namespace faultline::clusters

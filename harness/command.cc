#include "harness/command.h"

#include <stdexcept>

namespace faultline {
namespace {

bool safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '@' || c == '%' || c == '+' || c == '=' || c == ':' || c == ',' || c == '.' ||
         c == '/' || c == '-';
}

bool valid_env_name(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

bool valid_user_name(const std::string& name) {
  if (name.empty() || name.size() > 32 || name[0] == '-') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.')) {
      return false;
    }
  }
  return true;
}

void check_no_nul(std::string_view s, const char* what) {
  if (s.find('\0') != std::string_view::npos) {
    throw std::invalid_argument(std::string("command ") + what + " contains a NUL byte");
  }
}

}  // namespace

Command Command::shell(std::string script, std::vector<std::string> args) {
  Command c;
  c.argv = {"sh", "-c", std::move(script), "sh"};
  for (auto& a : args) c.argv.push_back(std::move(a));
  return c;
}

std::string shell_quote(std::string_view word) {
  if (word.empty()) return "''";
  bool safe = true;
  for (char c : word) safe = safe && safe_char(c);
  if (safe) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string command_line(const Command& command) {
  if (command.argv.empty()) throw std::invalid_argument("command has an empty argv");
  for (const auto& a : command.argv) check_no_nul(a, "argument");
  check_no_nul(command.cwd, "directory");
  std::string inner;
  if (!command.cwd.empty()) inner += "cd -- " + shell_quote(command.cwd) + " && ";
  inner += "exec ";
  if (!command.env.empty()) {
    inner += "env ";
    for (const auto& [name, value] : command.env) {
      if (!valid_env_name(name)) {
        throw std::invalid_argument("command env name '" + name + "' is not a shell name");
      }
      check_no_nul(value, "env value");
      inner += shell_quote(name + "=" + value) + " ";
    }
    // `env` would take a first word containing '=' as another assignment; argv[0] never
    // does for real programs, and a path with '=' is rejected rather than misread.
    if (command.argv[0].find('=') != std::string::npos) {
      throw std::invalid_argument("command program '" + command.argv[0] +
                                  "' contains '=' and cannot follow env assignments");
    }
  }
  for (size_t i = 0; i < command.argv.size(); ++i) {
    if (i > 0) inner += ' ';
    inner += shell_quote(command.argv[i]);
  }
  if (!command.sudo) return inner;
  std::string out = "sudo -n ";
  if (!command.sudo_user.empty()) {
    if (!valid_user_name(command.sudo_user)) {
      throw std::invalid_argument("sudo user '" + command.sudo_user + "' is not a user name");
    }
    out += "-u " + command.sudo_user + " ";
  }
  out += "-- sh -c " + shell_quote(inner);
  return out;
}

std::string describe(const Command& command, size_t max_chars) {
  std::string out;
  if (command.sudo) out += "sudo ";
  for (size_t i = 0; i < command.argv.size(); ++i) {
    if (i > 0) out += ' ';
    out += shell_quote(command.argv[i]);
    if (out.size() > max_chars) break;
  }
  if (out.size() > max_chars) out = out.substr(0, max_chars) + "...";
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

}  // namespace faultline

#include "harness/command.h"

#include <catch2/catch.hpp>

#include "harness/control/local_exec.h"
#include "harness/remote.h"

using namespace faultline;

namespace {

// What /bin/sh makes of a command line: runs `printf '%s\0' ARGS` through command_line and
// reads the words back, so quoting is checked by a real shell, not by string comparison.
std::vector<std::string> words_after_shell(const std::vector<std::string>& args) {
  Command c;
  c.argv = {"printf", "%s\\0"};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  auto local = control::make_local_session();
  ExecResult r = local->exec(c);
  REQUIRE(r.exit_status == 0);
  std::vector<std::string> out;
  std::string cur;
  for (char ch : r.out) {
    if (ch == '\0') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("shell_quote leaves safe words alone and single-quotes the rest", "[command]") {
  CHECK(shell_quote("hostname") == "hostname");
  CHECK(shell_quote("/usr/bin/x-y_z.1:2,3@4%5+6=7") == "/usr/bin/x-y_z.1:2,3@4%5+6=7");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("$HOME") == "'$HOME'");
  CHECK(shell_quote("`id`") == "'`id`'");
  CHECK(shell_quote("a\nb") == "'a\nb'");
  CHECK(shell_quote("*") == "'*'");
  CHECK(shell_quote("~") == "'~'");
  CHECK(shell_quote("-n") == "-n");
}

TEST_CASE("command_line quotes every word and adds cd, env and sudo", "[command]") {
  CHECK(command_line(Command{"echo", "a b"}) == "exec echo 'a b'");
  Command c{"ls", "-l"};
  c.in("/tmp/my dir");
  CHECK(command_line(c) == "cd -- '/tmp/my dir' && exec ls -l");
  c.with_env("LANG", "C.UTF-8");
  CHECK(command_line(c) == "cd -- '/tmp/my dir' && exec env LANG=C.UTF-8 ls -l");
  Command s{"id", "-u"};
  s.as_sudo();
  CHECK(command_line(s) == "sudo -n -- sh -c 'exec id -u'");
  s.as_sudo("postgres").in("/var/lib/x y");
  CHECK(command_line(s) ==
        "sudo -n -u postgres -- sh -c 'cd -- '\\''/var/lib/x y'\\'' && exec id -u'");
  CHECK(Command::shell("echo \"$1\"", {"x y"}).argv ==
        std::vector<std::string>{"sh", "-c", "echo \"$1\"", "sh", "x y"});
}

TEST_CASE("command_line rejects what a shell cannot carry", "[command]") {
  CHECK_THROWS_AS(command_line(Command{}), std::invalid_argument);
  CHECK_THROWS_AS(command_line(Command{"echo", std::string("a\0b", 3)}), std::invalid_argument);
  Command bad_env{"true"};
  bad_env.with_env("A B", "x");
  CHECK_THROWS_AS(command_line(bad_env), std::invalid_argument);
  Command bad_user{"true"};
  bad_user.as_sudo("root; rm -rf /");
  CHECK_THROWS_AS(command_line(bad_user), std::invalid_argument);
  Command eq{"A=B"};
  eq.with_env("X", "1");
  CHECK_THROWS_AS(command_line(eq), std::invalid_argument);
}

TEST_CASE("a real shell reads back exactly the words given", "[command]") {
  std::vector<std::string> nasty = {
      "plain",    "two words",   "it's",      "\"double\"", "$HOME",  "${PATH}", "`id`",
      "$(id)",    "back\\slash", "new\nline", "tab\there",  "",       "*",       "?",
      "~",        "a;b",         "a|b",       "a&b",        "<in",    ">out",    "(x)",
      "{y}",      "#comment",    "!bang",     "'",          "''",     "'\\''",   "é ü 日本語",
      "\xff\xfe", "-n",          "--",        " lead",      "trail ", "\r\n",    "=",
  };
  CHECK(words_after_shell(nasty) == nasty);
}

TEST_CASE("cwd, env and sudo wrapping work in a real shell", "[command]") {
  auto local = control::make_local_session();
  Command pwd{"pwd"};
  pwd.in("/tmp");
  CHECK(local->exec(pwd).out == "/tmp\n");
  Command env = Command::shell("printf '%s' \"$FL_TEST_VAR\"");
  env.with_env("FL_TEST_VAR", "it's $x `y`");
  CHECK(local->exec(env).out == "it's $x `y`");
  Command missing{"true"};
  missing.in("/nonexistent/dir");
  CHECK(local->exec(missing).exit_status != 0);
}

TEST_CASE("describe is short and one line", "[command]") {
  Command c{"echo", "a\nb"};
  CHECK(describe(c) == "echo 'a b'");
  Command big{"echo", std::string(500, 'x')};
  CHECK(describe(big, 50).size() <= 53);
}

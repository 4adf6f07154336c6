// The local-exec Session: runs the controller's own commands (namespace setup, ssh-keygen,
// gnuplot) through /bin/sh -c command_line(cmd) with Boost.Process. Boost.Process appears in
// this file only.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>  // before asio: Boost 1.74 asio uses std::exchange without including it

// clang-format off
#include <boost/asio.hpp>
#include <boost/process.hpp>
// clang-format on

#include "harness/control/local_exec.h"
#include "harness/remote.h"

namespace faultline::control {
namespace {

namespace asio = boost::asio;
namespace bp = boost::process;
namespace fs = std::filesystem;

// After the shell exits, how long we still wait for EOF on its pipes: a daemon it started in
// the background may hold them open forever.
constexpr std::chrono::milliseconds kPipeGrace{200};
constexpr std::chrono::milliseconds kExitPoll{20};

// Creating the pipes and forking is serialised, and every pipe end is close-on-exec before
// any fork, so a child never inherits another exec's pipe (which would delay its EOF).
std::mutex& spawn_mutex() {
  static std::mutex m;
  return m;
}

void set_cloexec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

// Copies a file or a tree, keeping permission bits; an existing file is replaced.
void copy_tree(const fs::path& from, const fs::path& to) {
  fs::file_status st = fs::status(from);
  if (fs::is_directory(st)) {
    if (!fs::is_directory(to)) fs::create_directory(to);
    for (const auto& entry : fs::directory_iterator(from)) {
      copy_tree(entry.path(), to / entry.path().filename());
    }
    fs::permissions(to, st.permissions());
  } else if (fs::is_regular_file(st)) {
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
    fs::permissions(to, st.permissions());
  } else if (!fs::exists(st)) {
    throw fs::filesystem_error("no such file or directory", from,
                               std::make_error_code(std::errc::no_such_file_or_directory));
  }
  // Other kinds (sockets, devices) are skipped.
}

class LocalSession : public Session {
 public:
  LocalSession(std::string name, std::chrono::milliseconds default_timeout)
      : name_(std::move(name)), default_timeout_(default_timeout) {
    ignore_sigpipe();
  }

  const std::string& node() const override { return name_; }

  ExecResult exec(const Command& command) override {
    const std::string line = command_line(command);
    const std::chrono::milliseconds timeout =
        command.timeout.count() > 0 ? command.timeout : default_timeout_;
    asio::io_context io;
    bp::async_pipe out(io), err(io), in(io);
    std::optional<bp::child> child;
    {
      std::lock_guard<std::mutex> lock(spawn_mutex());
      for (auto* p : {&out, &err, &in}) {
        set_cloexec(p->native_source());
        set_cloexec(p->native_sink());
      }
      try {
        child.emplace(std::string("/bin/sh"), std::vector<std::string>{"-c", line},
                      bp::std_out > out, bp::std_err > err, bp::std_in < in);
      } catch (const std::exception& e) {
        throw TransportError(name_, std::string("cannot start /bin/sh: ") + e.what(), false);
      }
    }

    ExecResult result;
    int open_pipes = 2;
    asio::steady_timer ticker(io);
    std::array<char, 65536> out_buf{}, err_buf{};
    std::function<void(boost::system::error_code, size_t)> on_out, on_err;
    on_out = [&](boost::system::error_code ec, size_t n) {
      result.out.append(out_buf.data(), n);
      if (ec) {
        if (--open_pipes == 0) ticker.cancel();
        return;
      }
      out.async_read_some(asio::buffer(out_buf), on_out);
    };
    on_err = [&](boost::system::error_code ec, size_t n) {
      result.err.append(err_buf.data(), n);
      if (ec) {
        if (--open_pipes == 0) ticker.cancel();
        return;
      }
      err.async_read_some(asio::buffer(err_buf), on_err);
    };
    out.async_read_some(asio::buffer(out_buf), on_out);
    err.async_read_some(asio::buffer(err_buf), on_err);
    if (command.stdin_data.empty()) {
      in.close();
    } else {
      asio::async_write(in, asio::buffer(command.stdin_data),
                        [&](boost::system::error_code, size_t) { in.close(); });
    }

    // One ticker watches the deadline and whether the shell has exited (then gives its pipes
    // kPipeGrace to reach EOF).
    const auto start = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> exited_at;
    bool timed_out = false;
    std::function<void(boost::system::error_code)> on_tick = [&](boost::system::error_code ec) {
      if (ec || open_pipes == 0) return;
      auto now = std::chrono::steady_clock::now();
      if (timeout.count() > 0 && now - start >= timeout) {
        timed_out = true;
        std::error_code ignored;
        child->terminate(ignored);
        out.close();
        err.close();
        return;
      }
      if (!exited_at) {
        std::error_code ignored;
        if (!child->running(ignored)) exited_at = now;
      }
      if (exited_at && now - *exited_at >= kPipeGrace) {
        out.close();
        err.close();
        return;
      }
      ticker.expires_after(kExitPoll);
      ticker.async_wait(on_tick);
    };
    ticker.expires_after(kExitPoll);
    ticker.async_wait(on_tick);
    io.run();

    std::error_code ec;
    child->wait(ec);
    if (timed_out) throw CommandTimeoutError(name_, command, timeout, std::move(result));
    int native = child->native_exit_code();
    result.exit_status = WIFEXITED(native) ? WEXITSTATUS(native) : -1;
    return result;
  }

  void upload(const fs::path& local, const std::string& remote_path) override {
    copy(local, remote_path);
  }
  void download(const std::string& remote_path, const fs::path& local) override {
    copy(remote_path, local);
  }

 private:
  void copy(const fs::path& from, const fs::path& to) {
    try {
      copy_tree(from, to);
    } catch (const fs::filesystem_error& e) {
      throw TransferError(
          name_, "copy " + from.string() + " -> " + to.string() + ": " + e.code().message());
    }
  }

  std::string name_;
  std::chrono::milliseconds default_timeout_;
};

}  // namespace

std::unique_ptr<Session> make_local_session(std::string name,
                                            std::chrono::milliseconds default_timeout) {
  return std::make_unique<LocalSession>(std::move(name), default_timeout);
}

}  // namespace faultline::control

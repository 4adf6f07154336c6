// The SSH Remote on libssh 0.10 (libssh appears in this file only).
//
// One Connection per node, shared by every Session to that node; each exec opens its own
// channel on it, at most kMaxChannelsPerConnection at once. libssh sessions are not
// thread-safe, so every libssh call on a connection happens under its mutex; a thread
// waiting for output releases the mutex and either polls the socket (one thread at a time,
// "the poller") or waits on a condition variable that the poller signals after it has let
// libssh dispatch what arrived to the channels. A connection that fails is marked dead and
// replaced by a fresh one on the next call; calls in flight on it fail with TransportError.
//
// Host keys are checked against the node's known_hosts file. A node that opted out of strict
// checking gets OpenSSH's accept-new: a host missing from known_hosts is accepted, appended to
// the file when it is writable, and pinned for the life of the Remote; a key that differs from
// the one on file (or pinned) is refused all the same.
#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "harness/control/inventory.h"
#include "harness/control/ssh.h"
#include "harness/remote.h"
#include "harness/secure_dir.h"

namespace faultline::control {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kMaxWait{100};  // bound on any single wait for output
constexpr size_t kSftpChunk = 32 * 1024;

std::string default_known_hosts() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/root") + "/.ssh/known_hosts";
}

std::string where(const NodeSpec& n) {
  return n.user + "@" + n.host + ":" + std::to_string(n.port);
}

class Connection {
 public:
  // `pinned`: the host key accepted earlier for this node without known_hosts (accept-new),
  // empty before the first; set here when this connection accepts one. REQUIRES: the caller
  // serialises connections to one node (NodeConnections::get holds its mutex).
  Connection(const NodeSpec& spec, const SshOptions& options, std::string& pinned)
      : spec_(spec), pinned_(pinned) {
    s_ = ssh_new();
    if (s_ == nullptr) throw TransportError(spec.name, "ssh_new failed", false);
    try {
      connect(options);
    } catch (...) {
      ssh_disconnect(s_);
      ssh_free(s_);
      throw;
    }
  }
  ~Connection() {
    ssh_disconnect(s_);
    ssh_free(s_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  std::mutex mu;
  std::condition_variable cv;
  bool dead = false;     // guarded by mu
  bool polling = false;  // one thread polls the socket at a time
  int channels = 0;      // open channels (exec and sftp)
  ssh_session raw() { return s_; }
  const NodeSpec& spec() const { return spec_; }

  // REQUIRES: mu held. Marks the connection dead if libssh says it is no longer connected.
  bool check_alive() {
    if (!dead && (ssh_is_connected(s_) == 0 ||
                  (ssh_get_status(s_) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0)) {
      dead = true;
      cv.notify_all();
    }
    return !dead;
  }
  std::string error() { return ssh_get_error(s_); }

 private:
  void connect(const SshOptions& o) {
    const std::string& node = spec_.name;
    long secs = static_cast<long>(o.connect_timeout.count() / 1000);
    long usecs = static_cast<long>((o.connect_timeout.count() % 1000) * 1000);
    int port = spec_.port;
    int nodelay = 1;
    bool process_config = false;
    std::string known = spec_.known_hosts.empty() ? default_known_hosts() : spec_.known_hosts;
    ssh_options_set(s_, SSH_OPTIONS_HOST, spec_.host.c_str());
    ssh_options_set(s_, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s_, SSH_OPTIONS_USER, spec_.user.c_str());
    ssh_options_set(s_, SSH_OPTIONS_TIMEOUT, &secs);
    ssh_options_set(s_, SSH_OPTIONS_TIMEOUT_USEC, &usecs);
    ssh_options_set(s_, SSH_OPTIONS_NODELAY, &nodelay);
    ssh_options_set(s_, SSH_OPTIONS_PROCESS_CONFIG, &process_config);
    ssh_options_set(s_, SSH_OPTIONS_KNOWNHOSTS, known.c_str());
    if (ssh_connect(s_) != SSH_OK) {
      throw TransportError(node, "connect to " + where(spec_) + ": " + error(), false);
    }
    enable_tcp_keepalive();
    verify_host_key(known);
    authenticate();
  }

  // TCP keepalives: a node that vanishes without a reset (powered off, cut off by a firewall)
  // breaks the connection within about 30 s of silence instead of never; libssh sends no
  // keepalives of its own. (A node whose sshd is frozen still acknowledges TCP: the command
  // deadlines of make_deadline_remote cover that.)
  void enable_tcp_keepalive() {
    int fd = ssh_get_fd(s_);
    if (fd < 0) return;
    int on = 1, idle = 15, interval = 5, count = 3;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }

  std::string fingerprint() {
    ssh_key key = nullptr;
    if (ssh_get_server_publickey(s_, &key) != SSH_OK) return "(unknown)";
    unsigned char* hash = nullptr;
    size_t len = 0;
    std::string out = "(unknown)";
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) == 0) {
      char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
      if (fp != nullptr) {
        out = std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + fp;
        ssh_string_free_char(fp);
      }
      ssh_clean_pubkey_hash(&hash);
    }
    ssh_key_free(key);
    return out;
  }

  void verify_host_key(const std::string& known) {
    const std::string& node = spec_.name;
    enum ssh_known_hosts_e state = ssh_session_is_known_server(s_);
    if (state == SSH_KNOWN_HOSTS_OK) return;
    std::string hp = spec_.host + ":" + std::to_string(spec_.port);
    bool unknown = state == SSH_KNOWN_HOSTS_UNKNOWN || state == SSH_KNOWN_HOSTS_NOT_FOUND;
    if (!spec_.strict_host_key_checking && unknown) {
      // accept-new (warned about in make_ssh_remote): the first key is taken, later ones must
      // equal it.
      std::string fp = fingerprint();
      if (!pinned_.empty() && pinned_ != fp) {
        throw HostKeyError(node, "host key of " + hp + " (" + fp +
                                     ") differs from the one accepted earlier in this run (" +
                                     pinned_ +
                                     "): refusing to connect (man-in-the-middle, or the host "
                                     "was reinstalled)");
      }
      if (pinned_.empty()) {
        pinned_ = fp;
        if (ssh_session_update_known_hosts(s_) != SSH_OK) {
          std::cerr << "faultline: warning: node " << node << ": could not add the host key of "
                    << hp << " (" << fp << ") to " << known << "\n";
        }
      }
      return;
    }
    switch (state) {
      case SSH_KNOWN_HOSTS_CHANGED:
      case SSH_KNOWN_HOSTS_OTHER:
        throw HostKeyError(node, "host key of " + hp + " (" + fingerprint() +
                                     ") does not match the one in " + known +
                                     ": refusing to connect (man-in-the-middle, or the host "
                                     "was reinstalled)");
      case SSH_KNOWN_HOSTS_UNKNOWN:
      case SSH_KNOWN_HOSTS_NOT_FOUND:
        throw HostKeyError(
            node, hp + " is not in known_hosts file " + known + " (its key is " + fingerprint() +
                      "); check it and add it with `ssh-keyscan -p " + std::to_string(spec_.port) +
                      " " + spec_.host + " >> " + known +
                      "`, or pass --ssh-strict-host-key-checking=no to accept "
                      "new hosts' keys");
      default:
        throw HostKeyError(node,
                           "cannot check host key of " + hp + " against " + known + ": " + error());
    }
  }

  void authenticate() {
    const std::string& node = spec_.name;
    int rc = SSH_AUTH_ERROR;
    if (!spec_.key.empty()) {
      ssh_key key = nullptr;
      if (ssh_pki_import_privkey_file(spec_.key.c_str(), nullptr, nullptr, nullptr, &key) !=
          SSH_OK) {
        throw AuthError(node, "cannot read private key " + spec_.key +
                                  " (missing, unreadable, not a key, or passphrase-protected)");
      }
      rc = ssh_userauth_publickey(s_, nullptr, key);
      ssh_key_free(key);
      if (rc == SSH_AUTH_SUCCESS) return;
      if (rc == SSH_AUTH_ERROR) {
        throw TransportError(node, "authentication to " + where(spec_) + ": " + error(), false);
      }
      throw AuthError(node, where(spec_) + " refused key " + spec_.key);
    }
    rc = ssh_userauth_publickey_auto(s_, nullptr, nullptr);
    if (rc == SSH_AUTH_SUCCESS) return;
    if (rc == SSH_AUTH_ERROR) {
      throw TransportError(node, "authentication to " + where(spec_) + ": " + error(), false);
    }
    throw AuthError(node, where(spec_) +
                              " refused ssh-agent's keys and ~/.ssh/id_{ed25519,rsa} (give "
                              "--ssh-key)");
  }

  NodeSpec spec_;
  std::string& pinned_;
  ssh_session s_ = nullptr;
};

// The connections to one node: the current one, replaced when it dies.
class NodeConnections {
 public:
  NodeConnections(NodeSpec spec, SshOptions options) : spec_(std::move(spec)), options_(options) {}

  std::shared_ptr<Connection> get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_) {
      std::lock_guard<std::mutex> c(current_->mu);
      if (!current_->dead) return current_;
    }
    current_.reset();
    current_ = std::make_shared<Connection>(spec_, options_, pinned_);
    return current_;
  }
  const NodeSpec& spec() const { return spec_; }
  const SshOptions& options() const { return options_; }

 private:
  NodeSpec spec_;
  SshOptions options_;
  std::mutex mu_;
  std::shared_ptr<Connection> current_;
  std::string pinned_;  // guarded by mu_; see Connection
};

// Holds one of a connection's channel slots (waits while all are taken).
class ChannelSlot {
 public:
  // Waits at most until `deadline` (none when it is time_point::max()); then throws
  // TransportError (the command never started, so a retry is safe).
  ChannelSlot(Connection& c, Clock::time_point deadline = Clock::time_point::max()) : c_(c) {
    std::unique_lock<std::mutex> lk(c_.mu);
    auto free = [&] { return c_.channels < kMaxChannelsPerConnection || c_.dead; };
    if (deadline == Clock::time_point::max()) {
      c_.cv.wait(lk, free);
    } else if (!c_.cv.wait_until(lk, deadline, free)) {
      throw TransportError(c_.spec().name,
                           "all " + std::to_string(kMaxChannelsPerConnection) +
                               " channels stayed busy until the command's timeout",
                           false);
    }
    ++c_.channels;
  }
  ~ChannelSlot() {
    std::lock_guard<std::mutex> lk(c_.mu);
    --c_.channels;
    c_.cv.notify_all();
  }
  ChannelSlot(const ChannelSlot&) = delete;
  ChannelSlot& operator=(const ChannelSlot&) = delete;

 private:
  Connection& c_;
};

std::string sftp_error_text(int code) {
  switch (code) {
    case SSH_FX_NO_SUCH_FILE:
      return "no such file or directory";
    case SSH_FX_PERMISSION_DENIED:
      return "permission denied";
    case SSH_FX_FAILURE:
      return "failure";
    case SSH_FX_FILE_ALREADY_EXISTS:
      return "file already exists";
    case SSH_FX_NO_SUCH_PATH:
      return "no such path";
    case SSH_FX_NO_MEDIA:
      return "no media";
    case SSH_FX_WRITE_PROTECT:
      return "write protected";
    default:
      return "sftp error " + std::to_string(code);
  }
}

class SshSession : public Session {
 public:
  explicit SshSession(std::shared_ptr<NodeConnections> pool) : pool_(std::move(pool)) {}

  const std::string& node() const override { return pool_->spec().name; }

  ExecResult exec(const Command& command) override {
    const std::string line = command_line(command);
    const std::chrono::milliseconds timeout =
        command.timeout.count() > 0 ? command.timeout : pool_->options().command_timeout;
    const auto start = Clock::now();
    const auto deadline = timeout.count() > 0 ? start + timeout : Clock::time_point::max();
    auto conn = pool_->get();
    ChannelSlot slot(*conn, deadline);
    std::unique_lock<std::mutex> lk(conn->mu);
    if (conn->dead) throw TransportError(node(), "connection closed", false);
    ssh_session s = conn->raw();
    ssh_channel ch = ssh_channel_new(s);
    if (ch == nullptr) {
      conn->dead = true;
      throw TransportError(node(), "cannot create a channel: " + conn->error(), false);
    }
    // From here on, every exit frees the channel (under the lock).
    struct ChannelFree {
      ssh_channel ch;
      ~ChannelFree() { ssh_channel_free(ch); }
    } channel_free{ch};
    if (ssh_channel_open_session(ch) != SSH_OK) {
      std::string err = conn->error();
      conn->check_alive();
      throw TransportError(node(), "cannot open a channel: " + err, false);
    }
    if (ssh_channel_request_exec(ch, line.c_str()) != SSH_OK) {
      std::string err = conn->error();
      bool alive = conn->check_alive();
      // If the connection died, the request may have reached the server.
      throw TransportError(node(), "exec request refused: " + err, !alive);
    }
    auto lost = [&](const std::string& what) {
      conn->dead = true;
      conn->cv.notify_all();
      return TransportError(
          node(), "connection lost " + what + " `" + describe(command) + "`: " + conn->error(),
          true);
    };
    size_t off = 0;
    while (off < command.stdin_data.size()) {
      uint32_t n = static_cast<uint32_t>(std::min<size_t>(command.stdin_data.size() - off, 65536));
      int w = ssh_channel_write(ch, command.stdin_data.data() + off, n);
      if (w == SSH_ERROR) throw lost("writing stdin of");
      off += static_cast<size_t>(w);
    }
    if (ssh_channel_send_eof(ch) == SSH_ERROR) throw lost("closing stdin of");

    ExecResult result;
    bool out_done = false, err_done = false;
    char buf[65536];
    int streak = 0;  // consecutive reads that found data
    while (!(out_done && err_done)) {
      if (++streak % 32 == 0) {
        // A chatty command must not starve the other channels of this connection.
        lk.unlock();
        std::this_thread::yield();
        lk.lock();
      }
      bool progress = false;
      for (int is_err = 0; is_err < 2; ++is_err) {
        bool& done = is_err ? err_done : out_done;
        if (done) continue;
        int n = ssh_channel_read_nonblocking(ch, buf, sizeof buf, is_err);
        if (n > 0) {
          (is_err ? result.err : result.out).append(buf, static_cast<size_t>(n));
          progress = true;
        } else if (n == SSH_EOF) {
          done = true;
          progress = true;
        } else if (n == SSH_ERROR) {
          throw lost("while running");
        } else if ((ssh_channel_is_eof(ch) != 0 || ssh_channel_is_closed(ch) != 0) &&
                   ssh_channel_poll(ch, is_err) <= 0) {
          done = true;
          progress = true;
        }
      }
      if (progress) continue;
      streak = 0;
      auto now = Clock::now();
      if (timeout.count() > 0 && now - start >= timeout) {
        ssh_channel_request_send_signal(ch, "KILL");
        ssh_channel_close(ch);
        throw CommandTimeoutError(node(), command, timeout, std::move(result));
      }
      auto wait = kMaxWait;
      if (timeout.count() > 0) {
        wait = std::min(
            wait, std::chrono::duration_cast<std::chrono::milliseconds>(start + timeout - now) +
                      std::chrono::milliseconds(1));
      }
      if (!conn->polling) {
        conn->polling = true;
        int fd = ssh_get_fd(s);
        lk.unlock();
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(wait.count()));
        lk.lock();
        conn->polling = false;
        // Let libssh dispatch what arrived to every channel, then wake the waiters.
        if (ssh_channel_poll(ch, 0) == SSH_ERROR && !conn->check_alive()) {
          throw lost("while running");
        }
        conn->cv.notify_all();
      } else {
        conn->cv.wait_for(lk, wait);
      }
    }
    int status = ssh_channel_get_exit_status(ch);
    // EOF because the connection died is not the command's end.
    if (!conn->check_alive()) throw lost("while running");
    result.exit_status = status < 0 ? -1 : status;
    ssh_channel_close(ch);
    conn->cv.notify_all();
    return result;
  }

  void upload(const fs::path& local, const std::string& remote_path) override {
    std::error_code ec;
    if (!fs::exists(local, ec)) {
      throw TransferError(node(), "upload: local " + local.string() + " does not exist");
    }
    with_sftp("upload " + local.string() + " -> " + remote_path,
              [&](sftp_session sf) { put(sf, local, remote_path); });
  }

  void download(const std::string& remote_path, const fs::path& local) override {
    with_sftp("download " + remote_path + " -> " + local.string(),
              [&](sftp_session sf) { get(sf, remote_path, local); });
  }

 private:
  // An error while transferring: transport if the connection died, else a TransferError.
  struct SftpFailure {
    std::string what;
  };

  template <typename F>
  void with_sftp(const std::string& what, F&& body) {
    auto conn = pool_->get();
    ChannelSlot slot(*conn);
    std::unique_lock<std::mutex> lk(conn->mu);
    if (conn->dead) throw TransportError(node(), "connection closed", false);
    sftp_session sf = sftp_new(conn->raw());
    if (sf == nullptr || sftp_init(sf) != SSH_OK) {
      std::string err = conn->error();
      if (sf != nullptr) sftp_free(sf);
      bool alive = conn->check_alive();
      if (!alive) throw TransportError(node(), what + ": cannot start sftp: " + err, false);
      throw TransferError(node(), what +
                                      ": cannot start sftp (is the sftp subsystem "
                                      "enabled?): " +
                                      err);
    }
    try {
      body(sf);
    } catch (const SftpFailure& f) {
      int code = sftp_get_error(sf);
      sftp_free(sf);
      if (!conn->check_alive()) {
        conn->cv.notify_all();
        throw TransportError(node(), what + ": connection lost: " + conn->error(), true);
      }
      throw TransferError(node(), what + ": " + f.what + ": " + sftp_error_text(code));
    } catch (...) {
      sftp_free(sf);
      throw;
    }
    sftp_free(sf);
    conn->cv.notify_all();
  }

  void put(sftp_session sf, const fs::path& local, const std::string& remote) {
    fs::file_status st = fs::status(local);
    auto mode = static_cast<mode_t>(st.permissions()) & 07777;
    if (fs::is_directory(st)) {
      if (sftp_mkdir(sf, remote.c_str(), mode | 0700) != SSH_OK &&
          sftp_get_error(sf) != SSH_FX_FILE_ALREADY_EXISTS) {
        // OpenSSH answers FAILURE for an existing directory; accept it if it is one.
        sftp_attributes a = sftp_stat(sf, remote.c_str());
        bool is_dir = a != nullptr && a->type == SSH_FILEXFER_TYPE_DIRECTORY;
        if (a != nullptr) sftp_attributes_free(a);
        if (!is_dir) throw SftpFailure{"mkdir " + remote};
      }
      for (const auto& e : fs::directory_iterator(local)) {
        put(sf, e.path(), remote + "/" + e.path().filename().string());
      }
      if (sftp_chmod(sf, remote.c_str(), mode) != SSH_OK) throw SftpFailure{"chmod " + remote};
      return;
    }
    if (!fs::is_regular_file(st)) return;  // sockets, devices: skipped
    std::ifstream in(local, std::ios::binary);
    if (!in) throw TransferError(node(), "cannot read local file " + local.string());
    sftp_file f = sftp_open(sf, remote.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode | 0600);
    if (f == nullptr) throw SftpFailure{"open " + remote + " for writing"};
    std::vector<char> buf(kSftpChunk);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      auto n = static_cast<size_t>(in.gcount());
      size_t off = 0;
      while (off < n) {
        ssize_t w = sftp_write(f, buf.data() + off, n - off);
        if (w < 0) {
          sftp_close(f);
          throw SftpFailure{"write " + remote};
        }
        off += static_cast<size_t>(w);
      }
    }
    if (sftp_close(f) != SSH_OK) throw SftpFailure{"close " + remote};
    if (sftp_chmod(sf, remote.c_str(), mode) != SSH_OK) throw SftpFailure{"chmod " + remote};
  }

  // Copies a remote file or directory tree. The node is not trusted with our file system:
  // remote symlinks are skipped, never followed (a log replaced by a link to /etc/shadow must
  // not be copied); a directory entry must be a plain name (no '/', '.', '..'), else the
  // transfer fails naming it; nothing local is opened through a symlink; and modes keep only
  // the owner's and others' read/execute bits plus the owner's write bit (no setuid files
  // owned by root in the results directory).
  void get(sftp_session sf, const std::string& remote, const fs::path& local) {
    sftp_attributes a = sftp_lstat(sf, remote.c_str());
    if (a == nullptr) throw SftpFailure{"stat " + remote};
    uint8_t type = a->type;
    auto perms = static_cast<fs::perms>((a->permissions & 0755) | 0600);
    sftp_attributes_free(a);
    std::error_code ec;
    if (type == SSH_FILEXFER_TYPE_DIRECTORY) {
      fs::file_status ls = fs::symlink_status(local, ec);
      if (fs::is_symlink(ls)) {
        throw TransferError(node(), "local " + local.string() +
                                        " is a symbolic link: not "
                                        "writing through it");
      }
      if (!fs::is_directory(ls)) fs::create_directory(local, ec);
      if (ec) {
        throw TransferError(
            node(), "cannot create local directory " + local.string() + ": " + ec.message());
      }
      sftp_dir d = sftp_opendir(sf, remote.c_str());
      if (d == nullptr) throw SftpFailure{"opendir " + remote};
      std::vector<std::string> names;
      std::string bad;
      while (sftp_attributes e = sftp_readdir(sf, d)) {
        std::string name = e->name != nullptr ? e->name : "";
        sftp_attributes_free(e);
        if (name == "." || name == "..") continue;
        if (!is_plain_file_name(name)) {
          bad = name;
          continue;
        }
        names.push_back(name);
      }
      bool eof = sftp_dir_eof(d) != 0;
      sftp_closedir(d);
      if (!eof) throw SftpFailure{"readdir " + remote};
      if (!bad.empty()) {
        throw TransferError(node(), "download " + remote +
                                        ": the node listed an entry that is "
                                        "not a plain file name (" +
                                        printable(bad) + "): refusing to copy it");
      }
      for (const auto& name : names) get(sf, remote + "/" + name, local / name);
      fs::permissions(local, perms, fs::perm_options::replace | fs::perm_options::nofollow, ec);
      return;
    }
    if (type != SSH_FILEXFER_TYPE_REGULAR) return;  // symlinks, special files: skipped
    sftp_file f = sftp_open(sf, remote.c_str(), O_RDONLY, 0);
    if (f == nullptr) throw SftpFailure{"open " + remote};
    int fd = ::open(local.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      int err = errno;
      sftp_close(f);
      throw TransferError(node(), "cannot write local file " + local.string() + ": " +
                                      std::error_code(err, std::generic_category()).message());
    }
    struct FdClose {
      int fd;
      ~FdClose() {
        if (fd >= 0) ::close(fd);
      }
    } fd_close{fd};
    std::vector<char> buf(kSftpChunk);
    for (;;) {
      ssize_t n = sftp_read(f, buf.data(), buf.size());
      if (n < 0) {
        sftp_close(f);
        throw SftpFailure{"read " + remote};
      }
      if (n == 0) break;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(fd, buf.data() + off, static_cast<size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          sftp_close(f);
          throw TransferError(node(), "cannot write local file " + local.string());
        }
        off += w;
      }
    }
    sftp_close(f);
    ::fchmod(fd, static_cast<mode_t>(perms));
    if (::close(fd) != 0) {
      fd_close.fd = -1;
      throw TransferError(node(), "cannot write local file " + local.string());
    }
    fd_close.fd = -1;
  }

  // A remote name for an error message: control characters as \xNN.
  static std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (c < 0x20 || c == 0x7f) {
        char b[8];
        std::snprintf(b, sizeof b, "\\x%02x", c);
        out += b;
      } else {
        out += static_cast<char>(c);
      }
    }
    return "'" + out + "'";
  }

  std::shared_ptr<NodeConnections> pool_;
};

class SshRemote : public Remote {
 public:
  SshRemote(const Inventory& inventory, SshOptions options) : inventory_(inventory) {
    for (const auto& n : inventory.nodes) {
      pools_[n.name] = std::make_shared<NodeConnections>(n, options);
    }
  }
  std::vector<std::string> nodes() const override { return inventory_.names(); }
  std::unique_ptr<Session> session(const std::string& node) override {
    inventory_.node(node);  // throws UnknownNodeError with the known names
    return std::make_unique<SshSession>(pools_.at(node));
  }

 private:
  Inventory inventory_;
  std::map<std::string, std::shared_ptr<NodeConnections>> pools_;
};

}  // namespace

std::shared_ptr<Remote> make_ssh_remote(const Inventory& inventory, SshOptions options) {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
  for (const auto& n : inventory.nodes) {
    if (!n.key.empty() && ::access(n.key.c_str(), R_OK) != 0) {
      throw AuthError(n.name, "cannot read private key " + n.key + ": " +
                                  std::error_code(errno, std::generic_category()).message());
    }
    if (!n.strict_host_key_checking) {
      std::cerr << "faultline: warning: strict host key checking is off for node " << n.name
                << " (--ssh-strict-host-key-checking=no): a key not in known_hosts is accepted "
                   "the first time (anyone on the path then can impersonate it); a changed key "
                   "is still refused\n";
      continue;
    }
    std::string known = n.known_hosts.empty() ? default_known_hosts() : n.known_hosts;
    if (::access(known.c_str(), R_OK) != 0) {
      throw HostKeyError(n.name, "cannot read known_hosts file " + known + ": " +
                                     std::error_code(errno, std::generic_category()).message() +
                                     " (give --ssh-known-hosts, or add the host with ssh-keyscan)");
    }
  }
  return std::make_shared<SshRemote>(inventory, options);
}

}  // namespace faultline::control

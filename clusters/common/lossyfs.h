// The power-loss file system on a node, as the database adapters use it when db-options
// power-loss-fs is true: clusters/common/lossyfs/lossyfs.c, a FUSE file system of ours that
// passes everything through to a backing directory and remembers what was not made durable
// (fsync, fdatasync, O_SYNC writes) since the last durable point, so that a "drop" undoes it as
// a power cut would. The program is uploaded and compiled on the node (gcc, libfuse3-dev), once
// per version of its source, under a directory that is root's alone; it runs as root, under a
// pid file, in the node's own mount namespace (the one its sshd and database run in).
//
// Layout: `dir`/lossy is the mount point (the database's data directory goes inside it),
// `dir`/lossy-backing the real files, `dir`/lossyfs.log and lossyfs.pid its log and pid file.
//
// Thread safety: a LossyFs is a value; its methods use only the Session given.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/db.h"
#include "harness/options.h"
#include "harness/preflight.h"
#include "harness/remote.h"

namespace faultline::clusters {

// Where the program is built on every node (root's alone).
inline constexpr const char* kLossyfsDir = "/var/lib/faultline/lossyfs";

// The bytes of clusters/common/lossyfs/lossyfs.c as they were at build time.
std::string_view lossyfs_source();
// kLossyfsDir/lossyfs-<hash of the source>: a node never runs a build of another version.
std::string lossyfs_program();

struct LossyFs {
  std::string mount;     // what the database sees
  std::string backing;   // where its files really are
  std::string log_file;  // the program's stderr
  std::string pid_file;

  // Builds the program when this version is not there yet, makes both directories, starts
  // the file system and waits until it is mounted (10 s); then chowns its root to `owner`
  // ("mysql:mysql"; "" keeps root). A mount left behind by a killed file system is cleared
  // first; one that is alive is kept (idempotent). Throws RemoteError naming the node and the
  // log's tail.
  void mount_on(Session& s, const std::string& node, const std::string& owner) const;
  // Unmounts (lazily when busy) and stops the program; nothing to do when not mounted.
  // Throws RemoteError when it cannot.
  void unmount(Session& s, const std::string& node) const;
  // Drops every write not made durable (the database must not run: kill it first) and returns
  // the file system's account ({"dirty-files", ..., "last-drop": {"files", "pages-restored",
  // "bytes-truncated", "entries-undone"}}). Throws RemoteError when the drop fails.
  Json drop(Session& s, const std::string& node, const PowerLoss& how) const;
  // Makes everything written so far durable, as a kernel's writeback does within ~30 s: the
  // adapters call it at the end of setup, so a power cut tests the run's writes, not an
  // initdb --no-sync or an SST that nobody fsynced.
  void sync(Session& s, const std::string& node) const;
};

// The file system of a database node's directory `dir` (see the layout above); mounted at
// `dir`/`mount_name` (PostgreSQL's data directory itself: its processes are recognised by
// their working directory, which a symbolic link would hide).
LossyFs lossy_fs_under(const std::string& dir, const std::string& mount_name = "lossy");
// sync() on every node whose file system is mounted (`fs_of` gives a node's file system).

void sync_lossy_fs(const DbContext& ctx, const std::function<LossyFs(const std::string&)>& fs_of);

// db-options power-loss-fs, as the adapters declare it.
OptionDecl power_loss_fs_option();
// What a node needs for it: gcc, libfuse3's headers (pkg-config fuse3) and /dev/fuse.
std::vector<NodeCheck> lossyfs_node_checks();

}  // namespace faultline::clusters

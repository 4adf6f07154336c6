// How a database's software gets onto the nodes: db-options "install", one implementation for
// every adapter. Every method is idempotent (a second run installs nothing) and logs what it
// did on each node.
//
//   {"method": "none"}     (the default) the software is there already, at the adapter's paths
//   {"method": "apt", "packages": ["etcd-server", "mariadb-server=1:10.11.6-0+deb12u1"],
//    "repositories": ["deb [signed-by=/etc/apt/keyrings/vendor.gpg] https://... main"],
//    "keys": ["/path/on/the/controller/vendor.gpg"]}
//       keys are uploaded to /etc/apt/keyrings/, repositories written to
//       /etc/apt/sources.list.d/faultline.list; packages already installed (at the pinned
//       version, when pinned) are left alone; `apt-get update` runs only when something is to
//       be installed.
//   {"method": "tarball", "url": "file:///path/on/the/controller/x.tar.gz", "sha256": "..."}
//       file://: uploaded over SFTP into /var/lib/faultline/install/cache/SHA256.tar, unless
//       that file is there with that sha256 already; https:// (or http://): fetched on the node
//       with curl or wget, checked against "sha256" when given (the cache key is the sha256, or
//       the URL's). Unpacked once into /var/lib/faultline/install/SHA256/; the adapter finds its
//       binaries there (binary()).
//
// Thread safety: an Installer is immutable after construction; install() and binary() may run
// on many nodes at once (one Session each).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "harness/db.h"
#include "harness/options.h"
#include "harness/preflight.h"
#include "harness/remote.h"

namespace faultline::clusters {

struct InstallSpec {
  std::string method = "none";  // none | apt | tarball
  std::vector<std::string> packages;
  std::vector<std::string> repositories;
  std::vector<std::string> keys;  // files on the controller
  std::string url;
  std::string sha256;  // tarball: expected (https) or computed (file://)
};

// The declaration of the "install" option, for an adapter's OptionDecls.
OptionDecl install_option();

// Parses db-options "install" (null: none); throws ConfigError naming `where` ("db 'etcd':
// option 'install'") and the problem. A file:// tarball and apt keys are read on the
// controller here (the tarball's sha256 computed), so a missing file is refused before setup.
InstallSpec parse_install(const Json& value, const std::string& where);

// parse_install for a database that ships only as packages (a tarball is refused, saying so).
InstallSpec parse_package_install(const Json& value, const std::string& where);

class Installer {
 public:
  explicit Installer(InstallSpec spec) : spec_(std::move(spec)) {}
  const InstallSpec& spec() const { return spec_; }

  // Installs on the node behind `s` (as root, through sudo -n when the SSH user is not root);
  // `log` gets one line per thing done or found done. Throws RemoteError saying what failed.
  void install(Session& s, const std::function<void(const std::string&)>& log) const;

  // install() on every node of `ctx` at once (logging to ctx.log), then the path of executable
  // `binary_name` (binary()), the same on every node; what an adapter's setup calls first.
  std::string install_all(const DbContext& ctx, const std::string& binary_name,
                          const std::string& default_path) const;

  // The executable `name`: for a tarball, the shallowest executable file of that name under
  // its unpack directory on the node (throws RemoteError when there is none); otherwise
  // `default_path`.
  std::string binary(Session& s, const std::string& name, const std::string& default_path) const;

  // What install() needs of each node (tar, curl or wget, apt-get), for the preflight.
  std::vector<NodeCheck> node_checks() const;

  // Where a tarball is unpacked on every node.
  std::string unpack_dir() const;

 private:
  InstallSpec spec_;
};

}  // namespace faultline::clusters

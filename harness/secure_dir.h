// Directories that root writes into, runs programs from, or hands to a root daemon (sshd's
// authorized_keys, the packet nemesis's delayer, a database's data and pid files). Such a
// directory is safe only if no other user can create, replace or write it or any directory
// above it: a user who makes /tmp/faultline-x first, or swaps a component for a symlink, would
// otherwise choose what root runs or which files it overwrites (issue 14 item 7).
//
// The rule, here and on nodes: every component from / down to the directory is a real
// directory (checked with lstat, never through a symlink), owned by root or by the user we run
// as, and not writable by group or others. Missing components are made one at a time with
// mkdir (never `mkdir -p`, which would follow a symlink planted on the way), then checked.
// A directory inside one that passed may be made freely: only its owner can touch it.
//
// Thread safety: free functions; the file system is the only shared state.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "harness/command.h"

namespace faultline {

// A directory that fails the rule above. what() names the component, what is wrong with it,
// and what to do.
class UnsafeDirError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Why `dir` (absolute) fails the rule, "" when it passes; a missing component fails. Does not
// create anything.
std::string unsafe_dir_reason(const std::filesystem::path& dir);

// Makes `dir` (absolute) and the missing directories above it, each with mkdir(mode), and
// checks every component. Throws UnsafeDirError, or std::invalid_argument for a relative path
// or one with "." / ".." components.
void make_private_dir(const std::filesystem::path& dir, mode_t mode = 0755);

// The same on a node: a command that makes and checks `dir` there (its stderr names the
// component on failure, exit 3). REQUIRES: check_dir_option(dir) passed. Needs root for what
// only root may create; wrap in privileged() where the SSH user is not root.
Command private_dir_command(const std::string& dir, mode_t mode = 0755);

// The shell function behind private_dir_command, for scripts that make their own directories:
// `fl_private_dir DIR MODE` returns 3 after printing the problem to stderr.
extern const char* const kPrivateDirShell;

// Checks a directory option that reaches command lines and config files: absolute, no empty,
// "." or ".." components, only [A-Za-z0-9._+@%=,:/-] (no whitespace, newlines, quotes).
// Throws std::invalid_argument "<what>: ..." naming the problem.
void check_dir_option(const std::string& dir, const std::string& what);

// Whether `name`, read from somewhere we do not trust (a node's directory listing), is one
// plain path component: not empty, ".", "..", and without '/' or NUL.
bool is_plain_file_name(const std::string& name);

}  // namespace faultline

// Files: durable writes and whole-file reads, for the recorder, the runner, reports and
// extensions that keep state on the controller.
//
// Thread safety: free functions; concurrent calls on different paths are independent.
#pragma once

#include <filesystem>
#include <string>

namespace faultline {

// Writes `text` to path via a temporary file and rename, so readers never see half a file,
// and makes it durable: the temporary file is fsync'd before the rename and the directory
// after it, so after a host crash `path` holds either the old or the new text. Throws
// std::runtime_error naming the file on any failure (the temporary file is removed; `path` is
// left as it was).
void write_file_atomic(const std::filesystem::path& path, const std::string& text);
// fsync of a directory: makes its entries (files created, renamed or removed in it) durable.
// Throws std::runtime_error naming the directory.
void fsync_directory(const std::filesystem::path& dir);
// The whole file as bytes. Throws std::runtime_error naming the file when it cannot be opened.
std::string read_file(const std::filesystem::path& path);

}  // namespace faultline

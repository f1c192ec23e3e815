// Bounded, defensive file reading. sysfs and procfs sizes lie (st_size is 0 or 4096), so files are read
// until EOF with a hard cap; a file longer than the cap is an error, never a silent truncation.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "host/result.h"

namespace epc {

inline constexpr std::size_t kDefaultReadLimit = 1 << 20;  // 1 MiB: far above any sysfs/cgroup file

enum class ReadMode {
  kUntilEof,      // read until read() returns 0 (procfs seq files hand out a page or less per read)
  kSingleRecord,  // the first short read ends the file: cgroup and sysfs attribute files hand out their whole
                  // content in one read, so this saves a syscall per file on large trees
};

// Reads the whole file. Errors: not_found() for ENOENT; a message naming the path otherwise.
Result<std::string> read_file(const std::filesystem::path& path, std::size_t limit = kDefaultReadLimit);

// The bounded read loop of the tree: reads the open descriptor with pread from `offset` (EINTR retried), handing each
// block read into `buf` to block(std::string_view), until EOF or, in kSingleRecord mode, the first short read. More
// than `limit` bytes from `offset` on: EFBIG, after the blocks within the limit were handed out. Returns 0 or the
// errno of the failed pread (ESPIPE: a pipe). A descriptor kept open is read again from 0 (cgroup files hand out
// their whole content from offset 0 on every read).
template <class Block>
int pread_bounded(int fd, off_t offset, std::size_t limit, ReadMode mode, std::span<char> buf, Block&& block) {
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), offset + static_cast<off_t>(total));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    total += static_cast<std::size_t>(n);
    if (total > limit) return EFBIG;
    block(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    if (mode == ReadMode::kSingleRecord && static_cast<std::size_t>(n) < buf.size()) return 0;
  }
}

// The first line of a small file (a sysctl, an id), without its newline; "" when it cannot be read.
std::string read_first_line(const std::filesystem::path& path);

namespace detail {
// Reads the open file to its end into out. Returns 0 or errno (EFBIG: larger than limit).
int read_fd(int fd, std::size_t limit, ReadMode mode, std::string& out);
// Reads `name` relative to `dirfd` into out. Returns 0, or errno with *op set to "open" or "read" (EFBIG: too large).
int read_at(int dirfd, const char* name, std::size_t limit, ReadMode mode, std::string& out, const char** op);
// The sorted entry names (without . and ..) of the open directory fd, which it takes over; shown names it in errors.
Result<std::vector<std::string>> list_fd(int fd, const std::string& shown, std::size_t max_entries);
Error read_error(const char* op, const std::string& shown, int err, std::size_t limit);
}  // namespace detail

// Reads `name` relative to the open directory `dirfd` (openat: one path component to look up). `describe()` returns
// the file's name for error messages and is called only on error, so large trees build no path strings.
template <class Describe>
Result<std::string> read_file_at(int dirfd, const char* name, Describe describe, std::size_t limit = kDefaultReadLimit,
                                 ReadMode mode = ReadMode::kUntilEof) {
  std::string out;
  const char* op = "open";
  if (int err = detail::read_at(dirfd, name, limit, mode, out, &op)) return detail::read_error(op, describe(), err, limit);
  return out;
}

// Calls line(text) for each line of the file (without its '\n'; a last line without one included), reading it in
// small blocks so a large file (kallsyms: 10 MiB and more) is never held whole. limit bounds the bytes read, as
// read_file's: a longer file is an error (EFBIG), after the lines before the limit were handed out.
Status for_each_line(const std::filesystem::path& path, std::size_t limit,
                     const std::function<void(std::string_view)>& line);

// Reads a file holding one unsigned integer (surrounding white space allowed).
Result<unsigned long long> read_u64_file(const std::filesystem::path& path);

// Names of the entries of a directory (no "." or ".."), sorted. Bounded by max_entries.
Result<std::vector<std::string>> list_dir(const std::filesystem::path& path, std::size_t max_entries = 1 << 16);

}  // namespace epc

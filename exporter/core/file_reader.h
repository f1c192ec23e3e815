// Bounded, defensive file reading. sysfs and procfs sizes lie (st_size is 0 or 4096), so files are read
// until EOF with a hard cap; a file longer than the cap is an error, never a silent truncation.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"

namespace epc {

inline constexpr std::size_t kDefaultReadLimit = 1 << 20;  // 1 MiB: far above any sysfs/cgroup file

enum class ReadMode {
  kUntilEof,      // read until read() returns 0 (procfs seq files hand out a page or less per read)
  kSingleRecord,  // the first short read ends the file: cgroup and sysfs attribute files hand out their whole
                  // content in one read, so this saves a syscall per file on large trees
};

// Reads the whole file. Errors: not_found() for ENOENT; a message naming the path otherwise.
Result<std::string> read_file(const std::filesystem::path& path, std::size_t limit = kDefaultReadLimit);

// Reads `name` relative to the open directory `dirfd` (openat: one path component to look up; AT_FDCWD for a
// plain path). `shown` names the file in error messages.
Result<std::string> read_file_at(int dirfd, const char* name, const std::filesystem::path& shown,
                                 std::size_t limit = kDefaultReadLimit, ReadMode mode = ReadMode::kUntilEof);

// Reads a file holding one unsigned integer (surrounding white space allowed).
Result<unsigned long long> read_u64_file(const std::filesystem::path& path);

// Names of the entries of a directory (no "." or ".."), sorted. Bounded by max_entries.
Result<std::vector<std::string>> list_dir(const std::filesystem::path& path, std::size_t max_entries = 1 << 16);

}  // namespace epc

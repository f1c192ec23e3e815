#include "host/file_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "host/owned_fd.h"
#include "host/parse.h"

namespace epc {
namespace {

Error sys_error(const std::string& what, const std::filesystem::path& path, int err) {
  return make_error(what + " " + path.string() + ": " + std::strerror(err), err);
}

}  // namespace

namespace detail {

int read_fd(int fd, std::size_t limit, ReadMode mode, std::string& out) {
  char buf[8192];
  return pread_bounded(fd, 0, limit, mode, buf, [&](std::string_view block) { out.append(block); });
}

int read_at(int dirfd, const char* name, std::size_t limit, ReadMode mode, std::string& out, const char** op) {
  *op = "open";
  OwnedFd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return errno;
  *op = "read";
  return read_fd(fd.get(), limit, mode, out);
}

Result<std::vector<std::string>> list_fd(int fd, const std::string& shown, std::size_t max_entries) {
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    return make_error("opendir " + shown + ": " + std::strerror(err), err);
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (names.size() >= max_entries) {
      ::closedir(d);
      return make_error("readdir " + shown + ": more than " + std::to_string(max_entries) + " entries", E2BIG);
    }
    names.emplace_back(e->d_name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return make_error("readdir " + shown + ": " + std::strerror(err), err);
  std::sort(names.begin(), names.end());
  return names;
}

Error read_error(const char* op, const std::string& shown, int err, std::size_t limit) {
  if (err == EFBIG)
    return make_error(std::string(op) + " " + shown + ": file larger than the " + std::to_string(limit) + " byte limit",
                      EFBIG);
  return make_error(std::string(op) + " " + shown + ": " + std::strerror(err), err);
}

}  // namespace detail

Result<std::string> read_file(const std::filesystem::path& path, std::size_t limit) {
  return read_file_at(AT_FDCWD, path.c_str(), [&] { return path.string(); }, limit);
}

Status for_each_line(const std::filesystem::path& path, std::size_t limit,
                     const std::function<void(std::string_view)>& line) {
  OwnedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return detail::read_error("open", path.string(), errno, limit);
  std::string pending;  // the part of a line that a block ended in
  char buf[65536];
  const int err = pread_bounded(fd.get(), 0, limit, ReadMode::kUntilEof, buf, [&](std::string_view block) {
    for (auto nl = block.find('\n'); nl != std::string_view::npos; nl = block.find('\n')) {
      if (pending.empty()) {
        line(block.substr(0, nl));
      } else {
        pending.append(block.substr(0, nl));
        line(pending);
        pending.clear();
      }
      block.remove_prefix(nl + 1);
    }
    pending.append(block);
  });
  if (err) return detail::read_error("read", path.string(), err, limit);
  if (!pending.empty()) line(pending);
  return Status::Ok();
}

std::string read_first_line(const std::filesystem::path& path) {
  auto text = read_file(path, 4096);
  if (!text) return {};
  return text->substr(0, text->find('\n'));
}

Result<unsigned long long> read_u64_file(const std::filesystem::path& path) {
  auto text = read_file(path, 4096);
  if (!text) return text.error();
  auto v = parse_u64(trim(*text));
  if (!v) return make_error(path.string() + ": " + v.error().message);
  return *v;
}

Result<std::vector<std::string>> list_dir(const std::filesystem::path& path, std::size_t max_entries) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("opendir", path, errno);
  return detail::list_fd(fd, path.string(), max_entries);
}

}  // namespace epc

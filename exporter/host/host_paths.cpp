#include "host/host_paths.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>

#include "host/owned_fd.h"
#include "host/parse.h"

namespace epc {

namespace {

constexpr int kMaxSymlinks = 40;  // as the kernel's path walk (MAXSYMLINKS)

long sys_openat2(int dirfd, const char* path, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

void split_into(std::string_view path, std::deque<std::string>& out, bool front) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view c = path.substr(0, slash);
    if (!c.empty() && c != ".") parts.emplace_back(c);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  if (front)
    out.insert(out.begin(), parts.begin(), parts.end());
  else
    out.insert(out.end(), parts.begin(), parts.end());
}


}  // namespace

int open_in_root(int root_fd, std::string_view path, int flags) {
  std::deque<std::string> todo;
  split_into(path, todo, false);
  std::vector<OwnedFd> dirs;  // the directories walked below the root; empty: at the root
  auto cur = [&] { return dirs.empty() ? root_fd : dirs.back().get(); };
  int links = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == "..") {  // never above the root
      if (!dirs.empty()) dirs.pop_back();
      continue;
    }
    OwnedFd fd(::openat(cur(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return -1;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return -1;
    if (S_ISLNK(st.st_mode)) {
      if (todo.empty() && (flags & O_NOFOLLOW)) {  // the link itself was asked for, as openat's O_NOFOLLOW
        if (flags & O_PATH) return fd.release();
        errno = ELOOP;
        return -1;
      }
      if (++links > kMaxSymlinks) {
        errno = ELOOP;
        return -1;
      }
      char target[4096];
      ssize_t n = ::readlinkat(fd.get(), "", target, sizeof target - 1);  // the link this descriptor is, no race
      if (n < 0) return -1;
      std::string_view t(target, static_cast<std::size_t>(n));
      if (!t.empty() && t.front() == '/') dirs.clear();  // absolute: from the root
      split_into(t, todo, true);
      continue;
    }
    if (todo.empty()) {
      // The last component: opened again with the caller's flags, still without following a symlink (one put
      // there since is refused: ELOOP), relative to a directory inside the root.
      return ::openat(cur(), name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
    }
    if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      return -1;
    }
    dirs.push_back(std::move(fd));
  }
  return ::openat(cur(), ".", flags | O_CLOEXEC);  // the path named a directory ("", ".", "a/..")
}

struct HostPaths::Root {
  OwnedFd fd;
  bool openat2 = false;
};

HostPaths::HostPaths(std::filesystem::path rootfs) : rootfs_(std::move(rootfs)), root_(std::make_shared<Root>()) {
  if (rootfs_.empty()) rootfs_ = "/";
  root_->fd = OwnedFd(::open(rootfs_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root_->fd) {
    // ENOSYS before 5.6; container runtimes' older seccomp profiles answer EPERM (or ENOSYS) instead.
    long fd = sys_openat2(root_->fd.get(), ".", O_PATH | O_DIRECTORY);
    if (fd >= 0) ::close(static_cast<int>(fd));
    root_->openat2 = fd >= 0;
  }
}

bool HostPaths::uses_openat2() const { return root_->openat2; }

int HostPaths::open(std::string_view host_path, int flags) const {
  while (!host_path.empty() && host_path.front() == '/') host_path.remove_prefix(1);
  int root = root_->fd.get();
  OwnedFd fresh;
  if (root < 0) {  // the root did not exist when this was made (a test tree filled later)
    fresh = OwnedFd(::open(rootfs_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fresh) return -1;
    root = fresh.get();
  }
  std::string rel = host_path.empty() ? std::string(".") : std::string(host_path);
  if (root_->openat2) {
    long fd;
    do fd = sys_openat2(root, rel.c_str(), flags);
    while (fd < 0 && errno == EAGAIN);  // a rename elsewhere raced the lookup: the kernel asks to retry
    return static_cast<int>(fd);
  }
  return open_in_root(root, rel, flags);
}

Result<std::string> HostPaths::read(std::string_view host_path, std::size_t limit) const {
  OwnedFd fd(open(host_path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  auto shown = [&] { return resolve(host_path).string(); };
  if (!fd) return detail::read_error("open", shown(), errno, limit);
  std::string out;
  int err = detail::read_fd(fd.get(), limit, ReadMode::kUntilEof, out);
  if (err) return detail::read_error("read", shown(), err, limit);
  return out;
}

Result<unsigned long long> HostPaths::read_u64(std::string_view host_path) const {
  auto text = read(host_path, 4096);
  if (!text) return text.error();
  auto v = parse_u64(trim(*text));
  if (!v) return make_error(resolve(host_path).string() + ": " + v.error().message);
  return *v;
}

Result<std::vector<std::string>> HostPaths::list(std::string_view host_path, std::size_t max_entries) const {
  int fd = open(host_path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) {
    int err = errno;
    return make_error("opendir " + resolve(host_path).string() + ": " + std::strerror(err), err);
  }
  return detail::list_fd(fd, resolve(host_path).string(), max_entries);
}

bool HostPaths::exists(std::string_view host_path) const {
  // The last component is not followed: open_in_root and openat2 both fail on a final symlink with O_NOFOLLOW,
  // and O_PATH | O_NOFOLLOW opens the link itself.
  return static_cast<bool>(OwnedFd(open(host_path, O_PATH | O_NOFOLLOW)));
}

std::filesystem::path HostPaths::resolve(std::string_view host_path) const {
  while (!host_path.empty() && host_path.front() == '/') host_path.remove_prefix(1);
  if (host_path.empty()) return rootfs_;
  return rootfs_ / std::filesystem::path(host_path);
}

std::filesystem::path HostPaths::join(std::string_view base, std::string_view rel) const {
  auto p = rootfs_ / base;
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  if (!rel.empty()) p /= std::filesystem::path(rel);
  return p;
}

}  // namespace epc

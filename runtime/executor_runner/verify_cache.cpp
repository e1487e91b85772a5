#include "verify_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "exit_codes.h"
#include "runner_io.h"
#include "test_hooks.h"

namespace xnn_runner {
namespace {

constexpr size_t kMaxCacheEntries = 1024;
constexpr int64_t kFreshNs = 2000000000LL;  // see the header: younger files are never remembered

std::string entry_name(const ProgramFile& file) {
  return std::to_string(file.identity().device) + "-" + std::to_string(file.identity().inode) + ".json";
}

// Loop devices (major 7) and removable drives can show other contents under the same identity.
bool cacheable_device(uint64_t device) {
  if (major(device) == 7) return false;
  const std::string sys = std::string(sys_dev_block_for_tests()) + "/" + std::to_string(major(device)) + ":" + std::to_string(minor(device));
  for (const std::string& flag : {sys + "/removable", sys + "/../removable"}) {
    std::ifstream f(flag);
    char c = '0';
    if (f >> c && c == '1') return false;
  }
  return true;
}

void warn_once(const std::string& dir, const std::string& why) {
  static bool warned = false;
  if (warned) return;
  warned = true;
  std::fprintf(stderr, "warning: not using the verify cache %s (%s); hashing the program\n", dir.c_str(), why.c_str());
}

// The folder, opened without following a symlink, when this user alone may write it (-1 if not).
int open_trusted_folder(const std::string& dir, bool warn_missing) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT || warn_missing) warn_once(dir, "cannot open it as a folder, or it is a symlink");
    return -1;
  }
  struct stat st{};
  std::string why;
  if (::fstat(fd, &st) != 0) why = "cannot stat it";
  else if (st.st_uid != ::geteuid()) why = "it belongs to another user";
  else if ((st.st_mode & 0777) != 0700) why = "its mode is not 0700";
  if (why.empty()) return fd;
  ::close(fd);
  warn_once(dir, why);
  return -1;
}

// The entry's text when it is a regular file of this user that only this user may write.
bool read_trusted_entry(int dir_fd, const std::string& dir, const std::string& name, std::string& text) {
  const int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) warn_once(dir, "entry " + name + " is a symlink");
    return false;
  }
  struct stat st{};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
  if (!ok) warn_once(dir, "entry " + name + " is not a file that only this user may write");
  char buf[65536];
  ssize_t n = 0;
  while (ok && (n = ::read(fd, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  if (ok && n == 0) ::futimens(fd, nullptr);  // recently used (see prune)
  ::close(fd);
  return ok && n == 0;
}

void prune(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> entries;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") entries.emplace_back(e.last_write_time(ec), e.path());
  }
  if (entries.size() <= kMaxCacheEntries) return;
  std::sort(entries.begin(), entries.end());
  for (size_t i = 0; i + kMaxCacheEntries < entries.size(); ++i) fs::remove(entries[i].second, ec);
}

}  // namespace

std::string resolve_verify_cache(const std::string& flag) {
  if (flag == "off") return "";
  if (flag != "on") {
    if (flag.empty()) fail(kUsageExit, "--verify_cache must be on, off or a folder");
    return flag;
  }
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/executorch-runner/verified";
  if (home != nullptr && home[0] == '/') return std::string(home) + "/.cache/executorch-runner/verified";
  return "";  // nowhere to remember: every run hashes
}

std::set<std::string> cached_ranges(const std::string& dir, const ProgramFile& file, const std::string& digest) {
  if (dir.empty() || digest.empty() || !cacheable_device(file.identity().device)) return {};
  const int dir_fd = open_trusted_folder(dir, /*warn_missing=*/false);
  if (dir_fd < 0) return {};
  std::string text;
  const bool read = read_trusted_entry(dir_fd, dir, entry_name(file), text);
  ::close(dir_fd);
  if (!read) return {};
  const nlohmann::json entry = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const ProgramFile::Identity& id = file.identity();
  const auto number = [&](const char* key) {
    return entry.is_object() && entry.contains(key) && entry[key].is_number_integer() ? entry[key].get<int64_t>() : -1;
  };
  if (number("size") != static_cast<int64_t>(id.size) || number("mtime_ns") != id.mtime_ns ||
      number("ctime_ns") != id.ctime_ns || entry.value("blake3", "") != digest || !entry["ranges"].is_array()) {
    return {};
  }
  std::set<std::string> ranges;
  for (const auto& r : entry["ranges"]) {
    if (r.is_string()) ranges.insert(r.get<std::string>());
  }
  return ranges;
}

void remember_ranges(const std::string& dir, const ProgramFile& file, const std::string& digest,
                     const std::set<std::string>& ranges) {
  const ProgramFile::Identity& id = file.identity();
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const int64_t now_ns = static_cast<int64_t>(now.tv_sec) * 1000000000LL + now.tv_nsec;
  const bool fresh = id.ctime_ns > now_ns - fresh_window_ns_for_tests(kFreshNs);
  if (dir.empty() || ranges.empty() || fresh || !cacheable_device(id.device)) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  ::mkdir(dir.c_str(), 0700);  // private: entries vouch for programs
  const int dir_fd = open_trusted_folder(dir, /*warn_missing=*/true);
  if (dir_fd < 0) return;
  ::close(dir_fd);
  const nlohmann::json entry = {{"size", id.size},     {"mtime_ns", id.mtime_ns},
                                {"ctime_ns", id.ctime_ns}, {"blake3", digest},
                                {"ranges", std::vector<std::string>(ranges.begin(), ranges.end())}};
  const std::string text = entry.dump() + "\n";
  std::string error;
  if (write_file_atomic(dir + "/" + entry_name(file), text.data(), text.size(), error)) prune(dir);
}

}  // namespace xnn_runner

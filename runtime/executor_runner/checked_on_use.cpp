#include "checked_on_use.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "run_limits.h"
#include "runner_io.h"
#include "test_hooks.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

namespace xnn_runner {

using executorch::runtime::FreeableBuffer;

struct CheckedOnUse::Region {
  std::shared_ptr<CheckedOnUse> owner;  // keeps the server alive while the runtime holds the buffer
  uint8_t* base = nullptr;
  size_t length = 0;  // whole chunks
  int fd = -1;
  std::string path;
  const CardRange* range = nullptr;  // the loader's (Verification::ranges), which outlives the buffer
  std::vector<uint8_t> staging;  // one chunk, read and checked here before it is installed
};

namespace {

// The plain form first: it also serves faults the kernel takes on the segment (a system call
// handed a pointer into it, e.g. write(2) of an output that is a constant). Where that needs a
// privilege (vm.unprivileged_userfaultfd = 0), faults from user space only (kernel 5.11+): then
// a system call must not be handed an untouched pointer into the segment (touch_pages).
int open_userfaultfd() {
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0 && errno == EPERM) fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (fd < 0) return -1;
  uffdio_api api{};
  api.api = UFFD_API;
  if (::ioctl(fd, UFFDIO_API, &api) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool read_exactly(int fd, uint8_t* out, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace

std::shared_ptr<CheckedOnUse> CheckedOnUse::start() {
  if (userfaultfd_refused_for_tests()) return nullptr;
  const int uffd = open_userfaultfd();
  if (uffd < 0) return nullptr;
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    ::close(uffd);
    return nullptr;
  }
  std::shared_ptr<CheckedOnUse> server(new CheckedOnUse(uffd, stop_fd));
  server->server_ = std::thread([raw = server.get()] { raw->serve(); });
  return server;
}

CheckedOnUse::CheckedOnUse(int uffd, int stop_fd) : uffd_(uffd), stop_fd_(stop_fd) {}

CheckedOnUse::~CheckedOnUse() {
  const uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof(one)) < 0) {
  }
  if (server_.joinable()) server_.join();
  ::close(stop_fd_);
  ::close(uffd_);
}

std::optional<FreeableBuffer> CheckedOnUse::map(int fd, const std::string& path, const CardRange& range, size_t offset,
                                                size_t size) {
  auto region = std::make_unique<Region>();
  region->length = range.chunk_count() * range.chunk_size;
  void* p = ::mmap(nullptr, region->length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) fail_out_of_memory("cannot reserve " + std::to_string(region->length) + " bytes for the program");
  region->base = static_cast<uint8_t*>(p);
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uintptr_t>(p);
  reg.range.len = region->length;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  region->fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (region->fd < 0 || ::ioctl(uffd_, UFFDIO_REGISTER, &reg) != 0) {  // refused: the caller reads it whole
    if (region->fd >= 0) ::close(region->fd);
    ::munmap(p, region->length);
    return std::nullopt;
  }
  region->owner = shared_from_this();
  region->path = path;
  region->range = &range;
  region->staging.resize(range.chunk_size);
  Region* raw = region.release();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    regions_.push_back(raw);
  }
  return FreeableBuffer(raw->base + (offset - range.offset), size, release, raw);
}

void CheckedOnUse::release(void* context, void*, size_t) {
  auto* region = static_cast<Region*>(context);
  std::shared_ptr<CheckedOnUse> owner = std::move(region->owner);
  {
    std::lock_guard<std::mutex> lock(owner->mutex_);  // not while the server fills one of its chunks
    owner->regions_.erase(std::find(owner->regions_.begin(), owner->regions_.end(), region));
    uffdio_range r{reinterpret_cast<uintptr_t>(region->base), region->length};
    ::ioctl(owner->uffd_, UFFDIO_UNREGISTER, &r);
    ::munmap(region->base, region->length);
  }
  ::close(region->fd);
  delete region;
}

void CheckedOnUse::serve() {
  pollfd fds[2] = {{uffd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail(kErrorExit, std::string("checking the program on use: poll failed (") + std::strerror(errno) + ")");
    }
    if (fds[1].revents != 0) return;
    uffd_msg msg;
    const ssize_t n = ::read(uffd_, &msg, sizeof(msg));
    if (n != static_cast<ssize_t>(sizeof(msg))) continue;  // EAGAIN: another wake-up took it
    if (msg.event == UFFD_EVENT_PAGEFAULT) fill(static_cast<uintptr_t>(msg.arg.pagefault.address));
  }
}

void CheckedOnUse::fill(uintptr_t address) {
  std::lock_guard<std::mutex> lock(mutex_);
  Region* region = nullptr;
  for (Region* r : regions_) {
    const auto base = reinterpret_cast<uintptr_t>(r->base);
    if (address >= base && address < base + r->length) region = r;
  }
  if (region == nullptr) return;  // unregistered meanwhile: the kernel woke the reader
  const auto t0 = std::chrono::steady_clock::now();
  const CardRange& range = *region->range;
  const size_t index = (address - reinterpret_cast<uintptr_t>(region->base)) / range.chunk_size;
  const size_t begin = index * range.chunk_size;
  const size_t bytes = std::min<size_t>(range.chunk_size, range.size - begin);
  std::fill(region->staging.begin() + bytes, region->staging.end(), 0);
  if (!read_exactly(region->fd, region->staging.data(), bytes, range.offset + begin)) {
    fail(kVerificationExit, region->path + " changed while it ran: bytes at " + std::to_string(range.offset + begin) +
                                " can no longer be read: run it again once nothing writes to it");
  }
  const std::string got = blake3_hex(region->staging.data(), bytes);
  if (!range.chunk_matches(index, got)) {
    fail(kVerificationExit, region->path + " does not match its card: bytes [" + std::to_string(range.offset + begin) + ", " +
                                std::to_string(range.offset + begin + bytes) + ") have blake3 digest " + got.substr(0, 16) +
                                "... != " + range.chunk_blake3.substr(64 * index, 16) + "... (modified or damaged copy)");
  }
  if (install(reinterpret_cast<uintptr_t>(region->base) + begin, region->staging.data(), range.chunk_size)) {
    stats_.chunks += 1;
    stats_.hash_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
}

bool CheckedOnUse::install(uintptr_t dst, const uint8_t* src, size_t length) {
  const size_t page = page_size();
  bool installed = false;
  for (size_t done = 0; done < length;) {
    uffdio_copy copy{};
    copy.dst = dst + done;
    copy.src = reinterpret_cast<uintptr_t>(src + done);
    copy.len = length - done;
    if (::ioctl(uffd_, UFFDIO_COPY, &copy) == 0) {
      installed = true;
      break;
    }
    const int error = errno;
    if (copy.copy > 0) {  // partly installed (EAGAIN): go on from there
      installed = true;
      done += static_cast<size_t>(copy.copy);
    } else if (error == EEXIST) {  // that page was installed by a racing fault
      done += page;
    } else if (error != EAGAIN && error != EINTR) {
      if (error == ENOMEM) fail_out_of_memory("cannot install " + std::to_string(length) + " checked bytes of the program");
      fail(kErrorExit, std::string("checking the program on use: cannot install checked bytes (") + std::strerror(error) + ")");
    }
  }
  uffdio_range wake{dst, length};  // whoever waits on any page of the chunk
  ::ioctl(uffd_, UFFDIO_WAKE, &wake);
  return installed;
}

void touch_pages(const void* data, size_t size) {
  const size_t page = page_size();
  const auto* bytes = static_cast<const volatile uint8_t*>(data);
  for (size_t at = 0; at < size; at += page) (void)bytes[at];
  if (size > 0) (void)bytes[size - 1];
}

CheckedOnUse::Stats CheckedOnUse::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace xnn_runner

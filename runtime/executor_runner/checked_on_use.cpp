#include "checked_on_use.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "blake3.h"
#include "crash_guard.h"
#include "exit_codes.h"
#include "run_limits.h"
#include "runner_io.h"
#include "test_hooks.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

namespace xnn_runner {

using executorch::runtime::FreeableBuffer;

struct CheckedOnUse::Region {
  std::shared_ptr<CheckedOnUse> owner;  // keeps the userfaultfd open while the runtime holds the buffer
  int uffd = -1;
  uint8_t* base = nullptr;
  size_t length = 0;  // whole chunks
  int fd = -1;
  std::string path;
  const CardRange* range = nullptr;  // the loader's (Verification::ranges), which outlives the buffer
  std::vector<uint8_t> staging;      // one chunk, read and checked before it is installed
  std::atomic_flag staging_busy = ATOMIC_FLAG_INIT;  // two threads reading chunks at once take turns
  std::unique_ptr<std::atomic<bool>[]> installed;    // per chunk: a thread that waited finds it done
};

namespace {

// The mapped regions, where the SIGBUS handler finds them without a lock (a handler may run in
// any thread, in the middle of anything).
constexpr int kMaxRegions = 64;
std::atomic<CheckedOnUse::Region*> g_regions[kMaxRegions];
std::atomic<int> g_handlers{0};  // SIGBUS handlers running: release waits until none may see its region
std::atomic<size_t> g_chunks{0};
std::atomic<uint64_t> g_fill_ns{0};
struct sigaction g_previous_bus{};  // the crash guard's, for a SIGBUS that is not ours

uint64_t now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000u + static_cast<uint64_t>(t.tv_nsec);
}

// The error line and exit, from a signal handler: no allocation, write(2) and _exit only.
[[noreturn]] void die(int code, std::initializer_list<const char*> parts) {
  char line[1024];
  size_t n = 0;
  for (const char* part : parts) {  // printable ASCII only, as fail() writes it
    for (; *part != '\0' && n + 2 < sizeof(line); ++part) line[n++] = (*part >= 0x20 && *part < 0x7f) ? *part : '?';
  }
  line[n++] = '\n';
  if (::write(STDERR_FILENO, line, n) < 0) {
  }
  _exit(code);
}

// `value` in decimal, without snprintf (a handler's error lines only).
void decimal(uint64_t value, char (&out)[24]) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0 && n < sizeof(digits));
  for (size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\0';
}

// The plain form first: where that needs a privilege (vm.unprivileged_userfaultfd = 0), faults
// from user space only (kernel 5.11+), which are all this mode serves anyway. SIGBUS mode
// (kernel 4.14+): a fault raises SIGBUS in the faulting thread instead of waiting for a server.
int open_userfaultfd() {
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0 && errno == EPERM) fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (fd < 0) return -1;
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_SIGBUS;
  if (::ioctl(fd, UFFDIO_API, &api) != 0 || (api.features & UFFD_FEATURE_SIGBUS) == 0) {
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

// UFFDIO_COPY of a checked chunk, page by page past partial copies and pages a racing thread
// installed. False when every page was already there.
bool install(int uffd, uintptr_t dst, const uint8_t* src, size_t length) {
  const size_t page = page_size();
  bool installed = false;
  for (size_t done = 0; done < length;) {
    uffdio_copy copy{};
    copy.dst = dst + done;
    copy.src = reinterpret_cast<uintptr_t>(src + done);
    copy.len = length - done;
    if (::ioctl(uffd, UFFDIO_COPY, &copy) == 0) return true;
    const int error = errno;
    if (copy.copy > 0) {  // partly installed (EAGAIN): go on from there
      installed = true;
      done += static_cast<size_t>(copy.copy);
    } else if (error == EEXIST) {  // that page was installed by a racing fault
      done += page;
    } else if (error != EAGAIN && error != EINTR) {
      char code[24];
      decimal(static_cast<uint64_t>(error), code);
      if (error == ENOMEM) die(kMemoryExit, {"error: out of memory while ", crash_phase(), ": cannot install checked bytes of the program"});
      die(kErrorExit, {"error: checking the program on use: cannot install checked bytes (errno ", code, ")"});
    }
  }
  return installed;
}

// Reads, checks and installs the chunk of `region` holding `address` (the faulting thread).
void fill(CheckedOnUse::Region& region, uintptr_t address) {
  const uint64_t t0 = now_ns();
  const CardRange& range = *region.range;
  const size_t index = (address - reinterpret_cast<uintptr_t>(region.base)) / range.chunk_size;
  const size_t begin = index * range.chunk_size;
  const size_t bytes = std::min<size_t>(range.chunk_size, range.size - begin);
  while (region.staging_busy.test_and_set(std::memory_order_acquire)) sched_yield();  // another thread's chunk
  if (region.installed[index].load(std::memory_order_acquire)) {  // the thread before us installed it
    region.staging_busy.clear(std::memory_order_release);
    return;
  }
  uint8_t* staging = region.staging.data();
  std::memset(staging + bytes, 0, range.chunk_size - bytes);
  char from[24], to[24];  // the error lines' byte range, formatted only for them
  if (!read_exactly(region.fd, staging, bytes, range.offset + begin)) {
    decimal(range.offset + begin, from);
    die(kVerificationExit, {"error: ", region.path.c_str(), " changed while it ran: bytes at ", from,
                            " can no longer be read: run it again once nothing writes to it"});
  }
  blake3_hasher hasher;  // one chunk: the plain update, no helper threads (blake3_hex's) in a handler
  blake3_hasher_init(&hasher);
  blake3_hasher_update(&hasher, staging, bytes);
  uint8_t digest[BLAKE3_OUT_LEN];
  blake3_hasher_finalize(&hasher, digest, BLAKE3_OUT_LEN);
  char got[2 * BLAKE3_OUT_LEN + 1] = {};
  blake3_digest_hex(digest, got);
  const char* want = range.chunk_blake3.data() + 64 * index;
  if (std::memcmp(got, want, 64) != 0) {
    char want16[17] = {}, got16[17] = {};
    std::memcpy(want16, want, 16);
    std::memcpy(got16, got, 16);
    decimal(range.offset + begin, from);
    decimal(range.offset + begin + bytes, to);
    die(kVerificationExit, {"error: ", region.path.c_str(), " does not match its card: bytes [", from, ", ", to,
                            ") have blake3 digest ", got16, "... != ", want16, "... (modified or damaged copy)"});
  }
  const bool installed = install(region.uffd, reinterpret_cast<uintptr_t>(region.base) + begin, staging, range.chunk_size);
  region.installed[index].store(true, std::memory_order_release);
  region.staging_busy.clear(std::memory_order_release);
  if (installed) {
    g_chunks.fetch_add(1, std::memory_order_relaxed);
    g_fill_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
  }
}

// SIGBUS: a first read of a chunk of a mapped region (userfaultfd's SIGBUS mode) is served here,
// in the thread that read it; the read resumes when this returns. Any other SIGBUS goes on to
// the handler that was there before (the crash guard's one-line report).
void on_bus(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;  // the interrupted code's (a racing UFFDIO_COPY sets EEXIST)
  // Only a missing page reports BUS_ADRERR with its address: a SIGBUS sent by kill or raise, or a
  // hardware memory error on an installed page, is not ours to serve.
  const auto address = info->si_code == BUS_ADRERR ? reinterpret_cast<uintptr_t>(info->si_addr) : 0;
  g_handlers.fetch_add(1, std::memory_order_seq_cst);
  for (auto& slot : g_regions) {
    CheckedOnUse::Region* region = slot.load(std::memory_order_seq_cst);
    const auto base = region ? reinterpret_cast<uintptr_t>(region->base) : 0;
    if (region != nullptr && address != 0 && address >= base && address < base + region->length) {
      fill(*region, address);
      g_handlers.fetch_sub(1, std::memory_order_seq_cst);
      errno = saved_errno;
      return;
    }
  }
  g_handlers.fetch_sub(1, std::memory_order_seq_cst);
  if (g_previous_bus.sa_flags & SA_SIGINFO) {
    g_previous_bus.sa_sigaction(sig, info, context);
  } else if (g_previous_bus.sa_handler != SIG_DFL && g_previous_bus.sa_handler != SIG_IGN) {
    g_previous_bus.sa_handler(sig);
  } else {
    // The default action, as without this handler (an ignored SIGBUS included: a fault cannot be
    // ignored): the process ends.
    struct sigaction fallback{};
    fallback.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &fallback, nullptr);
    raise(SIGBUS);
  }
  errno = saved_errno;
}

bool install_bus_handler() {
  static std::once_flag once;
  static bool installed = false;
  std::call_once(once, [] {
    struct sigaction sa{};
    sa.sa_sigaction = on_bus;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;  // the crash guard's alternate stack where a thread has one
    installed = sigaction(SIGBUS, &sa, &g_previous_bus) == 0;
  });
  return installed;
}

}  // namespace

std::shared_ptr<CheckedOnUse> CheckedOnUse::start() {
  if (userfaultfd_refused_for_tests()) return nullptr;
  const int uffd = open_userfaultfd();
  if (uffd < 0) return nullptr;
  if (!install_bus_handler()) {
    ::close(uffd);
    return nullptr;
  }
  return std::shared_ptr<CheckedOnUse>(new CheckedOnUse(uffd));
}

CheckedOnUse::CheckedOnUse(int uffd) : uffd_(uffd) {}

CheckedOnUse::~CheckedOnUse() { ::close(uffd_); }

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
  region->uffd = uffd_;
  region->path = path;
  region->range = &range;
  region->staging.resize(range.chunk_size);
  region->installed.reset(new std::atomic<bool>[range.chunk_count()]());
  Region* raw = region.get();
  for (auto& slot : g_regions) {
    Region* empty = nullptr;
    if (slot.compare_exchange_strong(empty, raw, std::memory_order_acq_rel)) {
      region.release();
      return FreeableBuffer(raw->base + (offset - range.offset), size, release, raw);
    }
  }
  uffdio_range r{reinterpret_cast<uintptr_t>(raw->base), raw->length};  // no slot left: read it whole
  ::ioctl(uffd_, UFFDIO_UNREGISTER, &r);
  ::munmap(raw->base, raw->length);
  ::close(raw->fd);
  return std::nullopt;
}

void CheckedOnUse::release(void* context, void*, size_t) {
  auto* region = static_cast<Region*>(context);
  for (auto& slot : g_regions) {
    Region* mine = region;
    if (slot.compare_exchange_strong(mine, nullptr, std::memory_order_seq_cst)) break;
  }
  // A handler that entered before the slot was emptied may still hold the region: wait for it.
  // (Releases come when a program is freed, where a handler rarely runs; the wait is short.)
  while (g_handlers.load(std::memory_order_seq_cst) != 0) {
  }
  uffdio_range r{reinterpret_cast<uintptr_t>(region->base), region->length};
  ::ioctl(region->uffd, UFFDIO_UNREGISTER, &r);
  ::munmap(region->base, region->length);
  ::close(region->fd);
  delete region;  // and with it the owner reference
}

void touch_pages(const void* data, size_t size) {
  const size_t page = page_size();
  const auto* bytes = static_cast<const volatile uint8_t*>(data);
  for (size_t at = 0; at < size; at += page) (void)bytes[at];
  if (size > 0) (void)bytes[size - 1];
}

CheckedOnUse::Stats CheckedOnUse::stats() const {
  return Stats{g_chunks.load(std::memory_order_relaxed), g_fill_ns.load(std::memory_order_relaxed) / 1e6};
}

}  // namespace xnn_runner

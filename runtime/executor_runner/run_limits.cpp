#include "run_limits.h"

#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "crash_guard.h"
#include "runner_io.h"

namespace xnn_runner {
namespace {

std::string g_model_path;
long g_max_memory_mb = 0;

// Current address-space size (VmSize) in bytes, or 0 when unknown.
unsigned long long address_space_bytes() {
  unsigned long long kb = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f)) {
      if (std::sscanf(line, "VmSize: %llu kB", &kb) == 1) break;
    }
    std::fclose(f);
  }
  return kb * 1024ULL;
}

void on_new_failure() { fail_out_of_memory("an allocation (operator new) failed"); }

}  // namespace

std::vector<int> pin_to_cpus(int num_threads) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  }
  if (num_threads <= 0 || static_cast<size_t>(num_threads) >= cpus.size()) return cpus;
  cpus.resize(static_cast<size_t>(num_threads));
  cpu_set_t pinned;
  CPU_ZERO(&pinned);
  for (int c : cpus) CPU_SET(c, &pinned);
  if (sched_setaffinity(0, sizeof(pinned), &pinned) != 0) {
    fail(kErrorExit, "cannot pin the runner to " + std::to_string(num_threads) + " CPU(s) (sched_setaffinity failed)");
  }
  return cpus;
}

namespace {

std::atomic<long> g_rss_bound_kib{0};

std::atomic<long> g_start_rss_kib{0};

long status_kib(const char* path, const char* format) {  // one "<key>: <n> kB" line of a /proc file, or 0
  long kb = 0;
  if (FILE* f = std::fopen(path, "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f)) {
      if (std::sscanf(line, format, &kb) == 1) break;
    }
    std::fclose(f);
  }
  return kb;
}

// From the watchdog thread, while the main thread may be anywhere: no destructors, no atexit.
[[noreturn]] void end_from_watchdog(const char* line, int code) {
  std::fflush(stdout);
  if (::write(STDERR_FILENO, line, std::strlen(line)) < 0) {
  }
  _exit(code);
}

}  // namespace

void start_watchdog(double timeout_s, const std::string& model_path) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = timeout_s > 0 ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                           std::chrono::duration<double>(timeout_s))
                                      : Clock::time_point::max();
  // One thread for both bounds: the deadline, and the resident memory (polled: RLIMIT_AS would
  // count address space that holds no data, and an OOM kill says nothing).
  std::thread([deadline, timeout_s, model_path]() {
    char line[1400];
    for (;;) {
      std::this_thread::sleep_until(std::min(deadline, Clock::now() + std::chrono::milliseconds(20)));
      if (Clock::now() >= deadline) {
        std::snprintf(line, sizeof(line), "error: timed out after %g s (--timeout_s) while %s %s\n", timeout_s,
                      crash_phase(), model_path.c_str());
        end_from_watchdog(line, kTimeoutExit);
      }
      const long bound = g_rss_bound_kib.load();
      const long rss = bound > 0 ? current_rss_kib() : 0;
      if (bound > 0 && rss > bound) {
        std::snprintf(line, sizeof(line),
                      "error: out of memory while %s %s: resident memory %ld MiB passed the bound of %ld MiB "
                      "(--max_memory_mb sets it; 0 turns it off)\n",
                      crash_phase(), model_path.c_str(), rss / 1024, bound / 1024);
        end_from_watchdog(line, kMemoryExit);
      }
    }
  }).detach();
}

void set_rss_bound_kib(long kib) { g_rss_bound_kib.store(kib); }

long bound_memory(long max_memory_mb, unsigned long long need_bytes) {
  const long start = g_start_rss_kib.load();
  long growth_kib = 0;
  if (max_memory_mb > 0) growth_kib = max_memory_mb * 1024;
  if (max_memory_mb < 0) {
    growth_kib = kDefaultBoundFactor * static_cast<long>(need_bytes / 1024) + kDefaultBoundSlackMib * 1024;
    const long available = status_kib("/proc/meminfo", "MemAvailable: %ld kB");
    if (available > 0) growth_kib = std::min(growth_kib, available);
  }
  set_rss_bound_kib(growth_kib > 0 ? start + growth_kib : 0);
  return growth_kib / 1024;
}

unsigned long long apply_memory_limit(long max_memory_mb, const std::string& model_path) {
  g_model_path = model_path;
  g_max_memory_mb = max_memory_mb;
  g_start_rss_kib.store(current_rss_kib());
  std::set_new_handler(on_new_failure);
  if (max_memory_mb <= 0) return 0;
  // One malloc arena: glibc otherwise reserves 64 MiB of address space per thread that
  // allocates, which would count against the limit without holding any data.
  mallopt(M_ARENA_MAX, 1);
  const unsigned long long limit =
      address_space_bytes() + static_cast<unsigned long long>(max_memory_mb) * 1024ULL * 1024ULL;
  struct rlimit rl{};
  rl.rlim_cur = limit;
  rl.rlim_max = limit;
  if (setrlimit(RLIMIT_AS, &rl) != 0) fail(kErrorExit, "cannot set the memory limit (setrlimit RLIMIT_AS failed)");
  return limit;
}

void fail_out_of_memory(const std::string& what) {
  std::string msg = "out of memory while " + std::string(crash_phase()) + " " + g_model_path + ": " + what;
  if (g_max_memory_mb > 0) msg += " (limit --max_memory_mb=" + std::to_string(g_max_memory_mb) + ")";
  fail(kMemoryExit, msg);
}

bool looks_like_allocation_failure(const std::string& runtime_message) {
  std::string m = runtime_message;
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* needle : {"memoryallocationfailed", "failed to allocate", "out of memory", "out_of_memory"}) {
    if (m.find(needle) != std::string::npos) return true;
  }
  return false;
}

long peak_rss_kib() {
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kb = -1;
    while (std::fgets(line, sizeof(line), f)) {
      if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    }
    std::fclose(f);
    if (kb >= 0) return kb;
  }
  struct rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;  // Linux: kilobytes
}

long current_rss_kib() { return status_kib("/proc/self/status", "VmRSS: %ld kB"); }

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

ContextSwitches process_context_switches() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return {usage.ru_nvcsw, usage.ru_nivcsw};
}

ContextSwitches operator-(const ContextSwitches& later, const ContextSwitches& earlier) {
  return {later.voluntary - earlier.voluntary, later.involuntary - earlier.involuntary};
}

}  // namespace xnn_runner

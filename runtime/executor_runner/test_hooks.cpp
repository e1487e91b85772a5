#include "test_hooks.h"

#include "run_limits.h"

#include <atomic>
#include <chrono>
#include <vector>

#include <pthreadpool.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

// The wheel ships libexecutorch_threadpool.so but not threadpool.h: declare what the probe calls.
namespace executorch::extension::threadpool {
pthreadpool_t get_pthreadpool();
}  // namespace executorch::extension::threadpool

namespace xnn_runner {

namespace {

void wait_on_fifo(const char* fifo) {
  if (fifo == nullptr || fifo[0] == '\0') return;
  // open() returns once the test opened the writing end; read() once it wrote (or closed it).
  const int fd = ::open(fifo, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char byte = 0;
  if (::read(fd, &byte, 1) < 0) {
  }
  ::close(fd);
}

}  // namespace

const char* sys_dev_block_for_tests() {
  const char* folder = std::getenv("XNN_RUNNER_TEST_SYS_DEV_BLOCK");
  return folder != nullptr && folder[0] != '\0' ? folder : "/sys/dev/block";
}

void pause_before_final_check_for_tests() { wait_on_fifo(std::getenv("XNN_RUNNER_TEST_PAUSE_LAST")); }

void pause_before_first_run_for_tests() {
  const char* crash = std::getenv("XNN_RUNNER_TEST_CRASH");
  if (crash != nullptr && std::string(crash) == "bus") {  // a read past the end of a mapped file
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const int fd = ::memfd_create("past_the_end", MFD_CLOEXEC);
    if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(page)) == 0) {
      void* p = ::mmap(nullptr, 2 * page, PROT_READ, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) (void)static_cast<volatile const char*>(p)[page];
    }
  }
  wait_on_fifo(std::getenv("XNN_RUNNER_TEST_PAUSE_RUN"));
}

void pause_after_check_for_tests() {
  const char* crash = std::getenv("XNN_RUNNER_TEST_CRASH");
  if (crash != nullptr && crash[0] == '1') std::raise(SIGSEGV);  // as a corrupt program can make the runtime do
  if (const char* mb = std::getenv("XNN_RUNNER_TEST_ALLOCATE_MB")) {  // a runaway allocation, held
    const size_t n = static_cast<size_t>(std::atol(mb)) << 20;
    static void* volatile held = nullptr;  // volatile: the compiler may not drop the unread allocation
    held = std::malloc(n);
    if (held != nullptr) std::memset(held, 1, n);
    ::usleep(300000);  // the watchdog polls every 20 ms
  }
  wait_on_fifo(std::getenv("XNN_RUNNER_TEST_PAUSE"));
}

bool userfaultfd_refused_for_tests() {
  const char* refuse = std::getenv("XNN_RUNNER_TEST_NO_USERFAULTFD");
  return refuse != nullptr && std::string(refuse) == "1";
}

long long fresh_window_ns_for_tests(long long default_ns) {
  const char* ms = std::getenv("XNN_RUNNER_TEST_FRESH_MS");
  if (ms == nullptr || ms[0] == '\0') return default_ns;
  char* end = nullptr;
  const long long value = std::strtoll(ms, &end, 10);
  if (*end != '\0' || value < 0 || value >= default_ns / 1000000LL) return default_ns;
  return value * 1000000LL;
}

void record_logits_for_tests(const float* logits, long vocab) {
  static const char* const path = std::getenv("XNN_RUNNER_TEST_LOGITS");  // read once: called every step
  if (path == nullptr || path[0] == '\0') return;
  if (FILE* file = std::fopen(path, "ab")) {
    std::fwrite(logits, sizeof(float), static_cast<size_t>(vocab), file);
    std::fclose(file);
  }
}

namespace {

// Pins the calling thread to one CPU (false if the kernel refuses).
bool pin_this_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;  // 0: the calling thread
}

struct ProbePins {
  pid_t main_thread;
  int worker_cpu;
  std::atomic<bool> worker_pinned{false};
};

// Run on the pool's threads: the first one that is not the main thread pins itself.
void pin_a_worker(void* context, size_t) {
  auto* pins = static_cast<ProbePins*>(context);
  if (static_cast<pid_t>(syscall(SYS_gettid)) != pins->main_thread && !pins->worker_pinned.exchange(true)) {
    pin_this_thread(pins->worker_cpu);
  }
}

}  // namespace

void probe_pool_gaps_for_tests() {
  const char* value = std::getenv("XNN_RUNNER_TEST_POOL_GAPS");
  if (value == nullptr || value[0] == '\0') return;
  char* end = nullptr;
  const long gaps = std::strtol(value, &end, 10);
  pthreadpool_t pool = executorch::extension::threadpool::get_pthreadpool();
  if (*end != '\0' || gaps <= 0 || gaps > 100000 || pool == nullptr) return;
  // The main thread and the worker on two CPUs of their own, as on a machine with cores to
  // spare: sharing one, a spinning worker only keeps the main thread from posting work.
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE && cpus.size() < 2; ++cpu) {
      if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    }
  }
  ProbePins pins{static_cast<pid_t>(syscall(SYS_gettid)), cpus.size() == 2 ? cpus[1] : -1};
  if (pthreadpool_get_threads_count(pool) != 2 || pins.worker_cpu < 0 || !pin_this_thread(cpus[0])) {
    std::fprintf(stderr, "test hook: pool gap probe: needs 2 threads on 2 CPUs\n");
    return;
  }
  for (int tries = 0; tries < 1000 && !pins.worker_pinned; ++tries) {
    pthreadpool_parallelize_1d(pool, pin_a_worker, &pins, 64, 0);
  }
  auto run_gaps = [pool](long count) {
    for (long i = 0; i < count; ++i) {
      pthreadpool_parallelize_1d(pool, [](void*, size_t) {}, nullptr, 64, 0);
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
  };
  const ContextSwitches before = process_context_switches();
  run_gaps(gaps);
  const ContextSwitches during = process_context_switches() - before;
  std::fprintf(stderr, "test hook: pool gap probe: %ld voluntary and %ld involuntary context switches over %ld gaps\n",
               during.voluntary, during.involuntary, gaps);
}

}  // namespace xnn_runner

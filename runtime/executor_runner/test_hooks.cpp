#include "test_hooks.h"

#include <chrono>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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

void pause_before_first_run_for_tests() { wait_on_fifo(std::getenv("XNN_RUNNER_TEST_PAUSE_RUN")); }

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

void step_gap_for_tests() {
  static const long gap_us = [] {  // read once: called every step
    const char* us = std::getenv("XNN_RUNNER_TEST_STEP_GAP_US");
    if (us == nullptr || us[0] == '\0') return 0L;
    char* end = nullptr;
    const long value = std::strtol(us, &end, 10);
    return *end == '\0' && value > 0 && value <= 100000 ? value : 0L;
  }();
  if (gap_us == 0) return;
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(gap_us);
  while (std::chrono::steady_clock::now() < until) {
  }
}

}  // namespace xnn_runner

#include "test_hooks.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

namespace xnn_runner {

void pause_after_check_for_tests() {
  const char* crash = std::getenv("XNN_RUNNER_TEST_CRASH");
  if (crash != nullptr && crash[0] == '1') std::raise(SIGSEGV);  // as a corrupt program can make the runtime do
  if (const char* mb = std::getenv("XNN_RUNNER_TEST_ALLOCATE_MB")) {  // a runaway allocation, held
    const size_t n = static_cast<size_t>(std::atol(mb)) << 20;
    if (void* p = std::malloc(n)) std::memset(p, 1, n);
    ::usleep(300000);  // the watchdog polls every 20 ms
  }
  const char* fifo = std::getenv("XNN_RUNNER_TEST_PAUSE");
  if (fifo == nullptr || fifo[0] == '\0') return;
  // open() returns once the test opened the writing end; read() once it wrote (or closed it).
  const int fd = ::open(fifo, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char byte = 0;
  if (::read(fd, &byte, 1) < 0) {
  }
  ::close(fd);
}

}  // namespace xnn_runner

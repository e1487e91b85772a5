#include "test_hooks.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace xnn_runner {

void pause_after_check_for_tests() {
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

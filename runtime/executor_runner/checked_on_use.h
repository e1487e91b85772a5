// A big range checked as it is used, chunk by chunk.
//
// Why: a language model's constant segment is its token embedding table (94 MiB for stories110m),
// of which a run reads a few hundred rows. Read whole and checked up front, it stays resident
// whole; ExecuTorch's mmap loader (verification off) faults in only the pages it reads, so off
// used 94 MiB less than on. Here the range is an anonymous mapping registered with userfaultfd:
// the first read of a chunk (the card's program.ranges[i].chunks, 16 KiB) raises SIGBUS in the
// reading thread (UFFD_FEATURE_SIGBUS), whose handler reads that chunk from the file into
// private memory, compares its BLAKE3 digest with the card's and only then installs it
// (UFFDIO_COPY); the read then resumes. No thread sees a byte before it is checked, bytes
// rewritten in the file later are never seen, and untouched chunks cost nothing. A mismatch ends
// the run from the handler with exit 5, one line.
//
// The reading thread checks the chunk itself because handing the fault to a server thread cost
// two wake-ups across CPUs per chunk, most of a chunk's cost on a 2-vCPU VM
// (tests/test_checked_on_use.py bounds it), and a language model's prompt touches one chunk per
// token of its embedding table.
//
// The kernel's own accesses (a system call handed a pointer into the range) are not served:
// they fail with EFAULT, so such a pointer is touched first (touch_pages). A thread that blocks
// SIGBUS must never read the range: the kernel would end the process without the one-line error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <executorch/runtime/core/freeable_buffer.h>

#include "program_verification.h"

namespace xnn_runner {

class CheckedOnUse : public std::enable_shared_from_this<CheckedOnUse> {
 public:
  // nullptr where the kernel refuses userfaultfd or its SIGBUS mode (too old, a seccomp filter):
  // the caller then reads the range whole (as under userfaultfd_refused_for_tests(), test_hooks.h).
  // Installs the SIGBUS handler once per process; install_crash_guard (crash_guard.h) must come
  // first: a SIGBUS outside the checked ranges goes on to the handler found here.
  static std::shared_ptr<CheckedOnUse> start();
  ~CheckedOnUse();
  CheckedOnUse(const CheckedOnUse&) = delete;
  CheckedOnUse& operator=(const CheckedOnUse&) = delete;

  // Bytes [offset, offset + size) of the file's card range `range` (which has chunk digests),
  // mapped so that each chunk is read and checked when first touched; unmapped when the runtime
  // frees the buffer. `fd`: the open program file (duplicated here); `range` must outlive the buffer. nullopt when the kernel
  // refuses to register the range (or too many are mapped): the caller then reads it whole.
  std::optional<executorch::runtime::FreeableBuffer> map(int fd, const std::string& path, const CardRange& range,
                                                         size_t offset, size_t size);

  struct Stats {
    size_t chunks = 0;   // chunks read and checked
    double hash_ms = 0;  // time spent reading, hashing and installing them
  };
  Stats stats() const;

  struct Region;  // one mapped range (checked_on_use.cpp)

 private:
  explicit CheckedOnUse(int uffd);
  static void release(void* context, void*, size_t);

  int uffd_ = -1;
};

// Reads one byte of every page of [data, data + size): a page of a segment checked on use is
// then installed by a fault from user space, before a system call (write(2)) is handed the
// pointer (the kernel's own access would fail with EFAULT).
void touch_pages(const void* data, size_t size);

}  // namespace xnn_runner

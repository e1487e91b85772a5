// A big range checked as it is used, chunk by chunk.
//
// Why: a language model's constant segment is its token embedding table (94 MiB for stories110m),
// of which a run reads a few hundred rows. Read whole and checked up front, it stays resident
// whole; ExecuTorch's mmap loader (verification off) faults in only the pages it reads, so off
// used 94 MiB less than on. Here the range is an anonymous mapping registered with userfaultfd:
// the first read of a chunk (the card's program.ranges[i].chunks, 16 KiB) blocks while a server
// thread reads that chunk from the file into private memory, compares its BLAKE3 digest with the
// card's and only then installs it (UFFDIO_COPY). No thread sees a byte before it is checked,
// bytes rewritten in the file later are never seen, and untouched chunks cost nothing. A mismatch
// ends the run from the server thread with exit 5, one line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <executorch/runtime/core/freeable_buffer.h>

#include "program_verification.h"

namespace xnn_runner {

class CheckedOnUse : public std::enable_shared_from_this<CheckedOnUse> {
 public:
  // nullptr where the kernel refuses userfaultfd (too old, a seccomp filter): the caller then
  // reads the range whole (as under userfaultfd_refused_for_tests(), test_hooks.h).
  static std::shared_ptr<CheckedOnUse> start();
  ~CheckedOnUse();
  CheckedOnUse(const CheckedOnUse&) = delete;
  CheckedOnUse& operator=(const CheckedOnUse&) = delete;

  // Bytes [offset, offset + size) of the file's card range `range` (which has chunk digests),
  // mapped so that each chunk is read and checked when first touched; unmapped when the runtime
  // frees the buffer. `fd`: the open program file (duplicated here); `range` must outlive the buffer. nullopt when the kernel
  // refuses to register the range: the caller then reads it whole.
  std::optional<executorch::runtime::FreeableBuffer> map(int fd, const std::string& path, const CardRange& range,
                                                         size_t offset, size_t size);

  struct Stats {
    size_t chunks = 0;   // chunks read and checked
    double hash_ms = 0;  // time spent reading and hashing them
  };
  Stats stats() const;

  struct Region;  // one mapped range (checked_on_use.cpp)

 private:
  CheckedOnUse(int uffd, int stop_fd);
  void serve();                       // the server thread: one page fault at a time
  void fill(uintptr_t address);       // reads, checks and installs the chunk holding `address`
  // UFFDIO_COPY of a checked chunk, page by page past partial copies and pages a racing fault
  // installed; wakes every waiter on the chunk. False when every page was already there.
  bool install(uintptr_t dst, const uint8_t* src, size_t length);
  static void release(void* context, void*, size_t);

  int uffd_ = -1, stop_fd_ = -1;
  std::thread server_;
  mutable std::mutex mutex_;  // regions_ and stats_
  std::vector<Region*> regions_;
  Stats stats_;
};

// Reads one byte of every page of [data, data + size): a page of a segment checked on use is
// then installed by a fault from user space, before a system call (write(2)) is handed the
// pointer (with user-mode-only userfaultfd the kernel's own access would fail with EFAULT).
void touch_pages(const void* data, size_t size);

}  // namespace xnn_runner

// How the runtime reads the program: checked range by range as it asks for them.
//
// Why not one mapping hashed up front: on Linux a private file mapping is no snapshot (pages the
// process has not written show later writes to the file), so bytes rewritten after the check
// were computed with; and over one whole-file mapping a delegate's Free() of its segment releases
// nothing, so weights stayed resident twice (packed by the delegate, and mapped).
//
// A trusted program (it has a card) is read by ExecuTorch's FileDataLoader, one card range at a
// time (the head, each segment: the card's program.ranges), into memory of the runner's own (an
// anonymous mapping, read-only once checked): the range's BLAKE3 digest is compared with the
// card's before the runtime sees a byte, and the memory goes back to the OS when the runtime
// frees the buffer. A request is served from the card range that holds it. A range the verify
// cache vouches for (verify_cache.h) is read without hashing, and the file re-checked after the
// read. A card without ranges (written before they existed) is checked whole, once, into
// private memory. A big constant range with chunk digests in its card (a language model's
// embedding table) is checked chunk by chunk as it is first touched (checked_on_use.h), so only
// the rows a run reads become resident, as with the mmap loader. An untrusted program (no card,
// or --verify_program=off) is read by ExecuTorch's MmapDataLoader: nothing to protect, and freed
// segments are unmapped. Either way the header's layout is checked (check_layout) on the first
// bytes the loader reads.
#pragma once

#include <memory>
#include <set>
#include <string>

#include <executorch/runtime/core/data_loader.h>

#include "checked_on_use.h"
#include "program_verification.h"

namespace xnn_runner {

class VerifiedDataLoader;

class ProgramLoader {
 public:
  // `v` must outlive the loader; its digest_ms and cached are filled in as ranges are read.
  ProgramLoader(const ProgramFile& file, Verification& v, const std::string& cache_dir);
  ~ProgramLoader();
  executorch::runtime::DataLoader* get() { return loader_.get(); }
  // Hands the loader over (to a Module that owns its loader); finish() still works after.
  std::unique_ptr<executorch::runtime::DataLoader> release() { return std::move(loader_); }
  // After the last load (methods and their delegates initialized): a trusted file must be as it
  // was opened (exit 5 when its size, mtime or ctime moved), and its checked ranges are
  // remembered in the verify cache. Fills v.cached and v.digest_ms.
  void finish();
  // Constant chunks checked as the run touched them (checked_on_use.h), so far.
  CheckedOnUse::Stats checked_on_use() const;

 private:
  void check_layout_of_head();  // check_layout (program_verification.h) on bytes the loader read

  const ProgramFile& file_;
  Verification& v_;
  std::string cache_dir_;
  std::set<std::string> cached_;
  VerifiedDataLoader* verified_ = nullptr;  // owned by loader_ (or by whoever took it)
  std::unique_ptr<executorch::runtime::DataLoader> loader_;
  std::shared_ptr<CheckedOnUse> on_use_;  // set by finish() when a range is checked on use
};

}  // namespace xnn_runner

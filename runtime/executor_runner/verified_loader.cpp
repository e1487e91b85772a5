#include "verified_loader.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/extension/data_loader/mmap_data_loader.h>

#include "checked_on_use.h"
#include "run_limits.h"
#include "runner_io.h"
#include "test_hooks.h"
#include "verify_cache.h"

namespace xnn_runner {

using executorch::extension::FileDataLoader;
using executorch::extension::MmapDataLoader;
using executorch::runtime::DataLoader;
using executorch::runtime::Error;
using executorch::runtime::FreeableBuffer;
using executorch::runtime::Result;

namespace {

// A checked range in an anonymous mapping: munmap gives it back to the OS at once (malloc
// would keep freed pages of a big segment in its heap).
struct Region {
  uint8_t* base = nullptr;
  size_t length = 0;
};

void free_region(void* context, void*, size_t) {
  auto* region = static_cast<Region*>(context);
  ::munmap(region->base, region->length);
  delete region;
}

// ExecuTorch's MmapDataLoader, with a mapping refused for lack of memory (over --max_memory_mb)
// reported as such (exit 6): the loader itself says only AccessFailed.
class UntrustedDataLoader final : public DataLoader {
 public:
  explicit UntrustedDataLoader(MmapDataLoader inner) : inner_(std::move(inner)) {}
  Result<FreeableBuffer> load(size_t offset, size_t size, const SegmentInfo& info) const override {
    errno = 0;
    Result<FreeableBuffer> r = inner_.load(offset, size, info);
    if (!r.ok() && errno == ENOMEM) fail_out_of_memory("cannot map " + std::to_string(size) + " bytes of the program");
    return r;
  }
  Error load_into(size_t offset, size_t size, const SegmentInfo& info, void* buffer) const override {
    return inner_.load_into(offset, size, info, buffer);
  }
  Result<size_t> size() const override { return inner_.size(); }

 private:
  MmapDataLoader inner_;
};

}  // namespace

class VerifiedDataLoader final : public DataLoader {
 public:
  VerifiedDataLoader(const ProgramFile& file, const Verification& v, std::set<std::string> cached,
                     FileDataLoader inner)
      : file_(file), v_(v), cached_(std::move(cached)), inner_(std::move(inner)) {}
  ~VerifiedDataLoader() override {
    if (resident_ != nullptr) free_region(resident_, nullptr, 0);
  }

  Result<FreeableBuffer> load(size_t offset, size_t size, const SegmentInfo& info) const override {
    const CardRange& range = range_for(offset, size);
    if (v_.whole_file_only) {  // an old card: the whole file, checked once, kept for the run
      std::lock_guard<std::mutex> lock(resident_mutex_);
      if (resident_ == nullptr) resident_ = read_checked(range, info);
      return FreeableBuffer(resident_->base + offset, size, nullptr, nullptr);
    }
    if (range.chunk_count() > 0 && range.chunk_size % page_size() == 0 && info.segment_type == SegmentInfo::Type::Constant) {
      if (std::shared_ptr<CheckedOnUse> server = on_use()) {
        std::optional<FreeableBuffer> mapped = server->map(file_.fd(), file_.path(), range, offset, size);
        if (mapped) return std::move(*mapped);
      }
    }
    Region* region = read_checked(range, info);
    return FreeableBuffer(region->base + (offset - range.offset), size, free_region, region);
  }

  Error load_into(size_t offset, size_t size, const SegmentInfo& info, void* buffer) const override {
    Result<FreeableBuffer> loaded = load(offset, size, info);
    if (!loaded.ok()) return loaded.error();
    std::memcpy(buffer, loaded->data(), size);
    return Error::Ok;
  }

  Result<size_t> size() const override { return file_.size(); }

  struct Stats {
    std::set<std::string> checked;  // keys of ranges read and found as the card says
    size_t hashed = 0;
    double hash_ms = 0;
  };
  Stats stats() const {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    return stats_;
  }

  std::shared_ptr<CheckedOnUse> started_on_use() const { return on_use_; }  // after the loads
  // The server of constants checked as they are used; started on the first such range (null
  // where the kernel refuses userfaultfd: those ranges are then read whole).
  std::shared_ptr<CheckedOnUse> on_use() const {
    std::call_once(on_use_started_, [this] { on_use_ = CheckedOnUse::start(); });
    return on_use_;
  }

 private:
  // The card range holding [offset, offset + size); exit 5 when none does (a program whose
  // head matches its card asks only for ranges the card lists).
  const CardRange& range_for(size_t offset, size_t size) const {
    for (const CardRange& r : v_.ranges) {
      if (offset >= r.offset && size <= r.size && offset - r.offset <= r.size - size) return r;
    }
    fail(kVerificationExit, "the runtime asked for bytes [" + std::to_string(offset) + ", " + std::to_string(offset + size) +
                                ") of " + file_.path() + ", which its card does not cover: re-export the program (its card is written with it)");
  }

  Region* read_checked(const CardRange& range, const SegmentInfo& info) const {
    const size_t page = page_size();
    auto* region = new Region{nullptr, (range.size + page - 1) / page * page};
    void* p = ::mmap(nullptr, region->length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail_out_of_memory("cannot allocate " + std::to_string(range.size) + " bytes to read the program into");
    // A big range (a language model's embedding table) in huge pages where the kernel lends
    // them: a few hundred page faults fewer per MiB read.
    if (region->length >= (size_t{2} << 20)) ::madvise(p, region->length, MADV_HUGEPAGE);
    region->base = static_cast<uint8_t*>(p);
    const Error e = inner_.load_into(range.offset, range.size, info, p);
    if (e != Error::Ok) fail(kErrorExit, "cannot read " + file_.path() + " (" + err_text(e) + ")");
    // A remembered range needs no hash while the file is as it was when it was remembered:
    // checked after the read, so no write began before the read ended.
    const bool cached = cached_.count(range.key()) != 0 && file_.unchanged();
    if (!cached) check_digest(range, region->base);
    ::mprotect(p, region->length, PROT_READ);  // checked bytes stay as checked
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_.checked.insert(range.key());
    return region;
  }

  void check_digest(const CardRange& range, const uint8_t* data) const {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string got = blake3_hex(data, range.size);
    if (got != range.blake3) {
      fail(kVerificationExit, file_.path() + " does not match its card: bytes [" + std::to_string(range.offset) + ", " +
                                  std::to_string(range.offset + range.size) + ") have blake3 digest " + got.substr(0, 16) +
                                  "... != " + range.blake3.substr(0, 16) + "... (modified or damaged copy)");
    }
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_.hashed += 1;
    stats_.hash_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  const ProgramFile& file_;
  const Verification& v_;
  const std::set<std::string> cached_;
  FileDataLoader inner_;
  mutable std::mutex stats_mutex_, resident_mutex_;
  mutable Stats stats_;
  mutable Region* resident_ = nullptr;
  mutable std::once_flag on_use_started_;
  mutable std::shared_ptr<CheckedOnUse> on_use_;
};

ProgramLoader::ProgramLoader(const ProgramFile& file, Verification& v, const std::string& cache_dir)
    : file_(file), v_(v), cache_dir_(cache_dir) {
  const std::string name = file.fd_path();
  if (!v.trusted) {
    Result<MmapDataLoader> mmap = MmapDataLoader::from(name.c_str(), MmapDataLoader::MlockConfig::NoMlock);
    if (!mmap.ok()) fail(kErrorExit, "cannot map model file " + file.path() + " (" + err_text(mmap.error()) + ")");
    loader_ = std::make_unique<UntrustedDataLoader>(std::move(mmap.get()));
    check_layout_of_head();
    return;
  }
  cached_ = cached_ranges(cache_dir, file, v.digest);
  Result<FileDataLoader> reader = FileDataLoader::from(name.c_str());
  if (!reader.ok()) fail(kErrorExit, "cannot open model file " + file.path() + " (" + err_text(reader.error()) + ")");
  auto verified = std::make_unique<VerifiedDataLoader>(file, v, cached_, std::move(reader.get()));
  verified_ = verified.get();
  loader_ = std::move(verified);
  pause_after_check_for_tests();
  check_layout_of_head();
}

void ProgramLoader::check_layout_of_head() {
  const size_t n = std::min<size_t>(40, file_.size());
  Result<FreeableBuffer> head = loader_->load(0, n, DataLoader::SegmentInfo(DataLoader::SegmentInfo::Type::Program));
  if (!head.ok()) fail(kErrorExit, "cannot read " + file_.path() + " (" + err_text(head.error()) + ")");
  check_layout(file_.path(), static_cast<const uint8_t*>(head->data()), head->size(), file_.size());
}

ProgramLoader::~ProgramLoader() = default;

CheckedOnUse::Stats ProgramLoader::checked_on_use() const { return on_use_ ? on_use_->stats() : CheckedOnUse::Stats{}; }

void ProgramLoader::finish() {
  if (verified_ == nullptr) return;
  pause_before_final_check_for_tests();
  if (!file_.unchanged()) {
    fail(kVerificationExit, file_.path() + " changed (size, mtime or ctime) while it was being loaded: run it again "
                                           "once nothing writes to it");
  }
  on_use_ = verified_->started_on_use();
  const VerifiedDataLoader::Stats stats = verified_->stats();
  v_.digest_ms += stats.hash_ms;
  v_.cached = stats.hashed == 0 && !stats.checked.empty();
  std::set<std::string> known = cached_;
  known.insert(stats.checked.begin(), stats.checked.end());
  if (known != cached_) remember_ranges(cache_dir_, file_, v_.digest, known);
  pause_before_first_run_for_tests();
}

}  // namespace xnn_runner

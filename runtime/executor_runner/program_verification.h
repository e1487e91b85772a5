// Is this program the one its card describes? The runner's side of examples/integrity/verify.py,
// checked before the runtime parses a byte of the program (a corrupt delegate payload can
// crash or hang its parser, so nothing that reads the payload runs first).
//
// The card is <program>.json beside the program (examples/integrity/card.py writes it). Checked,
// in order: the card parses and is a program card; the file size equals the card's (a
// truncated copy fails without hashing); the BLAKE3 digest of the mapped bytes equals the
// card's. The runtime then loads exactly the bytes that were hashed (the mapping), so the file
// cannot change between the check and the load. After the load: the method's inputs and
// outputs match the card's, and an ahead-of-time compiled program (OpenVINO) was compiled for
// this CPU class. Failures end the run with exit 5 (kVerificationExit), one line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include <executorch/runtime/executor/method_meta.h>

namespace xnn_runner {

enum class VerifyMode { kAuto, kRequire, kOff };

// "auto" | "require" | "off"; anything else is a usage error (exit 2).
VerifyMode parse_verify_mode(const std::string& text);

// The program file, mapped read-only for the life of the run: the runtime's segments (and
// delegate blobs that are never copied, such as OpenVINO's) point into it.
class MappedProgram {
 public:
  explicit MappedProgram(const std::string& path);  // fails with exit 1 when unreadable
  ~MappedProgram();
  MappedProgram(const MappedProgram&) = delete;
  MappedProgram& operator=(const MappedProgram&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // The mapped file's identity and change times (fstat of the descriptor that was mapped).
  struct Identity {
    uint64_t device = 0, inode = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
  };
  const Identity& identity() const { return identity_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  Identity identity_;
};

// The file's layout as its extended header ("eh00") states it, checked in every mode (cheap,
// and the runtime alone accepts a missing header or a shifted segment base): the header must be
// there, and the segments must start at or after the flatbuffer and end exactly at the end of the
// file, as ExecuTorch's serializer writes them. A flipped header byte otherwise makes a portable
// program read its weights from the wrong place and answer wrongly with exit 0. Exit 1 (not a
// valid program) on a mismatch.
void check_layout(const std::string& path, const MappedProgram& bytes);

// Where verified digests are remembered, from --verify_cache: "on" (the default folder,
// $XDG_CACHE_HOME or ~/.cache, then executorch-runner/verified), "off" (returns ""), or a folder.
//
// Why: hashing is most of what verification costs (BLAKE3 reads about 3 GB/s per AVX2 core), and
// a program is usually run many times unchanged. As Linux IMA does for measured files, a digest
// is re-computed only when the file may have changed: an entry names the file (device, inode)
// with its size, mtime and ctime, and the digest it had; a run whose file and card still match
// the entry skips the hash. Any write to the file changes its ctime, which only root can set
// back, and a copy is a new inode. Entries are written only for files whose ctime is over 2 s
// old, so a write in the same timestamp tick as the check cannot hide behind it. The folder
// keeps the 1024 most recently used entries.
std::string resolve_verify_cache(const std::string& flag);

struct Verification {
  VerifyMode mode = VerifyMode::kAuto;
  bool trusted = false;  // a card was present and the bytes match it
  bool cached = false;   // the digest came from the verify cache (the file had not changed)
  std::string status;    // "verified" | "untrusted (no card)" | "not checked"
  double digest_ms = 0;  // time spent reading the card and hashing
  nlohmann::json card;   // null when there is none
};

// Size and digest against the card (see above); exit 5 on a mismatch. `cache_dir` (from
// resolve_verify_cache; "" = no cache) may stand in for the hash of an unchanged file.
Verification verify_program(const std::string& path, const MappedProgram& bytes, VerifyMode mode,
                            const std::string& cache_dir = "");

// The method's input/output dtypes and shapes against the card's; exit 5 on a mismatch.
// No-op for an untrusted program or a card without this method.
void check_method_against_card(const Verification& v, const executorch::runtime::MethodMeta& meta,
                               const std::string& path, const std::string& method_name);

// A program compiled ahead of time for another CPU class (card: extra.compiled_for.cpu_class)
// is refused: exit 5. This CPU's class is architecture + the int8/SIMD flags that choose kernels
// ("x86_64 avx2 fma"), the same string as examples/quantization/cpu_caps.py's cpu_class.
void check_compiled_for_this_cpu(const Verification& v, const std::string& path);
std::string this_cpu_class();

// BLAKE3 of a buffer, lower-case hex.
std::string blake3_hex(const uint8_t* data, size_t size);

}  // namespace xnn_runner

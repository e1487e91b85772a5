// Is this program the one its card describes? The runner's side of examples/integrity/verify.py,
// checked before the runtime uses a byte of the program (a corrupt delegate payload can crash or
// hang its parser, so nothing that reads the payload runs first).
//
// The card is <program>.json beside the program (examples/integrity/card.py writes it). Checked,
// in order: the card parses and is a program card; the file size equals the card's (a truncated
// copy fails without hashing); then each range the runtime asks for (the head, each segment) is
// read into the runner's own memory and its BLAKE3 digest compared with the card's before the
// runtime sees it (verified_loader.h): the bytes checked are the bytes used, whatever happens to
// the file meanwhile. After the load: the method's inputs and outputs match the card's, and an
// ahead-of-time compiled program (OpenVINO) was compiled for this CPU class. Failures end the run
// with exit 5 (kVerificationExit), one line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <executorch/runtime/executor/method_meta.h>

namespace xnn_runner {

enum class VerifyMode { kAuto, kRequire, kOff };

// "auto" | "require" | "off"; anything else is a usage error (exit 2).
VerifyMode parse_verify_mode(const std::string& text);

// The program file, open for the life of the run. Nothing is mapped: the runtime's loader reads
// each range it needs into its own memory (verified_loader.h), so what was checked is what is used.
class ProgramFile {
 public:
  explicit ProgramFile(const std::string& path);  // fails with exit 1 when unreadable
  ~ProgramFile();
  ProgramFile(const ProgramFile&) = delete;
  ProgramFile& operator=(const ProgramFile&) = delete;
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  size_t size() const { return static_cast<size_t>(identity_.size); }
  // The open file's identity and change times (fstat of the descriptor).
  struct Identity {
    uint64_t device = 0, inode = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Identity& o) const {
      return device == o.device && inode == o.inode && size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
    }
  };
  const Identity& identity() const { return identity_; }
  // Whether the file is still as it was opened (a write changes its ctime; only root can set it back).
  bool unchanged() const;
  // "/proc/self/fd/N": this very open file, for ExecuTorch loaders that open by name (a rename
  // of another file onto the path in between does not change what they read).
  std::string fd_path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  std::string path_;
  int fd_ = -1;
  Identity identity_;
};

// The file's layout as its extended header ("eh00") states it, checked in every mode (cheap,
// and the runtime alone accepts a missing header or a shifted segment base): the header must be
// there, and the segments must start at or after the flatbuffer and end exactly at the end of the
// file, as ExecuTorch's serializer writes them. A flipped header byte otherwise makes a portable
// program read its weights from the wrong place and answer wrongly with exit 0. Exit 1 (not a
// valid program) on a mismatch. `head`: the first `size` bytes (40 suffice), as the loader
// read them (checked against the card when there is one, so a damaged header is exit 5).
void check_layout(const std::string& path, const uint8_t* head, size_t size, uint64_t file_size);

// One range of the file and its digest, from the card's program.ranges (the head, then each
// segment; examples/integrity/layout.py). Keyed by offset and size: the runtime's SegmentInfo
// index does not name constant segments reliably.
struct CardRange {
  uint64_t offset = 0, size = 0;
  std::string blake3;
  // A big constant range also has one digest per chunk (checked_on_use.h), the last chunk the
  // rest of the range: 64 hex digits each, concatenated (one string, not thousands); empty
  // when the card lists none.
  uint64_t chunk_size = 0;
  std::string chunk_blake3;
  size_t chunk_count() const { return chunk_blake3.size() / 64; }
  bool chunk_matches(size_t index, const std::string& hex) const { return chunk_blake3.compare(64 * index, 64, hex) == 0; }
  std::string key() const { return std::to_string(offset) + ":" + std::to_string(size) + ":" + blake3; }
};

struct Verification {
  VerifyMode mode = VerifyMode::kAuto;
  bool trusted = false;  // a card was present and the bytes match it
  bool cached = false;   // the digest came from the verify cache (the file had not changed)
  std::string status;    // "verified" | "untrusted (no card)" | "not checked"
  double digest_ms = 0;  // time spent reading the card and hashing (the loader adds its hashing)
  nlohmann::json card;   // null when there is none
  std::string digest;    // the card's digest of the whole file
  // The card's ranges; a card written before ranges existed gets one: the whole file.
  std::vector<CardRange> ranges;
  bool whole_file_only = false;
};

// Reads the card and checks the file's size against it; exit 5 on a mismatch. Hashing is the
// loader's: each range when it is read (verified_loader.h).
Verification verify_program(const ProgramFile& file, VerifyMode mode);

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

// The 64 lowercase hex digits of a 32-byte BLAKE3 digest into out[0, 64), allocating nothing
// (checked_on_use.cpp calls it from a signal handler).
void blake3_digest_hex(const uint8_t* digest, char* out);

}  // namespace xnn_runner

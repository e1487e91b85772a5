#include "program_verification.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "blake3.h"
#include "exit_codes.h"
#include "run_limits.h"
#include "runner_io.h"

namespace xnn_runner {

using executorch::runtime::MethodMeta;
using executorch::runtime::Tag;
using executorch::runtime::TensorInfo;

namespace {

// examples/integrity/card.py
constexpr const char* kCardSchema = "xnnpack-toolkit.program-card";
constexpr int kCardSchemaVersion = 1;

[[noreturn]] void fail_verification(const std::string& message) { fail(kVerificationExit, message); }

// The member `key` of `j`, or null when `j` is not an object or lacks it. Never nlohmann's
// operator[] on a const value: with a missing key it is undefined behaviour (here: a crash,
// now and then, while loading a program whose card has no "compiled_for").
int64_t nanoseconds(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000LL + t.tv_nsec; }

ProgramFile::Identity identity_of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
          nanoseconds(st.st_mtim), nanoseconds(st.st_ctim)};
}

const nlohmann::json& member(const nlohmann::json& j, const std::string& key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string card_path(const std::string& program) { return program + ".json"; }

std::string printable(const std::string& text) {  // one line of printable ASCII, as fail() prints
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
  }
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The card beside the program; null when there is none.
nlohmann::json read_card(const std::string& program) {
  const std::string path = card_path(program);
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    if (errno == ENOENT) return nullptr;
    fail_verification("cannot read the program card " + path + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << file.rdbuf();
  nlohmann::json card = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (card.is_discarded()) fail_verification("the program card " + path + " is not valid JSON");
  if (!card.is_object() || card.value("schema", "") != kCardSchema) {
    fail_verification(path + " is not a program card (schema '" + std::string(kCardSchema) + "' expected)");
  }
  if (!member(card, "schema_version").is_number_integer() || member(card, "schema_version").get<int>() != kCardSchemaVersion) {
    fail_verification("the program card " + path + " has another schema_version; this runner reads " +
                      std::to_string(kCardSchemaVersion));
  }
  const nlohmann::json& program_entry = member(card, "program");
  if (!program_entry.is_object() || !member(program_entry, "size_bytes").is_number_unsigned() ||
      !member(program_entry, "digest").is_object() || !member(member(program_entry, "digest"), "hex").is_string()) {
    fail_verification("the program card " + path + " lacks program.size_bytes or program.digest");
  }
  return card;
}

// A range's optional chunks: {size, blake3: "<64 hex digits per chunk>"}, one digest per chunk
// of the range. False when unusable. (A size that is no whole number of this machine's pages is
// usable: that range is then read whole, verified_loader.cpp.)
bool read_chunks(const nlohmann::json& chunks, CardRange& range) {
  if (chunks.is_null()) return true;
  if (!member(chunks, "size").is_number_unsigned() || !member(chunks, "blake3").is_string()) return false;
  range.chunk_size = member(chunks, "size").get<uint64_t>();
  range.chunk_blake3 = member(chunks, "blake3").get<std::string>();
  if (range.chunk_size == 0 || range.chunk_size > (uint64_t{64} << 20)) return false;
  const uint64_t count = (range.size + range.chunk_size - 1) / range.chunk_size;
  if (count > SIZE_MAX / 64 || range.chunk_blake3.size() != 64 * count) return false;
  return range.chunk_blake3.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// program.ranges: [{offset, size, blake3}], each inside the file, the first one the head at 0.
// Empty when the card predates ranges (the loader then checks the whole file at once).
std::vector<CardRange> card_ranges(const nlohmann::json& program, uint64_t file_size, const std::string& path) {
  std::vector<CardRange> ranges;
  const nlohmann::json& listed = member(program, "ranges");
  if (listed.is_null()) return ranges;
  const auto bad = [&](const std::string& why) {
    fail_verification("the program card " + card_path(path) + " has unusable program.ranges (" + why +
                      "): re-export the program (its card is written with it)");
  };
  if (!listed.is_array() || listed.empty()) bad("not a list");
  for (const nlohmann::json& r : listed) {
    if (!member(r, "offset").is_number_unsigned() || !member(r, "size").is_number_unsigned() || !member(r, "blake3").is_string()) {
      bad("each needs offset, size and blake3");
    }
    CardRange range;
    range.offset = member(r, "offset").get<uint64_t>();
    range.size = member(r, "size").get<uint64_t>();
    range.blake3 = member(r, "blake3").get<std::string>();
    if (range.size == 0 || range.offset > file_size || range.size > file_size - range.offset) bad("a range outside the file");
    if (!read_chunks(member(r, "chunks"), range)) bad("chunks need a size and one blake3 digest per chunk");
    ranges.push_back(range);
  }
  if (ranges.front().offset != 0) bad("the first range must be the head, at offset 0");
  return ranges;
}

}  // namespace

VerifyMode parse_verify_mode(const std::string& text) {
  if (text == "auto") return VerifyMode::kAuto;
  if (text == "require") return VerifyMode::kRequire;
  if (text == "off") return VerifyMode::kOff;
  fail(kUsageExit, "--verify_program must be auto, require or off (got '" + text + "')");
}

ProgramFile::ProgramFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail(kErrorExit, "cannot open model file " + path + ": " + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) fail(kErrorExit, "model path " + path + " is not a regular file");
  identity_ = identity_of(st);
  if (identity_.size == 0) fail(kErrorExit, path + " is empty, not an ExecuTorch program");
}

ProgramFile::~ProgramFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool ProgramFile::unchanged() const {
  struct stat st{};
  return ::fstat(fd_, &st) == 0 && identity_of(st) == identity_;
}

void check_layout(const std::string& path, const uint8_t* head, size_t got, uint64_t file_size) {
  // Layout (executorch/exir/_serialize/_program.py, _ExtendedHeader): at byte 8 the magic
  // "eh00", u32 header length, then u64 program_size, segment_base_offset, segment_data_size.
  constexpr size_t kHeaderAt = 8, kFieldsAt = 16, kNeeded = 40;
  // Without the header the runtime takes the segment base to be 0 and reads weights from the
  // wrong place (a flipped magic byte ran portable programs to wrong answers with exit 0);
  // every program ExecuTorch 1.x writes has it, segments or not.
  if (got < kNeeded || std::memcmp(head + kHeaderAt, "eh00", 4) != 0) {
    fail(kErrorExit, path + " is not a valid ExecuTorch program: no extended header ('eh00' at byte 8; "
                            "every program ExecuTorch 1.x writes has one): damaged header, or not a program");
  }
  uint32_t length = 0;
  std::memcpy(&length, head + kHeaderAt + 4, sizeof(length));
  if (length < kNeeded - kHeaderAt) return;  // an older header without segment_data_size
  uint64_t program_size = 0, segment_base = 0, segment_size = 0;
  std::memcpy(&program_size, head + kFieldsAt, 8);
  std::memcpy(&segment_base, head + kFieldsAt + 8, 8);
  std::memcpy(&segment_size, head + kFieldsAt + 16, 8);
  if (segment_size == 0) return;  // no segments
  if (program_size > segment_base || segment_base > file_size || segment_size != file_size - segment_base) {
    fail(kErrorExit, path + " is not a valid ExecuTorch program: its header puts " + std::to_string(segment_size) +
                         " bytes of segments at offset " + std::to_string(segment_base) + " after a " +
                         std::to_string(program_size) + "-byte program, but the file has " +
                         std::to_string(file_size) + " bytes (damaged header or file)");
  }
}

void blake3_digest_hex(const uint8_t* digest, char* out) {
  static const char* kHex = "0123456789abcdef";
  for (size_t i = 0; i < BLAKE3_OUT_LEN; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
}

std::string blake3_hex(const uint8_t* data, size_t size) {
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  blake3_hasher_update_tbb(&hasher, data, size);  // on several cores: see blake3_threads.cpp
  uint8_t out[BLAKE3_OUT_LEN];
  blake3_hasher_finalize(&hasher, out, BLAKE3_OUT_LEN);
  std::string hex(2 * BLAKE3_OUT_LEN, '0');
  blake3_digest_hex(out, hex.data());
  return hex;
}

Verification verify_program(const ProgramFile& file, VerifyMode mode) {
  const std::string& path = file.path();
  Verification v;
  v.mode = mode;
  if (mode == VerifyMode::kOff) {
    v.status = "not checked";
    return v;
  }
  const auto t0 = std::chrono::steady_clock::now();
  v.card = read_card(path);
  if (v.card.is_null()) {
    if (mode == VerifyMode::kRequire) {
      fail_verification(path + " has no program card (" + card_path(path) + ") and --verify_program=require");
    }
    v.status = "untrusted (no card)";
    // One line, so an unchecked run is never silent; stdout (the report) is unchanged.
    std::fprintf(stderr, "warning: %s has no program card (%s): running it unchecked; --verify_program=require refuses such programs\n",
                 printable(path).c_str(), printable(card_path(path)).c_str());
    return v;
  }
  const nlohmann::json& expected = member(v.card, "program");
  const uint64_t want_size = member(expected, "size_bytes").get<uint64_t>();
  if (file.size() != want_size) {
    fail_verification(path + " is " + std::to_string(file.size()) + " bytes but its card says " +
                      std::to_string(want_size) + " (truncated or damaged copy)");
  }
  const std::string algorithm = member(expected, "digest").value("algorithm", "");
  if (algorithm != "blake3") {
    fail_verification("the card of " + path + " uses digest '" + algorithm + "'; only blake3 is supported");
  }
  v.digest = member(member(expected, "digest"), "hex").get<std::string>();
  v.ranges = card_ranges(expected, want_size, path);
  v.whole_file_only = v.ranges.empty();
  if (v.whole_file_only) {
    CardRange whole;
    whole.size = want_size;
    whole.blake3 = v.digest;
    v.ranges.push_back(whole);
  }
  // Keep what is checked later (methods, backend, extra), not a second copy of the ranges, and
  // give the heap the parse used back to the OS: peak RSS growth over the runtime's own mmap
  // loader is then the bytes a verified copy must hold (tools/memory_cost).
  v.card.erase("packages");
  v.card["program"].erase("ranges");
  ::malloc_trim(0);
  v.trusted = true;  // provisionally: every byte the runtime gets is checked as it is read
  v.status = "verified";
  v.digest_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return v;
}

namespace {

void compare_method(const Verification& v, const MethodMeta& meta, const std::string& path,
                    const std::string& method_name) {
  const nlohmann::json& methods = member(v.card, "methods");
  if (!methods.is_object() || !methods.contains(method_name)) return;  // cards of other formats list none
  const nlohmann::json& spec = member(methods, method_name);
  const std::string name = path + " method '" + method_name + "'";
  struct Side {
    const char* what;
    size_t count;
    bool input;
  };
  for (const Side side : {Side{"inputs", meta.num_inputs(), true}, Side{"outputs", meta.num_outputs(), false}}) {
    const nlohmann::json& listed = member(spec, side.what);
    if (!listed.is_array()) continue;
    if (listed.size() != side.count) {
      fail_verification(name + " has " + std::to_string(side.count) + " " + side.what + "; its card lists " +
                        std::to_string(listed.size()));
    }
    for (size_t i = 0; i < side.count; ++i) {
      const nlohmann::json& want = listed[i];
      if (!want.is_object() || !want.contains("dtype")) continue;  // a non-tensor value
      auto info = side.input ? meta.input_tensor_meta(i) : meta.output_tensor_meta(i);
      if (!info.ok()) fail_verification(name + ": " + side.what + " " + std::to_string(i) + " is not a tensor; its card says it is");
      std::vector<int64_t> shape(info->sizes().begin(), info->sizes().end());
      const std::string dtype = dtype_name(info->scalar_type());
      const std::vector<int64_t> want_shape = want.value("shape", std::vector<int64_t>{});
      if (dtype != want.value("dtype", "") || shape != want_shape) {
        fail_verification(name + ": " + std::string(side.input ? "input " : "output ") + std::to_string(i) + " is " +
                          dtype + " " + shape_text(shape) + "; its card says " + want.value("dtype", "?") + " " +
                          shape_text(want_shape));
      }
    }
  }
}

}  // namespace

void check_method_against_card(const Verification& v, const MethodMeta& meta, const std::string& path,
                               const std::string& method_name) {
  if (!v.trusted) return;
  try {
    compare_method(v, meta, path, method_name);
  } catch (const nlohmann::json::exception&) {  // e.g. a shape that is not a list of integers
    fail_verification("the program card " + card_path(path) + " describes method '" + method_name +
                      "' in a form this runner cannot read");
  }
}

std::string this_cpu_class() {
  // The flags examples/quantization/cpu_caps.py reports (REPORTED_FLAGS), in its order.
  static const char* kReported[] = {"avx2",     "fma",      "avx512f",  "avx512bw", "avx512_vnni",
                                    "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16",
                                    "asimd",    "asimddp",  "i8mm",     "sve"};
  std::set<std::string> have;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("flags", 0) != 0 && line.rfind("Features", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) have.insert(w);
    break;  // the first CPU's flags
  }
  struct utsname u{};
  std::string cls = ::uname(&u) == 0 ? u.machine : "unknown";
  for (const char* flag : kReported) {
    if (have.count(flag)) cls += std::string(" ") + flag;
  }
  return cls;
}

void check_compiled_for_this_cpu(const Verification& v, const std::string& path) {
  if (!v.trusted) return;
  const nlohmann::json& extra = member(v.card, "extra");
  if (!extra.is_object() || !member(extra, "compiled_for").is_object()) return;
  const nlohmann::json& wanted = member(member(extra, "compiled_for"), "cpu_class");
  if (!wanted.is_string()) return;
  const std::string here = this_cpu_class();
  if (wanted.get<std::string>() != here) {
    const std::string backend = member(v.card, "backend").is_string() ? member(v.card, "backend").get<std::string>() : "its backend";
    fail_verification(path + " was compiled by " + backend + " for CPU class '" + wanted.get<std::string>() +
                      "'; this CPU is '" + here + "': re-export it on this machine");
  }
}

}  // namespace xnn_runner

#include "program_verification.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
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

const nlohmann::json& member(const nlohmann::json& j, const std::string& key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string card_path(const std::string& program) { return program + ".json"; }

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

}  // namespace

VerifyMode parse_verify_mode(const std::string& text) {
  if (text == "auto") return VerifyMode::kAuto;
  if (text == "require") return VerifyMode::kRequire;
  if (text == "off") return VerifyMode::kOff;
  fail(kUsageExit, "--verify_program must be auto, require or off (got '" + text + "')");
}

MappedProgram::MappedProgram(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(kErrorExit, "cannot open model file " + path + ": " + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(kErrorExit, "model path " + path + " is not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  identity_ = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), nanoseconds(st.st_mtim),
               nanoseconds(st.st_ctim)};
  if (size_ == 0) {
    ::close(fd);
    fail(kErrorExit, path + " is empty, not an ExecuTorch program");
  }
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) {
    if (mmap_errno == ENOMEM) fail_out_of_memory("cannot map the " + std::to_string(size_) + "-byte file");
    fail(kErrorExit, "cannot map model file " + path + ": " + std::strerror(mmap_errno));
  }
  data_ = static_cast<const uint8_t*>(p);
}

MappedProgram::~MappedProgram() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void check_layout(const std::string& path, const MappedProgram& bytes) {
  // Layout (executorch/exir/_serialize/_program.py, _ExtendedHeader): at byte 8 the magic
  // "eh00", u32 header length, then u64 program_size, segment_base_offset, segment_data_size.
  constexpr size_t kHeaderAt = 8, kFieldsAt = 16, kNeeded = 40;
  // Without the header the runtime takes the segment base to be 0 and reads weights from the
  // wrong place (a flipped magic byte ran portable programs to wrong answers with exit 0);
  // every program ExecuTorch 1.x writes has it, segments or not.
  if (bytes.size() < kNeeded || std::memcmp(bytes.data() + kHeaderAt, "eh00", 4) != 0) {
    fail(kErrorExit, path + " is not a valid ExecuTorch program: no extended header ('eh00' at byte 8; "
                            "every program ExecuTorch 1.x writes has one): damaged header, or not a program");
  }
  uint32_t length = 0;
  std::memcpy(&length, bytes.data() + kHeaderAt + 4, sizeof(length));
  if (length < kNeeded - kHeaderAt) return;  // an older header without segment_data_size
  uint64_t program_size = 0, segment_base = 0, segment_size = 0;
  std::memcpy(&program_size, bytes.data() + kFieldsAt, 8);
  std::memcpy(&segment_base, bytes.data() + kFieldsAt + 8, 8);
  std::memcpy(&segment_size, bytes.data() + kFieldsAt + 16, 8);
  if (segment_size == 0) return;  // no segments
  const uint64_t file_size = bytes.size();
  if (program_size > segment_base || segment_base > file_size || segment_size != file_size - segment_base) {
    fail(kErrorExit, path + " is not a valid ExecuTorch program: its header puts " + std::to_string(segment_size) +
                         " bytes of segments at offset " + std::to_string(segment_base) + " after a " +
                         std::to_string(program_size) + "-byte program, but the file has " +
                         std::to_string(file_size) + " bytes (damaged header or file)");
  }
}

std::string blake3_hex(const uint8_t* data, size_t size) {
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  blake3_hasher_update_tbb(&hasher, data, size);  // on several cores: see blake3_threads.cpp
  uint8_t out[BLAKE3_OUT_LEN];
  blake3_hasher_finalize(&hasher, out, BLAKE3_OUT_LEN);
  static const char* kHex = "0123456789abcdef";
  std::string hex(2 * BLAKE3_OUT_LEN, '0');
  for (size_t i = 0; i < BLAKE3_OUT_LEN; ++i) {
    hex[2 * i] = kHex[out[i] >> 4];
    hex[2 * i + 1] = kHex[out[i] & 15];
  }
  return hex;
}

std::string resolve_verify_cache(const std::string& flag) {
  if (flag == "off") return "";
  if (flag != "on") {
    if (flag.empty()) fail(kUsageExit, "--verify_cache must be on, off or a folder");
    return flag;
  }
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/executorch-runner/verified";
  if (home != nullptr && home[0] == '/') return std::string(home) + "/.cache/executorch-runner/verified";
  return "";  // nowhere to remember: every run hashes
}

namespace {

std::string cache_entry_path(const std::string& dir, const MappedProgram::Identity& id) {
  return dir + "/" + std::to_string(id.device) + "-" + std::to_string(id.inode) + ".json";
}

// The digest an entry vouches for, when it describes this very file unchanged; else "".
std::string cached_digest(const std::string& dir, const MappedProgram& bytes) {
  if (dir.empty()) return "";
  const MappedProgram::Identity& id = bytes.identity();
  const std::string entry_path = cache_entry_path(dir, id);
  std::ifstream file(entry_path);
  if (!file) return "";
  const nlohmann::json entry = nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
  const auto number = [&](const char* key) { return member(entry, key).is_number_integer() ? member(entry, key).get<int64_t>() : -1; };
  if (number("size") != static_cast<int64_t>(bytes.size()) || number("mtime_ns") != id.mtime_ns ||
      number("ctime_ns") != id.ctime_ns || !member(entry, "blake3").is_string()) {
    return "";
  }
  ::utimensat(AT_FDCWD, entry_path.c_str(), nullptr, 0);  // recently used (see prune_cache)
  return member(entry, "blake3").get<std::string>();
}

// The folder keeps at most kMaxCacheEntries entries: past that, the least recently used go (a
// hit touches its entry). Only a miss that writes an entry pays for the listing.
constexpr size_t kMaxCacheEntries = 1024;

void prune_cache(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> entries;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") entries.emplace_back(e.last_write_time(ec), e.path());
  }
  if (entries.size() <= kMaxCacheEntries) return;
  std::sort(entries.begin(), entries.end());
  for (size_t i = 0; i + kMaxCacheEntries < entries.size(); ++i) fs::remove(entries[i].second, ec);
}

// Best effort: a folder that cannot be written only means the next run hashes again.
void remember_digest(const std::string& dir, const MappedProgram& bytes, const std::string& digest) {
  namespace fs = std::filesystem;
  const MappedProgram::Identity& id = bytes.identity();
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  if (dir.empty() || id.ctime_ns > nanoseconds(now) - 2000000000LL) return;  // too fresh: see the header
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::permissions(dir, fs::perms::owner_all, ec);  // private: entries vouch for programs
  if (ec) return;
  const nlohmann::json entry = {{"size", bytes.size()}, {"mtime_ns", id.mtime_ns}, {"ctime_ns", id.ctime_ns},
                                {"blake3", digest}};
  const std::string text = entry.dump() + "\n";
  std::string error;
  if (write_file_atomic(cache_entry_path(dir, id), text.data(), text.size(), error)) prune_cache(dir);
}

}  // namespace

Verification verify_program(const std::string& path, const MappedProgram& bytes, VerifyMode mode,
                            const std::string& cache_dir) {
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
    return v;
  }
  const nlohmann::json& expected = member(v.card, "program");
  const uint64_t want_size = member(expected, "size_bytes").get<uint64_t>();
  if (bytes.size() != want_size) {
    fail_verification(path + " is " + std::to_string(bytes.size()) + " bytes but its card says " +
                      std::to_string(want_size) + " (truncated or damaged copy)");
  }
  const std::string algorithm = member(expected, "digest").value("algorithm", "");
  if (algorithm != "blake3") {
    fail_verification("the card of " + path + " uses digest '" + algorithm + "'; only blake3 is supported");
  }
  const std::string want = member(member(expected, "digest"), "hex").get<std::string>();
  v.cached = !want.empty() && cached_digest(cache_dir, bytes) == want;
  const std::string got = v.cached ? want : blake3_hex(bytes.data(), bytes.size());
  if (got != want) {
    fail_verification(path + " does not match its card: blake3 digest " + got.substr(0, 16) + "... != " +
                      want.substr(0, 16) + "... (modified or damaged copy)");
  }
  if (!v.cached) remember_digest(cache_dir, bytes, got);
  v.trusted = true;
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

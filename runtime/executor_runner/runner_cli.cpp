#include "runner_cli.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include <gflags/gflags.h>

#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

#include "exit_codes.h"
#include "run_limits.h"
#include "runner_io.h"

namespace xnn_runner {
namespace {

bool g_verbose = false;
bool g_allocation_failed = false;

void log_sink(et_timestamp_t, et_pal_log_level_t level, const char* filename, const char*, size_t line,
              const char* message, size_t length) {
  std::string msg(message, length);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  // The OpenVINO delegate's own message is the error to report (the runtime's later
  // "Backend ... is not available" says less).
  static bool openvino_missing = false;
  if (msg.find("OpenVINO runtime not found") != std::string::npos) openvino_missing = true;
  if (level == kError || level == kFatal) {
    // The runtime's "Init failed for backend X" follows the delegate's own reason: keep that.
    const bool generic = msg.rfind("Init failed for backend", 0) == 0 && !last_runtime_error().empty();
    if (!generic) last_runtime_error() = msg;
    if (looks_like_allocation_failure(msg)) g_allocation_failed = true;
    if (openvino_missing) {
      last_runtime_error() =
          "the OpenVINO runtime (libopenvino_c.so) was not found: install it (pip install "
          "openvino==2026.4.1, as ./setup.sh does) or set OPENVINO_LIB_PATH to the libopenvino_c.so file";
    }
  }
  if (g_verbose) {
    std::fprintf(stderr, "%c executorch:%s:%zu] %s\n", static_cast<char>(level), filename ? filename : "?", line,
                 msg.c_str());
  }
}

// "--name=value" / "--name" / "--noname": the flag's name, or "" for something else.
std::string flag_name(const std::string& arg) {
  if (arg.rfind("-", 0) != 0 || arg == "--" || arg == "-") return "";
  const std::string body = arg.substr(arg.rfind("--", 0) == 0 ? 2 : 1);
  return body.substr(0, body.find('='));
}

// --help: the usage line and the runner's own flags, one per line; gflags' built-in --help
// lists its internal flags (flagfile, tab completion, ...) first, where a user looks for
// --model_path. --helpfull still shows everything.
[[noreturn]] void print_own_help(const std::string& usage) {
  std::vector<gflags::CommandLineFlagInfo> flags;
  gflags::GetAllFlags(&flags);  // sorted by file, then name
  std::printf("%s\n\nFlags (--name=value; a bool flag also as --name / --noname):\n", usage.c_str());
  for (const gflags::CommandLineFlagInfo& f : flags) {
    if (f.filename.find("gflags") != std::string::npos) continue;
    std::printf("  --%s  %s (%s, default: %s)\n", f.name.c_str(), f.description.c_str(), f.type.c_str(),
                f.default_value.empty() ? "\"\"" : f.default_value.c_str());
  }
  std::printf("\n--helpfull also lists the flag library's own flags.\n");
  std::fflush(stdout);
  std::exit(0);
}

}  // namespace

void parse_flags_strictly(int* argc, char*** argv, const std::string& usage) {
  gflags::SetUsageMessage(usage);
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = (*argv)[i];
    if (arg == "--") break;
    const std::string name = flag_name(arg);
    if (name == "help" || name == "helpshort") print_own_help(usage);
    if (name.empty() || name == "helpfull" || name == "version") continue;
    gflags::CommandLineFlagInfo info;
    const bool known = gflags::GetCommandLineFlagInfo(name.c_str(), &info) ||
                       (name.rfind("no", 0) == 0 && gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info));
    if (!known) fail(kUsageExit, "unknown flag --" + name + " (see --help)");
    const size_t eq = arg.find('=');
    if (eq != std::string::npos && gflags::SetCommandLineOption(name.c_str(), arg.substr(eq + 1).c_str()).empty()) {
      fail(kUsageExit, "invalid value for --" + name + ": '" + arg.substr(eq + 1) + "'");
    }
  }
  gflags::ParseCommandLineFlags(argc, argv, true);
  if (*argc > 1) fail(kUsageExit, std::string("unexpected argument '") + (*argv)[1] + "' (flags are --name=value)");
}

void install_runtime_log(bool verbose) {
  g_verbose = verbose;
  executorch::runtime::register_pal(executorch::runtime::PalImpl::create(log_sink, __FILE__));
}

bool runtime_allocation_failed() { return g_allocation_failed; }

void fail_runtime(const std::string& what, executorch::runtime::Error e, bool allocator_failed) {
  const std::string text = err_text(e);
  if (e == executorch::runtime::Error::MemoryAllocationFailed || allocator_failed || runtime_allocation_failed() ||
      looks_like_allocation_failure(text)) {
    fail_out_of_memory(text);
  }
  fail(kErrorExit, what + " (" + text + ")");
}

}  // namespace xnn_runner

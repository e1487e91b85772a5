// xnn_executor_runner: loads an ExecuTorch program (.pte, XNNPACK-delegated or portable), runs
// one method with the optimized + quantized CPU kernels and the XNNPACK delegate, and reports
// load / init time, every measured iteration (raw samples, no statistics), the CPU time of the
// measured span and peak RSS. See README.md (runner section) for flags, files and JSON keys.
//
// Exit codes (exit_codes.h; README.md; examples/runner/client.py maps each to RunnerFailed.kind):
//   0 ok | 1 error (bad input, load or run failure) | 2 usage | 3 crash caught by the guard |
//   4 timeout (--timeout_s) | 5 the program failed verification against its card |
//   6 memory (over the memory bound, --max_memory_mb or its default, or an allocation failed)
// Every failure prints exactly one `error: ...` line on stderr.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gflags/gflags.h>

#include <executorch/extension/memory_allocator/malloc_memory_allocator.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

#include "crash_guard.h"
#include "exit_codes.h"
#include "profiling.h"
#include "program_verification.h"
#include "run_limits.h"
#include "runner_cli.h"
#include "runner_inputs.h"
#include "runner_io.h"
#include "runner_report.h"
#include "verified_loader.h"
#include "verify_cache.h"
#include "wheel_threadpool.h"
#ifdef RUNNER_WITH_OPENVINO
#include <executorch/backends/openvino/runtime/OpenvinoHost.h>
#ifndef RUNNER_OPENVINO_LIB  // CMake finds it at configure time; otherwise OPENVINO_LIB_PATH or the search path
#define RUNNER_OPENVINO_LIB ""
#endif
#endif
#ifndef RUNNER_XNNPACK_BUILD  // CMake: "source+amx" with -DEXECUTORCH_SOURCE_DIR (cmake/xnnpack_from_source.cmake)
#define RUNNER_XNNPACK_BUILD "wheel"
#endif

// The wheel ships libexecutorch_threadpool.so but not threadpool.h: declare the two members
// used here (checked with nm -DC on the library).

DEFINE_string(model_path, "", "Path to the ExecuTorch program (.pte). Required.");
DEFINE_string(method_name, "forward", "Method of the program to run.");
DEFINE_int32(warmup_iters, 10,
             "Warm-up iterations, run before the measured ones and not reported in samples_ms "
             "(the very first run is reported separately as first_iter_ms).");
DEFINE_int32(num_iters, 50, "Measured iterations (>= 1), reported one by one as samples_ms.");
DEFINE_int32(num_threads, 1,
             "Threads for XNNPACK and the kernels; the process is also pinned to that many of its "
             "allowed CPUs. 0 = all allowed CPUs.");
DEFINE_string(input_path, "",
              "Raw little-endian input files, one per method input, in order: comma-separated "
              "and/or the flag repeated. Each holds the method's declared dtype and shape. "
              "Default: every input filled with ones.");
DEFINE_string(input_manifest, "",
              "JSON manifest naming the input files with their dtype and shape (the output "
              "manifest's format, key \"inputs\"); checked against the method. Replaces --input_path.");
DEFINE_string(output_path, "",
              "Write outputs: <output_path>.<i>.bin (raw little-endian bytes) and "
              "<output_path>.json (dtype/shape manifest). An existing directory means <dir>/output.");
DEFINE_string(print_output, "none", "Print outputs: none | summary | all.");
DEFINE_bool(json, false, "Print one JSON object on stdout instead of the text summary.");
DEFINE_bool(verbose, false, "Show the ExecuTorch runtime's own log messages on stderr.");
DEFINE_double(timeout_s, 0,
              "End the run (exit 4) when it takes longer than this many seconds, load included. "
              "0 = no limit (a benchmark must not be cut short by a guess).");
DEFINE_int64(max_memory_mb, -1,
             "Memory (MiB) the program may take beyond the runner's own at start-up: resident memory "
             "watched by the watchdog, and address space (RLIMIT_AS); past it, exit 6. Default: "
             "4 x (program file + planned memory) + 256 MiB, at most the memory available. 0 = no bound.");
DEFINE_string(verify_program, "auto",
              "Check the program against its card (<program>.json: size, BLAKE3 digest, method "
              "inputs/outputs, CPU class of ahead-of-time compiled code) before the runtime reads "
              "it; a mismatch exits with 5. auto: when a card is present (a program without one "
              "runs, reported untrusted) | require: refuse a program without a valid card | off.");
DEFINE_string(verify_cache, "on",
              "Remember verified digests so an unchanged program is not hashed again: on (under "
              "$XDG_CACHE_HOME or ~/.cache, executorch-runner/verified), off, or a folder. An entry "
              "holds only while the file's inode, size, mtime and ctime are those it was hashed with.");
#if XNN_RUNNER_PROFILING
DEFINE_string(prof_result_path, "prof_result.bin", "Where to write the ETDump (profiling build).");
#endif

namespace {

using executorch::aten::Tensor;
using executorch::extension::MallocMemoryAllocator;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::HierarchicalAllocator;
using executorch::runtime::MemoryManager;
using executorch::runtime::Method;
using executorch::runtime::MethodMeta;
using executorch::runtime::Program;
using executorch::runtime::Result;
using executorch::runtime::Span;
using namespace xnn_runner;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Remembers whether the runtime's malloc-backed allocator failed, so a failed load or
// execute is reported as a memory failure (exit 6) rather than a generic error.
class CheckedAllocator : public MallocMemoryAllocator {
 public:
  void* allocate(size_t size, size_t alignment = kDefaultAlignment) override {
    void* p = MallocMemoryAllocator::allocate(size, alignment);
    if (p == nullptr && size > 0) failed_bytes = size;
    return p;
  }
  size_t failed_bytes = 0;
};

CheckedAllocator g_method_allocator;
CheckedAllocator g_temp_allocator;  // scratch for kernels / the delegate, reset by the runtime

// A failed runtime call (runner_cli.h), exit 6 also when this runner's allocators refused some.
[[noreturn]] void fail_call(const std::string& what, Error e) {
  fail_runtime(what, e, std::max(g_method_allocator.failed_bytes, g_temp_allocator.failed_bytes) > 0);
}

PrintOutput check_flags() {
  if (FLAGS_model_path.empty()) fail(kUsageExit, "--model_path is required (the .pte program to run)");
  if (FLAGS_num_iters < 1) fail(kUsageExit, "--num_iters must be >= 1");
  if (FLAGS_warmup_iters < 0) fail(kUsageExit, "--warmup_iters must be >= 0");
  if (FLAGS_num_threads < 0) fail(kUsageExit, "--num_threads must be >= 0 (0 = all allowed CPUs)");
  if (!(FLAGS_timeout_s >= 0)) fail(kUsageExit, "--timeout_s must be >= 0 (0 = no limit)");
  if (FLAGS_max_memory_mb < -1) fail(kUsageExit, "--max_memory_mb must be >= 0 (0 = no bound)");
  if (!FLAGS_input_manifest.empty() && !FLAGS_input_path.empty()) {
    fail(kUsageExit, "--input_manifest and --input_path exclude each other (the manifest names the files)");
  }
  if (FLAGS_print_output == "none") return PrintOutput::kNone;
  if (FLAGS_print_output == "summary") return PrintOutput::kSummary;
  if (FLAGS_print_output == "all") return PrintOutput::kAll;
  fail(kUsageExit, "--print_output must be none, summary or all (got '" + FLAGS_print_output + "')");
}

// --input_path may be repeated; gflags keeps only the last value, so collect them all here.
std::vector<InputFile> collect_input_paths(int argc, char** argv) {
  std::vector<std::string> raw;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    for (const std::string p : {"--input_path", "-input_path"}) {
      if (a.compare(0, p.size() + 1, p + "=") == 0) raw.push_back(a.substr(p.size() + 1));
      else if (a == p && i + 1 < argc) raw.push_back(argv[++i]);
    }
  }
  std::vector<InputFile> files;
  for (const std::string& r : raw) {
    size_t start = 0;
    while (start <= r.size()) {
      const size_t comma = r.find(',', start);
      const std::string item = r.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) {
        InputFile f;
        f.path = item;
        files.push_back(f);
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return files;
}

// Pins the process, then sizes ExecuTorch's global thread pool (XNNPACK and the optimized
// kernels share it; the delegate binds it at method init, so this runs before any load).
unsigned setup_threads(RunReport& report) {
  report.cpus = pin_to_cpus(FLAGS_num_threads);
  unsigned threads = FLAGS_num_threads > 0 ? static_cast<unsigned>(FLAGS_num_threads)
                                           : static_cast<unsigned>(std::max<size_t>(report.cpus.size(), 1));
  if (auto* pool = executorch::extension::threadpool::get_threadpool()) {
    pool->_unsafe_reset_threadpool(threads);
    threads = static_cast<unsigned>(pool->get_thread_count());
  }
#ifdef RUNNER_WITH_OPENVINO
  // OpenVINO keeps its own threads: without this it sizes them by the CPUs it may use, which the
  // pinning above already bounds, but a run asking for N threads should get N, not "up to N".
  executorch::backends::openvino::set_host_property("INFERENCE_NUM_THREADS", std::to_string(threads));
#endif
  return threads;
}

void record_delegate_models(RunReport& report) {
#ifdef RUNNER_WITH_OPENVINO
  for (const auto& m : executorch::backends::openvino::imported_models()) {
    report.delegate_models.push_back({"openvino", m.device, m.precision, m.num_threads, m.requested});
  }
#else
  (void)report;
#endif
}

struct LoadedProgram {
  std::unique_ptr<ProgramFile> file;
  Verification verification;
  std::unique_ptr<ProgramLoader> loader;  // refers to file and verification
  std::unique_ptr<Program> program;
};

// Opens the file, checks it against its card (program_verification.h), and lets the runtime
// parse it through a loader that checks each range as it reads it (verified_loader.h).
std::unique_ptr<LoadedProgram> load_program(const std::string& path, VerifyMode mode, RunReport& report) {
  set_crash_phase("loading");
  const auto t0 = std::chrono::steady_clock::now();
  auto loaded = std::make_unique<LoadedProgram>();
  loaded->file = std::make_unique<ProgramFile>(path);
  report.program_size_bytes = loaded->file->size();
  report.max_memory_mb = bound_memory(static_cast<long>(FLAGS_max_memory_mb), loaded->file->size());
  loaded->verification = verify_program(*loaded->file, mode);
  check_compiled_for_this_cpu(loaded->verification, path);
  report.verification = loaded->verification.status;
  loaded->loader = std::make_unique<ProgramLoader>(*loaded->file, loaded->verification, resolve_verify_cache(FLAGS_verify_cache));
  Result<Program> program = Program::load(loaded->loader->get(), Program::Verification::InternalConsistency);
  if (!program.ok()) fail_call(path + " is not a valid ExecuTorch program", program.error());
  loaded->program = std::make_unique<Program>(std::move(program.get()));
  report.load_ms = ms_since(t0);
  return loaded;
}

MethodMeta method_meta(const Program& program, const std::string& path, const std::string& method_name) {
  Result<MethodMeta> meta = program.method_meta(method_name.c_str());
  if (meta.ok()) return meta.get();
  std::string names;
  for (size_t i = 0; i < program.num_methods(); ++i) {
    Result<const char*> n = program.get_method_name(i);
    if (n.ok()) names += (names.empty() ? "" : ", ") + std::string(n.get());
  }
  last_runtime_error().clear();
  fail(kErrorExit, path + " has no method '" + method_name + "' (methods: " + (names.empty() ? "none" : names) + ")");
}

// Planned buffers sized from the method meta; malloc-backed method and temp allocators.
struct MethodMemory {
  std::vector<Bytes> buffers;
  std::vector<Span<uint8_t>> spans;
  std::unique_ptr<HierarchicalAllocator> planned;
  std::unique_ptr<MemoryManager> manager;
  size_t planned_bytes = 0;
};

std::unique_ptr<MethodMemory> plan_memory(const MethodMeta& meta, const std::string& path) {
  auto memory = std::make_unique<MethodMemory>();
  for (size_t id = 0; id < meta.num_memory_planned_buffers(); ++id) {
    Result<int64_t> size = meta.memory_planned_buffer_size(id);
    if (!size.ok() || size.get() < 0) fail(kErrorExit, "cannot read planned buffer " + std::to_string(id) + " size from " + path);
    const size_t n = static_cast<size_t>(size.get());
    memory->buffers.push_back(allocate_bytes(n));
    if (!memory->buffers.back()) {
      fail_out_of_memory("cannot allocate " + std::to_string(n) + " bytes of planned memory (or the program is corrupt)");
    }
    memory->spans.push_back({memory->buffers.back().get(), n});
    memory->planned_bytes += n;
  }
  memory->planned = std::make_unique<HierarchicalAllocator>(Span<Span<uint8_t>>(memory->spans.data(), memory->spans.size()));
  memory->manager = std::make_unique<MemoryManager>(&g_method_allocator, memory->planned.get(), &g_temp_allocator);
  return memory;
}

// Warm-up iterations, then measured ones. One iteration = set every input + execute, as an
// application calls a method. The toolkit's programs leave inputs out of memory planning, so
// set_input only points them at `inputs` (no copy, nothing to clobber). Other programs plan
// their inputs: set_input copies, and must every time, since planning may reuse an input's
// buffer for intermediates (ExecuTorch's Python Method.execute sets them every time too).
void run_iterations(Method& method, std::vector<InputTensor>& inputs, RunReport& report, Profiler& profiler) {
  set_crash_phase("executing");
  const int total = FLAGS_warmup_iters + FLAGS_num_iters;
  report.samples_ms.reserve(static_cast<size_t>(FLAGS_num_iters));
  double cpu0 = 0;
  std::chrono::steady_clock::time_point wall0;
  for (int it = 0; it < total; ++it) {
    if (it == FLAGS_warmup_iters) {
      cpu0 = process_cpu_ms();
      wall0 = std::chrono::steady_clock::now();
    }
    profiler.begin_iteration(it);
    const auto t0 = std::chrono::steady_clock::now();
    Error e = Error::Ok;
    for (size_t i = 0; i < inputs.size() && e == Error::Ok; ++i) e = method.set_input(EValue(Tensor(inputs[i].impl.get())), i);
    if (e != Error::Ok) fail_call("cannot set the inputs of '" + FLAGS_method_name + "'", e);
    e = method.execute();
    const double dt = ms_since(t0);
    profiler.end_iteration();
    if (e != Error::Ok) fail_call("execution of '" + FLAGS_method_name + "' failed at iteration " + std::to_string(it), e);
    if (it == 0) report.first_iter_ms = dt;
    if (it >= FLAGS_warmup_iters) report.samples_ms.push_back(dt);
  }
  report.cpu_ms = process_cpu_ms() - cpu0;
  report.wall_ms = ms_since(wall0);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<InputFile> input_files = collect_input_paths(argc, argv);
  parse_flags_strictly(&argc, &argv,
      "Runs an ExecuTorch program with the XNNPACK delegate and reports per-iteration latency.\n"
      "  xnn_executor_runner --model_path=model.pte [--num_threads=1] [--input_path=a.bin,... | "
      "--input_manifest=inputs.json] [--output_path=out] [--json] [--timeout_s=S] [--max_memory_mb=M]\n"
      "  [--verify_program=auto|require|off] [--verify_cache=on|off|DIR]");
  const PrintOutput print = check_flags();
  const VerifyMode verify_mode = parse_verify_mode(FLAGS_verify_program);
  const std::string& model_path = FLAGS_model_path;
  const std::string& method_name = FLAGS_method_name;
  if (!FLAGS_input_manifest.empty()) input_files = read_input_manifest(FLAGS_input_manifest);

  RunReport report;
  report.model_path = model_path;
  report.method = method_name;
  report.warmup_iters = FLAGS_warmup_iters;
  report.timeout_s = FLAGS_timeout_s;

#ifdef RUNNER_WITH_OPENVINO
  // The OpenVINO delegate dlopens OPENVINO_LIB_PATH (a file); default it to the openvino
  // package found when the runner was configured, unless the caller set it.
  if (std::getenv("OPENVINO_LIB_PATH") == nullptr && RUNNER_OPENVINO_LIB[0] != '\0' &&
      ::access(RUNNER_OPENVINO_LIB, R_OK) == 0) {
    ::setenv("OPENVINO_LIB_PATH", RUNNER_OPENVINO_LIB, 0);
  }
#endif
  install_crash_guard(model_path.c_str());
  install_runtime_log(FLAGS_verbose);
  executorch::runtime::runtime_init();
  // Order matters: pin before any thread exists, start the watchdog, then limit memory (the
  // limit is measured from the address space mapped so far, thread stacks included).
  report.threads = setup_threads(report);
  start_watchdog(FLAGS_timeout_s, model_path);
  apply_memory_limit(static_cast<long>(FLAGS_max_memory_mb), model_path);

  std::unique_ptr<LoadedProgram> loaded = load_program(model_path, verify_mode, report);
  const MethodMeta meta = method_meta(*loaded->program, model_path, method_name);
  check_method_against_card(loaded->verification, meta, model_path, method_name);
  set_crash_phase("preparing the inputs and memory of");
  std::vector<InputTensor> inputs = prepare_inputs(meta, method_name, input_files);
  std::unique_ptr<MethodMemory> memory = plan_memory(meta, model_path);
  report.max_memory_mb = bound_memory(static_cast<long>(FLAGS_max_memory_mb), report.program_size_bytes + memory->planned_bytes);

  Profiler profiler;
  const std::string init_phase = "initializing method '" + method_name + "' of";
  set_crash_phase(init_phase.c_str());
  const auto t_init = std::chrono::steady_clock::now();
  Result<Method> method = loaded->program->load_method(method_name.c_str(), memory->manager.get(), profiler.tracer());
  if (!method.ok()) fail_call("cannot load method '" + method_name + "' from " + model_path, method.error());
  report.method_init_ms = ms_since(t_init);
  loaded->loader->finish();  // the last load: every byte used was checked, the file is unchanged
  report.verify_ms = loaded->verification.digest_ms;
  report.verify_cached = loaded->verification.cached;
  record_delegate_models(report);
  report.xnnpack_build = RUNNER_XNNPACK_BUILD;
  report.threadpool = threadpool_binding();

  run_iterations(method.get(), inputs, report, profiler);
  report.checked_on_use_chunks = loaded->loader->checked_on_use().chunks;

  set_crash_phase("writing the outputs of");
  const std::vector<OutputInfo> outputs = collect_outputs(method.get());
  if (!FLAGS_output_path.empty()) write_output_files(FLAGS_output_path, model_path, method_name, outputs);
#if XNN_RUNNER_PROFILING
  report.prof_result_path = profiler.write(FLAGS_prof_result_path);
#endif
  report.profiling = XNN_RUNNER_PROFILING;
  report.prof_iterations = profiler.recorded_iterations();
  report.peak_rss_kb = peak_rss_kib();
  if (FLAGS_json) print_json(report, outputs, print);
  else print_text(report, outputs, print);
  return kOkExit;
}

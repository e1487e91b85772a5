// xnn_executor_runner: loads an ExecuTorch program (.pte, XNNPACK-delegated or portable), runs
// one method with the optimized + quantized CPU kernels and the XNNPACK delegate, and reports
// load / init / per-iteration latency and peak RSS. See README.md (runner section) for flags,
// output files and the summary format. Exit codes: 0 ok, 1 error (bad input, load or run
// failure), 2 usage error, 3 the runtime crashed (caught fatal signal).

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gflags/gflags.h>

#include <executorch/extension/data_loader/buffer_data_loader.h>
#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/extension/memory_allocator/malloc_memory_allocator.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/event_tracer.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

#include "crash_guard.h"
#include "runner_io.h"

#if defined(EXECUTORCH_PROF_ENABLED) && EXECUTORCH_PROF_ENABLED
#define XNN_RUNNER_PROFILING 1
#include <executorch/devtools/etdump/etdump_flatcc.h>
#include "gated_event_tracer.h"
#ifndef EXECUTORCH_PROF_BUF_SIZE
#define EXECUTORCH_PROF_BUF_SIZE 0  // 0: the ETDump buffer grows as needed (malloc)
#endif
#ifndef EXECUTORCH_NUM_PROF_BLOCKS
#define EXECUTORCH_NUM_PROF_BLOCKS 0  // 0: every iteration is recorded
#endif
#else
#define XNN_RUNNER_PROFILING 0
#endif

// The wheel ships libexecutorch_threadpool.so but not threadpool.h: declare the two members
// used here (checked with nm -DC on the library).
namespace executorch::extension::threadpool {
class ThreadPool final {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

DEFINE_string(model_path, "", "Path to the ExecuTorch program (.pte). Required.");
DEFINE_string(method_name, "forward", "Method of the program to run.");
DEFINE_int32(warmup_iters, 10,
             "Warm-up iterations, run before the measured ones and left out of the statistics "
             "(the very first run is reported separately as first_iter_ms).");
DEFINE_int32(num_iters, 50, "Measured iterations (>= 1); statistics are over these.");
DEFINE_int32(num_threads, 1, "Threads for XNNPACK and the kernels; 0 = all cores.");
DEFINE_string(input_path, "",
              "Raw little-endian input files, one per method input, in order: comma-separated "
              "and/or the flag repeated. Default: every input filled with ones.");
DEFINE_string(output_path, "",
              "Write outputs: <output_path>.<i>.bin (raw little-endian bytes) and "
              "<output_path>.json (dtype/shape manifest). An existing directory means "
              "<dir>/output.");
DEFINE_string(print_output, "none", "Print outputs: none | summary | all.");
DEFINE_bool(json, false, "Print one JSON object on stdout instead of the text summary.");
DEFINE_bool(verbose, false, "Show the ExecuTorch runtime's own log messages on stderr.");
#if XNN_RUNNER_PROFILING
DEFINE_string(prof_result_path, "prof_result.bin", "Where to write the ETDump (profiling build).");
#endif

namespace {

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::aten::TensorImpl;
using executorch::extension::BufferDataLoader;
using executorch::extension::FileDataLoader;
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
using executorch::runtime::Tag;
using namespace xnn_runner;

constexpr int kErrorExit = 1;
constexpr int kUsageExit = 2;

std::string g_last_runtime_error;  // last error logged by the runtime (for our message)

void log_sink(et_timestamp_t, et_pal_log_level_t level, const char* filename, const char*,
              size_t line, const char* message, size_t length) {
  std::string msg(message, length);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  if (level == kError || level == kFatal) g_last_runtime_error = msg;
  // The wheel's delegate asks for openvino < 2026, yet the pinned 2026.4.1 works: say what to do.
  // It stays the error to report: the runtime's later "Backend ... is not available" says less.
  static bool openvino_missing = false;
  if (msg.find("OpenVINO runtime not found") != std::string::npos) openvino_missing = true;
  if (openvino_missing && (level == kError || level == kFatal)) {
    g_last_runtime_error =
        "the OpenVINO runtime (libopenvino_c.so) was not found: install it (pip install "
        "openvino==2026.4.1, as ./setup.sh does) or set OPENVINO_LIB_PATH to the libopenvino_c.so file";
  }
  if (FLAGS_verbose) {
    std::fprintf(stderr, "%c executorch:%s:%zu] %s\n", static_cast<char>(level),
                 filename ? filename : "?", line, msg.c_str());
  }
}

[[noreturn]] void fail(int code, const std::string& message) {
  // One printable ASCII line: names read from a corrupt program can hold any bytes.
  std::string line;
  for (unsigned char c : message) {
    if (c >= 0x20 && c < 0x7f) {
      line += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      line += buf;
    }
  }
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", line.c_str());
  std::exit(code);
}

std::string err_text(Error e) {
  std::string s = executorch::runtime::to_string(e);
  if (!g_last_runtime_error.empty()) s += ": " + g_last_runtime_error;
  g_last_runtime_error.clear();
  return s;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// --input_path may be repeated; gflags keeps only the last value, so collect them all here.
std::vector<std::string> collect_input_paths(int argc, char** argv) {
  std::vector<std::string> raw;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    for (const char* prefix : {"--input_path", "-input_path"}) {
      std::string p = prefix;
      if (a.compare(0, p.size() + 1, p + "=") == 0) {
        raw.push_back(a.substr(p.size() + 1));
      } else if (a == p && i + 1 < argc) {
        raw.push_back(argv[++i]);
      }
    }
  }
  std::vector<std::string> out;
  for (const std::string& r : raw) {
    size_t start = 0;
    while (start <= r.size()) {
      size_t comma = r.find(',', start);
      std::string item = r.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) out.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

struct InputTensor {
  std::vector<int32_t> sizes;
  std::vector<uint8_t> dim_order;
  std::vector<int32_t> strides;
  std::unique_ptr<uint8_t[]> data;
  std::unique_ptr<TensorImpl> impl;
};

struct OutputInfo {
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
  size_t numel = 0;
  ScalarType scalar_type = ScalarType::Float;
  int64_t int_value = 0;    // non-tensor outputs are stored here and
  double double_value = 0;  // written as int64 / float64 / bool scalars
  uint8_t bool_value = 0;
};

std::string describe_values(const OutputInfo& o, bool all, bool json) {
  // summary: min/max/mean (+ first values); all: every value.
  std::string s;
  if (all) {
    s += json ? "\"values\": [" : "values: [";
    for (size_t k = 0; k < o.numel; ++k) {
      if (k) s += ", ";
      s += format_number(element_as_double(o.data, k, o.scalar_type), json);
    }
    return s + "]";
  }
  double mn = INFINITY, mx = -INFINITY, sum = 0;
  for (size_t k = 0; k < o.numel; ++k) {
    double v = element_as_double(o.data, k, o.scalar_type);
    mn = std::min(mn, v);
    mx = std::max(mx, v);
    sum += v;
  }
  double mean = o.numel ? sum / static_cast<double>(o.numel) : NAN;
  if (!o.numel) mn = mx = NAN;
  std::string first;
  for (size_t k = 0; k < std::min<size_t>(o.numel, 5); ++k) {
    if (k) first += ", ";
    first += format_number(element_as_double(o.data, k, o.scalar_type), json);
  }
  if (json) {
    return "\"min\": " + format_number(mn, true) + ", \"max\": " + format_number(mx, true) +
           ", \"mean\": " + format_number(mean, true) + ", \"first\": [" + first + "]";
  }
  return "min " + format_number(mn, false) + " max " + format_number(mx, false) + " mean " +
         format_number(mean, false) + " first [" + first + (o.numel > 5 ? ", ...]" : "]");
}

// Peak resident set size in KiB. VmHWM from /proc/self/status is this process image's own
// high-water mark; getrusage's ru_maxrss is the fallback, but Linux carries it over from the
// parent across fork+exec (a runner started from a big Python process would report the
// parent's peak).
long peak_rss_kib() {
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kb = -1;
    while (std::fgets(line, sizeof(line), f)) {
      if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    }
    std::fclose(f);
    if (kb >= 0) return kb;
  }
  struct rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;  // Linux: kilobytes
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> input_paths = collect_input_paths(argc, argv);
  gflags::SetUsageMessage(
      "Runs an ExecuTorch program with the XNNPACK delegate and reports latency.\n"
      "  xnn_executor_runner --model_path=model.pte [--num_threads=1] [--input_path=a.bin,...]"
      " [--output_path=out] [--json]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) fail(kUsageExit, std::string("unexpected argument '") + argv[1] + "' (flags are --name=value)");
  if (FLAGS_model_path.empty()) fail(kUsageExit, "--model_path is required (the .pte program to run)");
  if (FLAGS_num_iters < 1) fail(kUsageExit, "--num_iters must be >= 1");
  if (FLAGS_warmup_iters < 0) fail(kUsageExit, "--warmup_iters must be >= 0");
  if (FLAGS_num_threads < 0) fail(kUsageExit, "--num_threads must be >= 0 (0 = all cores)");
  if (FLAGS_print_output != "none" && FLAGS_print_output != "summary" && FLAGS_print_output != "all") {
    fail(kUsageExit, "--print_output must be none, summary or all (got '" + FLAGS_print_output + "')");
  }
  const std::string& model_path = FLAGS_model_path;
  const std::string& method_name = FLAGS_method_name;

#ifdef RUNNER_WITH_OPENVINO
  // The OpenVINO delegate dlopens OPENVINO_LIB_PATH (a file); default it to the openvino
  // package found when the runner was configured, unless the caller set it.
  if (std::getenv("OPENVINO_LIB_PATH") == nullptr && RUNNER_OPENVINO_LIB[0] != '\0' &&
      ::access(RUNNER_OPENVINO_LIB, R_OK) == 0) {
    ::setenv("OPENVINO_LIB_PATH", RUNNER_OPENVINO_LIB, 0);
  }
#endif
  install_crash_guard(model_path.c_str());
  executorch::runtime::register_pal(
      executorch::runtime::PalImpl::create(log_sink, __FILE__));
  executorch::runtime::runtime_init();

  // Threads: XNNPACK and the optimized kernels share ExecuTorch's global thread pool; size it
  // before the method is loaded (the delegate binds the pool at init).
  unsigned threads = FLAGS_num_threads > 0 ? static_cast<unsigned>(FLAGS_num_threads)
                                           : std::max(1u, std::thread::hardware_concurrency());
  auto* pool = executorch::extension::threadpool::get_threadpool();
  if (pool != nullptr) {
    pool->_unsafe_reset_threadpool(threads);
    threads = static_cast<unsigned>(pool->get_thread_count());
  }

  // ---- load the program
  struct stat st{};
  if (::stat(model_path.c_str(), &st) != 0) {
    fail(kErrorExit, "cannot open model file " + model_path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) fail(kErrorExit, "model path " + model_path + " is not a regular file");
  const uint64_t program_size = static_cast<uint64_t>(st.st_size);

  set_crash_phase("loading");
  auto t_load = std::chrono::steady_clock::now();
  Result<FileDataLoader> loader = FileDataLoader::from(model_path.c_str());
  if (!loader.ok()) fail(kErrorExit, "cannot open model file " + model_path + ": " + err_text(loader.error()));
  Result<Program> program =
      Program::load(&loader.get(), Program::Verification::InternalConsistency);
  if (!program.ok()) {
    fail(kErrorExit, model_path + " is not a valid ExecuTorch program (" + err_text(program.error()) + ")");
  }
  const double load_ms = ms_since(t_load);

  Result<MethodMeta> meta = program->method_meta(method_name.c_str());
  if (!meta.ok()) {
    std::string names;
    for (size_t i = 0; i < program->num_methods(); ++i) {
      Result<const char*> n = program->get_method_name(i);
      if (n.ok()) names += (names.empty() ? "" : ", ") + std::string(n.get());
    }
    g_last_runtime_error.clear();
    fail(kErrorExit, model_path + " has no method '" + method_name + "' (methods: " +
                         (names.empty() ? "none" : names) + ")");
  }

  // The wheel's OpenVINO delegate imports its compiled blob without copying it, yet lets the
  // runtime free the blob after init: the CPU plugin then reads weights from freed memory (a
  // crash once the blob is big enough to be unmapped). Keep the whole file alive for such
  // programs: BufferDataLoader's segments are never freed.
  Program* runnable = &program.get();
  std::vector<uint8_t> kept_file;
  std::optional<BufferDataLoader> kept_loader;
  std::optional<Result<Program>> kept_program;
  if (meta->uses_backend("OpenvinoBackend")) {
    std::ifstream file(model_path, std::ios::binary);
    kept_file.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    if (kept_file.size() != program_size) fail(kErrorExit, "cannot read model file " + model_path);
    kept_loader.emplace(kept_file.data(), kept_file.size());
    kept_program.emplace(Program::load(&*kept_loader, Program::Verification::InternalConsistency));
    if (!kept_program->ok()) {
      fail(kErrorExit, model_path + " is not a valid ExecuTorch program (" + err_text(kept_program->error()) + ")");
    }
    runnable = &kept_program->get();
  }

  // ---- validate inputs before the (slow) method init
  const size_t num_inputs = meta->num_inputs();
  if (!input_paths.empty() && input_paths.size() != num_inputs) {
    fail(kErrorExit, "method '" + method_name + "' takes " + std::to_string(num_inputs) +
                         " input(s), got " + std::to_string(input_paths.size()) + " --input_path file(s)");
  }
  std::vector<InputTensor> inputs(num_inputs);
  for (size_t i = 0; i < num_inputs; ++i) {
    Result<Tag> tag = meta->input_tag(i);
    if (!tag.ok()) fail(kErrorExit, "cannot read input " + std::to_string(i) + " metadata: " + err_text(tag.error()));
    if (tag.get() != Tag::Tensor) {
      fail(kErrorExit, "input " + std::to_string(i) + " of method '" + method_name +
                           "' is not a tensor; only tensor inputs are supported");
    }
    auto info = meta->input_tensor_meta(i);
    if (!info.ok()) fail(kErrorExit, "cannot read input " + std::to_string(i) + " metadata: " + err_text(info.error()));
    InputTensor& in = inputs[i];
    const size_t dim = info->sizes().size();
    size_t numel = 1;
    std::vector<int64_t> shape;
    for (size_t d = 0; d < dim; ++d) {
      in.sizes.push_back(info->sizes()[d]);
      shape.push_back(info->sizes()[d]);
      numel *= static_cast<size_t>(std::max<int32_t>(info->sizes()[d], 0));
    }
    for (size_t d = 0; d < info->dim_order().size(); ++d) in.dim_order.push_back(info->dim_order()[d]);
    if (in.dim_order.size() != dim) fail(kErrorExit, "input " + std::to_string(i) + " has an inconsistent dim order");
    in.strides.assign(dim, 1);
    for (size_t k = dim; k-- > 0;) {
      const uint8_t d = in.dim_order[k];
      if (d >= dim) fail(kErrorExit, "input " + std::to_string(i) + " has an invalid dim order");
      in.strides[d] = (k + 1 < dim) ? in.strides[in.dim_order[k + 1]] * in.sizes[in.dim_order[k + 1]] : 1;
    }
    const ScalarType st_in = info->scalar_type();
    const size_t esize = dtype_size(st_in);
    if (esize == 0) fail(kErrorExit, "input " + std::to_string(i) + " has unsupported dtype " + dtype_name(st_in));
    const size_t nbytes = info->nbytes();
    if (nbytes != numel * esize) fail(kErrorExit, "input " + std::to_string(i) + " metadata is inconsistent");
    in.data.reset(new (std::nothrow) uint8_t[std::max<size_t>(nbytes, 1)]);
    if (!in.data) fail(kErrorExit, "cannot allocate " + std::to_string(nbytes) + " bytes for input " + std::to_string(i));
    const std::string desc = dtype_name(st_in) + format_shape(shape);
    if (!input_paths.empty()) {
      std::vector<uint8_t> bytes;
      std::string err;
      if (!read_file(input_paths[i], bytes, err)) fail(kErrorExit, "input " + std::to_string(i) + ": " + err);
      if (bytes.size() != nbytes) {
        fail(kErrorExit, "input " + std::to_string(i) + " (" + input_paths[i] + ") has " + std::to_string(bytes.size()) +
                             " bytes; expected " + std::to_string(nbytes) + " bytes for " + desc);
      }
      std::memcpy(in.data.get(), bytes.data(), nbytes);
    } else {
      // Default input: every element is one (1.0, 1, true), whatever the dtype.
      for (size_t k = 0; k < numel; ++k) {
        uint8_t* p = in.data.get() + k * esize;
        switch (st_in) {
          case ScalarType::Float: { float v = 1.0f; std::memcpy(p, &v, 4); break; }
          case ScalarType::Double: { double v = 1.0; std::memcpy(p, &v, 8); break; }
          case ScalarType::Half: { uint16_t v = 0x3c00; std::memcpy(p, &v, 2); break; }
          case ScalarType::BFloat16: { uint16_t v = 0x3f80; std::memcpy(p, &v, 2); break; }
          default: {  // integers and bool: little-endian 1
            std::memset(p, 0, esize);
            p[0] = 1;
          }
        }
      }
    }
    in.impl.reset(new TensorImpl(st_in, static_cast<ssize_t>(dim), in.sizes.data(), in.data.get(),
                                 in.dim_order.data(), in.strides.data()));
  }

  // ---- memory: planned buffers sized from the method meta, malloc-backed method/temp allocators
  std::vector<std::unique_ptr<uint8_t[]>> planned_buffers;
  std::vector<Span<uint8_t>> planned_spans;
  for (size_t id = 0; id < meta->num_memory_planned_buffers(); ++id) {
    Result<int64_t> size = meta->memory_planned_buffer_size(id);
    if (!size.ok() || size.get() < 0) fail(kErrorExit, "cannot read planned buffer " + std::to_string(id) + " size from " + model_path);
    const size_t n = static_cast<size_t>(size.get());
    planned_buffers.emplace_back(new (std::nothrow) uint8_t[std::max<size_t>(n, 1)]);
    if (!planned_buffers.back()) {
      fail(kErrorExit, "cannot allocate " + std::to_string(n) + " bytes of planned memory for " + model_path +
                           " (the program is probably corrupt)");
    }
    planned_spans.push_back({planned_buffers.back().get(), n});
  }
  HierarchicalAllocator planned_memory({planned_spans.data(), planned_spans.size()});
  MallocMemoryAllocator method_allocator;
  MallocMemoryAllocator temp_allocator;  // scratch for kernels / the delegate, reset by the runtime
  MemoryManager memory_manager(&method_allocator, &planned_memory, &temp_allocator);

  executorch::runtime::EventTracer* tracer = nullptr;
#if XNN_RUNNER_PROFILING
  std::unique_ptr<uint8_t[]> etdump_buffer;
  std::unique_ptr<executorch::etdump::ETDumpGen> etdump;
  static const std::string buf_hint =
      " (or the fixed ETDump buffer, EXECUTORCH_PROF_BUF_SIZE=" + std::to_string(EXECUTORCH_PROF_BUF_SIZE) +
      " bytes, is too small)";
  if (EXECUTORCH_PROF_BUF_SIZE > 0) {
    set_crash_hint(buf_hint.c_str());
    etdump_buffer.reset(new uint8_t[EXECUTORCH_PROF_BUF_SIZE]);
    etdump.reset(new executorch::etdump::ETDumpGen(
        Span<uint8_t>(etdump_buffer.get(), static_cast<size_t>(EXECUTORCH_PROF_BUF_SIZE))));
  } else {
    etdump.reset(new executorch::etdump::ETDumpGen());
  }
  GatedEventTracer gated(etdump.get());
  tracer = &gated;
#endif

  const std::string init_phase = "initializing method '" + method_name + "' of";
  set_crash_phase(init_phase.c_str());
  auto t_init = std::chrono::steady_clock::now();
  Result<Method> method = runnable->load_method(method_name.c_str(), &memory_manager, tracer);
  if (!method.ok()) {
    fail(kErrorExit, "cannot load method '" + method_name + "' from " + model_path + " (" + err_text(method.error()) + ")");
  }
  const double init_ms = ms_since(t_init);

  // Inputs are set before every execute (as ExecuTorch's Python Method.execute does): memory
  // planning may reuse an input's planned buffer for intermediates, so one execute can
  // clobber the copy made by set_input.
  auto set_inputs = [&]() {
    for (size_t i = 0; i < num_inputs; ++i) {
      Error e = method->set_input(EValue(Tensor(inputs[i].impl.get())), i);
      if (e != Error::Ok) fail(kErrorExit, "cannot set input " + std::to_string(i) + ": " + err_text(e));
    }
  };

  // ---- run: warm-up iterations, then measured ones
  set_crash_phase("executing");
  const int total = FLAGS_warmup_iters + FLAGS_num_iters;
  std::vector<double> measured;
  measured.reserve(static_cast<size_t>(FLAGS_num_iters));
  double first_iter_ms = 0;
  int recorded_iters = 0;
  for (int it = 0; it < total; ++it) {
#if XNN_RUNNER_PROFILING
    gated.set_enabled(EXECUTORCH_NUM_PROF_BLOCKS <= 0 || it < EXECUTORCH_NUM_PROF_BLOCKS);
    if (gated.enabled()) ++recorded_iters;
    executorch::runtime::EventTracerEntry run_entry = gated.start_profiling("run model", -1, 0);
#endif
    auto t0 = std::chrono::steady_clock::now();
    set_inputs();
    Error e = method->execute();
    const double dt = ms_since(t0);
#if XNN_RUNNER_PROFILING
    gated.end_profiling(run_entry);
#endif
    if (e != Error::Ok) {
      fail(kErrorExit, "execution of '" + method_name + "' failed at iteration " + std::to_string(it) + " (" + err_text(e) + ")");
    }
    if (it == 0) first_iter_ms = dt;
    if (it >= FLAGS_warmup_iters) measured.push_back(dt);
  }
  set_crash_phase("reading the outputs of");

  // ---- outputs
  std::vector<OutputInfo> outputs(method->outputs_size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const EValue& v = method->get_output(i);
    OutputInfo& o = outputs[i];
    if (v.isTensor()) {
      const Tensor t = v.toTensor();
      o.scalar_type = t.scalar_type();
      o.dtype = dtype_name(o.scalar_type);
      for (ssize_t d = 0; d < t.dim(); ++d) o.shape.push_back(t.size(d));
      o.data = t.const_data_ptr();
      o.nbytes = t.nbytes();
      o.numel = static_cast<size_t>(t.numel());
      if (dtype_size(o.scalar_type) == 0) o.numel = 0;
    } else if (v.isInt()) {
      o.int_value = v.toInt();
      o.scalar_type = ScalarType::Long, o.dtype = "int64", o.data = &o.int_value, o.nbytes = 8, o.numel = 1;
    } else if (v.isDouble()) {
      o.double_value = v.toDouble();
      o.scalar_type = ScalarType::Double, o.dtype = "float64", o.data = &o.double_value, o.nbytes = 8, o.numel = 1;
    } else if (v.isBool()) {
      o.bool_value = v.toBool() ? 1 : 0;
      o.scalar_type = ScalarType::Bool, o.dtype = "bool", o.data = &o.bool_value, o.nbytes = 1, o.numel = 1;
    } else {
      o.dtype = "none";
    }
  }

  if (!FLAGS_output_path.empty()) {
    std::string prefix = FLAGS_output_path;
    struct stat ost{};
    if (::stat(prefix.c_str(), &ost) == 0 && S_ISDIR(ost.st_mode)) prefix += "/output";
    const std::string base = prefix.substr(prefix.find_last_of('/') == std::string::npos ? 0 : prefix.find_last_of('/') + 1);
    std::string manifest = "{\"model_path\": \"" + json_escape(model_path) + "\", \"method\": \"" +
                           json_escape(method_name) + "\", \"outputs\": [";
    for (size_t i = 0; i < outputs.size(); ++i) {
      const OutputInfo& o = outputs[i];
      const std::string file = prefix + "." + std::to_string(i) + ".bin";
      std::string err;
      if (!write_file_atomic(file, o.data ? o.data : "", o.nbytes, err)) fail(kErrorExit, err);
      std::string shape = "[";
      for (size_t d = 0; d < o.shape.size(); ++d) shape += (d ? ", " : "") + std::to_string(o.shape[d]);
      manifest += std::string(i ? ", " : "") + "{\"index\": " + std::to_string(i) + ", \"file\": \"" +
                  json_escape(base + "." + std::to_string(i) + ".bin") + "\", \"dtype\": \"" + o.dtype +
                  "\", \"shape\": " + shape + "], \"nbytes\": " + std::to_string(o.nbytes) + "}";
    }
    manifest += "]}\n";
    std::string err;
    if (!write_file_atomic(prefix + ".json", manifest.data(), manifest.size(), err)) fail(kErrorExit, err);
  }

  std::string prof_path;
#if XNN_RUNNER_PROFILING
  {
    gated.set_enabled(true);
    executorch::etdump::ETDumpResult r = etdump->get_etdump_data();
    if (r.buf == nullptr || r.size == 0) fail(kErrorExit, "the ETDump is empty; nothing was recorded");
    std::string err;
    if (!write_file_atomic(FLAGS_prof_result_path, r.buf, r.size, err)) fail(kErrorExit, err);
    if (EXECUTORCH_PROF_BUF_SIZE <= 0) std::free(r.buf);
    prof_path = FLAGS_prof_result_path;
  }
#endif

  // ---- statistics
  std::vector<double> sorted = measured;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  double sum = 0;
  for (double v : sorted) sum += v;
  const double mean = sum / static_cast<double>(n);
  const double median = (n % 2) ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  const size_t p90_rank = static_cast<size_t>(std::ceil(0.9 * static_cast<double>(n)));
  const double p90 = sorted[std::max<size_t>(p90_rank, 1) - 1];
  const long peak_rss_kb = peak_rss_kib();

  auto f3 = [](double v) {
    char b[32];
    std::snprintf(b, sizeof(b), "%.3f", v);
    return std::string(b);
  };
  const bool print_values = FLAGS_print_output != "none";
  const bool all_values = FLAGS_print_output == "all";
  if (FLAGS_json) {
    std::string j = "{";
    j += "\"model_path\": \"" + json_escape(model_path) + "\"";
    j += ", \"method\": \"" + json_escape(method_name) + "\"";
    j += ", \"program_size_bytes\": " + std::to_string(program_size);
    j += ", \"load_ms\": " + f3(load_ms);
    j += ", \"method_init_ms\": " + f3(init_ms);
    j += ", \"first_iter_ms\": " + f3(first_iter_ms);
    j += ", \"warmup_iters\": " + std::to_string(FLAGS_warmup_iters);
    j += ", \"iterations\": " + std::to_string(n);
    j += ", \"mean_ms\": " + f3(mean);
    j += ", \"median_ms\": " + f3(median);
    j += ", \"p90_ms\": " + f3(p90);
    j += ", \"min_ms\": " + f3(sorted.front());
    j += ", \"max_ms\": " + f3(sorted.back());
    j += ", \"threads\": " + std::to_string(threads);
    j += ", \"peak_rss_kb\": " + std::to_string(peak_rss_kb);
    j += ", \"profiling\": " + std::string(XNN_RUNNER_PROFILING ? "true" : "false");
    j += ", \"prof_result_path\": " + (prof_path.empty() ? std::string("null") : "\"" + json_escape(prof_path) + "\"");
    j += ", \"prof_iterations\": " + std::to_string(recorded_iters);
    j += ", \"outputs\": [";
    for (size_t i = 0; i < outputs.size(); ++i) {
      const OutputInfo& o = outputs[i];
      std::string shape = "[";
      for (size_t d = 0; d < o.shape.size(); ++d) shape += (d ? ", " : "") + std::to_string(o.shape[d]);
      j += std::string(i ? ", " : "") + "{\"dtype\": \"" + o.dtype + "\", \"shape\": " + shape + "]";
      if (print_values && o.data) j += ", " + describe_values(o, all_values, true);
      j += "}";
    }
    j += "]}";
    std::printf("%s\n", j.c_str());
  } else {
    std::printf("model: %s (method %s)\n", model_path.c_str(), method_name.c_str());
    std::printf("program size: %llu bytes (%.2f MiB)\n", static_cast<unsigned long long>(program_size),
                static_cast<double>(program_size) / (1024.0 * 1024.0));
    std::printf("threads: %u\n", threads);
    std::printf("load: %s ms\n", f3(load_ms).c_str());
    std::printf("method init: %s ms\n", f3(init_ms).c_str());
    std::printf("first iteration: %s ms\n", f3(first_iter_ms).c_str());
    std::printf("iterations: %zu measured after %d warm-up\n", n, FLAGS_warmup_iters);
    std::printf("latency ms: mean %s median %s p90 %s min %s max %s\n", f3(mean).c_str(), f3(median).c_str(),
                f3(p90).c_str(), f3(sorted.front()).c_str(), f3(sorted.back()).c_str());
    std::printf("peak RSS: %ld KiB (%.1f MiB)\n", peak_rss_kb, static_cast<double>(peak_rss_kb) / 1024.0);
    if (!prof_path.empty()) std::printf("profile: %s (%d iterations recorded)\n", prof_path.c_str(), recorded_iters);
    if (print_values) {
      for (size_t i = 0; i < outputs.size(); ++i) {
        const OutputInfo& o = outputs[i];
        std::printf("output %zu: %s%s", i, o.dtype.c_str(), format_shape(o.shape).c_str());
        if (o.data) std::printf(" %s", describe_values(o, all_values, false).c_str());
        std::printf("\n");
      }
    }
  }
  std::fflush(stdout);
  return 0;
}

// What a run produced: the method's outputs (files + manifest) and the report printed on
// stdout (text, or one JSON object with --json). Raw samples plus their median, p90 and min,
// computed exactly as examples/common/stats.py's summarize(); every other statistic (intervals,
// verdicts) stays with the caller.
#pragma once

#include "threadpool_binding.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <executorch/runtime/executor/method.h>

namespace xnn_runner {

struct OutputInfo {
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
  size_t numel = 0;
  executorch::aten::ScalarType scalar_type = executorch::aten::ScalarType::Float;
  int64_t int_value = 0;    // non-tensor outputs are stored here and
  double double_value = 0;  // written as int64 / float64 / bool scalars
  uint8_t bool_value = 0;
};

// The method's outputs after its last execute. The result points into the method's memory
// (and, for scalars, into itself): keep both alive and do not copy the vector's elements.
std::vector<OutputInfo> collect_outputs(const executorch::runtime::Method& method);

// <prefix>.<i>.bin per output (raw bytes) and the <prefix>.json manifest; an existing
// directory means <dir>/output. Every file is written atomically.
void write_output_files(std::string prefix, const std::string& model_path, const std::string& method_name,
                        const std::vector<OutputInfo>& outputs);

// One model an ahead-of-time compiling delegate (OpenVINO) imported: what the program and the
// runner asked for, and what the imported model says it really runs in.
struct DelegateModel {
  std::string backend;
  std::string device;
  std::string precision;    // e.g. "f32", "bf16"; empty: the delegate could not say
  std::string num_threads;  // empty: the delegate could not say
  std::vector<std::pair<std::string, std::string>> requested;
};

struct RunReport {
  std::string model_path;
  std::string method;
  uint64_t program_size_bytes = 0;
  std::string verification;  // "verified" | "untrusted (no card)" | "not checked"
  double verify_ms = 0;      // card + digest, part of load_ms
  bool verify_cached = false;  // the digest came from the verify cache (unchanged file)
  size_t checked_on_use_chunks = 0;  // constant chunks read and checked when first touched
  double load_ms = 0;
  double method_init_ms = 0;
  double first_iter_ms = 0;
  int warmup_iters = 0;
  std::vector<double> samples_ms;  // every measured iteration, in order
  double cpu_ms = 0;               // process CPU time (user + sys) over the measured iterations
  double wall_ms = 0;              // wall time of the same span
  unsigned threads = 0;
  std::vector<int> cpus;  // the CPUs the run was allowed to use
  long peak_rss_kb = 0;
  double timeout_s = 0;
  long max_memory_mb = 0;
  bool profiling = false;
  std::string prof_result_path;  // empty: none written
  int prof_iterations = 0;
  std::vector<DelegateModel> delegate_models;
  std::string xnnpack_build;  // "wheel" | "source+amx": which XNNPACK delegate is linked in
  ThreadpoolBinding threadpool;
};

struct SampleSummary {
  double median = 0;
  double p90 = 0;
  double min = 0;
};

// numpy.percentile's default (linear) definition; NaN for no samples.
double percentile(std::vector<double> samples, double q);
SampleSummary summarize_samples(const std::vector<double>& samples_ms);

enum class PrintOutput { kNone, kSummary, kAll };

void print_json(const RunReport& report, const std::vector<OutputInfo>& outputs, PrintOutput print);
void print_text(const RunReport& report, const std::vector<OutputInfo>& outputs, PrintOutput print);

}  // namespace xnn_runner

#include "runner_report.h"

#include "checked_on_use.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "exit_codes.h"
#include "runner_io.h"

namespace xnn_runner {

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::runtime::EValue;
using executorch::runtime::Method;
using nlohmann::json;

namespace {

// Output values for --print_output: summary = min / max / mean and the first five; all =
// every value. NaN / inf print as null in JSON.
json values_json(const OutputInfo& o, bool all) {
  auto value = [&o](size_t k) { return element_as_double(o.data, k, o.scalar_type); };
  json j;
  if (all) {
    j["values"] = json::array();
    for (size_t k = 0; k < o.numel; ++k) j["values"].push_back(value(k));
    return j;
  }
  double mn = INFINITY, mx = -INFINITY, sum = 0;
  for (size_t k = 0; k < o.numel; ++k) {
    mn = std::min(mn, value(k));
    mx = std::max(mx, value(k));
    sum += value(k);
  }
  if (!o.numel) mn = mx = NAN;
  j["min"] = mn;
  j["max"] = mx;
  j["mean"] = o.numel ? sum / static_cast<double>(o.numel) : NAN;
  j["first"] = json::array();
  for (size_t k = 0; k < std::min<size_t>(o.numel, 5); ++k) j["first"].push_back(value(k));
  return j;
}

std::string values_text(const OutputInfo& o, bool all) {
  const json j = values_json(o, all);
  auto number = [](const json& v) { return v.is_null() ? std::string("nan") : format_number(v.get<double>()); };
  auto list = [&number](const json& a, bool more) {
    std::string s = "[";
    for (size_t k = 0; k < a.size(); ++k) s += (k ? ", " : "") + number(a[k]);
    return s + (more ? ", ...]" : "]");
  };
  if (all) return "values: " + list(j["values"], false);
  return "min " + number(j["min"]) + " max " + number(j["max"]) + " mean " + number(j["mean"]) + " first " +
         list(j["first"], o.numel > 5);
}

}  // namespace

// numpy's default percentile (linear interpolation between closest ranks), so these numbers
// equal examples/common/stats.py's summarize() on the same samples (a test holds them equal).
double percentile(std::vector<double> samples, double q) {
  if (samples.empty()) return NAN;
  std::sort(samples.begin(), samples.end());
  const double rank = q / 100.0 * static_cast<double>(samples.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, samples.size() - 1);
  return samples[lo] + (samples[hi] - samples[lo]) * (rank - static_cast<double>(lo));
}

SampleSummary summarize_samples(const std::vector<double>& samples_ms) {
  SampleSummary s;
  s.median = percentile(samples_ms, 50);
  s.p90 = percentile(samples_ms, 90);
  s.min = samples_ms.empty() ? NAN : *std::min_element(samples_ms.begin(), samples_ms.end());
  return s;
}

std::vector<OutputInfo> collect_outputs(const Method& method) {
  std::vector<OutputInfo> outputs(method.outputs_size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const EValue& v = method.get_output(i);
    OutputInfo& o = outputs[i];
    if (v.isTensor()) {
      const Tensor t = v.toTensor();
      o.scalar_type = t.scalar_type();
      o.dtype = dtype_name(o.scalar_type);
      for (ssize_t d = 0; d < t.dim(); ++d) o.shape.push_back(t.size(d));
      o.data = t.const_data_ptr();
      o.nbytes = t.nbytes();
      o.numel = dtype_size(o.scalar_type) ? static_cast<size_t>(t.numel()) : 0;
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
  return outputs;
}

void write_output_files(std::string prefix, const std::string& model_path, const std::string& method_name,
                        const std::vector<OutputInfo>& outputs) {
  struct stat st{};
  if (::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) prefix += "/output";
  const size_t slash = prefix.find_last_of('/');
  const std::string base = slash == std::string::npos ? prefix : prefix.substr(slash + 1);
  json manifest = {{"model_path", model_path}, {"method", method_name}, {"outputs", json::array()}};
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OutputInfo& o = outputs[i];
    const std::string suffix = "." + std::to_string(i) + ".bin";
    std::string err;
    if (o.data != nullptr) touch_pages(o.data, o.nbytes);  // an output may be a constant checked on use
    if (!write_file_atomic(prefix + suffix, o.data ? o.data : "", o.nbytes, err)) fail(kErrorExit, err);
    manifest["outputs"].push_back(
        {{"index", i}, {"file", base + suffix}, {"dtype", o.dtype}, {"shape", o.shape}, {"nbytes", o.nbytes}});
  }
  // Names read from a corrupt program may not be UTF-8: replace bad bytes rather than throw.
  const std::string text = manifest.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::string err;
  if (!write_file_atomic(prefix + ".json", text.data(), text.size(), err)) fail(kErrorExit, err);
}

void print_json(const RunReport& r, const std::vector<OutputInfo>& outputs, PrintOutput print) {
  const SampleSummary summary = summarize_samples(r.samples_ms);
  json j = {
      {"model_path", r.model_path},
      {"method", r.method},
      {"program_size_bytes", r.program_size_bytes},
      {"load_ms", r.load_ms},
      {"verification", r.verification},
      {"verify_ms", r.verify_ms},
      {"verify_cached", r.verify_cached},
      {"checked_on_use_chunks", r.checked_on_use_chunks},
      {"method_init_ms", r.method_init_ms},
      {"first_iter_ms", r.first_iter_ms},
      {"warmup_iters", r.warmup_iters},
      {"iterations", r.samples_ms.size()},
      {"samples_ms", r.samples_ms},
      {"summary_ms", {{"median", summary.median}, {"p90", summary.p90}, {"min", summary.min}}},
      {"cpu_ms", r.cpu_ms},
      {"wall_ms", r.wall_ms},
      {"threads", r.threads},
      {"cpus", r.cpus},
      {"peak_rss_kb", r.peak_rss_kb},
      {"timeout_s", r.timeout_s},
      {"max_memory_mb", r.max_memory_mb},
      {"profiling", r.profiling},
      {"prof_result_path", r.prof_result_path.empty() ? json(nullptr) : json(r.prof_result_path)},
      {"prof_iterations", r.prof_iterations},
      {"delegate_models", json::array()},
      {"xnnpack_build", r.xnnpack_build},
      {"threadpool", threadpool_json<json>(r.threadpool)},
      {"outputs", json::array()},
  };
  for (const DelegateModel& m : r.delegate_models) {
    json requested = json::object();
    for (const auto& kv : m.requested) requested[kv.first] = kv.second;
    j["delegate_models"].push_back({{"backend", m.backend}, {"device", m.device}, {"precision", m.precision},
                                    {"num_threads", m.num_threads}, {"requested", requested}});
  }
  for (const OutputInfo& o : outputs) {
    json entry = {{"dtype", o.dtype}, {"shape", o.shape}};
    if (print != PrintOutput::kNone && o.data) entry.update(values_json(o, print == PrintOutput::kAll));
    j["outputs"].push_back(entry);
  }
  std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  std::fflush(stdout);
}

void print_text(const RunReport& r, const std::vector<OutputInfo>& outputs, PrintOutput print) {
  std::string cpus;
  for (size_t k = 0; k < r.cpus.size(); ++k) cpus += (k ? "," : "") + std::to_string(r.cpus[k]);
  std::printf("model: %s (method %s)\n", r.model_path.c_str(), r.method.c_str());
  std::printf("program size: %llu bytes (%.2f MiB)\n", static_cast<unsigned long long>(r.program_size_bytes),
              static_cast<double>(r.program_size_bytes) / (1024.0 * 1024.0));
  std::printf("threads: %u (cpus %s)\n", r.threads, cpus.c_str());
  std::printf("load: %.3f ms (program %s%s; card check and digest %.3f ms)\n", r.load_ms, r.verification.c_str(),
              r.verify_cached ? ", digest from the verify cache" : "", r.verify_ms);
  if (r.checked_on_use_chunks > 0) {
    std::printf("constants: %zu chunks checked as the run first read them\n", r.checked_on_use_chunks);
  }
  std::printf("method init: %.3f ms\n", r.method_init_ms);
  std::printf("first iteration: %.3f ms\n", r.first_iter_ms);
  std::printf("iterations: %zu measured after %d warm-up\n", r.samples_ms.size(), r.warmup_iters);
  std::printf("measured span: wall %.3f ms, cpu %.3f ms\n", r.wall_ms, r.cpu_ms);
  std::printf("samples ms:");
  for (double s : r.samples_ms) std::printf(" %.3f", s);
  const SampleSummary summary = summarize_samples(r.samples_ms);
  std::printf("\nlatency: median %.3f ms, p90 %.3f ms, min %.3f ms\n", summary.median, summary.p90, summary.min);
  std::printf("peak RSS: %ld KiB (%.1f MiB)\n", r.peak_rss_kb, static_cast<double>(r.peak_rss_kb) / 1024.0);
  std::printf("XNNPACK delegate: %s\n", r.xnnpack_build.c_str());
  std::printf("thread pool: %s\n", describe(r.threadpool).c_str());
  for (const DelegateModel& m : r.delegate_models) {
    std::string requested;
    for (const auto& kv : m.requested) requested += (requested.empty() ? "" : ", ") + kv.first + "=" + kv.second;
    std::printf("%s model on %s: precision %s, %s threads (asked: %s)\n", m.backend.c_str(), m.device.c_str(),
                m.precision.empty() ? "?" : m.precision.c_str(), m.num_threads.empty() ? "?" : m.num_threads.c_str(),
                requested.empty() ? "nothing" : requested.c_str());
  }
  if (!r.prof_result_path.empty()) {
    std::printf("profile: %s (%d iterations recorded)\n", r.prof_result_path.c_str(), r.prof_iterations);
  }
  if (print != PrintOutput::kNone) {
    for (size_t i = 0; i < outputs.size(); ++i) {
      const OutputInfo& o = outputs[i];
      std::printf("output %zu: %s%s", i, o.dtype.c_str(), format_shape(o.shape).c_str());
      if (o.data) std::printf(" %s", values_text(o, print == PrintOutput::kAll).c_str());
      std::printf("\n");
    }
  }
  std::fflush(stdout);
}

}  // namespace xnn_runner

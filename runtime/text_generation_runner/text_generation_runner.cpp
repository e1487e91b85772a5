// text_generation_runner: runs an exported Llama program (forward(tokens[1,n], input_pos[1]) ->
// logits[1,vocab], KV cache inside the program) on token ids: prefill the prompt in one call,
// then decode one token per call. Token ids in and out; text belongs to the Python tokenizer.
//
//   text_generation_runner --model_path=stories15m_xnnpack_fp32.pte --prompt_tokens=1,15,27
//       [--max_new_tokens=32] [--temperature=0] [--top_p=1] [--seed=0] [--num_threads=1] [--json]
//       [--verify_program=auto|require|off]
//
// The program is checked against its card first, exactly as xnn_executor_runner does it
// (runtime/executor_runner/program_verification.h: size, BLAKE3 digest, layout, forward's inputs
// and outputs; exit 5), and the runtime then loads the very bytes that were hashed.
//
// The llama::custom_sdpa / llama::update_cache kernels are compiled in from ExecuTorch's
// sources (third-party/executorch_llm_ops); the wheel ships them only inside a libtorch extension.
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/platform/platform.h>
#include <executorch/runtime/platform/runtime.h>

#include "program_verification.h"
#include "verified_loader.h"
#include "verify_cache.h"

// The wheel ships libexecutorch_threadpool.so but not threadpool.h: declare what we call.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

DEFINE_string(model_path, "", "The .pte program (exported with KV cache). Required.");
DEFINE_string(prompt_tokens, "", "Comma-separated prompt token ids, e.g. 1,15,27. Required.");
DEFINE_int32(max_new_tokens, 32, "Tokens to generate (>= 1).");
DEFINE_double(temperature, 0.0, "0: greedy; above 0: sample from softmax(logits / T).");
DEFINE_double(top_p, 1.0, "Nucleus sampling: smallest set of tokens reaching this probability.");
DEFINE_uint64(seed, 0, "Sampling seed.");
DEFINE_int32(num_threads, 1, "Threads for XNNPACK and the custom ops; 0 = all cores.");
DEFINE_string(stop_tokens, "", "Comma-separated token ids that end generation (kept in the output).");
DEFINE_bool(json, false, "Print one JSON object on stdout instead of the text report.");
DEFINE_bool(verbose, false, "Show the ExecuTorch runtime's own log messages on stderr.");
DEFINE_string(verify_program, "auto",
              "Check the program against its card (<program>.json) before loading it: auto (when a card "
              "is there), require (refuse a program without one), off. A mismatch is exit 5.");
DEFINE_string(verify_cache, "on", "Remember verified digests (as xnn_executor_runner): on, off or a folder.");

namespace {

using executorch::extension::Module;
using executorch::runtime::Error;
using Clock = std::chrono::steady_clock;

constexpr int kErrorExit = 1;
constexpr int kUsageExit = 2;
std::string g_last_runtime_error;

void log_sink(et_timestamp_t, et_pal_log_level_t level, const char* filename, const char*, size_t line,
              const char* message, size_t length) {
  std::string msg(message, length);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  if (level == kError || level == kFatal) g_last_runtime_error = msg;
  if (FLAGS_verbose) std::fprintf(stderr, "%c executorch:%s:%zu] %s\n", static_cast<char>(level), filename ? filename : "?", line, msg.c_str());
}

[[noreturn]] void fail(int code, const std::string& message) {
  std::string line;
  for (unsigned char c : message) {
    if (c >= 0x20 && c < 0x7f) line += static_cast<char>(c);
  }
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", line.c_str());
  std::exit(code);
}

std::string err_text(Error e) {
  std::string s = executorch::runtime::to_string(e);
  if (!g_last_runtime_error.empty()) s += ": " + g_last_runtime_error;
  return s;
}

std::vector<int64_t> parse_tokens(const std::string& text, const char* flag) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string part = text.substr(start, end - start);
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (!part.empty()) {
      char* rest = nullptr;
      errno = 0;
      long long v = std::strtoll(part.c_str(), &rest, 10);
      if (*rest != '\0' || errno != 0) fail(kUsageExit, std::string(flag) + " must be comma-separated integers, got '" + text + "'");
      out.push_back(v);
    }
    start = end + 1;
  }
  return out;
}

long status_kib(const char* format) {  // one "<key>: <n> kB" line of /proc/self/status, or -1
  long kb = -1;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f)) {
      if (std::sscanf(line, format, &kb) == 1) break;
    }
    std::fclose(f);
  }
  return kb;
}

long current_rss_kib() { return std::max(status_kib("VmRSS: %ld kB"), 0L); }  // the baseline before loading

long peak_rss_kib() {  // VmHWM: this process image's own high-water mark
  if (const long kb = status_kib("VmHWM: %ld kB"); kb >= 0) return kb;
  struct rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

class Sampler {
 public:
  Sampler(double temperature, double top_p, uint64_t seed) : temperature_(temperature), top_p_(top_p), rng_(seed) {}

  int64_t operator()(const float* logits, int64_t n) {
    if (temperature_ == 0) return std::max_element(logits, logits + n) - logits;
    const float peak = *std::max_element(logits, logits + n);
    std::vector<double> probs(n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += probs[i] = std::exp((logits[i] - peak) / temperature_);
    for (auto& p : probs) p /= sum;
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    size_t keep = n;
    if (top_p_ < 1) {  // smallest set of most likely tokens whose probability reaches top_p
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return probs[a] > probs[b]; });
      double cumulative = 0;
      for (keep = 0; keep < order.size();) {
        cumulative += probs[order[keep++]];
        if (cumulative >= top_p_) break;
      }
    }
    double mass = 0;
    for (size_t i = 0; i < keep; ++i) mass += probs[order[i]];
    double r = std::uniform_real_distribution<double>(0, mass)(rng_);
    for (size_t i = 0; i < keep; ++i) {
      r -= probs[order[i]];
      if (r <= 0) return order[i];
    }
    return order[keep - 1];
  }

 private:
  double temperature_, top_p_;
  std::mt19937_64 rng_;
};

int64_t metadata(Module& module, const std::string& name, int64_t fallback) {
  auto names = module.method_names();
  if (!names.ok() || !names->count(name)) return fallback;
  auto out = module.execute(name);
  if (!out.ok() || out->empty()) return fallback;
  const auto& v = (*out)[0];
  if (v.isInt()) return v.toInt();
  if (v.isBool()) return v.toBool() ? 1 : 0;
  return fallback;
}

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Generates tokens with an exported Llama program (prefill, then decode with the KV cache).");
  // Unknown flags and bad values: our one-line error (gflags would print its own and exit 1).
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") continue;
    std::string name = arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
    gflags::CommandLineFlagInfo info;
    const bool known = gflags::GetCommandLineFlagInfo(name.c_str(), &info) ||
                       (name.rfind("no", 0) == 0 && gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info));
    if (!known) fail(kUsageExit, "unknown flag --" + name + " (see --help)");
    const size_t eq = arg.find('=');
    if (eq != std::string::npos && gflags::SetCommandLineOption(name.c_str(), arg.substr(eq + 1).c_str()).empty()) {
      fail(kUsageExit, "invalid value for --" + name + ": '" + arg.substr(eq + 1) + "'");
    }
  }
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  executorch::runtime::register_pal(executorch::runtime::PalImpl::create(log_sink, __FILE__));
  executorch::runtime::runtime_init();

  if (argc > 1) fail(kUsageExit, std::string("unexpected argument '") + argv[1] + "' (flags are --name=value)");
  if (FLAGS_model_path.empty()) fail(kUsageExit, "--model_path is required");
  struct stat st{};
  if (stat(FLAGS_model_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) fail(kUsageExit, "model file not found: " + FLAGS_model_path);
  if (FLAGS_prompt_tokens.empty()) fail(kUsageExit, "--prompt_tokens is required (comma-separated token ids)");
  const std::vector<int64_t> prompt = parse_tokens(FLAGS_prompt_tokens, "--prompt_tokens");
  const std::vector<int64_t> stop = parse_tokens(FLAGS_stop_tokens, "--stop_tokens");
  if (prompt.empty()) fail(kUsageExit, "--prompt_tokens holds no token ids");
  if (FLAGS_max_new_tokens < 1) fail(kUsageExit, "--max_new_tokens must be at least 1, got " + std::to_string(FLAGS_max_new_tokens));
  if (FLAGS_temperature < 0) fail(kUsageExit, "--temperature must be >= 0");
  if (!(FLAGS_top_p > 0 && FLAGS_top_p <= 1)) fail(kUsageExit, "--top_p must be in (0, 1]");
  if (FLAGS_num_threads < 0) fail(kUsageExit, "--num_threads must be >= 0 (0 = all cores)");
  const xnn_runner::VerifyMode verify_mode = xnn_runner::parse_verify_mode(FLAGS_verify_program);

  unsigned threads = FLAGS_num_threads > 0 ? FLAGS_num_threads : std::max(1u, std::thread::hardware_concurrency());
  if (auto* pool = executorch::extension::threadpool::get_threadpool()) {
    pool->_unsafe_reset_threadpool(threads);
    threads = static_cast<unsigned>(pool->get_thread_count());
  }

  const long baseline_rss_kb = current_rss_kib();
  const auto load_start = Clock::now();
  // Card check before the runtime reads a byte; the loader checks each range it reads.
  const xnn_runner::ProgramFile file(FLAGS_model_path);
  xnn_runner::Verification verification = xnn_runner::verify_program(file, verify_mode);
  xnn_runner::check_compiled_for_this_cpu(verification, FLAGS_model_path);
  xnn_runner::ProgramLoader loader(file, verification, xnn_runner::resolve_verify_cache(FLAGS_verify_cache));
  Module module(loader.release());
  if (auto meta = module.method_meta("forward"); meta.ok()) {
    xnn_runner::check_method_against_card(verification, meta.get(), FLAGS_model_path, "forward");
  }
  if (Error e = module.load_method("forward"); e != Error::Ok) fail(kErrorExit, "cannot load " + FLAGS_model_path + ": " + err_text(e));
  const int64_t max_seq_len = metadata(module, "get_max_seq_len", 0);
  const int64_t vocab_size = metadata(module, "get_vocab_size", 0);
  if (!metadata(module, "use_kv_cache", 1)) fail(kUsageExit, FLAGS_model_path + " has no KV cache: export it with the LLM exporter");
  loader.finish();
  const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - load_start).count();

  for (int64_t t : prompt) {
    if (vocab_size > 0 && (t < 0 || t >= vocab_size)) fail(kUsageExit, "prompt token " + std::to_string(t) + " is outside the vocabulary (0.." + std::to_string(vocab_size - 1) + ")");
  }
  if (max_seq_len > 0 && static_cast<int64_t>(prompt.size()) + FLAGS_max_new_tokens > max_seq_len) {
    fail(kUsageExit, "prompt (" + std::to_string(prompt.size()) + " tokens) + max_new_tokens (" + std::to_string(FLAGS_max_new_tokens) +
                         ") exceeds the program's KV cache of " + std::to_string(max_seq_len) + " positions (export with a larger --max_seq_len)");
  }

  Sampler sample(FLAGS_temperature, FLAGS_top_p, FLAGS_seed);
  // One forward call: tokens [1, n] from position `pos`; returns the sampled next token.
  auto step = [&](std::vector<int64_t> tokens, int64_t pos) -> int64_t {
    const auto n = static_cast<executorch::aten::SizesType>(tokens.size());
    auto token_tensor = executorch::extension::from_blob(tokens.data(), {1, n}, executorch::aten::ScalarType::Long);
    int64_t position = pos;
    auto pos_tensor = executorch::extension::from_blob(&position, {1}, executorch::aten::ScalarType::Long);
    auto out = module.forward({token_tensor, pos_tensor});
    if (!out.ok()) fail(kErrorExit, "forward failed at position " + std::to_string(pos) + ": " + err_text(out.error()));
    const auto& logits = (*out)[0].toTensor();
    if (logits.scalar_type() != executorch::aten::ScalarType::Float) fail(kErrorExit, "the program's logits are not float32");
    const int64_t vocab = logits.size(logits.dim() - 1);
    return sample(logits.const_data_ptr<float>() + (logits.numel() - vocab), vocab);
  };

  std::vector<int64_t> generated;
  const auto start = Clock::now();
  int64_t token = step(prompt, 0);
  const auto first = Clock::now();
  generated.push_back(token);
  const auto decode_start = Clock::now();
  int64_t position = static_cast<int64_t>(prompt.size());
  auto stopped = [&] { return std::find(stop.begin(), stop.end(), token) != stop.end(); };
  while (static_cast<int>(generated.size()) < FLAGS_max_new_tokens && !stopped()) {
    token = step({token}, position++);
    generated.push_back(token);
  }
  const auto end = Clock::now();
  const double ttft_ms = std::chrono::duration<double, std::milli>(first - start).count();
  const double decode_ms = std::chrono::duration<double, std::milli>(end - decode_start).count();
  const double prefill_tok_s = prompt.size() / (ttft_ms / 1e3);
  const double decode_tok_s = generated.size() > 1 && decode_ms > 0 ? (generated.size() - 1) / (decode_ms / 1e3) : 0.0;
  const char* stop_reason = stopped() ? "stop_token" : "max_new_tokens";

  const nlohmann::ordered_json report = {
      {"runner", "native"}, {"model_path", FLAGS_model_path}, {"num_threads", threads},
      {"prompt_tokens", prompt.size()}, {"generated_tokens", generated.size()}, {"tokens", generated},
      {"load_ms", load_ms}, {"time_to_first_token_ms", ttft_ms}, {"prefill_ms", ttft_ms}, {"decode_ms", decode_ms},
      {"prefill_tok_s", prefill_tok_s}, {"decode_tok_s", decode_tok_s}, {"peak_rss_kb", peak_rss_kib()},
      {"baseline_rss_kb", baseline_rss_kb}, {"stop_reason", stop_reason},
      {"verification", verification.status}, {"verify_ms", verification.digest_ms},
      {"verify_cached", verification.cached}};
  if (FLAGS_json) {
    std::printf("%s\n", report.dump().c_str());
  } else {
    std::printf("runner: native\nprogram: %s\ntokens: %s\n", FLAGS_model_path.c_str(), join(generated).c_str());
    for (const char* key : {"prompt_tokens", "generated_tokens", "time_to_first_token_ms", "prefill_tok_s",
                            "decode_tok_s", "peak_rss_kb", "stop_reason", "verification"}) {
      std::printf("%s: %s\n", key, report[key].is_string() ? report[key].get<std::string>().c_str() : report[key].dump().c_str());
    }
  }
  return 0;
}

// text_generation_runner: runs an exported Llama program (forward(tokens[1,n], input_pos[1]) ->
// logits[1,vocab], KV cache inside the program) on token ids: prefill the prompt in one call,
// then decode one token per call. Token ids in and out; text belongs to the Python tokenizer.
// A program with a "prefill" method of the same signature that shares forward's KV cache
// (examples/generation/prefill_split.py) prefills with it.
//
//   text_generation_runner --model_path=stories15m_xnnpack_fp32.pte --prompt_tokens=1,15,27
//       [--max_new_tokens=32] [--temperature=0] [--top_p=1] [--seed=0] [--num_threads=1] [--json]
//       [--verify_program=auto|require|off] [--prof_result_path=trace.etdp  (profiling build)]
//       [--forced_tokens=ids --logits_out=FILE  (teacher-forced logits for an accuracy check)]
//
// Everything around the runtime is xnn_executor_runner's shared core (RUNNER_SHARED_SRCS in
// runtime/executor_runner/sources.bzl): strict flags, one-line errors and the same exit codes
// (exit_codes.h: unknown flag 2, missing file 1, crash 3, timeout 4, verification 5, memory 6),
// the crash guard, --timeout_s and --max_memory_mb, the card check with its range-checking
// loader (verified_loader.h; forward's signature checked before it is loaded), peak RSS and the
// RSS at the end (rss_kb: what stays resident once load-time copies are freed).
//
// The llama::custom_sdpa / llama::update_cache kernels are compiled in from ExecuTorch's
// sources (third-party/executorch_llm_ops); the wheel ships them only inside a libtorch extension.
// This file is the command line (flags, loading, the report); the loop itself and the token
// sampler are reusable parts (generation_loop.h, token_sampler.h).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <executorch/extension/module/module.h>
#include <executorch/runtime/platform/runtime.h>

#include "crash_guard.h"
#include "exit_codes.h"
#include "generation_loop.h"
#include "huge_pages.h"
#include "profiling.h"
#include "program_verification.h"
#include "run_limits.h"
#include "runner_cli.h"
#include "runner_io.h"
#include "test_hooks.h"
#include "threadpool_binding.h"
#include "verified_loader.h"
#include "verify_cache.h"
#include "wheel_threadpool.h"
#include "xnnpack_invoke_timing.h"
#include "xnnpack_reshape.h"

// Defined with the runner's custom_sdpa (third-party/executorch_llm_ops, decode_attention.h,
// whose folder also holds kernel headers that would shadow the wheel's in this file).
namespace torch::executor::native {
void set_decode_attention_by_key_rows(bool by_key_rows);
}


DEFINE_string(model_path, "", "The .pte program (exported with KV cache). Required.");
DEFINE_string(prompt_tokens, "", "Comma-separated prompt token ids, e.g. 1,15,27. Required.");
DEFINE_int32(max_new_tokens, 32, "Tokens to generate (>= 1).");
DEFINE_double(temperature, 0.0, "0: greedy; above 0: sample from softmax(logits / T).");
DEFINE_double(top_p, 1.0, "Nucleus sampling: smallest set of tokens reaching this probability.");
DEFINE_uint64(seed, 0, "Sampling seed.");
DEFINE_int32(num_threads, 1, "Threads for XNNPACK and the custom ops; 0 = all cores.");
DEFINE_string(stop_tokens, "", "Comma-separated token ids that end generation (kept in the output).");
DEFINE_string(forced_tokens, "",
              "Teacher forcing: comma-separated ids fed, one a call, to the decode calls after the prompt's, "
              "instead of the tokens chosen before them (at most max_new_tokens - 1; the report's tokens stay "
              "the choices; not with --stop_tokens). With --logits_out, the logits an accuracy check holds to a "
              "reference at the same positions.");
DEFINE_string(logits_out, "",
              "Write every step's last-position logits to this file, raw float32 [steps][vocab], atomically "
              "(kept in memory until the end: steps x vocab x 4 bytes).");
DEFINE_bool(json, false, "Print one JSON object on stdout instead of the text report.");
DEFINE_bool(verbose, false, "Show the ExecuTorch runtime's own log messages on stderr.");
DEFINE_string(verify_program, "auto",
              "Check the program against its card (<program>.json) before loading it: auto (when a card "
              "is there), require (refuse a program without one), off. A mismatch is exit 5.");
DEFINE_string(verify_cache, "on", "Remember verified digests (as xnn_executor_runner): on, off or a folder.");
DEFINE_double(timeout_s, 0, "End the run (exit 4) after this many seconds, load included. 0 = no limit.");
DEFINE_string(prof_result_path, "",
              "Profiling build (cmake-out-prof) only: write the ETDump of every call here (the prefill first, "
              "through the program's prefill method where it has one, then one per generated token after "
              "the first), for examples.backend.step_profile.");
DEFINE_bool(huge_pages, false, "After loading, move the process's fully resident private memory (the delegate's packed weights, most of it) into 2 MiB pages: a few per cent faster decode, tens of ms more load (huge_pages.h). Unset: on where the program's verified card says tune chose it at this thread count (tuned_runner_flags).");
DEFINE_bool(threadpool_accounting, false, "Time the thread pool's parallel jobs during decode: the report's threadpool.decode says how much of it ran on one thread (the others waiting) and how busy the threads were inside the jobs. Costs a few clock reads per job.");
DEFINE_string(decode_attention, "key_rows", "A decode step's fp32 attention: key_rows (each thread streams a range of whole KV cache rows, third-party/executorch_llm_ops local change 5) or per_head (custom_sdpa's flash loop, a head at a time).");
DEFINE_string(xnnpack_reshape, "changed", "When a delegate call reshapes its XNNPACK runtime: changed (only when an input shape changed since its last reshape, xnnpack_reshape.cpp) or every_call (as ExecuTorch's delegate asks).");
DEFINE_int64(max_memory_mb, -1, "Memory (MiB) the program may take beyond the runner's own (exit 6 past it); default as xnn_executor_runner. 0 = no bound.");

namespace {

using executorch::extension::Module;
using executorch::runtime::Error;
using Clock = std::chrono::steady_clock;
using namespace xnn_runner;

double ms_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

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

using text_generation::Generation;
using text_generation::Request;

Request check_flags() {
  if (FLAGS_model_path.empty()) fail(kUsageExit, "--model_path is required");
  if (FLAGS_prompt_tokens.empty()) fail(kUsageExit, "--prompt_tokens is required (comma-separated token ids)");
  Request r;
  r.prompt = parse_tokens(FLAGS_prompt_tokens, "--prompt_tokens");
  r.stop = parse_tokens(FLAGS_stop_tokens, "--stop_tokens");
  r.forced = parse_tokens(FLAGS_forced_tokens, "--forced_tokens");
  r.keep_logits = !FLAGS_logits_out.empty();
  if (r.prompt.empty()) fail(kUsageExit, "--prompt_tokens holds no token ids");
  if (FLAGS_max_new_tokens < 1) fail(kUsageExit, "--max_new_tokens must be at least 1, got " + std::to_string(FLAGS_max_new_tokens));
  if (!r.forced.empty() && !r.stop.empty()) {
    fail(kUsageExit, "--forced_tokens and --stop_tokens do not go together: a chosen stop token would end the run "
                     "before the forced ones are fed");
  }
  if (static_cast<int64_t>(r.forced.size()) >= FLAGS_max_new_tokens) {
    fail(kUsageExit, "--forced_tokens feeds the decode calls after the prompt's: at most " +
                         std::to_string(FLAGS_max_new_tokens - 1) + " ids, got " + std::to_string(r.forced.size()));
  }
  if (FLAGS_temperature < 0) fail(kUsageExit, "--temperature must be >= 0");
  if (!(FLAGS_top_p > 0 && FLAGS_top_p <= 1)) fail(kUsageExit, "--top_p must be in (0, 1]");
  if (FLAGS_num_threads < 0) fail(kUsageExit, "--num_threads must be >= 0 (0 = all cores)");
  if (!(FLAGS_timeout_s >= 0)) fail(kUsageExit, "--timeout_s must be >= 0 (0 = no limit)");
  if (FLAGS_max_memory_mb < -1) fail(kUsageExit, "--max_memory_mb must be >= 0 (0 = no bound)");
  if (FLAGS_xnnpack_reshape != "changed" && FLAGS_xnnpack_reshape != "every_call") {
    fail(kUsageExit, "--xnnpack_reshape must be changed or every_call, got '" + FLAGS_xnnpack_reshape + "'");
  }
  if (FLAGS_decode_attention != "key_rows" && FLAGS_decode_attention != "per_head") {
    fail(kUsageExit, "--decode_attention must be key_rows or per_head, got '" + FLAGS_decode_attention + "'");
  }
  std::string unused;  // sampling flags greedy decoding never reads: said, not silently dropped
  for (const char* name : {"top_p", "seed"}) {
    if (FLAGS_temperature == 0 && !gflags::GetCommandLineFlagInfoOrDie(name).is_default) {
      unused += (unused.empty() ? "--" : " and --") + std::string(name);
    }
  }
  if (!unused.empty()) {
    std::fprintf(stderr, "warning: greedy decoding (--temperature 0) ignores %s\n", unused.c_str());
  }
  r.max_new_tokens = FLAGS_max_new_tokens;
  r.temperature = FLAGS_temperature;
  r.top_p = FLAGS_top_p;
  r.seed = FLAGS_seed;
  r.accounting = FLAGS_threadpool_accounting;
  return r;
}

unsigned setup_threads() {
  unsigned threads = FLAGS_num_threads > 0 ? FLAGS_num_threads : std::max(1u, std::thread::hardware_concurrency());
  if (auto* pool = executorch::extension::threadpool::get_threadpool()) {
    pool->_unsafe_reset_threadpool(threads);
    threads = static_cast<unsigned>(pool->get_thread_count());
  }
  return threads;
}

// The program behind its card check; every range the runtime reads is checked as it is read.
struct Loaded {
  std::unique_ptr<ProgramFile> file;
  Verification verification;
  std::unique_ptr<ProgramLoader> loader;  // refers to file and verification; the program reads through it
  // Declared after the loader, so destroyed before it: the module holds the Program, which
  // reads through the loader until it is gone.
  std::unique_ptr<Module> module;
  int64_t max_seq_len = 0, vocab_size = 0;
  double load_ms = 0;
  HugePageReport huge_pages;
  bool huge_pages_from_card = false;  // --huge_pages unset, the card's tuned_runner_flags asked for it
  std::string prefill_method = "forward";
};

// --huge_pages as given, else what tune wrote into the program's card when the runner option won
// there (tuned_runner_flags, examples/tune/report.py): the program carries how it was measured
// fastest, at the thread count it was measured at (tuned_threads). Only a card the program was
// verified against counts.
bool huge_pages_wanted(const Verification& v, unsigned threads, bool* from_card) {
  *from_card = false;
  if (!gflags::GetCommandLineFlagInfoOrDie("huge_pages").is_default) return FLAGS_huge_pages;
  if (!v.trusted || !v.card.is_object() || !v.card.contains("tuned_runner_flags")) return false;
  const auto tuned_threads = v.card.find("tuned_threads");
  if (tuned_threads == v.card.end() || !tuned_threads->is_number_unsigned() || tuned_threads->get<unsigned>() != threads) return false;
  const auto& flags = v.card["tuned_runner_flags"];
  if (!flags.is_array()) return false;
  for (const auto& flag : flags) {
    if (flag.is_string() && (flag == "--huge_pages=true" || flag == "--huge_pages")) *from_card = true;
  }
  return *from_card;
}

// "prefill" where the program has that method and it shares the KV cache with forward (exported
// with share_mutable_buffers: both plan a second arena, the mutable state, of one size; the
// Module then gives both the same memory), else "forward". A prefill method with its own cache
// would leave forward's empty: refused.
std::string prefill_method_of(const executorch::runtime::Program& program) {
  auto prefill = program.method_meta("prefill");
  auto forward = program.method_meta("forward");
  if (!prefill.ok() || !forward.ok()) return "forward";  // no forward: load_generation_method says so
  auto shared_state_bytes = [](const executorch::runtime::MethodMeta& m) -> int64_t {
    return m.num_memory_planned_buffers() == 2 ? m.memory_planned_buffer_size(1).get() : -1;
  };
  if (shared_state_bytes(*prefill) < 0 || shared_state_bytes(*prefill) != shared_state_bytes(*forward)) {
    fail(kUsageExit, FLAGS_model_path + " has a 'prefill' method that does not share forward's KV cache "
                     "(export both with share_mutable_buffers, as --fp32_prefill does)");
  }
  return "prefill";
}

// Checks one of the generation methods against the card and loads it, before anything runs.
void load_generation_method(Loaded& l, const char* name, executorch::runtime::EventTracer* tracer) {
  auto meta = l.module->method_meta(name);
  if (!meta.ok()) fail_runtime(FLAGS_model_path + " is not a valid program with a '" + name + "' method", meta.error());
  check_method_against_card(l.verification, meta.get(), FLAGS_model_path, name);  // before it is loaded
  unsigned long long planned = 0;
  for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i) planned += meta->memory_planned_buffer_size(i).get();
  bound_memory(static_cast<long>(FLAGS_max_memory_mb), l.file->size() + planned);
  set_crash_phase((std::string("initializing method '") + name + "' of").c_str());
  if (Error e = l.module->load_method(name, nullptr, tracer); e != Error::Ok) fail_runtime("cannot load " + FLAGS_model_path, e);
}

std::unique_ptr<Loaded> load_model(VerifyMode mode, unsigned threads, executorch::runtime::EventTracer* tracer) {
  set_crash_phase("loading");
  const auto start = Clock::now();
  auto l = std::make_unique<Loaded>();
  l->file = std::make_unique<ProgramFile>(FLAGS_model_path);  // a missing file: exit 1
  bound_memory(static_cast<long>(FLAGS_max_memory_mb), l->file->size());
  l->verification = verify_program(*l->file, mode);
  check_compiled_for_this_cpu(l->verification, FLAGS_model_path);
  l->loader = std::make_unique<ProgramLoader>(*l->file, l->verification, resolve_verify_cache(FLAGS_verify_cache));
  // The program is loaded here, not by the Module, so that its methods are known before the
  // Module decides whether they share planned memory (the loader outlives both: see Loaded).
  auto program = executorch::runtime::Program::load(l->loader->get());
  if (!program.ok()) fail_runtime(FLAGS_model_path + " is not a valid program", program.error());
  auto shared = std::make_shared<executorch::runtime::Program>(std::move(program.get()));
  l->prefill_method = prefill_method_of(*shared);
  l->module = std::make_unique<Module>(shared, nullptr, nullptr, nullptr, nullptr,
                                       /*share_memory_arenas=*/l->prefill_method != "forward");
  load_generation_method(*l, "forward", tracer);
  if (l->prefill_method != "forward") load_generation_method(*l, l->prefill_method.c_str(), tracer);
  l->max_seq_len = metadata(*l->module, "get_max_seq_len", 0);
  l->vocab_size = metadata(*l->module, "get_vocab_size", 0);
  if (!metadata(*l->module, "use_kv_cache", 1)) fail(kUsageExit, FLAGS_model_path + " has no KV cache: export it with the LLM exporter");
  l->loader->finish();  // the last load: the file must be as it was opened
  if (huge_pages_wanted(l->verification, threads, &l->huge_pages_from_card)) l->huge_pages = back_resident_memory_with_huge_pages();
  l->load_ms = ms_between(start, Clock::now());
  return l;
}

void check_request(const Request& r, const Loaded& l) {
  for (const auto* ids : {&r.prompt, &r.forced}) {
    for (int64_t t : *ids) {
      if (l.vocab_size > 0 && (t < 0 || t >= l.vocab_size)) fail(kUsageExit, std::string(ids == &r.prompt ? "prompt" : "forced") + " token " + std::to_string(t) + " is outside the vocabulary (0.." + std::to_string(l.vocab_size - 1) + ")");
    }
  }
  if (l.max_seq_len > 0 && static_cast<int64_t>(r.prompt.size()) + FLAGS_max_new_tokens > l.max_seq_len) {
    fail(kUsageExit, "prompt (" + std::to_string(r.prompt.size()) + " tokens) + max_new_tokens (" + std::to_string(FLAGS_max_new_tokens) +
                         ") exceeds the program's KV cache of " + std::to_string(l.max_seq_len) + " positions (export with a larger --max_seq_len)");
  }
}

// The one-thread time split at the delegate's calls into XNNPACK: inside them outside the jobs
// (XNNPACK's small operators and their dispatch) and outside them (everything else). Null where
// this build does not take XNNPACK's calls.
nlohmann::ordered_json xnnpack_invokes_json(const text_generation::XnnpackInvokes& x, double one_thread_ms,
                                            int64_t steps) {
  if (!text_generation::xnnpack_invoke_timing_compiled()) return nullptr;
  const double inside = x.wall_ms - x.jobs_wall_ms;
  return {{"calls", x.calls}, {"calls_per_step", steps > 0 ? static_cast<double>(x.calls) / steps : 0.0},
          {"invoke_ms", x.wall_ms}, {"one_thread_inside_ms", inside},
          {"one_thread_outside_ms", one_thread_ms - inside}};
}

// With --threadpool_accounting, the binding plus "decode": where the decode steps' time went.
nlohmann::ordered_json threadpool_report(const Generation& g, unsigned threads) {
  auto report = threadpool_json<nlohmann::ordered_json>(threadpool_binding());
  if (FLAGS_threadpool_accounting) {
    const auto steps = static_cast<int64_t>(g.tokens.size()) - 1;
    report["decode"] = pool_accounting_json<nlohmann::ordered_json>(g.decode_pool, g.decode_ms, threads, steps);
    report["decode"]["xnnpack"] = xnnpack_invokes_json(g.decode_invokes, g.decode_ms - g.decode_pool.wall_ms, steps);
  }
  return report;
}

nlohmann::ordered_json xnnpack_reshape_report() {
  const text_generation::XnnpackReshapes counts = text_generation::xnnpack_reshapes();
  const bool interposed = text_generation::xnnpack_reshape_interposed();
  return {{"mode", interposed ? FLAGS_xnnpack_reshape : "every_call"},
          {"compiled", text_generation::xnnpack_reshape_compiled()}, {"interposed", interposed},
          {"done", counts.done}, {"skipped", counts.skipped}};
}

void print_report(const Request& r, const Loaded& l, const Generation& g, unsigned threads, long baseline_rss_kb) {
  const double prefill_tok_s = r.prompt.size() / (g.ttft_ms / 1e3);
  const double decode_tok_s = g.tokens.size() > 1 && g.decode_ms > 0 ? (g.tokens.size() - 1) / (g.decode_ms / 1e3) : 0.0;
  const nlohmann::ordered_json report = {
      {"runner", "native"}, {"model_path", FLAGS_model_path}, {"num_threads", threads},
      {"prompt_tokens", r.prompt.size()}, {"generated_tokens", g.tokens.size()}, {"tokens", g.tokens},
      {"prefill_method", l.prefill_method}, {"load_ms", l.load_ms}, {"time_to_first_token_ms", g.ttft_ms}, {"prefill_ms", g.ttft_ms}, {"decode_ms", g.decode_ms},
      {"prefill_tok_s", prefill_tok_s}, {"decode_tok_s", decode_tok_s}, {"peak_rss_kb", peak_rss_kib()},
      {"rss_kb", current_rss_kib()}, {"baseline_rss_kb", baseline_rss_kb}, {"stop_reason", g.stopped ? "stop_token" : "max_new_tokens"},
      {"verification", l.verification.status}, {"verify_ms", l.verification.digest_ms},
      {"verify_cached", l.verification.cached}, {"checked_on_use_chunks", l.loader->checked_on_use().chunks},
      {"timeout_s", FLAGS_timeout_s}, {"max_memory_mb", FLAGS_max_memory_mb},
      {"decode_context_switches", {{"voluntary", g.decode_switches.voluntary}, {"involuntary", g.decode_switches.involuntary}}},
      {"threadpool", threadpool_report(g, threads)},
      {"xnnpack_reshapes", xnnpack_reshape_report()}, {"decode_attention", FLAGS_decode_attention},
      {"huge_pages", {{"collapsed_bytes", l.huge_pages.collapsed_bytes}, {"candidate_bytes", l.huge_pages.candidate_bytes}, {"huge_page_bytes", l.huge_pages.huge_page_bytes},
                      {"ms", l.huge_pages.ms}, {"error", l.huge_pages.error}, {"from_card", l.huge_pages_from_card}, {"anon_huge_kb", anon_huge_pages_kib()}, {"text", describe(l.huge_pages)}}}};
  if (FLAGS_json) {
    std::printf("%s\n", report.dump().c_str());
    return;
  }
  std::printf("runner: native\nprogram: %s\ntokens: %s\n", FLAGS_model_path.c_str(), join(g.tokens).c_str());
  for (const char* key : {"prompt_tokens", "generated_tokens", "time_to_first_token_ms", "prefill_tok_s",
                          "decode_tok_s", "peak_rss_kb", "stop_reason", "verification", "threadpool"}) {
    std::printf("%s: %s\n", key, report[key].is_string() ? report[key].get<std::string>().c_str() : report[key].dump().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  parse_flags_strictly(&argc, &argv, "Generates tokens with an exported Llama program (prefill, then decode with the KV cache).");
  const Request request = check_flags();
  if (!FLAGS_prof_result_path.empty() && !XNN_RUNNER_PROFILING) {
    fail(kUsageExit, "--prof_result_path needs the profiling build (cmake-out-prof/text_generation_runner)");
  }
  const VerifyMode verify_mode = parse_verify_mode(FLAGS_verify_program);
  install_crash_guard(FLAGS_model_path.c_str());
  install_runtime_log(FLAGS_verbose);
  executorch::runtime::runtime_init();
  const unsigned threads = setup_threads();
  probe_pool_gaps_for_tests();
  start_watchdog(FLAGS_timeout_s, FLAGS_model_path);
  apply_memory_limit(static_cast<long>(FLAGS_max_memory_mb), FLAGS_model_path);
  text_generation::set_xnnpack_reshape_every_call(FLAGS_xnnpack_reshape == "every_call");
  torch::executor::native::set_decode_attention_by_key_rows(FLAGS_decode_attention == "key_rows");
  const long baseline_rss_kb = current_rss_kib();
  // Only when asked: a profiling build with a fixed ETDump buffer allocates it up front.
  std::unique_ptr<Profiler> profiler = FLAGS_prof_result_path.empty() ? nullptr : std::make_unique<Profiler>();
  const std::unique_ptr<Loaded> loaded = load_model(verify_mode, threads, profiler ? profiler->tracer() : nullptr);
  check_request(request, *loaded);
  const Generation generation = text_generation::generate(*loaded->module, request, loaded->prefill_method);
  if (profiler) profiler->write(FLAGS_prof_result_path);
  std::string error;
  if (request.keep_logits && !xnn_runner::write_file_atomic(FLAGS_logits_out, generation.logits.data(),
                                                            generation.logits.size() * sizeof(float), error)) {
    fail(kErrorExit, "--logits_out: " + error);
  }
  print_report(request, *loaded, generation, threads, baseline_rss_kb);
  return kOkExit;
}

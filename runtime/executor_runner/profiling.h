// The profiling build's ETDump (cmake -DEXECUTORCH_PROF_ENABLED=ON): a tracer handed to
// load_method, one "run model" event per recorded iteration, prof_result.bin at the end.
// In the default build Profiler does nothing and tracer() is null.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include <executorch/runtime/core/event_tracer.h>

#include "crash_guard.h"
#include "exit_codes.h"
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

namespace xnn_runner {

#if XNN_RUNNER_PROFILING
class Profiler {
 public:
  Profiler() {
    if (EXECUTORCH_PROF_BUF_SIZE > 0) {
      static const std::string hint = " (or the fixed ETDump buffer, EXECUTORCH_PROF_BUF_SIZE=" +
                                      std::to_string(EXECUTORCH_PROF_BUF_SIZE) + " bytes, is too small)";
      set_crash_hint(hint.c_str());
      buffer_.reset(new uint8_t[EXECUTORCH_PROF_BUF_SIZE]);
      etdump_.reset(new executorch::etdump::ETDumpGen(
          executorch::runtime::Span<uint8_t>(buffer_.get(), static_cast<size_t>(EXECUTORCH_PROF_BUF_SIZE))));
    } else {
      etdump_.reset(new executorch::etdump::ETDumpGen());
    }
    gated_.reset(new GatedEventTracer(etdump_.get()));
  }
  executorch::runtime::EventTracer* tracer() { return gated_.get(); }
  // Records iteration `it` unless EXECUTORCH_NUM_PROF_BLOCKS iterations are recorded already.
  void begin_iteration(int it) {
    gated_->set_enabled(EXECUTORCH_NUM_PROF_BLOCKS <= 0 || it < EXECUTORCH_NUM_PROF_BLOCKS);
    if (gated_->enabled()) ++recorded_;
    entry_ = gated_->start_profiling("run model", -1, 0);
  }
  void end_iteration() { gated_->end_profiling(entry_); }
  int recorded_iterations() const { return recorded_; }
  // Writes the ETDump atomically; returns its path.
  std::string write(const std::string& path) {
    gated_->set_enabled(true);
    executorch::etdump::ETDumpResult r = etdump_->get_etdump_data();
    if (r.buf == nullptr || r.size == 0) fail(kErrorExit, "the ETDump is empty; nothing was recorded");
    std::string err;
    if (!write_file_atomic(path, r.buf, r.size, err)) fail(kErrorExit, err);
    if (EXECUTORCH_PROF_BUF_SIZE <= 0) std::free(r.buf);
    return path;
  }

 private:
  std::unique_ptr<uint8_t[]> buffer_;
  std::unique_ptr<executorch::etdump::ETDumpGen> etdump_;
  std::unique_ptr<GatedEventTracer> gated_;
  executorch::runtime::EventTracerEntry entry_{};
  int recorded_ = 0;
};
#else
class Profiler {
 public:
  executorch::runtime::EventTracer* tracer() { return nullptr; }
  void begin_iteration(int) {}
  void end_iteration() {}
  int recorded_iterations() const { return 0; }
  std::string write(const std::string&) { return {}; }  // callers refuse a path in this build
};
#endif

}  // namespace xnn_runner

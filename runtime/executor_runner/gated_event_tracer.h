// Profiling builds only: an EventTracer that forwards to ETDumpGen while `enabled`, and drops
// events otherwise. The runner uses it to record only the first EXECUTORCH_NUM_PROF_BLOCKS
// iterations (the tracer handed to load_method cannot be swapped later).
#pragma once

#include <executorch/runtime/core/event_tracer.h>

namespace xnn_runner {

class GatedEventTracer final : public executorch::runtime::EventTracer {
 public:
  using EventTracer = executorch::runtime::EventTracer;
  using EventTracerEntry = executorch::runtime::EventTracerEntry;
  using ChainID = executorch::runtime::ChainID;
  using DebugHandle = executorch::runtime::DebugHandle;
  using DelegateDebugIntId = executorch::runtime::DelegateDebugIntId;
  using AllocatorID = executorch::runtime::AllocatorID;
  template <typename T>
  using Result = executorch::runtime::Result<T>;

  explicit GatedEventTracer(EventTracer* inner) : inner_(inner) {}

  void set_enabled(bool enabled) { enabled_ = enabled; }
  bool enabled() const { return enabled_; }

  void create_event_block(const char* name) override {
    if (enabled_) inner_->create_event_block(name);
  }
  EventTracerEntry start_profiling(const char* name, ChainID chain_id,
                                   DebugHandle debug_handle) override {
    if (!enabled_) return EventTracerEntry{};
    sync();
    return inner_->start_profiling(name, chain_id, debug_handle);
  }
  void end_profiling(EventTracerEntry entry) override {
    if (!enabled_) return;
    sync();
    inner_->end_profiling(entry);
  }
  EventTracerEntry start_profiling_delegate(const char* name,
                                            DelegateDebugIntId index) override {
    if (!enabled_) return EventTracerEntry{};
    sync();
    return inner_->start_profiling_delegate(name, index);
  }
  void end_profiling_delegate(EventTracerEntry entry, const void* metadata,
                              size_t metadata_len) override {
    if (!enabled_) return;
    sync();
    inner_->end_profiling_delegate(entry, metadata, metadata_len);
  }
  void log_profiling_delegate(const char* name, DelegateDebugIntId index,
                              et_timestamp_t start_time, et_timestamp_t end_time,
                              const void* metadata, size_t metadata_len) override {
    if (!enabled_) return;
    sync();
    inner_->log_profiling_delegate(name, index, start_time, end_time, metadata, metadata_len);
  }
  void track_allocation(AllocatorID id, size_t size) override {
    if (enabled_) inner_->track_allocation(id, size);
  }
  AllocatorID track_allocator(const char* name) override {
    return inner_->track_allocator(name);
  }
  Result<bool> log_evalue(const executorch::runtime::EValue& evalue,
                          executorch::runtime::LoggedEValueType type) override {
    if (!enabled_) return false;
    sync();
    return inner_->log_evalue(evalue, type);
  }
  Result<bool> log_intermediate_output_delegate(const char* name, DelegateDebugIntId index,
                                                const executorch::aten::Tensor& output) override {
    if (!enabled_) return false;
    return inner_->log_intermediate_output_delegate(name, index, output);
  }
  Result<bool> log_intermediate_output_delegate(
      const char* name, DelegateDebugIntId index,
      const executorch::runtime::ArrayRef<executorch::aten::Tensor> output) override {
    if (!enabled_) return false;
    return inner_->log_intermediate_output_delegate(name, index, output);
  }
  Result<bool> log_intermediate_output_delegate(const char* name, DelegateDebugIntId index,
                                                const int& output) override {
    if (!enabled_) return false;
    return inner_->log_intermediate_output_delegate(name, index, output);
  }
  Result<bool> log_intermediate_output_delegate(const char* name, DelegateDebugIntId index,
                                                const bool& output) override {
    if (!enabled_) return false;
    return inner_->log_intermediate_output_delegate(name, index, output);
  }
  Result<bool> log_intermediate_output_delegate(const char* name, DelegateDebugIntId index,
                                                const double& output) override {
    if (!enabled_) return false;
    return inner_->log_intermediate_output_delegate(name, index, output);
  }
  void set_delegation_intermediate_output_filter(
      executorch::runtime::EventTracerFilterBase* filter) override {
    inner_->set_delegation_intermediate_output_filter(filter);
  }

 private:
  // The runtime sets the current chain/debug handle on *this* object (non-virtual setters);
  // the inner tracer reads its own copy, so mirror them before forwarding.
  void sync() {
    inner_->set_chain_debug_handle(chain_id_, debug_handle_);
    inner_->set_bundled_input_index(bundled_input_index_);
  }

  EventTracer* inner_;
  bool enabled_ = true;
};

}  // namespace xnn_runner

// The wheel ships libexecutorch_threadpool.so but not threadpool.h: what the runners and their
// kernels call, declared as upstream's extension/threadpool/threadpool.h has it.
#pragma once

#include <cstddef>
#include <cstdint>

typedef struct pthreadpool* pthreadpool_t;

namespace executorch::extension::threadpool {
class ThreadPool final {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
// The singleton's pthreadpool (upstream declares it only as a friend of ThreadPool).
pthreadpool_t get_pthreadpool();
}  // namespace executorch::extension::threadpool

// The runner defines some of XNNPACK's functions to take the calls the wheel's delegate library
// makes through its PLT (exported with --export-dynamic-symbol); each definition passes the call
// on to XNNPACK's own, the next definition in the search order.
#pragma once

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace text_generation {

// XNNPACK's own definition of `name` (the next one after the runner's in the search order).
template <typename Function>
Function xnnpack_library_function(const char* name) {
  void* found = dlsym(RTLD_NEXT, name);
  if (found == nullptr) {
    std::fprintf(stderr, "error: XNNPACK's %s not found after the runner's (%s)\n", name, dlerror());
    std::abort();
  }
  return reinterpret_cast<Function>(found);
}

}  // namespace text_generation

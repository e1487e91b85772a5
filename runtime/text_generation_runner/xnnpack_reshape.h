// XNNPACK reshapes a delegate's runtime only when one of its input shapes changed
// (xnnpack_reshape.cpp says why and how).
#pragma once

#include <cstdint>

namespace text_generation {

// Whether this build defines XNNPACK's reshape functions to interpose the wheel's delegate
// library (its calls go through the PLT). A delegate linked into the runner from source has no
// PLT to interpose, and every call reshapes.
bool xnnpack_reshape_compiled();

// Whether those definitions took the delegate's calls so far (false in a build that has them
// means the delegate bound the calls itself: nothing is skipped).
bool xnnpack_reshape_interposed();

// true: every delegate call reshapes its runtime, as ExecuTorch's delegate asks, with nothing
// remembered (--xnnpack_reshape=every_call). Set before the program is loaded.
void set_xnnpack_reshape_every_call(bool every_call);

struct XnnpackReshapes {
  int64_t done = 0;     // reshapes passed on to XNNPACK
  int64_t skipped = 0;  // reshapes with every input shape as at the runtime's last one
};
XnnpackReshapes xnnpack_reshapes();

}  // namespace text_generation

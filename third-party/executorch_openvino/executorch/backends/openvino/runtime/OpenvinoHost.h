// [executorch_openvino] Not upstream: what a host program (the native runner) tells the
// OpenVINO delegate, and what it can learn from it afterwards.
//
// Why: the wheel's delegate imports every compiled blob with the CPU plugin's defaults, so a
// program compiled for f32 on 1 thread ran bf16 on every core. Here a program carries its own
// OpenVINO properties as compile specs named "ov:<PROPERTY>" (e.g. "ov:INFERENCE_PRECISION_HINT"
// = "f32"), the host adds its own (INFERENCE_NUM_THREADS from its thread setting), and both are
// set on the core before the import. The compiled model is then asked what it really runs in.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace executorch {
namespace backends {
namespace openvino {

// Applied to every model imported after this call, after the program's own "ov:" properties,
// so the host's value wins for a key both name.
void set_host_property(const std::string& key, const std::string& value);

struct ImportedModel {
  std::string device;
  // What the imported model reports: INFERENCE_PRECISION_HINT ("f32", "bf16", "f16") and
  // INFERENCE_NUM_THREADS; empty when the runtime could not say.
  std::string precision;
  std::string num_threads;
  std::vector<std::pair<std::string, std::string>> requested;  // program's, then host's
};

// One entry per successful init, in order.
std::vector<ImportedModel> imported_models();

} // namespace openvino
} // namespace backends
} // namespace executorch

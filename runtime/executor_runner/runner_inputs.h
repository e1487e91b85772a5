// The method's inputs: raw files (--input_path), a manifest naming files with dtype and shape
// (--input_manifest), or all ones. Every check happens here, before the (slow) method init.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <executorch/runtime/core/exec_aten/exec_aten.h>
#include <executorch/runtime/executor/method_meta.h>

#include "runner_io.h"

namespace xnn_runner {

struct InputTensor {
  std::vector<int32_t> sizes;
  std::vector<uint8_t> dim_order;
  std::vector<int32_t> strides;
  Bytes data;
  std::unique_ptr<executorch::aten::TensorImpl> impl;
};

// One input file and, from a manifest, the dtype and shape it holds.
struct InputFile {
  std::string path;
  bool described = false;  // dtype / shape come from a manifest
  std::string dtype;
  std::vector<int64_t> shape;
};

// The files listed by an input manifest: the same JSON format as the output manifest,
// {"inputs": [{"index": 0, "file": "input_0.bin", "dtype": "int64", "shape": [1, 7]}, ...]}
// with "file" relative to the manifest's folder. Errors end the run (exit 1).
std::vector<InputFile> read_input_manifest(const std::string& manifest_path);

// Builds one tensor per method input. Without files every input is all ones of the declared
// dtype and shape. A file without a manifest entry must hold the declared bytes exactly; with
// one, its dtype must be the declared dtype and its shape must have the declared rank and no
// dimension above the declared one (a dynamic-shape input declares its upper bounds).
std::vector<InputTensor> prepare_inputs(const executorch::runtime::MethodMeta& meta, const std::string& method_name,
                                        const std::vector<InputFile>& files);

}  // namespace xnn_runner

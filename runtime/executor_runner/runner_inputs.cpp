#include "runner_inputs.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <new>

#include <nlohmann/json.hpp>

#include "exit_codes.h"
#include "run_limits.h"
#include "runner_io.h"

namespace xnn_runner {

using executorch::aten::ScalarType;
using executorch::aten::TensorImpl;
using executorch::runtime::MethodMeta;
using executorch::runtime::Result;
using executorch::runtime::Tag;
using executorch::runtime::TensorInfo;

namespace {

std::string input_name(size_t i) { return "input " + std::to_string(i); }

void fill_ones(uint8_t* data, size_t numel, size_t esize, ScalarType type) {
  for (size_t k = 0; k < numel; ++k) {
    uint8_t* p = data + k * esize;
    switch (type) {
      case ScalarType::Float: { float v = 1.0f; std::memcpy(p, &v, 4); break; }
      case ScalarType::Double: { double v = 1.0; std::memcpy(p, &v, 8); break; }
      case ScalarType::Half: { uint16_t v = 0x3c00; std::memcpy(p, &v, 2); break; }
      case ScalarType::BFloat16: { uint16_t v = 0x3f80; std::memcpy(p, &v, 2); break; }
      default: {  // integers and bool: little-endian 1
        std::memset(p, 0, esize);
        p[0] = 1;
      }
    }
  }
}

// The shape this input will have: the file's (from the manifest, checked against the
// declared one) or the declared shape.
std::vector<int64_t> input_shape(size_t i, const TensorInfo& info, const InputFile* file) {
  std::vector<int64_t> declared(info.sizes().begin(), info.sizes().end());
  if (file == nullptr || !file->described) return declared;
  const std::string want = dtype_name(info.scalar_type()) + format_shape(declared);
  const std::string got = file->dtype + format_shape(file->shape);
  bool fits = file->dtype == dtype_name(info.scalar_type()) && file->shape.size() == declared.size();
  for (size_t d = 0; fits && d < declared.size(); ++d) fits = file->shape[d] >= 0 && file->shape[d] <= declared[d];
  if (!fits) {
    fail(kErrorExit, input_name(i) + " (" + file->path + ") is " + got + " in the input manifest, but the method declares " +
                         want + " (dynamic dimensions may be smaller, never larger)");
  }
  return file->shape;
}

void build_one(size_t i, const TensorInfo& info, const InputFile* file, InputTensor& in) {
  const std::vector<int64_t> shape = input_shape(i, info, file);
  const size_t dim = shape.size();
  size_t numel = 1;
  for (int64_t s : shape) {
    in.sizes.push_back(static_cast<int32_t>(s));
    numel *= static_cast<size_t>(std::max<int64_t>(s, 0));
  }
  in.dim_order.assign(info.dim_order().begin(), info.dim_order().end());
  if (in.dim_order.size() != dim) fail(kErrorExit, input_name(i) + " has an inconsistent dim order");
  in.strides.assign(dim, 1);
  for (size_t k = dim; k-- > 0;) {
    const uint8_t d = in.dim_order[k];
    if (d >= dim) fail(kErrorExit, input_name(i) + " has an invalid dim order");
    in.strides[d] = (k + 1 < dim) ? in.strides[in.dim_order[k + 1]] * in.sizes[in.dim_order[k + 1]] : 1;
  }
  const ScalarType type = info.scalar_type();
  const size_t esize = dtype_size(type);
  if (esize == 0) fail(kErrorExit, input_name(i) + " has unsupported dtype " + dtype_name(type));
  const size_t nbytes = numel * esize;
  if (file == nullptr && nbytes != info.nbytes()) fail(kErrorExit, input_name(i) + " metadata is inconsistent");
  in.data = allocate_bytes(nbytes);
  if (!in.data) fail_out_of_memory("cannot allocate " + std::to_string(nbytes) + " bytes for " + input_name(i));
  if (file == nullptr) {
    fill_ones(in.data.get(), numel, esize, type);
  } else {
    std::vector<uint8_t> bytes;
    std::string err;
    if (!read_file(file->path, bytes, err)) fail(kErrorExit, input_name(i) + ": " + err);
    if (bytes.size() != nbytes) {
      fail(kErrorExit, input_name(i) + " (" + file->path + ") has " + std::to_string(bytes.size()) + " bytes; expected " +
                           std::to_string(nbytes) + " bytes for " + dtype_name(type) + format_shape(shape));
    }
    std::memcpy(in.data.get(), bytes.data(), nbytes);
  }
  in.impl.reset(new TensorImpl(type, static_cast<ssize_t>(dim), in.sizes.data(), in.data.get(), in.dim_order.data(),
                               in.strides.data()));
}

}  // namespace

std::vector<InputFile> read_input_manifest(const std::string& manifest_path) {
  std::ifstream stream(manifest_path);
  if (!stream) fail(kErrorExit, "cannot open input manifest " + manifest_path + ": " + std::strerror(errno));
  const size_t slash = manifest_path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "" : manifest_path.substr(0, slash + 1);
  std::vector<InputFile> files;
  try {
    const nlohmann::json manifest = nlohmann::json::parse(stream);
    const nlohmann::json& inputs = manifest.at("inputs");
    for (size_t i = 0; i < inputs.size(); ++i) {
      const nlohmann::json& entry = inputs.at(i);
      if (entry.contains("index") && entry.at("index").get<size_t>() != i) {
        fail(kErrorExit, "input manifest " + manifest_path + ": entry " + std::to_string(i) + " has index " +
                             entry.at("index").dump() + "; entries must be in input order");
      }
      InputFile f;
      f.path = entry.at("file").get<std::string>();
      if (f.path.empty()) fail(kErrorExit, "input manifest " + manifest_path + ": entry " + std::to_string(i) + " has an empty file name");
      if (f.path[0] != '/') f.path = folder + f.path;
      f.described = true;
      f.dtype = entry.at("dtype").get<std::string>();
      f.shape = entry.at("shape").get<std::vector<int64_t>>();
      files.push_back(std::move(f));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(kErrorExit, "input manifest " + manifest_path + " is not a valid manifest (" + e.what() + ")");
  }
  return files;
}

std::vector<InputTensor> prepare_inputs(const MethodMeta& meta, const std::string& method_name,
                                        const std::vector<InputFile>& files) {
  const size_t num_inputs = meta.num_inputs();
  if (!files.empty() && files.size() != num_inputs) {
    fail(kErrorExit, "method '" + method_name + "' takes " + std::to_string(num_inputs) + " input(s), got " +
                         std::to_string(files.size()) + " input file(s)");
  }
  std::vector<InputTensor> inputs(num_inputs);
  for (size_t i = 0; i < num_inputs; ++i) {
    Result<Tag> tag = meta.input_tag(i);
    if (!tag.ok()) fail(kErrorExit, "cannot read " + input_name(i) + " metadata: " + err_text(tag.error()));
    if (tag.get() != Tag::Tensor) {
      fail(kErrorExit, input_name(i) + " of method '" + method_name + "' is not a tensor; only tensor inputs are supported");
    }
    Result<TensorInfo> info = meta.input_tensor_meta(i);
    if (!info.ok()) fail(kErrorExit, "cannot read " + input_name(i) + " metadata: " + err_text(info.error()));
    build_one(i, info.get(), files.empty() ? nullptr : &files[i], inputs[i]);
  }
  return inputs;
}

}  // namespace xnn_runner

// The kernel ExecuTorch's registry hands a call whose tensor arguments have these dtypes and a
// contiguous dim order of `rank`, as Method::resolve_operator looks it up; exits 1 (FAIL) when
// there is none. Shared by the native checks that compare the runner's kernels with the wheel's.
#pragma once

#include <executorch/runtime/kernel/operator_registry.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

inline executorch::runtime::OpFunction registry_kernel(const char* name,
                                                       const std::vector<executorch::aten::ScalarType>& dtypes,
                                                       int rank) {
  static executorch::aten::DimOrderType order[] = {0, 1, 2, 3, 4, 5, 6, 7};
  const executorch::runtime::Span<executorch::aten::DimOrderType> dims(order, rank);
  std::vector<executorch::runtime::TensorMeta> metas;
  for (auto dtype : dtypes) metas.emplace_back(dtype, dims);
  auto op = executorch::runtime::get_op_function_from_registry(name, {metas.data(), metas.size()});
  if (!op.ok()) {
    std::printf("FAIL: no %s kernel for rank %d\n", name, rank);
    std::exit(1);
  }
  return *op;
}

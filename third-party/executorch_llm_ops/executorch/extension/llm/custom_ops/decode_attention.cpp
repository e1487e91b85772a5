/*
 * Copyright (c) Meta Platforms, Inc. and affiliates.
 * All rights reserved.
 *
 * This source code is licensed under the BSD-style license found in the
 * LICENSE file in the root directory of this source tree.
 */

// LOCAL ADDITION (xnnpack toolkit): decode_attention.h's switch, in a file of its own so that a
// program can set it without op_sdpa.cpp (op_sdpa_impl.h defines non-inline functions: it can
// be compiled into one object of a program only).
#include <executorch/extension/llm/custom_ops/decode_attention.h>

#include <atomic>

namespace torch::executor::native {
namespace {
std::atomic<bool> g_by_key_rows{true};
} // namespace

void set_decode_attention_by_key_rows(bool by_key_rows) {
  g_by_key_rows.store(by_key_rows, std::memory_order_relaxed);
}

bool decode_attention_by_key_rows() {
  return g_by_key_rows.load(std::memory_order_relaxed);
}

} // namespace torch::executor::native

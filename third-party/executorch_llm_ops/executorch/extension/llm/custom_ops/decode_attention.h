/*
 * Copyright (c) Meta Platforms, Inc. and affiliates.
 * All rights reserved.
 *
 * This source code is licensed under the BSD-style license found in the
 * LICENSE file in the root directory of this source tree.
 */

// LOCAL ADDITION (xnnpack toolkit): which path a decode step's fp32 attention takes in
// custom_sdpa (op_sdpa_impl.h, OneRowAttention). text_generation_runner's --decode_attention
// sets it before the first call, so one program can be timed both ways.
#pragma once

namespace torch::executor::native {

// true (the default): by key rows (OneRowAttention); false: cpu_flash_attention's own loop,
// a head at a time (with local changes 1 and 2).
void set_decode_attention_by_key_rows(bool by_key_rows);
bool decode_attention_by_key_rows();

}  // namespace torch::executor::native

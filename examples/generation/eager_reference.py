"""Eager PyTorch greedy generation with the same weights: the reference an exported program
must reproduce. No KV cache: every step runs the whole sequence, so it shares no code path
(cache update, custom SDPA, dynamic shapes) with the exported program.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch


def build_eager(params_path: Path, checkpoint_path: Path, max_seq_len: int) -> torch.nn.Module:
    from executorch.examples.models.llama.llama_transformer import construct_transformer
    from executorch.examples.models.llama.model_args import ModelArgs

    params = json.loads(Path(params_path).read_text())
    args = ModelArgs(max_seq_len=max_seq_len, max_context_len=max_seq_len, use_kv_cache=False,
                     enable_dynamic_shape=True, generate_full_logits=False, **params)
    model = construct_transformer(args)
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    missing, _ = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k.endswith(".weight")]
    if missing:
        raise ValueError(f"checkpoint lacks {missing[0]}")
    return model.eval()


@torch.no_grad()
def greedy_tokens(model: torch.nn.Module, prompt: Sequence[int], max_new_tokens: int) -> list[int]:
    sequence = list(prompt)
    for _ in range(max_new_tokens):
        logits = model(torch.tensor([sequence], dtype=torch.long))
        logits = logits[0] if isinstance(logits, tuple) else logits
        sequence.append(int(torch.argmax(logits.reshape(-1, logits.shape[-1])[-1])))
    return sequence[len(prompt):]

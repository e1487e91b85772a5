"""Token generation with an exported Llama program through ExecuTorch's Python runtime.

Prefill runs the prompt through ``forward`` in one call, then decode feeds one token at a
time; the program keeps its KV cache between calls (``input_pos`` says where each call
starts). Token ids in, token ids out: text lives in :mod:`examples.evaluation.tokenizer`.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from examples.generation.sampling import Sampler

METADATA_METHODS = ("get_max_seq_len", "get_vocab_size", "use_kv_cache", "enable_dynamic_shape")


class GenerationError(ValueError):
    """A request the program cannot serve (prompt too long, token out of the vocabulary)."""


class NotALanguageModel(GenerationError):
    """A program whose ``forward`` does not take token ids and a position (mv2, a classifier)."""


# ExecuTorch ScalarType codes (as MethodMeta's TensorInfo.dtype() gives them) -> names.
_DTYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32", 7: "float64",
           11: "bool", 15: "bfloat16"}
LM_SIGNATURE = "forward(tokens int64[1, n], input_pos int64[1])"


def _input_specs(meta) -> list[tuple[str, tuple] | None]:
    """``(dtype, sizes)`` per input of a method (None for a non-tensor input)."""
    specs = []
    for i in range(meta.num_inputs()):
        try:
            info = meta.input_tensor_meta(i)
        except Exception:  # noqa: BLE001 - the bindings raise for an input that is not a tensor
            specs.append(None)
            continue
        specs.append((_DTYPES.get(int(info.dtype()), f"dtype {int(info.dtype())}"), tuple(info.sizes())))
    return specs


def check_language_model(program, path: Path) -> None:
    """From the method signature, before anything runs: the program must have the LLM
    exporter's ``forward(tokens[1, n] int64, input_pos[1] int64)`` (and a ``prefill`` method, where
    it has one, the same)."""
    hint = (f"generation needs a language-model program, {LM_SIGNATURE} with a KV cache "
            "(python -m examples.backend.xnnpack_examples --model_name stories15m writes one)")
    if "forward" not in program.method_names:
        raise NotALanguageModel(f"{path} is not a language-model program: it has no 'forward' method "
                                f"(methods: {', '.join(sorted(program.method_names)) or 'none'}); {hint}")
    for method in [m for m in ("forward", "prefill") if m in program.method_names]:
        specs = _input_specs(program.metadata(method))
        ranks = [len(spec[1]) if spec and spec[0] == "int64" else None for spec in specs]
        if ranks != [2, 1]:
            shown = ", ".join(f"{s[0]}[{', '.join(map(str, s[1]))}]" if s else "a non-tensor" for s in specs)
            raise NotALanguageModel(f"{path} is not a language-model program: its {method} takes "
                                    f"({shown or 'nothing'}); {hint}")


@dataclass
class GenerationResult:
    prompt_tokens: list[int]
    tokens: list[int] = field(default_factory=list)  # generated (prompt not included)
    load_s: float = 0.0
    prefill_s: float = 0.0
    ttft_s: float = 0.0  # start of prefill to the first generated token (prefill + its sampling)
    decode_s: float = 0.0  # the steps after the first token
    peak_rss_bytes: int = 0
    baseline_rss_bytes: int = 0  # resident set just before the model was loaded
    stop_reason: str = "max_new_tokens"

    @property
    def prefill_tok_s(self) -> float:
        return len(self.prompt_tokens) / self.prefill_s if self.prefill_s > 0 else 0.0

    @property
    def decode_tok_s(self) -> float:
        steps = len(self.tokens) - 1  # the first token comes from prefill
        return steps / self.decode_s if steps > 0 and self.decode_s > 0 else 0.0

    def as_json(self) -> dict:
        return {
            "prompt_tokens": len(self.prompt_tokens),
            "generated_tokens": len(self.tokens),
            "tokens": self.tokens,
            "load_ms": round(self.load_s * 1e3, 3),
            "time_to_first_token_ms": round(self.ttft_s * 1e3, 3),
            "prefill_ms": round(self.prefill_s * 1e3, 3),
            "decode_ms": round(self.decode_s * 1e3, 3),
            "prefill_tok_s": round(self.prefill_tok_s, 2),
            "decode_tok_s": round(self.decode_tok_s, 2),
            "peak_rss_kb": self.peak_rss_bytes // 1024,
            "baseline_rss_kb": self.baseline_rss_bytes // 1024,
            "stop_reason": self.stop_reason,
        }


def _status_bytes(key: str) -> int | None:
    """One ``<key>: <n> kB`` line of /proc/self/status, in bytes (None where unreadable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def current_rss_bytes() -> int:
    """This process's resident set now (VmRSS): the baseline a run's peak is compared with."""
    return _status_bytes("VmRSS") or 0


def peak_rss_bytes() -> int:
    """This process image's high-water mark (VmHWM): Linux carries ru_maxrss over from the
    parent across fork+exec, so a runner started from a big Python process would report its parent's."""
    value = _status_bytes("VmHWM")
    if value is not None:
        return value
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024


def set_threads(num_threads: int) -> None:
    """XNNPACK's threadpool and torch's intra-op pool (the custom SDPA / KV cache ops use it)."""
    import torch
    from executorch.extension.pybindings import portable_lib

    torch.set_num_threads(num_threads)
    portable_lib._unsafe_reset_threadpool(num_threads)


class ProgramDecoder:
    """An exported ``forward(tokens[1, n], input_pos[1]) -> logits[1, vocab]`` program, loaded."""

    def __init__(self, path: Path, num_threads: int | None = None):
        # The custom ops (llama::custom_sdpa, llama::update_cache) must be registered before loading,
        # and the quantized_decomposed kernels an int8 KV cache's updates call.
        import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401
        import executorch.kernels.quantized  # noqa: F401
        from executorch.runtime import Runtime

        from examples.generation.prefill_split import prefill_method_of
        from examples.integrity.verify import read_verified

        if num_threads:
            set_threads(num_threads)
        self.baseline_rss_bytes = current_rss_bytes()
        start = time.perf_counter()
        # The bytes the card check read, never the path again (a rewrite in between cannot reach the runtime);
        # the Program holds them, so it lives as long as the decoder.
        data = read_verified(Path(path), "auto")[1]
        program = self._program = Runtime.get().load_program(data)
        check_language_model(program, path)
        self.metadata = {}
        for name in METADATA_METHODS:
            if name in program.method_names:
                self.metadata[name] = program.load_method(name).execute([])[0]
        self._forward = program.load_method("forward")
        # A prompt from position 0 goes through the program's prefill method where it has one
        # (examples/generation/prefill_split.py); the Python runtime gives a program's host
        # methods one set of arenas, so forward reads the KV cache that method wrote.
        self.prefill_method = prefill_method_of(data, path) if "prefill" in program.method_names else "forward"
        self._prefill = program.load_method(self.prefill_method)
        self.load_s = time.perf_counter() - start
        self.max_seq_len = int(self.metadata.get("get_max_seq_len", 0)) or None
        self.vocab_size = int(self.metadata.get("get_vocab_size", 0)) or None
        if not self.metadata.get("use_kv_cache", True):
            raise GenerationError(f"{path} has no KV cache: export it with the LLM exporter (KV cache on)")

    def forward(self, tokens: Sequence[int], start_pos: int) -> np.ndarray:
        import torch

        method = self._prefill if start_pos == 0 else self._forward
        out = method.execute([torch.tensor([list(tokens)], dtype=torch.long),
                                     torch.tensor([start_pos], dtype=torch.long)])[0]
        logits = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
        return logits.reshape(-1, logits.shape[-1])[-1]

    def check_request(self, prompt: Sequence[int], max_new_tokens: int) -> None:
        if not prompt:
            raise GenerationError("the prompt has no tokens")
        if self.vocab_size and any(t < 0 or t >= self.vocab_size for t in prompt):
            bad = next(t for t in prompt if t < 0 or t >= self.vocab_size)
            raise GenerationError(f"prompt token {bad} is outside the vocabulary (0..{self.vocab_size - 1})")
        if self.max_seq_len and len(prompt) + max_new_tokens > self.max_seq_len:
            raise GenerationError(f"prompt ({len(prompt)} tokens) + max_new_tokens ({max_new_tokens}) exceeds "
                                  f"the program's KV cache of {self.max_seq_len} positions (export with a larger "
                                  "--max_seq_len)")


def load_decoder(path: Path, num_threads: int, verbose: bool = False) -> ProgramDecoder:
    """The program, loaded with third-party chatter (cpuinfo, threadpool lines) kept off stdout."""
    from examples.common import cli
    from examples.common.quiet import quiet_stdio, silence_third_party
    from examples.generation.program_file import check_program_file

    check_program_file(path)  # the native runners' checks and words, before the runtime reads the file
    silence_third_party(verbose)
    failure = None
    with quiet_stdio(verbose):  # the error is raised after the block: the runtime's log stays swallowed
        try:
            return ProgramDecoder(path, num_threads)
        except GenerationError as error:
            failure = error
        except Exception as error:  # noqa: BLE001 - the runtime raises RuntimeError/ValueError for bad files
            failure = cli.CliError(f"cannot load {path}: {cli.first_line(error)}")
    raise failure


def generate(decoder: ProgramDecoder, prompt: Sequence[int], max_new_tokens: int, sampler: Sampler,
             stop_tokens: Sequence[int] = (), on_token: Callable[[int], None] | None = None,
             vocab_limit: int | None = None) -> GenerationResult:
    """Prefill then decode; stops at ``max_new_tokens`` or a stop token (which is kept).

    ``vocab_limit``: choose only among the first ids (a tokenizer smaller than the model's
    padded vocabulary cannot write the others)."""
    decoder.check_request(prompt, max_new_tokens)
    if vocab_limit:
        choose = sampler
        sampler = lambda logits: choose(logits[:vocab_limit])  # noqa: E731
    result = GenerationResult(prompt_tokens=list(prompt), load_s=decoder.load_s,
                              baseline_rss_bytes=decoder.baseline_rss_bytes)
    if max_new_tokens < 1:
        return result
    start = time.perf_counter()
    logits = decoder.forward(prompt, 0)
    result.prefill_s = time.perf_counter() - start
    token = sampler(logits)
    result.ttft_s = time.perf_counter() - start
    result.tokens.append(token)
    if on_token:
        on_token(token)
    decode_start = time.perf_counter()
    position = len(prompt)
    while len(result.tokens) < max_new_tokens and token not in stop_tokens:
        token = sampler(decoder.forward([token], position))
        position += 1
        result.tokens.append(token)
        if on_token:
            on_token(token)
    result.decode_s = time.perf_counter() - decode_start
    if token in stop_tokens:
        result.stop_reason = "stop_token"
    result.peak_rss_bytes = peak_rss_bytes()
    return result

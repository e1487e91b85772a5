"""Keep third-party noise out of the user's terminal (unless --verbose).

torchao prints "Failed to load ... .so" for CUDA kernels it cannot use on a CPU build, torch
and executorch emit deprecation and export warnings, and the runtime logs cpuinfo probing.
None of it is actionable for a user of this toolkit. Real errors are raised, not logged, so
they still reach the user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings

_NOISY_LOGGERS = ("torchao", "torch._export", "torch.export", "torch._dynamo", "torch.utils._pytree",
                  "executorch", "root")


def silence_third_party(verbose: bool = False) -> None:
    if verbose:
        return
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", module=r"(torch|torchao|executorch|torchvision|onnx|onnxscript)(\.|$)")
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")


@contextlib.contextmanager
def quiet_stdio(verbose: bool = False):
    """Swallow what third-party code prints (at the C and Python level) inside the block.

    If the block raises, the swallowed text is replayed on stderr so nothing needed for
    diagnosis is lost.
    """
    if verbose:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            sink.seek(0)
            captured = sink.read().decode(errors="replace")
            if captured.strip():
                sys.stderr.write(captured)
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def import_quietly(verbose: bool = False) -> None:
    """Import the heavy, chatty modules once with their import-time output swallowed."""
    silence_third_party(verbose)
    with quiet_stdio(verbose):
        import torchao.quantization.pt2e.quantize_pt2e  # noqa: F401  ("Failed to load ...")
        import executorch.exir  # noqa: F401
        import executorch.backends.xnnpack.partition.xnnpack_partitioner  # noqa: F401

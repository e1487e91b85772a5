"""Make ``import torchvision`` work with a CPU-only torch.

The torchvision wheel that matches torch 2.13 is a CUDA build. On a CPU-only torch its C++
extension (``torchvision._C``) fails to load, so the operator schemas it would register
(``torchvision::nms`` and ``torchvision::qnms``) are missing, and torchvision's own
``register_fake("torchvision::nms")`` then raises at import time. The model zoo only needs
torchvision's pure-Python model definitions, so when (and only when) the extension did not
register the schemas, we define them ourselves before torchvision is imported. The ops stay
without a kernel: calling them fails loudly, which is right, since nothing here uses them.

Every module of this project imports torchvision through :func:`import_torchvision`.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported with torchvision: importing this module stays light
    import torch

# Schemas copied from torchvision/csrc/ops/nms.cpp and ops/quantized/cpu/qnms_kernel.cpp.
_MISSING_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_fragment: torch.library.Library | None = None


def _has_op(name: str) -> bool:
    import torch

    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
        return True
    except RuntimeError:
        return False


def define_missing_torchvision_schemas() -> list[str]:
    """Define the torchvision op schemas that the C++ extension failed to register.

    Returns the names defined (empty when the extension loaded, or on a second call).
    """
    global _fragment
    missing = [name for name in _MISSING_SCHEMAS if not _has_op(name)]
    if not missing:
        return []
    if _fragment is None:
        import torch

        # FRAGMENT: adds to the torchvision namespace without claiming it.
        _fragment = torch.library.Library("torchvision", "FRAGMENT")
    for name in missing:
        _fragment.define(_MISSING_SCHEMAS[name])
    return missing


def import_torchvision() -> types.ModuleType:
    """Import torchvision, first making up for a C++ extension that cannot load."""
    try:
        # Loading the extension registers the real schemas when it is compatible.
        importlib.import_module("torchvision.extension")
    except Exception:  # the CUDA build fails here on CPU torch; fall through to the fix
        pass
    define_missing_torchvision_schemas()
    return importlib.import_module("torchvision")

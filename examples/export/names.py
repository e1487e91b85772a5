"""Program file names: one rule for every command that writes or finds a program (no torch,
so the export CLIs name their output before the slow imports)."""

from __future__ import annotations


def pte_filename(model_name: str, backend: str, precision: str, *variant: str) -> str:
    """Every program's file name: ``<model>_<backend>_<precision>[_<variant>...].pte``
    (``mv2_xnnpack_q8.pte``, ``mv2_openvino_bf16.pte``, ``stories15m_xnnpack_8da4w_g128.pte``);
    a portable fp32 program is plain ``<model>.pte``."""
    if backend == "portable" and precision == "fp32" and not variant:
        return f"{model_name}.pte"
    return "_".join((model_name, backend, precision) + variant) + ".pte"

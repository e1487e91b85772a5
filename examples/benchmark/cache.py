"""Exported programs (``.pte``) and converted peer models (``.onnx``), reused while unchanged.

An artifact lives in the cache folder (default ``benchmark-out/programs/``) as
``<model>_<variant>-<key>.<ext>`` plus its program card ``<file>.json``
(:mod:`examples.integrity.card`: digest, size, model, IO...), whose ``cache`` section holds the
key, its fields and the build seconds. A file is reused only when the card's key matches and
the file still matches the card's digest (a damaged cached program is rebuilt).
The key is a SHA-256 of everything the file depends on: model name, variant, weights (the
resolved choice; a state_dict file by content), input shapes, quantization recipe,
calibration data (by content), the package versions and the toolkit's own source files that
build it. Change any of them and the file is rebuilt; otherwise it is reused.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from examples.common.machine import package_versions
from examples.integrity.card import CardError, make_card, read_card, write_card
from examples.integrity.verify import ProgramVerificationFailed, verify_program

EXAMPLES = Path(__file__).resolve().parents[1]
# The toolkit sources a program depends on (not the CLIs' plumbing, so that editing a CLI does
# not invalidate the cache); ONNX conversion adds peers.py.
EXPORT_SOURCES = ("export/lowering.py", "quantization/*.py", "models/*.py")
EXPORT_PACKAGES = ("torch", "torchvision", "executorch", "torchao")
ONNX_PACKAGES = EXPORT_PACKAGES + ("onnx", "onnxscript", "onnxruntime")


def sources_digest(extra: Iterable[Path] = ()) -> str:
    """SHA-256 of the toolkit's export source files (and ``extra`` files)."""
    files = sorted(p for pattern in EXPORT_SOURCES for p in EXAMPLES.glob(pattern))
    files += [Path(__file__).resolve(), *extra]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(EXAMPLES.parent)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def tensors_digest(batches) -> str:
    """SHA-256 of a list of tensor tuples (shapes, dtypes and bytes)."""
    digest = hashlib.sha256()
    for batch in batches:
        for tensor in batch:
            t = tensor.detach().contiguous().cpu()
            digest.update(f"{tuple(t.shape)}{t.dtype}".encode())
            digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def weights_id(weights: str, spec=None) -> str:
    """A stable identity for the resolved weights choice (``pretrained``/``random``/a file)."""
    if weights == "random":
        revision = getattr(spec, "random_init_revision", 0)
        return f"random:r{revision}" if revision else "random"
    if weights == "pretrained":
        from examples.models.weights import cached_checkpoint

        checkpoint = cached_checkpoint(spec) if spec is not None else None
        return f"pretrained:{checkpoint.name if checkpoint else getattr(spec, 'pretrained', None)}"
    path = Path(weights)
    return "file:" + hashlib.sha256(path.read_bytes()).hexdigest()


def cache_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Artifact:
    path: Path
    size_bytes: int
    build_seconds: float  # how long building it took (when it was built; reused: the recorded time)
    reused: bool
    info: dict  # what the builder recorded (e.g. ONNX conversion settings)


class ArtifactCache:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def get(self, model: str, variant: str, suffix: str, fields: dict,
            build: Callable[[Path], dict | None], packages=EXPORT_PACKAGES, extra_sources=()) -> Artifact:
        """The cached file for ``fields``, or ``build(path)`` it (``build`` writes ``path``
        atomically and may return a dict of facts to keep in the card's ``cache`` section)."""
        fields = dict(fields, model=model, variant=variant,
                      packages={p: v for p, v in package_versions(packages).items()},
                      sources=sources_digest(extra_sources))
        key = cache_key(fields)
        path = self.directory / f"{model}_{variant}-{key[:16]}{suffix}"
        if path.is_file():
            try:
                card = read_card(path)
                meta = (card or {}).get("cache") or {}
                if meta.get("key") == key and verify_program(path, "require").trusted:
                    return Artifact(path, path.stat().st_size, meta.get("build_seconds", 0.0), True, meta.get("info", {}))
            except (CardError, ProgramVerificationFailed, OSError):
                pass  # a damaged card or program: rebuild
        self.directory.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        info = build(path) or {}
        seconds = info.pop("seconds", None) or (time.perf_counter() - start)
        # The builder of a .pte saves it through lowering.save_program, which writes the card;
        # other files (.onnx) get a card here.
        card = read_card(path) if suffix == ".pte" else None
        if card is None:
            card = make_card(path, model=model, backend=variant, file_format=suffix.lstrip("."))
        card["cache"] = {"key": key, "fields": fields, "build_seconds": seconds, "info": info}
        write_card(path, card)
        return Artifact(path, path.stat().st_size, seconds, False, info)

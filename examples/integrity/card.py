"""The program card: ``<program>.pte.json`` beside every exported program.

One schema for every producer (export CLIs, the benchmark cache, tuning): what the program is
(digest and size of the file), where it came from (model, backend, precision/recipe, package
versions, the CPU it was tuned on, when) and what it takes and returns (per method: input and
output dtypes and shapes, delegates). A program is *trusted* when a card beside it carries the
digest of its bytes (:mod:`examples.integrity.verify`).

This module is light on purpose (no torch import): the runner client checks cards before
every run. The digest is BLAKE3 (``blake3`` package) over the whole file, read through mmap
(no copy), multi-threaded for large files: a fraction of SHA-256's time on the same bytes.
"""

from __future__ import annotations

import json
import mmap
import time
from pathlib import Path

from examples.common.atomic_write import write_text_atomic
from examples.common.versions import package_versions

SCHEMA = "xnnpack-toolkit.program-card"
SCHEMA_VERSION = 1
DIGEST_ALGORITHM = "blake3"
CARD_PACKAGES = ("torch", "torchvision", "executorch", "torchao")
CARD_SUFFIX = ".json"  # mv2_xnnpack_fp32.pte -> mv2_xnnpack_fp32.pte.json


class CardError(ValueError):
    """A card that cannot be read or is not a program card."""


def card_path(program: str | Path) -> Path:
    program = Path(program)
    return program.with_name(program.name + CARD_SUFFIX)


# From this size on the digest is computed on all cores (BLAKE3 is a tree hash): on 2 cores,
# mv2 fp32 (14 MB) went from about 4.9 to 2.7 ms. Below it, starting threads costs more.
PARALLEL_DIGEST_BYTES = 2 << 20


def digest_bytes(data) -> str:
    import blake3

    threads = blake3.blake3.AUTO if len(data) >= PARALLEL_DIGEST_BYTES else 1
    return blake3.blake3(data, max_threads=threads).hexdigest()


def file_digest(path: str | Path) -> tuple[int, str]:
    """``(size, hex digest)`` of a file, hashed through mmap (no copy into Python memory)."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size == 0:
            return 0, digest_bytes(b"")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return size, digest_bytes(view)


# The constant segment (a language model's embedding table) gets one digest per chunk when it is
# at least CHUNKED_MIN_BYTES: the native runner then reads and checks only the chunks a run
# touches (runtime/executor_runner/checked_on_use.h). 16 KiB: a few rows of an embedding table,
# what a mapping faults in around a row (16 pages); a machine whose pages do not divide it
# reads the range whole. The digests are one string (64 hex digits per chunk): a card of a big
# table holds thousands.
CHUNK_BYTES = 16 << 10
CHUNKED_MIN_BYTES = 1 << 20


def file_ranges(path: str | Path) -> list[dict] | None:
    """The card's ``program.ranges``: ``{offset, size, blake3}`` of the head and each segment with
    its padding (:mod:`examples.integrity.layout`), which the native runner checks one by one as the runtime
    reads them (a big constant segment also has ``chunks``: ``{size, blake3}``, 64 hex digits per
    chunk); None for a file that is not a ``.pte`` with an extended header."""
    from examples.integrity.layout import constant_segment_range, program_ranges

    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size == 0:
            return None
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
            ranges = program_ranges(view)
            if ranges is None:
                return None
            constant = constant_segment_range(view)
            out = []
            for offset, length in ranges:
                entry = {"offset": offset, "size": length, "blake3": digest_bytes(view[offset:offset + length])}
                if constant and constant[0] == offset and length >= CHUNKED_MIN_BYTES:
                    entry["chunks"] = {"size": CHUNK_BYTES, "blake3": "".join(
                        digest_bytes(view[at:min(at + CHUNK_BYTES, offset + length)])
                        for at in range(offset, offset + length, CHUNK_BYTES))}
                out.append(entry)
            return out


def make_card(program: str | Path, *, model: str | None = None, backend: str | None = None,
              precision: str | None = None, recipe: str | None = None, methods: dict | None = None,
              tuned_cpu: str | None = None, packages: dict | None = None, extra: dict | None = None,
              file_format: str = "pte", digest: tuple[int, str] | None = None) -> dict:
    """The card of the file ``program`` (hashed here unless ``digest`` = ``(size, hex)`` is given).

    ``methods``: ``{name: {"inputs": [{"dtype", "shape"}], "outputs": [...], "delegates": [...]}}``
    as :func:`examples.integrity.describe.describe_program` returns it.
    """
    size, hex_digest = digest or file_digest(program)
    program_entry = {"file": Path(program).name, "format": file_format, "size_bytes": size,
                     "digest": {"algorithm": DIGEST_ALGORITHM, "hex": hex_digest}}
    ranges = file_ranges(program) if file_format == "pte" else None
    if ranges is not None:
        program_entry["ranges"] = ranges
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "program": program_entry,
        "model": model,
        "backend": backend,
        "precision": precision,
        "recipe": recipe,
        "methods": methods or {},
        "tuned_cpu": tuned_cpu,
        "packages": packages if packages is not None else package_versions(CARD_PACKAGES),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "extra": extra or {},
    }


def write_card(program: str | Path, card: dict) -> Path:
    """Write ``card`` beside ``program`` atomically (after the program itself was written)."""
    return write_text_atomic(card_path(program), json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")


def read_card(program: str | Path) -> dict | None:
    """The card beside ``program``; ``None`` when there is none; :class:`CardError` when it is
    unreadable or not a program card of a known schema version."""
    path = card_path(program)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise CardError(f"cannot read the program card {path}: {error}") from None
    try:
        card = json.loads(text)
    except ValueError as error:
        raise CardError(f"the program card {path} is not valid JSON: {error}") from None
    if not isinstance(card, dict) or card.get("schema") != SCHEMA:
        raise CardError(f"{path} is not a program card (schema {SCHEMA!r} expected)")
    if card.get("schema_version") != SCHEMA_VERSION:
        raise CardError(f"the program card {path} has schema_version {card.get('schema_version')!r}; "
                        f"this toolkit reads {SCHEMA_VERSION}")
    program = card.get("program")
    digest = program.get("digest") if isinstance(program, dict) else None
    if (not isinstance(digest, dict) or not isinstance(digest.get("hex"), str)
            or not isinstance(program.get("size_bytes"), int)):
        raise CardError(f"the program card {path} lacks program.size_bytes or program.digest")
    return card


def update_card(program: str | Path, **sections) -> dict:
    """Add top-level sections to an existing card (e.g. the benchmark cache's key)."""
    card = read_card(program)
    if card is None:
        raise CardError(f"no program card beside {program}")
    card.update(sections)
    write_card(program, card)
    return card


class WrongCpu(CardError):
    """The program holds code compiled ahead of time for another CPU class (OpenVINO)."""


def check_runs_here(card: dict | None, program: str | Path, cpu_class: str) -> None:
    """Raise :class:`WrongCpu` when the card says the program was compiled for a CPU class other
    than ``cpu_class`` (``examples.quantization.cpu_caps.detect().cpu_class``): its kernels were
    selected for that instruction set."""
    compiled_for = ((card or {}).get("extra") or {}).get("compiled_for") or {}
    wanted = compiled_for.get("cpu_class")
    if wanted is not None and wanted != cpu_class:
        raise WrongCpu(f"{Path(program).name} was compiled by {card.get('backend')} for CPU class '{wanted}'; "
                       f"this CPU is '{cpu_class}': re-export it on this machine")

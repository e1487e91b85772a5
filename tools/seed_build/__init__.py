"""Seed a freshly configured CMake/Ninja build folder with another folder's compiled objects, as
a compiler cache would: ninja reuses an object only where its command line (hashed in
``.ninja_log``) and its inputs are unchanged, and compiles everything else, so a wrong seed costs
time, never a stale object.

Why: the profiling build (``cmake-out-prof``) differs from ``cmake-out`` only in the two runner
targets' compile definitions (CMakeLists.txt, ``enable_runner_profiling``); seeded from
``cmake-out`` it compiles those targets' files and reuses the rest (the LLM kernels, the thread
pool, the shared runner core). ``./setup.sh`` and the runner tests use it.

    python -m tools.seed_build cmake-out cmake-out-prof
"""

from __future__ import annotations

import shutil
from pathlib import Path


def seed_build(source: Path, fresh: Path) -> int:
    """Copy ``source``'s object files and ninja's logs into ``fresh`` (configured, not yet
    built). Returns the number of objects copied; 0 when ``source`` has built nothing."""
    if not (source / ".ninja_log").is_file() or not (source / ".ninja_deps").is_file():
        return 0  # nothing built there: the fresh folder builds everything
    copied = 0
    for obj in (source / "CMakeFiles").glob("*.dir/**/*.o"):
        target = fresh / obj.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(obj, target)  # keeps the mtime ninja compares with the sources'
        copied += 1
    shutil.copy2(source / ".ninja_deps", fresh / ".ninja_deps")
    # The objects' entries only: the source folder's entry for build.ninja would make ninja
    # re-run CMake in the fresh folder.
    header, *entries = (source / ".ninja_log").read_text().splitlines(keepends=True)
    objects = [entry for entry in entries if _ninja_log_output(entry).endswith(".o")]
    (fresh / ".ninja_log").write_text(header + "".join(objects))
    return copied


def _ninja_log_output(entry: str) -> str:
    """The output path of a .ninja_log line (start, end, mtime, output, command hash; tab-separated)."""
    fields = entry.rstrip("\n").split("\t")
    return fields[3] if len(fields) > 3 else ""

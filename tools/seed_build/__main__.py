"""python -m tools.seed_build SOURCE FRESH: see tools/seed_build/__init__.py."""

from __future__ import annotations

import sys
from pathlib import Path

from tools.seed_build import seed_build


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("error: usage: python -m tools.seed_build SOURCE_BUILD_DIR FRESH_BUILD_DIR", file=sys.stderr)
        return 2
    source, fresh = (Path(a) for a in argv)
    if not (fresh / "build.ninja").is_file():
        print(f"error: {fresh} is not a configured Ninja build folder (no build.ninja)", file=sys.stderr)
        return 2
    print(f"seeded {fresh} with {seed_build(source, fresh)} objects of {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

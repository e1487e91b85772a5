"""main_module of the Buck2 python_test targets (tests/targets.bzl): runs pytest on the
test files packed next to this module, and exits with pytest's status. Not a test itself."""

import os
import sys


def main() -> int:
    import pytest

    here = os.path.dirname(os.path.abspath(__file__))
    files = sorted(
        os.path.join(here, f) for f in os.listdir(here) if f.startswith("test_") and f.endswith(".py")
    )
    if not files:
        print("buck_pytest_main: no test files packed in this target", file=sys.stderr)
        return 1
    return int(pytest.main(["-q", "-p", "no:cacheprovider", *files, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())

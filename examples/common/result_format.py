"""What a benchmark result file (``benchmark.json``) is, for its writer (the benchmark) and its
readers (compare, publish): the schema name and version, and how its figures were measured
(the method version). Reading and checking a file: :mod:`examples.results.schema`."""

from __future__ import annotations

SCHEMA = "xnnpack-toolkit/benchmark"
SCHEMA_VERSION = 2
# How the figures were measured and judged. Bump it whenever timing, row selection or the
# statistics change (default runner limits included), and say what changed below.
METHOD_VERSION = 2
METHODS = {
    1: "method 1: the best rows chosen on the same rounds that judged them, one fixed backend order, no A/A "
       "noise floor, percentile bootstrap at any number of rounds (runs before commit 46ebffc also timed "
       "peers per call, and runs before ff59081 copied the program's inputs on every call)",
    2: "method 2: rows chosen on even rounds and judged on odd rounds, identical programs one row, backend "
       "order random in every round, an A/A twin's spread as the noise floor, a paired expanded-percentile "
       "bootstrap over whole rounds, no verdict from fewer than 5 judged rounds",
}


def method_version(doc: dict) -> int:
    """The method a result document was measured with (files before method 2 carry none)."""
    value = doc.get("method_version")
    return value if isinstance(value, int) and value >= 1 else 1


def method_text(doc: dict) -> str:
    version = method_version(doc)
    return METHODS.get(version, f"method {version} (newer than this toolkit knows)")

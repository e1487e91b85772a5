"""//tests: one python_test per tests/test_*.py (glob: new test files get a target at once).

Buck2's open-source python_test main runs unittest-style tests; this repo's tests are
pytest tests (fixtures from conftest.py), so each target sets main_module to
tests/buck_pytest_main.py, which runs pytest on the test files packed into that target,
and buck2 takes pytest's exit status as the result.
"""

PYTHON_LIBS = [
    "//:buck2_check_lib",
    "//:package_roots",
    "//examples/backend:backend",
    "//examples/benchmark:benchmark",
    "//examples/common:common",
    "//examples/evaluation:evaluation",
    "//examples/export:export",
    "//examples/generation:generation",
    "//examples/models:models",
    "//examples/quantization:quantization",
    "//examples/runner:runner",
    "//runtime/profiler:profiler",
]

def define_common_targets():
    support = native.glob(["conftest.py", "buck_pytest_main.py", "__init__.py"])
    for src in native.glob(["test_*.py"]):
        native.python_test(
            name = src[:-len(".py")],
            srcs = [src] + support,
            main_module = "tests.buck_pytest_main",
            deps = PYTHON_LIBS,
            labels = ["pytest"],
        )

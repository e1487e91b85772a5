"""//tests: one python_test per tests/test_*.py (glob: new test files get a target at once).

Buck2's open-source python_test main runs unittest-style tests; this repo's tests are
pytest tests (fixtures from conftest.py), so each target sets main_module to
tests/buck_pytest_main.py, which runs pytest on the test files packed into that target,
and buck2 takes pytest's exit status as the result.

A test runs from what its target packs, not from the checkout: `test_support` packs
conftest.py, the shared helper modules (tests/helpers_*.py, tests/*_helpers.py) and the data
under tests/fixtures/. A test file never imports another test file (tools/buck2_check checks
every import and fixture path against the packed files).
"""

PYTHON_LIBS = [
    "//:buck2_check_lib",
    "//:fuzz_programs_lib",
    "//:memory_cost_lib",
    "//:package_roots",
    "//:seed_build_lib",
    "//:verification_cost_lib",
    "//examples/backend:backend",
    "//examples/benchmark:benchmark",
    "//examples/common:common",
    "//examples/evaluation:evaluation",
    "//examples/export:export",
    "//examples/generation:generation",
    "//examples/integrity:integrity",
    "//examples/models:models",
    "//examples/quantization:quantization",
    "//examples/results:results",
    "//examples/runner:runner",
    "//examples/tune:tune",
    "//runtime/profiler:profiler",
]

def define_common_targets():
    native.python_library(
        name = "test_support",
        srcs = native.glob(["__init__.py", "conftest.py", "buck_pytest_main.py", "helpers_*.py", "*_helpers.py"]),
        resources = native.glob(["fixtures/**"], exclude = ["**/__pycache__/**"]),
        deps = PYTHON_LIBS,
    )
    for src in native.glob(["test_*.py"]):
        native.python_test(
            name = src[:-len(".py")],
            srcs = [src],
            main_module = "tests.buck_pytest_main",
            deps = [":test_support"],
            labels = ["pytest"],
        )

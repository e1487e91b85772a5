"""tools/buck2_check: the real repo passes, and each kind of breakage in a small generated
repo (tests/fixtures/buck2/good_repo.py written to tmp_path) is caught."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tools.buck2_check import Checker, buildfile_names, check_repo, parse_buckconfig
from tools.buck2_check import packing
from tools.buck2_check.config import load_rule_attrs

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "buck2_good_repo", Path(__file__).resolve().parent / "fixtures" / "buck2" / "good_repo.py")
good_repo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(good_repo)


def make_repo(tmp_path, changes=None, removed=()):
    files = dict(good_repo.FILES)
    files.update(changes or {})
    for r in removed:
        files.pop(r)
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def messages(root, **kw):
    return [str(f) for f in check_repo(root, **kw)]


def edit(rel, old, new):
    text = good_repo.FILES[rel]
    assert old in text, (rel, old)
    return {rel: text.replace(old, new)}


def test_good_fixture_is_clean(tmp_path):
    assert messages(make_repo(tmp_path)) == []


def test_real_repo_is_clean():
    assert messages(REPO) == []


def test_real_repo_uses_only_attrs_of_older_release_too():
    assert messages(REPO, rule_attrs=load_rule_attrs("2025-05-06"), release="2025-05-06",
                    semantic=False) == []


def test_real_repo_profiling_defines_reach_runner():
    c = Checker(REPO, {"executorch.prof_enabled": "true", "executorch.prof_buf_size": "8096",
                       "executorch.num_prof_blocks": "61"})
    c.run(semantic=False)
    flags = c.targets["//runtime/executor_runner:xnn_executor_runner"].attrs["preprocessor_flags"]
    assert "-DEXECUTORCH_PROF_ENABLED=1" in flags
    assert "-DEXECUTORCH_PROF_BUF_SIZE=8096" in flags
    assert "-DEXECUTORCH_NUM_PROF_BLOCKS=61" in flags
    c = Checker(REPO)
    c.run(semantic=False)
    assert not any("PROF" in f for f in
                   c.targets["//runtime/executor_runner:xnn_executor_runner"].attrs["preprocessor_flags"])


def test_real_repo_prof_buf_size_alone_fails():
    found = messages(REPO, overrides={"executorch.prof_buf_size": "1024"}, semantic=False)
    assert any("EXECUTORCH_PROF_ENABLED" in f for f in found), found


# A library package the good repo's tests and binary do not depend on.
OTHER_PKG = {
    "examples/other/__init__.py": "",
    "examples/other/util.py": "x = 1\n",
    "examples/other/TARGETS": good_repo.FILES["examples/backend/TARGETS"],
    "examples/other/targets.bzl": """\
def define_common_targets():
    native.python_library(name = "other", srcs = ["__init__.py", "util.py"], deps = ["//:package_roots"])
""",
}

BROKEN = {
    "syntax": (edit("examples/backend/targets.bzl", "def define_common_targets():",
                    "def define_common_targets(:"), "Parse error"),
    "def_in_build_file": ({"examples/backend/TARGETS": "def f():\n    pass\n"}, "`def` is not allowed"),
    "top_level_if": ({"examples/backend/TARGETS": good_repo.FILES["examples/backend/TARGETS"]
                      + "if True:\n    x = 1\n"}, "`if` cannot be used outside `def`"),
    "top_level_for": ({"examples/backend/TARGETS": good_repo.FILES["examples/backend/TARGETS"]
                       + "for x in []:\n    pass\n"}, "`for` cannot be used outside `def`"),
    "type_annotation": ({"examples/backend/TARGETS": "x: int = 1\n"}, "type annotations"),
    "load_missing_file": (edit("examples/backend/TARGETS", ":targets.bzl", ":nope.bzl"),
                          "`examples/backend/nope.bzl` does not exist"),
    "load_missing_symbol": (edit("examples/backend/TARGETS", '"define_common_targets")',
                                 '"define_common_targets", "nothing_here")'), "nothing_here"),
    "load_unknown_prelude": (edit("toolchains/BUCK", "toolchains:genrule.bzl", "toolchains:nope.bzl"),
                             "no such prelude file"),
    "load_non_bzl": (edit("examples/backend/TARGETS", ":targets.bzl", ":TARGETS"), "only loads .bzl"),
    "unknown_rule": (edit("examples/backend/targets.bzl", "native.alias(", "native.aliass("),
                     "aliass"),
    "unknown_attr": (edit("examples/backend/targets.bzl", 'main_module = "examples',
                          'main_modul = "examples'), "has no attribute `main_modul`"),
    "default_only_attr": (edit("examples/backend/targets.bzl", 'deps = [":backend"],',
                               'deps = [":backend"],\n        srcs = ["xnnpack_examples.py"],'),
                          "`srcs` is default_only"),
    "required_missing": (edit("examples/backend/targets.bzl",
                              'actual = "//runtime/executor_runner:xnn_executor_runner",', ""),
                         "requires attribute `actual`"),
    "toolchain_bad_attr": (edit("toolchains/BUCK", 'compiler_type = "gcc"', 'compilr = "gcc"'),
                           "has no attribute `compilr`"),
    "toolchain_default_only": (edit("toolchains/BUCK", 'name = "python",',
                                    'name = "python", runtime_library = "x",'), "default_only"),
    "missing_src": (edit("tests/targets.bzl", "srcs = [src],", 'srcs = [src, "missing_main.py"],'),
                    "`missing_main.py` does not exist"),
    # A source with its own flags: the path is checked, the flags are not taken for files.
    "missing_flagged_src": (edit("tests/targets.bzl", "srcs = [src],", 'srcs = [src, ("missing.c", ["-mavx2"])],'),
                            "`missing.c` does not exist"),
    "undeclared_dep": (edit("examples/backend/targets.bzl", 'deps = [":backend"]',
                            'deps = [":backendd"]'), "`:backendd` is not a declared target"),
    "undeclared_cross_package_dep": (edit("examples/backend/targets.bzl", '"//:package_roots"',
                                          '"//:package_rootz"'), "is not a declared target"),
    "duplicate_target": (edit("examples/backend/targets.bzl", 'name = "xnn_executor_runner"',
                              'name = "xnnpack_examples"'), "duplicate target"),
    "main_module_missing": (edit("examples/backend/targets.bzl", "backend.xnnpack_examples",
                                 "backend.nope"), "main_module `examples.backend.nope`"),
    "test_without_target": ({"tests/targets.bzl": "def define_common_targets():\n    pass\n"},
                            "test file has no python_test target"),
    "runner_src_not_in_buck2": ({"runtime/executor_runner/extra.cpp": "int x;\n"},
                                "not listed in CMake and Buck2"),
    "runner_src_not_in_cmake": ({"CMakeLists.txt": "project(x)\n"}, "not listed in CMake"),
    "runner_srcs_differ": (edit("runtime/executor_runner/targets.bzl", "srcs = RUNNER_SRCS",
                                'srcs = RUNNER_SRCS + ["other.cpp"], headers = []'),
                           "srcs differ from RUNNER_SRCS"),
    "readme_bad_target": (edit("README.md", "buck2 test //...", "buck2 run examples/backend:nope"),
                          "`examples/backend:nope`"),
    "docs_bad_target": ({"docs/BUCK2.md": "`buck2 run examples/export:nope`\n"},
                        "docs/BUCK2.md: Buck2 command names `examples/export:nope`"),
    "shadowed_buildfile": ({"examples/backend/BUCK": "# other\n"}, "shadowed"),
    "unread_buildfile_name": ({"examples/BUILD": "# bazel\n"}, "never read by buck2"),
    "prof_define_missing": (edit("runtime/executor_runner/targets.bzl",
                                 'flags = ["-DEXECUTORCH_PROF_ENABLED=1"]', "flags = []"),
                            "does not define EXECUTORCH_PROF_ENABLED=1"),
    "prof_always_on": (edit("runtime/executor_runner/targets.bzl", "return []",
                            'return ["-DEXECUTORCH_PROF_ENABLED=1"]'), "without -c"),
    "prof_buf_size_alone_ok": (edit("runtime/executor_runner/targets.bzl", "if buf or blocks:",
                                    "if False:"), "does not fail"),
    "prof_message_differs": (edit("runtime/executor_runner/targets.bzl",
                                  'fail("EXECUTORCH_PROF_BUF_SIZE and', 'fail("buffer size and'), "differs from CMake"),
    "no_bundled_prelude": (edit(".buckconfig", "prelude = bundled", "prelude = git"),
                           "prelude = bundled"),
    "missing_alias": (edit(".buckconfig", "  fbcode_macros = none\n", ""), "`fbcode_macros`"),
    "missing_platform_detector": (edit(".buckconfig", "target_platform_detector_spec", "x"),
                                  "target_platform_detector_spec"),
    "demo_toolchains": (edit("toolchains/BUCK", 'load("@prelude//tests',
                             '# system_demo_toolchains\nload("@prelude//tests'), "demo toolchains"),
    "missing_toolchain": (edit("toolchains/BUCK", 'name = "genrule"', 'name = "genrule2"'),
                          "lacks the `genrule` toolchain"),
    "python_file_uncovered": ({"examples/extra/new.py": ""}, "in no Buck2 python target"),
    # Layout: TARGETS first; the root's BUCK is TARGETS' identical twin.
    "buildfile_order": (edit(".buckconfig", "name_v2 = TARGETS, BUCK", "name_v2 = BUCK, TARGETS"),
                        "name_v2 must be `TARGETS, BUCK`"),
    "root_buck_differs": ({"BUCK": good_repo.ROOT_BUILD_FILE + "# extra\n"},
                          "BUCK: differs from `TARGETS`"),
    "root_buck_missing": ({}, "BUCK: missing"),
    "root_targets_missing": ({}, "TARGETS: missing"),
    "toolchains_both_names": ({"toolchains/TARGETS": "# other\n"}, "toolchains/BUCK: shadowed"),
    # Packing: what a test or a binary uses must be in its target.
    "helper_not_packed": (edit("tests/targets.bzl", '"helpers_*.py"', '"helper_*.py"'),
                          f"imports `tests.helpers_sample`, but {good_repo.SAMPLE_HELPER} is not packed"),
    "fixture_not_packed": (edit("tests/targets.bzl", "resources = native.glob([\"fixtures/**\"]),", ""),
                           f"{good_repo.SAMPLE_FIXTURE} is not packed"),
    "fixture_missing": (edit("tests/test_sample.py", '"sample.txt"', '"nope.txt"'),
                        "which does not exist"),
    "cross_import": ({"tests/test_other.py": "from tests.test_sample import DATA\n"},
                     "tests/test_other.py: imports test module `tests.test_sample` (tests/test_sample.py)"),
    "cross_import_relative": ({"tests/test_other.py": "from .test_sample import DATA\n"},
                              "imports test module `tests.test_sample`"),
    "helper_imports_test": ({good_repo.SAMPLE_HELPER: "import tests.test_sample\n"},
                            "helpers_sample.py: imports test module `tests.test_sample`"),
    "conftest_not_packed": ({"tests/conftest.py": ""}, "tests/conftest.py is not packed"),
    "lib_dep_missing": ({**OTHER_PKG, "tests/test_other.py": "from examples.other import util\n"},
                        "imports `examples.other.util`, but examples/other/util.py is not packed"),
    "dash_m_not_packed": ({**OTHER_PKG, "tests/test_other.py":
                           'CMD = ["python", "-m", "examples.other.util"]\n'},
                          "imports `examples.other.util`"),
    "import_module_not_packed": ({**OTHER_PKG, "tests/test_other.py":
                                  'import importlib\nimportlib.import_module("examples.other.util")\n'},
                                 "imports `examples.other.util`"),
    "binary_dep_missing": ({**OTHER_PKG, "examples/backend/xnnpack_examples.py":
                            "from examples.other.util import x\n"},
                           "//examples/backend:xnnpack_examples: examples/backend/xnnpack_examples.py "
                           "imports `examples.other.util`"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_repo_is_caught(tmp_path, case):
    changes, expected = BROKEN[case]
    removed = {"root_buck_missing": ["BUCK"], "root_targets_missing": ["TARGETS"]}.get(case, [])
    found = messages(make_repo(tmp_path, changes, removed))
    assert any(expected in f for f in found), found


def test_missing_buckroot_is_caught(tmp_path):
    found = messages(make_repo(tmp_path, removed=[".buckroot"]))
    assert any(".buckroot" in f for f in found)


def test_glob_follows_files_and_stops_at_subpackages(tmp_path):
    root = make_repo(tmp_path, {"tests/test_more.py": "def test_x():\n    pass\n"})
    c = Checker(root)
    assert c.run() == []
    assert "//tests:test_more" in c.targets
    srcs = c.targets["//:package_roots"].attrs["srcs"]
    assert srcs == ["examples/__init__.py", "runtime/__init__.py"]
    # examples/backend is its own package: the root glob never reaches into it.
    assert all("backend" not in s for s in srcs)


@pytest.mark.parametrize("spelling", [
    'os.path.join(os.path.dirname(__file__), "fixtures", "sample.txt")',
    'Path(__file__).parent.joinpath("fixtures", "sample.txt")',
    'Path(__file__).parent / "fixtures/sample.txt"',
    'open("tests/fixtures/sample.txt")',
])
def test_fixture_path_spellings_are_found(tmp_path, spelling):
    root = make_repo(tmp_path, {"tests/helpers_sample.py": f"import os\nfrom pathlib import Path\nX = {spelling}\n"})
    c = Checker(root)
    c.run(semantic=False)
    uses = packing.UseScanner(c).uses("tests/helpers_sample.py")
    assert [u.path for u in uses if u.kind == "fixture"] == [good_repo.SAMPLE_FIXTURE]


def test_buildfile_names_follow_buck2_semantics():
    assert buildfile_names({}) == ["BUCK.v2", "BUCK"]
    assert buildfile_names({"buildfile": {"name": "TARGETS"}}) == ["TARGETS.v2", "TARGETS"]
    assert buildfile_names({"buildfile": {"name": "X", "name_v2": "BUCK, TARGETS"}}) == ["BUCK", "TARGETS"]


def test_parse_buckconfig_continuations():
    cfg = parse_buckconfig("[a]\n  k = x, \\\n    y\n  j = 1\n[b]\nz=2\n")
    assert cfg["a"]["k"].replace(" ", "") == "x,y" and cfg["a"]["j"] == "1" and cfg["b"]["z"] == "2"


def test_cli(tmp_path):
    good = make_repo(tmp_path / "good")
    run = lambda *a: subprocess.run([sys.executable, "-m", "tools.buck2_check", *a],  # noqa: E731
                                    cwd=REPO, capture_output=True, text=True)
    r = run("--root", str(good))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout
    bad = make_repo(tmp_path / "bad", {"examples/backend/TARGETS": "def f():\n    pass\n"})
    r = run("--root", str(bad))
    assert r.returncode == 1 and "examples/backend/TARGETS" in r.stdout
    r = run("--root", str(good), "-c", "executorch.prof_buf_size=1")
    assert r.returncode == 1 and good_repo.PROF_MSG in r.stdout
    for args in (["-c", "oops"], ["--nope"], ["--root", str(tmp_path / "absent")],
                 ["--root", str(good), "--release", "1999-01-01"]):
        r = run(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), \
            (args, r.stderr)

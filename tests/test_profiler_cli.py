"""profiler_results_cli: output on a runner-shaped ETDump, and bad input (one ``error:`` line
on stderr, exit 2, no traceback). Checks that end before torch is imported run the real
command (fast); the others run it in this process, and one slow test runs the whole command."""

from __future__ import annotations

import json
import subprocess

import pytest

from examples.common.stats import PERCENTILE_METHOD
from tests.helpers_profiler import (
    CLI, LOAD_BLOCK, assert_one_line_error, cli_in_process, other_etrecord, run_cli, synthetic_blocks, toy_profile,
    write_etdump,
)

ITERATIONS = 15


@pytest.fixture(scope="session")
def runner_shaped(tmp_path_factory):
    return write_etdump(tmp_path_factory.mktemp("profiler_cli") / "prof_result.bin", synthetic_blocks(ITERATIONS))


def test_text_report(runner_shaped, capfd):
    p = cli_in_process([f"--prof_results_bin={runner_shaped}"], capfd)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    out = p.stdout
    assert f'Iterations: {ITERATIONS} "run model" events; first 10 dropped as warm-up, 5 measured' in out
    assert f"percentiles: {PERCENTILE_METHOD}" in out
    assert "first iteration  0.003" in out  # (620 * 5 + 20) ns
    for needle in ("Convolution (NHWC, F32) IGEMM", "mean.out", "(framework overhead)", "share %"):
        assert needle in out, needle
    assert 'no "run model"' not in out


@pytest.mark.slow
def test_the_command_end_to_end(runner_shaped, repo_root, python_env):
    """The real entry point (an interpreter that imports torch): third-party noise stays out."""
    p = run_cli([f"--prof_results_bin={runner_shaped}", "--csv"], repo_root, python_env)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert p.stdout.startswith("name,kind,backend,count,total_ms,mean_ms,share_pct,source_ops\n")
    assert len(p.stdout.splitlines()) == 1 + 5  # 5 rows: see helpers_profiler.synthetic_iteration


def test_json_to_file_flags_in_both_spellings(runner_shaped, tmp_path, capfd):
    out = tmp_path / "report.json"
    p = cli_in_process([f"--prof_results_bin={runner_shaped}", "--json", "--output", out, "--warmup_iters=3"],
                       capfd)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == f"wrote {out}\n", p.stderr
    doc = json.loads(out.read_text())
    it = doc["iterations"]
    assert (it["event"], it["recorded"], it["warmup_dropped"], it["measured"]["count"]) == (
        "run model", ITERATIONS, 3, ITERATIONS - 3)
    assert doc["runner_overhead_ms"] == pytest.approx(40e-6)
    assert [f.name for f in tmp_path.iterdir()] == ["report.json"]  # no temp file left behind


def test_top_limits_the_table(runner_shaped, capfd):
    p = cli_in_process([f"--prof_results_bin={runner_shaped}", "--top=2"], capfd)
    assert p.returncode == 0, p.stderr
    assert "... 3 more row(s)" in p.stdout and "(framework overhead)" not in p.stdout


@pytest.mark.slow
def test_etrecord_through_the_cli(tmp_path_factory, capfd):
    toy = toy_profile(tmp_path_factory)
    p = cli_in_process([f"--prof_results_bin={toy['etdump']}", f"--etrecord={toy['etrecord']}", "--warmup_iters=1"],
                       capfd)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "XnnpackBackend" in p.stdout and "aten.convolution.default" in p.stdout
    p = cli_in_process([f"--prof_results_bin={toy['etdump']}", f"--etrecord={other_etrecord(tmp_path_factory)}"],
                       capfd)
    assert_one_line_error(p, "does not match the ETDump")


# --- Bad input --------------------------------------------------------------------------------


def test_missing_file(repo_root, python_env, tmp_path):
    assert_one_line_error(run_cli([f"--prof_results_bin={tmp_path / 'nope.bin'}"], repo_root, python_env),
                          "no such file")


def test_default_path_missing(python_env, tmp_path):
    p = subprocess.run(CLI, cwd=tmp_path, env=python_env, capture_output=True, text=True, timeout=120)
    assert_one_line_error(p, "prof_result.bin: no such file")


def test_directory(repo_root, python_env, tmp_path):
    assert_one_line_error(run_cli([f"--prof_results_bin={tmp_path}"], repo_root, python_env), "is a directory")


@pytest.mark.parametrize("data,needle", [
    (b"", "is empty"),
    ((0x3C).to_bytes(4, "little") + b"ET12" + bytes(200), ".pte"),  # a .pte's flatbuffer header
    (bytes((i * 131 + 7) % 256 for i in range(4096)), "not an ETDump"),
])
def test_foreign_files(repo_root, python_env, tmp_path, data, needle):
    f = tmp_path / "input.bin"
    f.write_bytes(data)
    assert_one_line_error(run_cli([f"--prof_results_bin={f}"], repo_root, python_env), needle)


def test_truncated_file(runner_shaped, repo_root, python_env, tmp_path):
    f = tmp_path / "truncated.bin"
    f.write_bytes(runner_shaped.read_bytes()[:300])
    assert_one_line_error(run_cli(["--prof_results_bin", f], repo_root, python_env), "is truncated")


def test_corrupt_body(tmp_path, capfd):
    """Right header, garbage tables: flatc fails (or crashes); still one line, no flatc usage dump."""
    f = tmp_path / "corrupt.bin"
    body = bytes((i * 97 + 13) % 256 for i in range(400))
    f.write_bytes((len(body) + 8).to_bytes(4, "little") + (8).to_bytes(4, "little") + b"ED00" + body)
    assert_one_line_error(cli_in_process([f"--prof_results_bin={f}"], capfd), "not a valid ETDump")


def test_etdump_without_iterations(tmp_path, capfd):
    f = write_etdump(tmp_path / "load_only.bin", [LOAD_BLOCK])
    assert_one_line_error(cli_in_process([f"--prof_results_bin={f}"], capfd),
                          'no "run model" or "Method::execute"', "Method::init x1")


def test_missing_etrecord(runner_shaped, repo_root, python_env, tmp_path):
    p = run_cli([f"--prof_results_bin={runner_shaped}", f"--etrecord={tmp_path / 'none.bin'}"], repo_root, python_env)
    assert_one_line_error(p, "no such ETRecord")


def test_etrecord_not_a_zip(runner_shaped, repo_root, python_env, tmp_path):
    f = tmp_path / "etrecord.bin"
    f.write_bytes(b"not a zip")
    p = run_cli([f"--prof_results_bin={runner_shaped}", f"--etrecord={f}"], repo_root, python_env)
    assert_one_line_error(p, "not an ETRecord")


@pytest.mark.parametrize("args,needle", [
    (["--json", "--csv"], "mutually exclusive"),
    (["--bogus_flag=1"], "Unknown command line flag 'bogus_flag'"),
    (["--warmup_iters=-1"], "non-negative"),
    (["--warmup_iters=abc"], "warmup_iters"),
    (["stray_positional"], "unexpected argument"),
])
def test_bad_flags(runner_shaped, repo_root, python_env, args, needle):
    assert_one_line_error(run_cli([f"--prof_results_bin={runner_shaped}", *args], repo_root, python_env), needle)


def test_output_directory_missing(runner_shaped, repo_root, python_env, tmp_path):
    p = run_cli([f"--prof_results_bin={runner_shaped}", f"--output={tmp_path / 'no' / 'r.json'}", "--json"],
                repo_root, python_env)
    assert_one_line_error(p, "does not exist")

"""profiler_results_cli: bad input (one line on stderr, exit 2, no traceback) and runner-shaped ETDumps.

Runner-shaped ETDumps (with "run model" events, one Execute block per iteration, as in
docs/PROFILE_FORMAT.md) are synthesized with ExecuTorch's own ETDump serializer, so the
"run model" path is covered even where the profiling runner is not built.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_profiler_decode import synthetic_iteration  # noqa: E402  (shared event builder)

CLI = [sys.executable, "-m", "runtime.profiler.profiler_results_cli"]
RUNNER_ITERS = 15


def cli(args, repo_root, env, timeout=300):
    return subprocess.run(CLI + list(args), cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(p, *needles, code=2):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("profiler_results_cli: error: "), lines[0]
    assert "Traceback" not in p.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert p.stdout == ""


def etdump_bytes(blocks: list[tuple[str, list]]) -> bytes:
    """Serialize ``[(block name, [RawEvent, ...]), ...]`` with ExecuTorch's ETDump serializer."""
    from examples.common.quiet import quiet_stdio
    from executorch.devtools.etdump import schema_flatcc as s
    from executorch.devtools.etdump.serialize import serialize_to_etdump_flatcc

    def profile(e):
        did_str = e.delegate_id if isinstance(e.delegate_id, str) else None
        did_int = e.delegate_id if isinstance(e.delegate_id, int) else -1
        return s.Event(s.ProfileEvent(e.name, e.chain_index, e.instruction_id, did_int, did_str, None,
                                      e.start, e.end), None, None)

    runs = [s.RunData(name, -1, None, [profile(e) for e in events]) for name, events in blocks]
    with quiet_stdio():
        data = serialize_to_etdump_flatcc(s.ETDumpFlatCC(version=0, run_data=runs))
    # ETDumpGen (the runner) writes size-prefixed buffers; flatc's compile does not.
    return len(data).to_bytes(4, "little") + data


@pytest.fixture(scope="session")
def runner_shaped(tmp_path_factory) -> Path:
    from runtime.profiler.decode import RawEvent

    blocks = [("Default", [RawEvent("Program::load_method", -1, 0, 0, 2000),
                           RawEvent("Method::init", -1, 0, 100, 1900)])]
    for i in range(RUNNER_ITERS):
        blocks.append(("Execute", synthetic_iteration(100_000 * (i + 1), scale=5 if i == 0 else 1)))
    path = tmp_path_factory.mktemp("profiler_cli") / "prof_result.bin"
    path.write_bytes(etdump_bytes(blocks))
    return path


def test_runner_shaped_etdump_text(runner_shaped, repo_root, python_env):
    p = cli(["--prof_results_bin", str(runner_shaped)], repo_root, python_env)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert f'Iterations: {RUNNER_ITERS} "run model" events; first 10 dropped as warm-up, 5 measured' in p.stdout
    assert "first iteration      0.003" in p.stdout  # (620 * 5 + 20) ns
    assert "Convolution (NHWC, F32) IGEMM" in p.stdout and "mean.out" in p.stdout
    assert "Framework overhead" in p.stdout and 'no "run model"' not in p.stdout


def test_runner_shaped_etdump_json_to_file(runner_shaped, repo_root, python_env, tmp_path):
    out = tmp_path / "report.json"
    p = cli([f"--prof_results_bin={runner_shaped}", "--json", f"--output={out}", "--warmup_iters=3"],
            repo_root, python_env)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    doc = json.loads(out.read_text())
    rm = doc["run_model"]
    assert rm["source"] == "run model" and rm["iterations_recorded"] == RUNNER_ITERS
    assert rm["warmup_dropped"] == 3 and rm["measured"]["count"] == RUNNER_ITERS - 3
    assert doc["events_found"]["run model"] == RUNNER_ITERS == doc["executions"]
    assert doc["overhead"]["runner_overhead_per_iter_ms"] == pytest.approx(40 / 1e6)
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


# --------------------------------------------------------------------------------------------
# Bad input (no torch import needed for most: these are fast)
# --------------------------------------------------------------------------------------------


def test_missing_file(repo_root, python_env, tmp_path):
    assert_one_line_error(cli([f"--prof_results_bin={tmp_path / 'nope.bin'}"], repo_root, python_env),
                          "no such file")


def test_default_path_missing(repo_root, python_env, tmp_path):
    p = subprocess.run(CLI, cwd=tmp_path, env=python_env, capture_output=True, text=True, timeout=120)
    assert_one_line_error(p, "prof_result.bin: no such file")


def test_directory(repo_root, python_env, tmp_path):
    assert_one_line_error(cli([f"--prof_results_bin={tmp_path}"], repo_root, python_env), "is a directory")


def test_empty_file(repo_root, python_env, tmp_path):
    f = tmp_path / "prof_result.bin"
    f.write_bytes(b"")
    assert_one_line_error(cli([f"--prof_results_bin={f}"], repo_root, python_env), "is empty")


def test_truncated_file(runner_shaped, repo_root, python_env, tmp_path):
    f = tmp_path / "truncated.bin"
    f.write_bytes(runner_shaped.read_bytes()[:300])
    assert_one_line_error(cli(["--prof_results_bin", str(f)], repo_root, python_env), "is truncated")


def test_pte_file(repo_root, python_env, tmp_path):
    f = tmp_path / "model.pte"
    # A .pte's flatbuffer header: root offset, then the "ET12" file identifier.
    f.write_bytes((0x3C).to_bytes(4, "little") + b"ET12" + bytes(200))
    assert_one_line_error(cli([f"--prof_results_bin={f}"], repo_root, python_env), ".pte", "not an ETDump")


def test_random_bytes(repo_root, python_env, tmp_path):
    f = tmp_path / "random.bin"
    f.write_bytes(bytes((i * 131 + 7) % 256 for i in range(4096)))
    assert_one_line_error(cli([f"--prof_results_bin={f}"], repo_root, python_env), "not an ETDump")


def test_corrupt_body(repo_root, python_env, tmp_path):
    """Right header, garbage tables: flatc fails (or crashes); still one line, no flatc usage dump."""
    f = tmp_path / "corrupt.bin"
    body = bytes((i * 97 + 13) % 256 for i in range(400))
    f.write_bytes((len(body) + 8).to_bytes(4, "little") + (8).to_bytes(4, "little") + b"ED00" + body)
    assert_one_line_error(cli([f"--prof_results_bin={f}"], repo_root, python_env), "not a valid ETDump")


def test_etdump_without_executions(repo_root, python_env, tmp_path):
    from runtime.profiler.decode import RawEvent

    f = tmp_path / "init_only.bin"
    f.write_bytes(etdump_bytes([("Default", [RawEvent("Method::init", -1, 0, 0, 10)])]))
    assert_one_line_error(cli([f"--prof_results_bin={f}"], repo_root, python_env),
                          'no "run model" or "Method::execute"', "Method::init x1")


def test_missing_etrecord(runner_shaped, repo_root, python_env, tmp_path):
    p = cli([f"--prof_results_bin={runner_shaped}", f"--etrecord={tmp_path / 'none.bin'}"], repo_root, python_env)
    assert_one_line_error(p, "no such ETRecord")


def test_foreign_etrecord(runner_shaped, repo_root, python_env, tmp_path):
    f = tmp_path / "etrecord.bin"
    f.write_bytes(b"not a zip")
    assert_one_line_error(cli([f"--prof_results_bin={runner_shaped}", f"--etrecord={f}"], repo_root, python_env),
                          "cannot use as ETRecord")


@pytest.mark.parametrize("args,needle", [
    (["--json", "--csv"], "mutually exclusive"),
    (["--bogus_flag=1"], "Unknown command line flag 'bogus_flag'"),
    (["--warmup_iters=-1"], "non-negative"),
    (["--warmup_iters=abc"], "warmup_iters"),
    (["stray_positional"], "unexpected argument"),
])
def test_bad_flags(runner_shaped, repo_root, python_env, args, needle):
    p = cli([f"--prof_results_bin={runner_shaped}", *args], repo_root, python_env)
    assert_one_line_error(p, needle)


def test_output_dir_missing(runner_shaped, repo_root, python_env, tmp_path):
    p = cli([f"--prof_results_bin={runner_shaped}", f"--output={tmp_path / 'no' / 'r.json'}", "--json"],
            repo_root, python_env)
    assert_one_line_error(p, "does not exist")

"""The main job end to end: ``python -m examples.backend.benchmark`` on the toy CNN with every
backend kind (XNNPACK fp32 / q8, ExecuTorch + OpenVINO fp32 / int8, ONNX Runtime fp32 / int8,
native OpenVINO default / f32 / int8, eager, tuned), checked the way a reader reads the report:
every row measured with its precision, the A/A line, the verdict rule's words, identical
programs one row, the method recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from examples.benchmark.backends import BACKENDS, OPT_IN
from examples.benchmark.records import AA_BACKEND
from examples.common.result_format import METHOD_VERSION

REPO_ROOT = Path(__file__).resolve().parents[1]
EVERY_KIND = [b for b in BACKENDS if b not in OPT_IN] + ["tuned"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    out = tmp_path_factory.mktemp("main_job")
    done = subprocess.run(
        [sys.executable, "-m", "examples.backend.benchmark", "--models", "tiny_conv", "--backends", "all",
         "--tuned", "--threads", "1", "--rounds", "2", "--num_iters", "3", "--warmup_iters", "1",
         "--weights", "random", "--order_seed", "5", "--output_dir", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads((out / "benchmark.json").read_text())


def test_every_backend_kind_is_measured_with_its_precision(main_job):
    _, doc = main_job
    rows = {r["backend"]: r for r in doc["records"]}
    assert set(EVERY_KIND) | {AA_BACKEND} == set(rows)
    failed = {b: r["error"] for b, r in rows.items() if r["status"] != "ok"}
    assert not failed
    for backend, r in rows.items():
        assert len(r["rounds_samples_ms"]) == 2 and r["median_ms"] > 0, backend
        assert r["precision"], backend
        assert r["sqnr_db"] is not None or r["max_abs_error"] is not None, backend
    assert rows["xnnpack_q8"]["precision"] == "int8" and rows["openvino_int8"]["precision"].startswith("int8")
    assert rows["ov_f32"]["precision"] == "f32" and rows["ort_int8"]["precision"] == "int8"
    assert doc["method_version"] == METHOD_VERSION and doc["settings"]["order"].startswith("random")


def test_the_aa_twin_repeats_one_program_and_reports_its_floor(main_job):
    done, doc = main_job
    rows = {r["backend"]: r for r in doc["records"]}
    twin = rows[AA_BACKEND]
    assert twin["aa_of"] == "xnnpack_fp32" and twin["artifact_digest"] == rows["xnnpack_fp32"]["artifact_digest"]
    assert "A/A (xnnpack fp32 measured twice):" in done.stdout and "noise floor" in done.stdout
    overall = next(c for c in doc["comparisons"] if c["accuracy_class"] == "overall")
    assert overall["aa"] is not None and overall["held_out_selection"] is True


def test_two_rounds_give_no_verdict(main_job):
    done, doc = main_job
    assert {c["verdict"] for c in doc["comparisons"]} == {"not enough rounds"}
    assert "not enough rounds for a verdict (need 5 judged" in done.stdout
    assert "ExecuTorch faster" not in done.stdout and "peer faster" not in done.stdout


def test_identical_programs_are_one_row(main_job):
    """Rows that ran one artifact in one engine and precision (the tuned row and the program tune
    picked; native OpenVINO default and f32 on a CPU without bf16) name the first of them."""
    from examples.benchmark.records import identity

    _, doc = main_job
    first = {}
    for r in doc["records"]:
        owner = first.setdefault(identity(r), r["backend"])
        assert r["same_as"] == (owner if owner != r["backend"] else None), r["backend"]
    rows = {r["backend"]: r for r in doc["records"]}
    assert rows["tuned"]["artifact_digest"] and rows[AA_BACKEND]["same_as"] is None

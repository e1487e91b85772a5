"""Published tables: README.md and docs/PERFORMANCE.md equal what `publish` regenerates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from examples.results.publish import (PUBLISHED_DOCS, PublishError, cpu_class, expected_docs, published_runs,
                                      rewrite, slim_run)
from tests.helpers_results import ZEN4_FLAGS, machine, run_doc, write_run

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = "# Title\n\nprose\n\n<!-- BEGIN results:latency -->\nstale text\n<!-- END results:latency -->\n\nmore\n"
PERF = "<!-- BEGIN results:int8 -->\n<!-- END results:int8 -->\n<!-- BEGIN results:latency -->\n<!-- END results:latency -->\n"


def _publish(root: Path, *args):
    return subprocess.run([sys.executable, "-m", "examples.backend.publish", "--root", str(root), *map(str, args)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def _site(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(DOC)
    (tmp_path / "docs" / "PERFORMANCE.md").write_text(PERF)
    return tmp_path


def test_committed_tables_equal_publish_output():
    stale = [str(p) for p, (current, expected) in expected_docs(REPO_ROOT).items() if current != expected]
    assert stale == [], "run `python -m examples.backend.publish` and commit"
    for name in PUBLISHED_DOCS:  # every published document has at least one generated block
        assert "<!-- BEGIN results:" in (REPO_ROOT / name).read_text()


def test_tables_from_result_files_name_machine_and_date(tmp_path):
    root = _site(tmp_path)
    zen2 = machine(started="2026-11-20T08:00:00+00:00")
    write_run(root / "results" / cpu_class(zen2) / "2026-11-01.json", run_doc(seed=9, machine_info=zen2))
    write_run(root / "results" / cpu_class(zen2) / "2026-11-20.json", run_doc(seed=1, machine_info=zen2))
    zen4 = machine(family=25, model=17, stepping=1, flags=ZEN4_FLAGS, started="2026-11-21T08:00:00+00:00")
    write_run(root / "results" / cpu_class(zen4) / "2026-11-21.json",
              run_doc(seed=2, machine_info=zen4, slow={("mv2", "xnnpack_q8", 1): 3.0}))
    runs = published_runs(root / "results")
    assert [r.path.name for r in runs] == ["2026-11-20.json", "2026-11-21.json"]  # newest per class

    checked = _publish(root, "--check")
    assert checked.returncode == 1 and checked.stderr.count("error: ") == 2
    assert "README.md: published tables differ" in checked.stderr
    assert _publish(root).returncode == 0
    assert _publish(root, "--check").returncode == 0

    readme = (root / "README.md").read_text()
    assert readme.startswith("# Title\n\nprose\n") and readme.endswith("<!-- END results:latency -->\n\nmore\n")
    assert "stale text" not in readme
    assert "family/model/stepping 23/49/0, AVX2" in readme and "Date: 2026-11-20" in readme
    assert "family/model/stepping 25/17/1, AVX-512 VNNI+BF16" in readme and "Date: 2026-11-21" in readme
    record = next(r for r in json.loads((root / "results" / cpu_class(zen2) / "2026-11-20.json").read_text())["records"]
                  if r["backend"] == "xnnpack_q8" and r["threads"] == 1)
    assert f"{record['first_iteration_ms']:.3g} / {record['median_ms']:.3g}" in readme
    perf = (root / "docs" / "PERFORMANCE.md").read_text()
    assert "q8 faster" in perf and "q8 slower" in perf  # zen2 file: q8 ~0.5x; zen4 file: q8 slowed 3x


def test_no_results_and_bad_markers(tmp_path):
    root = _site(tmp_path)
    out = rewrite(DOC, published_runs(root / "results"), root)
    assert "No published results" in out
    with pytest.raises(PublishError, match="unbalanced"):
        rewrite("<!-- BEGIN results:latency -->\n", [], root)
    with pytest.raises(PublishError, match="unknown results block"):
        rewrite("<!-- BEGIN results:nope -->\n<!-- END results:nope -->", [], root)
    (root / "README.md").write_text("<!-- BEGIN results:latency -->\nno end\n")
    done = _publish(root)
    assert done.returncode == 2 and done.stderr.startswith("error: README.md: unbalanced")


def test_add_copies_a_slim_run(tmp_path):
    root = _site(tmp_path)
    doc = run_doc(seed=4)
    doc["records"][0]["outputs"] = [[0.0] * 1000]
    doc["records"].append({"model": "mv2", "backend": "eager", "threads": 1, "status": "failed"})
    source = write_run(tmp_path / "benchmark.json", doc)
    done = _publish(root, "--add", source)
    assert done.returncode == 0, done.stderr
    added = root / "results" / cpu_class(doc["machine"]) / "2026-11-25.json"
    assert added.is_file() and "outputs" not in added.read_text()
    assert len(json.loads(added.read_text())["records"]) == len(doc["records"]) - 1
    assert _publish(root, "--check").returncode == 0
    assert slim_run(doc)["records"][0]["rounds_samples_ms"][0][0] == round(doc["records"][0]["rounds_samples_ms"][0][0], 4)
    doc["settings"]["runner"] = str(root / "cmake-out" / "xnn_executor_runner")
    assert slim_run(doc, root)["settings"]["runner"] == "cmake-out/xnn_executor_runner"
    doc["machine"]["command"] = ["benchmark.py", "--output_dir", "/scratch/run", "--models", "mv2",
                                 "--cache_dir=/scratch/cache", "--rounds", "3"]
    assert slim_run(doc)["machine"]["command"] == ["benchmark.py", "--models", "mv2", "--rounds", "3"]
    old = dict(doc, schema_version=1)
    write_run(tmp_path / "old.json", old)
    refused = _publish(root, "--add", tmp_path / "old.json")
    assert refused.returncode == 2 and "schema_version 1" in refused.stderr


def test_check_refuses_the_flags_that_write(tmp_path):
    """--check changes nothing: --add and --label_old_method (both rewrite result files) are refused with it."""
    root = _site(tmp_path)
    old = run_doc(seed=5)
    old["method_version"] = 1
    published = write_run(root / "results" / cpu_class(old["machine"]) / "2026-11-25.json", old)
    before = published.read_text()
    done = _publish(root, "--check", "--label_old_method", "measured before the method change")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: --check changes nothing: it cannot be combined with --label_old_method\n"
    assert published.read_text() == before and (root / "README.md").read_text() == DOC
    both = _publish(root, "--check", "--add", published, "--label_old_method", "old")
    assert both.returncode == 2 and both.stderr == (
        "error: --check changes nothing: it cannot be combined with --add, --label_old_method\n")


def test_cpu_class_tells_zen3_from_zen4():
    zen3, zen4 = machine(family=25, model=1, stepping=1), machine(family=25, model=17, stepping=1, flags=ZEN4_FLAGS)
    assert cpu_class(zen3) == "amd-f25-m1-s1-avx2"
    assert cpu_class(zen4) == "amd-f25-m17-s1-avx-512-vnni-bf16"


def test_peers_table_compares_rows_inside_the_budget(tmp_path):
    """The goal table sets the fastest ExecuTorch row against the fastest peer among rows inside
    the accuracy budget (a broken int8 peer, however fast, is left out), names the precision each
    ran in, and counts a cell as a clear win only when the median ratio is <= 0.90 and the
    interval is below 1."""
    from examples.results.publish import peers_table
    from examples.results.schema import load_run

    cells = {("mv2", "xnnpack_fp32", 1): 3.0, ("mv2", "ort_fp32", 1): 4.0, ("mv2", "ort_int8", 1): 1.0,
             ("mv2", "xnnpack_fp32", 2): 1.9, ("mv2", "ort_fp32", 2): 2.0,
             ("mv3", "xnnpack_fp32", 1): 2.0, ("mv3", "ort_fp32", 1): 1.0}
    doc = run_doc(seed=3, cells=cells, round_noise=0.01, iter_noise=0.01)
    for record in doc["records"]:
        broken = record["backend"] == "ort_int8"
        record.update(sqnr_db=5.0 if broken else 100.0, max_abs_error=1.0,
                      precision="int8" if broken else "fp32", label=record["backend"].replace("_", " "))
    run = load_run(write_run(tmp_path / "run.json", doc))
    text = "\n".join(peers_table(run, tmp_path))
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line for line in text.splitlines()
            if line.startswith("| mv")}
    assert "ort fp32 (fp32, 100 dB)" in rows[("mv2", "1")] and "ort int8" not in text
    assert "ExecuTorch >= 10 % faster" in rows[("mv2", "1")]  # 3.0 / 4.0
    assert rows[("mv2", "2")].rstrip(" |").endswith("ExecuTorch faster")  # 0.95: faster, not by 10 %
    assert "peer faster" in rows[("mv3", "1")]
    assert "not slower (faster or within noise): 2 of 3; at least 10 % faster" in text
    assert "faster beyond noise): 1 of 3" in text

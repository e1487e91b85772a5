"""The report built from ETDumps: synthetic ones with known times (runner-shaped), and a real
one of the toy model written by ExecuTorch's Python bindings."""

from __future__ import annotations

import json

import pytest

from examples.common import stats
from runtime.profiler import formatting
from runtime.profiler.etdump_reader import ProfileError, check_etdump_bytes, open_inspector
from runtime.profiler.report import DELEGATE_OVERHEAD, EXECUTE, FRAMEWORK_OVERHEAD, RUN_MODEL
from tests.helpers_profiler import (
    LOAD_BLOCK, PYBINDINGS_ITERATIONS, other_etrecord, report_for, synthetic_blocks, synthetic_iteration, toy_profile,
    write_etdump,
)

NS = 1e-6  # ms per ns


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """path(iterations, **synthetic_iteration options) -> a runner-shaped ETDump, made once each."""
    folder, made = tmp_path_factory.mktemp("profiler_synthetic"), {}

    def path(iterations: int, **kwargs):
        key = (iterations, tuple(sorted(kwargs.items())))
        if key not in made:
            made[key] = write_etdump(folder / f"synthetic_{len(made)}.bin", synthetic_blocks(iterations, **kwargs))
        return made[key]

    return path


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    return toy_profile(tmp_path_factory)


def test_first_iteration_alone_statistics_after_warmup(synthetic):
    r = report_for(synthetic(20), warmup_iters=10)
    it = r.iterations
    assert (it.event, it.recorded, it.warmup_dropped, it.measured["count"]) == (RUN_MODEL, 20, 10, 10)
    assert it.first_ms == pytest.approx((620 * 5 + 20) * NS)
    assert it.measured["median"] == it.measured["max"] == pytest.approx(640 * NS)
    assert r.runner_overhead_ms == pytest.approx(40 * NS)
    assert r.execute_mean_ms == pytest.approx(600 * NS)
    assert r.load_ms == {"Program::load_method": pytest.approx(2000 * NS), "Method::init": pytest.approx(1800 * NS)}
    assert r.percentile_method == stats.PERCENTILE_METHOD
    assert not r.notes


def test_warmup_zero_measures_the_first_iteration(synthetic):
    it = report_for(synthetic(4), warmup_iters=0).iterations
    assert it.measured["count"] == 4
    assert it.measured["max"] == pytest.approx(it.first_ms)
    assert it.measured["median"] == pytest.approx(640 * NS)


def test_too_few_iterations_uses_all_and_says_so(synthetic):
    r = report_for(synthetic(4), warmup_iters=10)
    assert r.iterations.warmup_dropped == 0 and r.iterations.measured["count"] == 4
    assert any("only 4 iteration(s) recorded" in note for note in r.notes)
    assert "only 4 iteration(s) recorded" in formatting.format_text(r)


def test_operator_table_partitions_execute_time(synthetic):
    r = report_for(synthetic(12), warmup_iters=2)
    rows = {row.name: row for row in r.operators}
    conv = rows["Convolution (NHWC, F32) IGEMM"]  # "#1" and "#2" grouped by type
    assert (conv.kind, conv.count) == ("delegated_operator", 20)
    assert conv.mean_ms == pytest.approx((300 + 90) / 2 * NS)
    assert (rows["mean.out"].kind, rows["mean.out"].count) == ("operator", 10)
    assert rows["mean.out"].total_ms == pytest.approx(10 * 115 * NS)  # OPERATOR_CALL, named by its kernel
    # Each delegate call keeps its own operators: the call without operator events stays whole.
    assert rows[DELEGATE_OVERHEAD].total_ms == pytest.approx(10 * (445 - 390) * NS)
    assert rows["(delegate call, no per-operator events)"].total_ms == pytest.approx(10 * 15 * NS)
    assert rows[FRAMEWORK_OVERHEAD].total_ms == pytest.approx(10 * (600 - 445 - 115 - 15) * NS)
    assert sum(row.total_ms for row in r.operators) == pytest.approx(10 * 600 * NS)
    assert sum(row.share_pct for row in r.operators) == pytest.approx(100.0)
    assert conv.share_pct == pytest.approx(100.0 * 390 / 600)
    assert [row.total_ms for row in r.operators] == sorted((row.total_ms for row in r.operators), reverse=True)


def test_per_instance_keeps_xnnpack_instance_numbers(synthetic):
    names = {row.name for row in report_for(synthetic(3), warmup_iters=1, per_instance=True).operators}
    assert {"Convolution (NHWC, F32) IGEMM #1", "Convolution (NHWC, F32) IGEMM #2"} <= names


def test_fallback_to_method_execute_without_run_model(synthetic):
    r = report_for(synthetic(3, run_model=False), warmup_iters=1)
    assert (r.iterations.event, r.iterations.recorded) == (EXECUTE, 3)
    assert r.iterations.first_ms == pytest.approx(600 * 5 * NS)
    assert any('no "run model" events' in note for note in r.notes)
    assert r.runner_overhead_ms is None


def test_delegate_without_per_operator_events_is_shown_whole(synthetic):
    r = report_for(synthetic(3, xnn_ops=False), warmup_iters=0)
    assert not [row for row in r.operators if row.kind == "delegated_operator"]
    whole = next(row for row in r.operators if row.name == "(delegate call, no per-operator events)")
    assert whole.count == 6  # both delegate calls of each iteration
    assert any("no per-operator events" in note for note in r.notes)


def test_no_iterations_is_an_error(tmp_path):
    path = write_etdump(tmp_path / "load_only.bin", [LOAD_BLOCK])
    with pytest.raises(ProfileError, match='no "run model" or "Method::execute".*Method::init x1'):
        report_for(path)


def test_iterations_in_blocks_of_different_shape(tmp_path):
    """The Inspector merges runs only when their events match: a first iteration without the
    delegate's operator events lands in a block of its own, and must still count as the first."""
    blocks = [LOAD_BLOCK, ("Execute", synthetic_iteration(100_000, scale=5, xnn_ops=False))]
    blocks += [("Execute", synthetic_iteration(100_000 * (i + 2))) for i in range(4)]
    r = report_for(write_etdump(tmp_path / "mixed.bin", blocks), warmup_iters=1)
    assert r.iterations.recorded == 5 and r.iterations.first_ms == pytest.approx((620 * 5 + 20) * NS)
    assert r.iterations.measured["max"] == pytest.approx(640 * NS)
    assert next(row for row in r.operators if row.name == "mean.out").count == 4


@pytest.mark.parametrize("data,match", [
    (b"", "empty"),
    (b"\x01\x02", "not an ETDump"),
    (b"\x3c\x00\x00\x00ET12eh00" + bytes(60), r"\.pte"),
    (bytes(range(200)), "not an ETDump"),
    ((1000).to_bytes(4, "little") + (8).to_bytes(4, "little") + b"ED00" + bytes(20), "truncated"),
])
def test_header_checks(data, match):
    with pytest.raises(ProfileError, match=match):
        check_etdump_bytes(data, "f")


# --- The toy model, profiled through the Python bindings --------------------------------------


def test_pybindings_etdump(toy):
    r = report_for(toy["etdump"], warmup_iters=1)
    it = r.iterations
    assert (it.event, it.recorded, it.warmup_dropped) == (EXECUTE, PYBINDINGS_ITERATIONS, 1)
    assert it.measured["count"] == PYBINDINGS_ITERATIONS - 1
    assert it.measured["min"] <= it.measured["median"] <= it.measured["p90"] <= it.measured["max"]
    assert it.first_ms > 0 and {"Method::init", "Program::load_method"} <= set(r.load_ms)
    delegated = {row.name for row in r.operators if row.kind == "delegated_operator"}
    assert any(name.startswith("Convolution") for name in delegated), delegated
    assert any(name.startswith("Fully Connected") for name in delegated), delegated
    assert {row.name for row in r.operators if row.kind == "operator"} == {"mean.out"}
    overhead = next(row for row in r.operators if row.name == DELEGATE_OVERHEAD)
    assert overhead.count == 2 * it.measured["count"]  # two delegate calls per iteration
    assert sum(row.share_pct for row in r.operators) == pytest.approx(100.0)


def test_etrecord_maps_source_ops(toy):
    r = report_for(toy["etdump"], toy["etrecord"], warmup_iters=1)
    rows = {row.name: row for row in r.operators}
    assert rows["mean.out"].source_ops == ["aten.mean.dim"]
    conv = next(row for row in r.operators if row.name.startswith("Convolution"))
    assert conv.backend == "XnnpackBackend"
    assert {"aten.convolution.default", "aten.relu.default", "aten.hardtanh.default"} <= set(conv.source_ops)
    assert all(op.startswith("aten.") for op in conv.source_ops), conv.source_ops
    assert "aten.mean.dim" in formatting.format_text(r)


@pytest.mark.slow  # exports a second program
def test_etrecord_of_another_program_is_refused(toy, tmp_path_factory):
    with pytest.raises(ProfileError, match="does not match the ETDump"):
        open_inspector(toy["etdump"], other_etrecord(tmp_path_factory))


def test_json_holds_the_whole_report(toy):
    doc = json.loads(formatting.format_json(report_for(toy["etdump"], warmup_iters=1)))
    assert doc["schema_version"] == 2 and doc["percentile_method"] == stats.PERCENTILE_METHOD
    assert doc["iterations"]["measured"]["count"] == PYBINDINGS_ITERATIONS - 1
    assert set(doc["iterations"]["measured"]) == {"count", *stats.SUMMARY_KEYS}
    assert set(doc["operators"][0]) == set(formatting.OPERATOR_COLUMNS)


def test_csv_is_the_operator_table(toy):
    import csv
    import io

    report = report_for(toy["etdump"], warmup_iters=1)
    rows = list(csv.DictReader(io.StringIO(formatting.format_csv(report))))
    assert tuple(rows[0]) == formatting.OPERATOR_COLUMNS
    assert [row["name"] for row in rows] == [row.name for row in report.operators]
    assert sum(float(row["share_pct"]) for row in rows) == pytest.approx(100.0, abs=1e-3)

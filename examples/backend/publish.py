"""Regenerate the published result tables of README.md and docs/PERFORMANCE.md.

    python -m examples.backend.publish                      # rewrite the tables from results/
    python -m examples.backend.publish --check              # exit 1 if a committed table differs
    python -m examples.backend.publish --add benchmark-out/benchmark.json   # publish a new run

The tables live between ``<!-- BEGIN results:NAME -->`` and ``<!-- END results:NAME -->``
markers and are built from the newest file of each ``results/<cpu-class>/`` folder, with the
machine and date under each table. ``--add`` copies a run (schema version 2, slimmed) to
``results/<cpu-class>/<date>.json`` first; a generation benchmark result
(``generation_bench.json``) goes to ``results/<cpu-class>/generation/<date>.json`` and feeds the
``results:generation`` block of docs/GENERATION.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import flags

from examples.common import cli
from examples.common.atomic_write import write_text_atomic

flags.DEFINE_bool("check", False, "change nothing; exit 1 naming each document whose tables are out of date")
flags.DEFINE_multi_string("add", [], "a benchmark.json to copy into results/<cpu-class>/<date>.json first")
flags.DEFINE_string("label_old_method", None, "label every published run measured with an older method with this "
                    "text (why it stays published until re-measured); --check refuses unlabelled ones")
flags.DEFINE_string("root", str(Path(__file__).resolve().parents[2]), "the repository root")
flags.DEFINE_bool("verbose", False, "show tracebacks of unexpected errors")

FLAGS = flags.FLAGS


def _add(root: Path, path: str) -> Path:
    from examples.results.publish import RESULTS_DIR, cpu_class, slim_run
    from examples.results.generation_table import add_generation_run, is_generation_doc
    from examples.results.schema import load_run

    try:
        if is_generation_doc(json.loads(Path(path).read_text())):
            return add_generation_run(root, Path(path))
    except (OSError, ValueError):
        pass  # load_run says what is wrong with the file
    run = load_run(path)
    if not run.cells:
        raise cli.UsageError(f"{path}: no measured cells with per-round samples to publish")
    target = root / RESULTS_DIR / cpu_class(run.machine) / f"{run.date}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, json.dumps(slim_run(run.doc, root), indent=1) + "\n")
    return target


def main(argv):
    from examples.results.publish import expected_docs

    cli.register_usage_errors("examples.results.publish", "PublishError")
    cli.register_usage_errors("examples.results.schema", "ResultFileError")
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected argument {argv[1]!r} (see --help)")
    root = Path(FLAGS.root)
    writing = cli.given_flags(FLAGS, ("add", "label_old_method"))
    if FLAGS.check and writing:  # --check changes nothing; both of these write result files
        raise cli.UsageError(f"--check changes nothing: it cannot be combined with {', '.join(writing)}")
    for path in FLAGS.add:
        print(f"added {_add(root, path).relative_to(root)}")
    if FLAGS.label_old_method:
        _label_old_runs(root, FLAGS.label_old_method)
    docs = expected_docs(root)
    stale = [path for path, (current, expected) in docs.items() if current != expected]
    if FLAGS.check:
        _check(root, docs, stale)
        return
    for path in stale:
        write_text_atomic(path, docs[path][1])
        print(f"updated {path.relative_to(root)}")
    if not stale:
        print("published tables are up to date")
    sys.stdout.flush()


def _label_old_runs(root: Path, label: str) -> None:
    from examples.results.publish import old_method_runs

    for run in old_method_runs(root):
        write_text_atomic(run.path, json.dumps(dict(run.doc, method_label=label), indent=1) + "\n")
        print(f"labelled {run.path.relative_to(root)}")


def _check(root: Path, docs: dict, stale: list[Path]) -> None:
    """Exit 1 naming each out-of-date document with the result files behind it, and each
    published run of an older method that carries no label."""
    from examples.results.publish import RESULTS_DIR, old_method_runs, published_runs, stale_sources
    from examples.common.result_format import METHOD_VERSION, method_version

    problems = []
    runs = published_runs(root / RESULTS_DIR)
    for path in stale:
        sources = ", ".join(stale_sources(docs[path][0], runs, root)) or "its blocks"
        problems.append(f"{path.relative_to(root)}: published tables differ ({sources}) from `python -m "
                        f"examples.backend.publish` (run it and commit)")
    for run in old_method_runs(root):
        problems.append(f"{run.path.relative_to(root)}: measured with method {method_version(run.doc)}, older than "
                        f"method {METHOD_VERSION}: re-measure it, or label it with --label_old_method TEXT")
    if problems:
        for line in problems[:-1]:
            cli.error_line(line)
        raise cli.CliError(problems[-1])
    print("published tables are up to date")

if __name__ == "__main__":
    cli.run(main)

"""Benchmark results that travel: the versioned result schema, comparisons between runs with
confidence intervals, and the published tables regenerated from committed result files.

* :mod:`.schema`   loading ``benchmark.json`` (schema version 2), refusing other versions clearly;
* :mod:`.compare`  joining runs' cells, ratio-of-medians intervals, verdicts, regressions;
* :mod:`.render`   Markdown and JSON of a comparison; :mod:`.plot` its PNG;
* :mod:`.publish`  the tables in README.md / docs/PERFORMANCE.md between ``results:`` markers.
"""

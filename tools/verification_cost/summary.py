"""The verification-cost summary: overhead of each checked mode against ``off`` as a ratio of
medians with a bootstrap interval, and its table. No flags here, so tests import it freely."""

from __future__ import annotations

MODES = ("auto", "cached", "off")  # auto: hash every run; cached: the runner's verify cache


def summarize(runs: dict) -> dict:
    from examples.common import stats

    summary = {}
    for mode in [m for m in MODES if m != "off" and runs.get(m)]:
        for key in ("runner_ms", "process_ms"):
            off = [[r[key]] for r in runs["off"]]
            checked = [[r[key]] for r in runs[mode]]
            ratio, low, high = stats.ratio_interval(off, checked, paired=False)
            summary.setdefault(mode, {})[key] = {
                "off_median": stats.median([r[0] for r in off]), "median": stats.median([r[0] for r in checked]),
                "overhead": ratio - 1, "overhead_low": low - 1, "overhead_high": high - 1}
        summary[mode]["verify_ms_median"] = stats.median([r["verify_ms"] for r in runs[mode]])
    return summary


LABELS = {"auto": "auto (hash every run)", "cached": "auto, verify cache (unchanged program)"}


def table(summary: dict) -> str:
    from tabulate import tabulate

    rows = []
    for mode, label in LABELS.items():
        if mode not in summary:
            continue
        for name, key in (("in the runner (load + init + first run)", "runner_ms"),
                          ("process (start to exit)", "process_ms")):
            s = summary[mode][key]
            rows.append([label, name, f"{s['off_median']:.2f}", f"{s['median']:.2f}",
                         f"{100 * s['overhead']:+.1f} % [{100 * s['overhead_low']:+.1f}, "
                         f"{100 * s['overhead_high']:+.1f}]", f"{summary[mode]['verify_ms_median']:.2f}"])
    return tabulate(rows, headers=["check", "time to first result", "off ms", "checked ms",
                                   "overhead (95 % interval)", "card check + digest ms"], tablefmt="github")

"""PNG of a comparison: the ratio of each cell with its interval (matplotlib, no display)."""

from __future__ import annotations

import io

from examples.common.machine import describe, plot_title
from examples.results.compare import Comparison


def render_compare_png(comparisons: list[Comparison], confidence: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(c, cell) for c in comparisons for cell in c.cells]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.35 * max(len(rows), 1)))
    try:
        for y, (c, cell) in enumerate(rows):
            color = {"slower": "tab:red", "faster": "tab:green"}.get(cell.verdict, "tab:gray")
            low, high = (cell.ratio, cell.ratio) if cell.low is None else (cell.low, cell.high)
            ax.errorbar(cell.ratio, y, xerr=[[cell.ratio - low], [high - cell.ratio]], fmt="o",
                        color=color, capsize=3)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{cell.name} ({c.run.label}{', cross-machine' if c.cross_machine else ''})"
                            for c, cell in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(f"median / baseline median, {confidence:.0%} interval (below 1: faster)")
        if comparisons:
            base = comparisons[0].baseline
            machines = {c.run.machine_id for c in comparisons} | {base.machine_id}
            where = describe(base.machine) + (" (and other machines)" if len(machines) > 1 else "")
            dates = sorted({c.run.date for c in comparisons} | {base.date})
            ax.set_title(f"Ratio to baseline per cell\n{where}, {dates[0]}"
                         + (f" to {dates[-1]}" if len(dates) > 1 else ""), fontsize=9)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=100)
        return out.getvalue()
    finally:
        plt.close(fig)

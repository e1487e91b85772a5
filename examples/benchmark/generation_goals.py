"""The generation benchmark's goal cells, judged by the toolkit's one verdict rule
(:mod:`examples.common.stats`): per model and thread count, ExecuTorch's 4-bit rows against the
4-bit peer rows (llama.cpp Q4_0 / Q4_K_M, OpenVINO GenAI, ONNX Runtime GenAI). ExecuTorch rows
are judged only when their int4 is no coarser than the peers' (groups of 32) and their KV cache
fp32 (:func:`examples.benchmark.generation_variants.judged_variant`); the others are shown only.

- **decode >= 1.2x** and **prefill >= 1.2x** the fastest 4-bit peer: times per token (1 / speed)
  of each round; ExecuTorch's fastest row, chosen on the even rounds where it has several, against
  every 4-bit peer row on the odd ones. Met only when met against each peer: no peer is chosen,
  so the luck that makes a peer look slow cannot flatter the verdict.
- **TTFT below every peer**: ExecuTorch's row against each 4-bit peer row, "faster" against all.
- **decode >= 80 % of the bandwidth limit** for its own bytes per token: each round's decode
  as a fraction of the limit the bandwidth probed before that round sets (the same minutes, so a
  busy neighbour slows both); the median of those fractions, bootstrapped over whole rounds. Each judged ExecuTorch row meets the limit of its own
  bytes; with several, the row nearest its limit on the even rounds is judged on the odd ones,
  as for decode (TTFT and RSS stay 8da4w's: the program the exporter writes). The probe reads a
  buffer the size of the bytes ExecuTorch 8da4w reads per token (weights and KV cache); where
  that fits the last-level cache it measures the cache, the stricter limit, and the DRAM probe's
  limit is shown beside it (not judged).
- **RSS growth <= the lowest peer's**: ExecuTorch's growth against each 4-bit peer's, paired by
  round, met only when the whole interval of each ratio is at most 1.

The A/A twin (``8da4w-aa``: ``8da4w`` run again as its own row) measures the run's noise floor
per figure, on the rounds each verdict judges; a verdict's whole interval must clear it
(``stats.judge``). A run without the twin says its verdicts have no measured floor.

Rows are cut to the rounds every row completed: a row that failed late is judged on the rounds
before its failure (rows stop at their first error), never dropped. A peer that failed in every
round is named in the goal lines, not judged.

A goal with a threshold is met only when the whole interval clears it, not met when none of it
does, and undecided when the interval straddles it (``stats.against_goal``): a point estimate
that happens to land on the right side decides nothing.
"""

from __future__ import annotations

from examples.benchmark.generation_variants import EXPORTER_PROGRAM
from examples.common import stats

SPEEDUP_GOAL = 1.2
LIMIT_GOAL = 0.8
VERDICT_RULE = ("judged from the file's rounds when published; intervals are 95 % bootstrap intervals over whole "
                "rounds; a goal is met when its whole interval clears it, not met when none of it does, undecided "
                "otherwise; speed and memory goals are judged against each 4-bit peer; the bandwidth limit takes "
                "each round's decode against the probe before that round.")


def _rounds(row, key) -> list[list[float]]:
    return [[key(report)] for report in row.reports]


# A round that produced no tokens: a billion seconds a token, slower than any real round and still
# finite, so the bootstrap's percentiles stay numbers.
STALLED_SECONDS = 1e9


def _per_token_ms(field: str):
    return lambda report: 1e3 / report[field] if _positive(report[field]) else 1e3 * STALLED_SECONDS


def _positive(value) -> bool:
    """A speed that means tokens were made: a finite number above 0 (not None, 0 or NaN)."""
    import math

    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _all_peers(outcomes: list[str]) -> str:
    """Met against every peer, not met against one, undecided otherwise."""
    if outcomes and all(o == stats.GOAL_MET for o in outcomes):
        return stats.GOAL_MET
    return stats.GOAL_NOT_MET if stats.GOAL_NOT_MET in outcomes else stats.GOAL_UNDECIDED


def _fastest_row(ours: dict, key) -> tuple[str, list[int], bool]:
    """``(row, judged rounds, held out)``: ExecuTorch's row with the least time per token, chosen on
    the even rounds where there are several (``stats.held_out_choice``)."""
    count = min(len(r.reports) for r in ours.values())
    return stats.held_out_choice(list(ours), lambda n, idx: -stats.pooled_median([_rounds(ours[n], key)[i] for i in idx]),
                                 count)


class _NoiseFloor:
    """The A/A floor of one model and thread count: the exporter's program against its twin row,
    on the rounds a verdict judges (0 without a twin, or where those rounds are too few)."""

    def __init__(self, main, twin):
        self.main, self.twin = main, twin

    def on(self, key, indices: list[int]) -> float:
        if self.main is None or self.twin is None:
            return 0.0
        return stats.floor_on(_rounds(self.main, key), _rounds(self.twin, key), indices) or 0.0

    def line(self) -> str:
        if self.twin is None:
            return "A/A: no twin row in this run (generation_bench --aa): its verdicts have no measured noise floor"
        count = len(self.main.reports)
        parts = []
        for what, key in (("decode", _per_token_ms("decode_tok_s")), ("prefill", _per_token_ms("prefill_tok_s")),
                          ("TTFT", lambda x: x["time_to_first_token_ms"])):
            v = stats.judge(_rounds(self.main, key), _rounds(self.twin, key), paired=True)
            floor = f"floor {100 * stats.noise_floor(v):.1f} %" if v.low is not None else v.describe()
            parts.append(f"{what} {v.ratio:.3f}x {v.interval_text()} ({floor})")
        return (f"A/A: {self.main.variant} run as two rows, time per token / TTFT paired over {count} rounds: "
                + ", ".join(parts) + "; each verdict's whole interval must clear the floor on the rounds it judges")


def _speed_cell(ours: dict, theirs: dict, field: str, what: str, floor: _NoiseFloor) -> dict:
    """ExecuTorch's fastest row against every peer row on ``field`` (tokens/s), paired by round."""
    key = _per_token_ms(field)
    name, judged, held_out = _fastest_row(ours, key)
    mine = _rounds(ours[name], key)
    noise = floor.on(key, judged)  # one floor for every peer: the same rounds
    per_peer = []
    for peer, row in theirs.items():
        theirs_rounds = _rounds(row, key)
        v = stats.judge([theirs_rounds[i] for i in judged], [mine[i] for i in judged], paired=True, floor=noise)
        low, high = (None, None) if v.low is None else (1 / v.high, 1 / v.low)  # speedup interval
        per_peer.append((peer, v, 1 / v.ratio if v.ratio else float("nan"), low, high,
                         stats.against_goal(low, high, SPEEDUP_GOAL)))
    per_peer.sort(key=lambda p: p[2] if p[2] == p[2] else 0.0)  # the nearest peer (least speedup) first
    outcome = _all_peers([p[5] for p in per_peer])
    peer, v, speedup, low, high, _ = per_peer[0]
    interval = "-" if low is None else f"[{low:.2f}, {high:.2f}]"
    each = ", ".join(f"{n} {x:.2f}x {'-' if lo is None else f'[{lo:.2f}, {hi:.2f}]'} ({w.describe()}; {o})"
                     for n, w, x, lo, hi, o in per_peer)
    how = f"row chosen on held-out rounds, judged on {len(judged)}" if held_out else f"{len(judged)} rounds"
    how += f", A/A floor {100 * noise:.1f} %" if floor.twin is not None else ""
    text = (f"{what}: ExecuTorch {name} / each 4-bit peer, nearest first ({how}): {each}; "
            f"goal >= {SPEEDUP_GOAL}x the fastest peer {outcome}")
    return {"goal": what, "ours": name, "peer": peer, "speedup": speedup, "interval": interval,
            "verdict": v.word, "rounds_judged": v.rounds, "outcome": outcome, "met": outcome == stats.GOAL_MET,
            "text": text}


def _limit_fractions(row, rounds: list[float], count: int) -> list[list[float]]:
    """Round by round, the fraction of that round's limit the row's decode reached: the seconds
    reading its bytes per token takes at the bandwidth probed before the round, over the seconds
    a token took (0 for a round that made no token)."""
    per_token = row.bytes_per_token["total"]
    return [[per_token / (gb_s * 1e9) * r["decode_tok_s"] if _positive(r["decode_tok_s"]) else 0.0]
            for gb_s, r in zip(rounds[:count], row.reports[:count])]


def _closest_to_its_limit(ours: dict, rounds: list[float], count: int) -> tuple[str, list[int], bool]:
    """``(row, judged rounds, held out)``: the row nearest its own limit, chosen on held-out rounds
    (``stats.held_out_choice``), so chance in the choice cannot flatter the verdict."""
    def fraction_on(name: str, indices: list[int]) -> float:
        fractions = _limit_fractions(ours[name], rounds, count)
        return stats.pooled_median([fractions[i] for i in indices])

    return stats.held_out_choice(list(ours), fraction_on, count)


def _fraction_interval(row, rounds: list[float], count: int, indices: list[int]) -> tuple[float, float, float]:
    """``(fraction, low, high)``: the median over ``indices`` of each round's fraction of its own
    limit, and its bootstrap interval over whole rounds."""
    fractions = _limit_fractions(row, rounds, count)
    return stats.median_interval([fractions[i] for i in indices])


def _exporters_program_line(ours: dict, chosen: str, rounds: list[float], count: int) -> str:
    """Where the goal chose another row: ``8da4w`` (the program the exporter writes) over every
    round, shown beside the verdict, not judged."""
    if chosen == EXPORTER_PROGRAM or EXPORTER_PROGRAM not in ours or count < stats.MIN_VERDICT_ROUNDS:
        return ""
    fraction, low, high = _fraction_interval(ours[EXPORTER_PROGRAM], rounds, count, list(range(count)))
    return (f"; {EXPORTER_PROGRAM}, the exporter's program, over every round: {100 * fraction:.0f} % "
            f"[{100 * low:.0f} %, {100 * high:.0f} %] ({stats.against_goal(low, high, LIMIT_GOAL)}, shown)")


def _limit_cell(ours: dict, bandwidth_rounds: list[float] | None, dram_gb_s: float | None) -> dict:
    """Decode as a fraction of the bandwidth limit, paired by round: the median of each round's
    decode over the limit round i's probed bandwidth sets for the row's bytes. ``ours`` are
    ExecuTorch's judged rows, each against the limit for its own bytes; with several, the row is
    chosen on held-out rounds. Judged on the probe over a buffer the size of the bytes 8da4w reads
    per token (the stricter limit where they fit the last-level cache); the DRAM probe's limit is
    shown beside it."""
    from examples.benchmark.generation_runs import row_figures

    rounds = bandwidth_rounds or []
    ours = {n: r for n, r in ours.items() if (r.bytes_per_token or {}).get("total")}
    count = min([len(rounds)] + [len(r.reports) for r in ours.values()])
    cell = {"goal": "bandwidth", "ours": None, "fraction": None, "interval": None,  # "ours": the row chosen
            "outcome": stats.GOAL_UNDECIDED, "met": False, "rounds_judged": 0, "fraction_of_dram_limit": None}
    if not ours or not count:
        return {**cell, "text": "decode at the bandwidth limit: no per-round probe, bytes per token or decode"}
    failed = [i + 1 for i, gb_s in enumerate(rounds[:count]) if not (isinstance(gb_s, (int, float)) and gb_s > 0)]
    if failed:  # no limit for that round: pairing around it would judge other rounds than the run's
        return {**cell, "text": f"decode at the bandwidth limit: the probe read nothing before round(s) "
                                f"{', '.join(map(str, failed))}; no verdict"}
    name, judged, held_out = _closest_to_its_limit(ours, rounds, count)
    figures = row_figures(ours[name], stats.median(rounds), dram_gb_s)
    cell.update(ours=name, fraction=figures["fraction_of_limit"], rounds_judged=len(judged),
                fraction_of_dram_limit=figures["fraction_of_dram_limit"])
    if cell["fraction"] is None:
        return {**cell, "text": f"decode at the bandwidth limit: ExecuTorch {name} decoded no token"}
    tail = f"of {figures['limit_tok_s']:.0f} tok/s ({figures['bytes_per_token'] / 1e6:.1f} MB/token)"
    dram = ("" if figures["fraction_of_dram_limit"] is None else
            f"; {100 * figures['fraction_of_dram_limit']:.0f} % of the DRAM limit, "
            f"{figures['dram_limit_tok_s']:.0f} tok/s (one probe past the last-level cache)")
    if len(judged) < stats.MIN_VERDICT_ROUNDS:  # the same figure as a verdict's, without its interval
        cell["fraction"] = stats.pooled_median([_limit_fractions(ours[name], rounds, count)[i] for i in judged])
        return {**cell, "text": f"decode at the bandwidth limit: ExecuTorch {name} {100 * cell['fraction']:.0f} % "
                                f"{tail}{dram}; not enough rounds for a verdict (need {stats.MIN_VERDICT_ROUNDS}, "
                                f"have {len(judged)}); goal >= {100 * LIMIT_GOAL:.0f} % undecided"}
    fraction, low, high = _fraction_interval(ours[name], rounds, count, judged)
    outcome = stats.against_goal(low, high, LIMIT_GOAL)
    how = (f"median of {len(judged)} rounds, each against its own probe"
           + (", row chosen on held-out rounds" if held_out else ""))
    return {**cell, "fraction": fraction, "interval": [low, high], "outcome": outcome, "met": outcome == stats.GOAL_MET,
            "text": f"decode at the bandwidth limit: ExecuTorch {name} {100 * fraction:.0f} % "
                    f"[{100 * low:.0f} %, {100 * high:.0f} %] {tail}, {how}"
                    f"{dram}; goal >= {100 * LIMIT_GOAL:.0f} % {outcome}"
                    f"{_exporters_program_line(ours, name, rounds, count)}"}


def goal_cells(rows: list, bandwidth: dict | None = None, dram: dict | None = None,
               group_size: int | None = None) -> list[dict]:
    """One dict per (model, threads, goal); ``rows`` are generation_runs.Row with reports and the
    ``variant`` / ``engine`` names of :data:`generation_variants.VARIANTS`; ``bandwidth``
    ``{(model, threads): [GB/s probed before round 0, round 1, ...]}`` for the limit cell, ``dram``
    ``{(model, threads): GB/s}`` past the last-level cache beside it; ``group_size`` the run's
    ``--group_size`` (rows that follow it are not judged above the peers' 32)."""
    from examples.benchmark.generation_variants import VARIANTS, judged_variant

    cells = []
    keys = sorted({(r.model, r.threads) for r in rows})
    for model, threads in keys:
        here = [r for r in rows if (r.model, r.threads) == (model, threads) and r.reports
                and r.variant in VARIANTS and VARIANTS[r.variant].weight_bits == 4]  # failed late: its rounds
        ours = {r.variant: r for r in here
                if VARIANTS[r.variant].engine == "executorch" and judged_variant(r.variant, group_size)}
        theirs = {f"{VARIANTS[r.variant].engine} {r.variant}": r for r in here
                  if VARIANTS[r.variant].engine != "executorch"}
        if not ours or not theirs:
            continue
        twin = _twin_row(here)  # the A/A twin is cut like every row: the floor needs each judged round
        count = min(len(r.reports) for r in (*ours.values(), *theirs.values(), *([twin] if twin else [])))
        ours_c = {n: _trim(r, count) for n, r in ours.items()}
        theirs_c = {n: _trim(r, count) for n, r in theirs.items()}
        failed = _failed_peers(rows, model, threads)
        base = {"model": model, "threads": threads}
        floor = _NoiseFloor(ours_c.get(EXPORTER_PROGRAM), twin and _trim(twin, count))
        cells.append({**base, "goal": "A/A", "ours": floor.main and floor.main.variant, "met": None,
                      "text": floor.line()})
        speed = [{**base, **_speed_cell(ours_c, theirs_c, field, what, floor)}
                 for field, what in (("decode_tok_s", "decode"), ("prefill_tok_s", "prefill"))]
        cells.extend(speed)
        main = ours_c.get(EXPORTER_PROGRAM) or next(iter(ours_c.values()))
        ttft_ms = lambda x: x["time_to_first_token_ms"]  # noqa: E731
        ttft_floor = floor.on(ttft_ms, list(range(count)))
        ttft = [(name, stats.judge(_rounds(peer, ttft_ms), _rounds(main, ttft_ms), paired=True, floor=ttft_floor))
                for name, peer in theirs_c.items()]
        words = {v.word for _, v in ttft}
        outcome = (stats.GOAL_MET if words == {stats.FASTER} else
                   stats.GOAL_NOT_MET if stats.SLOWER in words else stats.GOAL_UNDECIDED)
        cells.append({**base, "goal": "TTFT", "ours": main.variant, "outcome": outcome,
                      "met": outcome == stats.GOAL_MET,
                      "text": f"TTFT: ExecuTorch {main.variant} / each 4-bit peer: "
                              + ", ".join(f"{n} {v.ratio:.2f}x ({v.describe()})" for n, v in ttft)
                              + f"; goal below every peer {outcome}"})
        key = (model, threads)
        limit = {**base, **_limit_cell(ours_c, (bandwidth or {}).get(key), (dram or {}).get(key))}
        cells.append(limit)
        rss = _rss_cell(main, theirs_c)
        if rss is not None:
            if rss["peer_mib"] is not None:
                rss["text"] += _chosen_rows_growth([*speed, limit], ours_c, main.variant, rss["peer_mib"])
            cells.append({**base, **rss})
        if failed:
            for cell in cells:
                if (cell["model"], cell["threads"]) == (model, threads):
                    cell["text"] += f"; failed in every round, not judged: {', '.join(failed)}"
    return cells + option_cells(rows)


def _twin_row(here: list):
    """The A/A twin of the exporter's program among this model and thread count's rows, if it ran."""
    from examples.benchmark.generation_variants import aa_twin_of

    return next((r for r in here if r.variant == aa_twin_of(EXPORTER_PROGRAM)), None)


def _rss_cell(main, theirs: dict) -> dict | None:
    """RSS growth of ``main`` against each peer's, paired by round on the rounds where both have a
    figure (growth is near constant, so the intervals are narrow; a point estimate still decides
    nothing, and fewer than the rounds a verdict needs leave a peer undecided); None without
    figures of ``main``."""
    from examples.benchmark.generation_runs import rss_growth_mib, row_figures

    def growth(row) -> list[float | None]:
        return [g if g is not None and g > 0 else None for g in map(rss_growth_mib, row.reports)]

    mine = growth(main)
    if not any(g is not None for g in mine):
        return None
    per_peer = []
    for name, row in theirs.items():
        both = [(m, t) for m, t in zip(mine, growth(row)) if m is not None and t is not None]
        if len(both) < stats.MIN_VERDICT_ROUNDS:
            per_peer.append((name, row_figures(row)["rss_growth_mib"], None, None, None, stats.GOAL_UNDECIDED))
            continue
        ratio, low, high = stats.ratio_interval([[m] for m, _ in both], [[t] for _, t in both], paired=True)
        per_peer.append((name, row_figures(row)["rss_growth_mib"], ratio, low, high,
                         stats.against_goal(low, high, 1.0)))  # peer / ours: >= 1 is met
    per_peer.sort(key=lambda p: float("inf") if p[1] is None else p[1])
    outcome = _all_peers([p[5] for p in per_peer])
    lowest, lowest_mib = per_peer[0][:2]
    mine_mib = row_figures(main)["rss_growth_mib"]
    each = ", ".join(f"{n} {'-' if mib is None else f'{mib:.0f}'} MiB ("
                     + ("too few rounds with a figure" if r is None else f"peer / ours {r:.2f} [{lo:.2f}, {hi:.2f}]")
                     + f", {o})" for n, mib, r, lo, hi, o in per_peer)
    return {"goal": "RSS growth", "ours": main.variant, "peer": lowest, "outcome": outcome,
            "met": outcome == stats.GOAL_MET, "ours_mib": mine_mib, "peer_mib": lowest_mib,
            "text": f"RSS growth: ExecuTorch {main.variant} {mine_mib:.0f} MiB / each 4-bit peer, lowest first: "
                    f"{each}; goal <= lowest peer {outcome}"}


def _failed_peers(rows: list, model: str, threads: int) -> list[str]:
    """4-bit peer rows of this model and thread count that failed before any round completed."""
    from examples.benchmark.generation_variants import VARIANTS

    return [f"{VARIANTS[r.variant].engine} {r.variant}" for r in rows
            if (r.model, r.threads) == (model, threads) and r.error and not r.reports and r.variant in VARIANTS
            and VARIANTS[r.variant].engine != "executorch" and VARIANTS[r.variant].weight_bits == 4]


def _chosen_rows_growth(cells: list[dict], ours: dict, main: str, lowest_mib: float) -> str:
    """The RSS growth of the other rows this model and thread count's goals chose (decode,
    prefill, the limit), shown beside the verdict on ``main``: whether one program meets them all."""
    from examples.benchmark.generation_runs import row_figures

    names = list(dict.fromkeys(c["ours"] for c in cells if c.get("ours") in ours and c["ours"] != main))
    parts = [(n, row_figures(ours[n])["rss_growth_mib"]) for n in names]
    parts = [f"{n} {mib:.0f} MiB ({'at most' if mib <= lowest_mib else 'above'} the lowest peer's)"
             for n, mib in parts if mib is not None]
    return f"; rows the goals above chose: {', '.join(parts)} (shown)" if parts else ""


def option_cells(rows: list) -> list[dict]:
    """Options measured against the row they change, paired by round: a row that runs another
    row's program with native runner flags (``8da4w-2m``: ``8da4w`` with ``--huge_pages=true``),
    and a row that lowers another row's weights otherwise (``lowering_of``). Decode and prefill
    speed of each against the plain row's. Shown, not a goal."""
    from examples.benchmark.generation_variants import VARIANTS

    cells = []
    for changed in rows:
        variant = VARIANTS.get(changed.variant)
        if variant is None or changed.error or not changed.reports:
            continue
        if variant.native_flags:
            goal, how = "runner option", f"the same program run with {' '.join(variant.native_flags)}"
            plain = _plain_row(rows, changed, lambda v: not v.native_flags and v.artifact == variant.artifact)
        elif variant.lowering_of:
            goal, how = "lowering option", ("the same int4 weights in one delegate call a token, activations "
                                            "quantized by its own rule" if variant.native_backend else
                                            "the same weights and quantization, lowered otherwise")
            plain = _plain_row(rows, changed, lambda v, name=variant.lowering_of: v.name == name)
        else:
            continue
        if plain is None:
            continue
        cells.append({"model": changed.model, "threads": changed.threads, "goal": goal, "ours": changed.variant,
                      "peer": plain.variant, "met": None,
                      "text": f"{goal}: {changed.variant} / {plain.variant} ({how}): "
                              f"{_paired_speeds(plain, changed, _option_floor(rows, changed))}; shown, not a goal"})
    return cells


def _plain_row(rows: list, changed, wanted):
    from examples.benchmark.generation_variants import VARIANTS

    return next((r for r in rows if (r.model, r.threads) == (changed.model, changed.threads) and r.reports
                 and not r.error and r.variant in VARIANTS and wanted(VARIANTS[r.variant])), None)


def _option_floor(rows: list, changed) -> _NoiseFloor:
    """The A/A pair of the changed row's model and thread count (rows that ran)."""
    here = [r for r in rows if (r.model, r.threads) == (changed.model, changed.threads) and r.reports]
    main = next((r for r in here if r.variant == EXPORTER_PROGRAM), None)
    return _NoiseFloor(main, _twin_row(here) if main is not None else None)


def _paired_speeds(plain, changed, floor: _NoiseFloor) -> str:
    count = min(len(plain.reports), len(changed.reports))
    if floor.twin is not None:
        count = min(count, len(floor.main.reports), len(floor.twin.reports))
    parts = []
    for field, what in (("decode_tok_s", "decode"), ("prefill_tok_s", "prefill")):
        key = _per_token_ms(field)
        v = stats.judge(_rounds(_trim(plain, count), key), _rounds(_trim(changed, count), key), paired=True,
                        floor=floor.on(key, list(range(count))))
        speedup = 1 / v.ratio if v.ratio else float("nan")
        interval = "-" if v.low is None else f"[{1 / v.high:.2f}, {1 / v.low:.2f}]"
        parts.append(f"{what} {speedup:.2f}x {interval} ({v.describe()})")
    return ", ".join(parts)


def _trim(row, count: int):
    """The row with its first ``count`` rounds (rows that failed late keep fewer)."""
    import dataclasses

    return dataclasses.replace(row, reports=row.reports[:count])

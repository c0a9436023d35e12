"""The report's PNG charts (matplotlib, headless). Each returns False when it has nothing to show."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402

from specdec.report.build import Report, Row  # noqa: E402
from specdec.report.markdown import CHARTS  # noqa: E402

DPI = 120


def write_all(report: Report, folder: Path) -> set[str]:
    """Write every chart that has data into `folder`; the keys of CHARTS written."""
    makers = {"speed_up": _speed_up, "itl": _itl, "tokens_per_step": _tokens_per_step,
              "bandwidth": _bandwidth, "cost": _cost}
    written = set()
    for key, make in makers.items():
        figure = make(report)
        if figure is not None:
            figure.savefig(folder / CHARTS[key], dpi=DPI, bbox_inches="tight")
            plt.close(figure)
            written.add(key)
    return written


def _suites(report: Report) -> list[str]:
    return list(dict.fromkeys(r.suite for r in report.rows))


def _colors(report: Report) -> dict[tuple[str, str], str]:
    """One colour per results file x variant, the same in every chart (tab10, then tab20)."""
    series = list(dict.fromkeys((r.label, r.variant) for r in report.rows))
    palette = plt.get_cmap("tab10" if len(series) <= 10 else "tab20")
    return {key: palette(i % palette.N) for i, key in enumerate(series)}


def _bars(report: Report, rows: list[Row], value, ylabel: str, title: str, reference: float | None = None):
    """Grouped bars: one group per suite, one bar per results file x variant."""
    if not rows:
        return None
    suites = _suites(report)
    series = list(dict.fromkeys((r.label, r.variant) for r in rows))
    colors = _colors(report)
    width = 0.8 / len(series)
    # Wider groups as variants are added, so each bar keeps room for its value label.
    figure, axes = plt.subplots(figsize=(max(6, len(suites) * max(2.5, 0.8 * len(series))), 4))
    for i, (label, variant) in enumerate(series):
        heights = [next((value(r) for r in rows if (r.label, r.variant, r.suite) == (label, variant, s)), 0)
                   for s in suites]
        positions = [x + (i - (len(series) - 1) / 2) * width for x in range(len(suites))]
        bars = axes.bar(positions, heights, width, color=colors[(label, variant)],
                        label=variant if len(report.sources) == 1 else f"{label}: {variant}")
        axes.bar_label(bars, fmt="%.2f", fontsize=8 if len(series) <= 4 else 6)
    if reference is not None:
        axes.axhline(reference, color="grey", linestyle="--", linewidth=1)
    axes.set_xticks(range(len(suites)), suites)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=8, ncols=1 if len(series) <= 4 else 2)
    return figure


def _speed_up(report: Report):
    rows = [r for r in report.rows if r.speed_up is not None]
    return _bars(report, rows, lambda r: r.speed_up, "baseline ITL p50 / variant ITL p50",
                 "Speed-up per suite (above the dashed line: speculation pays)", reference=1.0)


def _tokens_per_step(report: Report):
    rows = [r for r in report.rows if r.run.summary.tokens_per_step is not None]
    return _bars(report, rows, lambda r: r.run.summary.tokens_per_step, "output tokens per decode step",
                 "Tokens per decode step (the baseline's is 1)", reference=1.0)


def _bandwidth(report: Report):
    rows = [r for r in report.rows if r.bandwidth is not None]
    return _bars(report, rows, lambda r: 100 * r.bandwidth, "% of the chips' HBM bandwidth",
                 "Memory-bandwidth utilization of a decode step")


def _cost(report: Report):
    rows = [r for r in report.rows if r.usd_per_million is not None]
    return _bars(report, rows, lambda r: r.usd_per_million, "USD per million output tokens",
                 "Cost per million output tokens at the benchmark's load")


def _itl(report: Report):
    suites = _suites(report)
    colors = _colors(report)
    boxes = max(len([r for r in report.rows if r.suite == suite]) for suite in suites)
    figure, axes = plt.subplots(1, len(suites), figsize=(max(6, len(suites) * max(4, 1.3 * boxes)), 4),
                                sharey=True, squeeze=False)
    for axis, suite in zip(axes[0], suites, strict=True):
        rows = [r for r in report.rows if r.suite == suite]
        samples = [[q.itl_ms for q in r.run.requests if q.itl_ms is not None] for r in rows]
        labels = [r.variant if len(report.sources) == 1 else f"{r.label}\n{r.variant}" for r in rows]
        kept = [(s, label, r) for s, label, r in zip(samples, labels, rows, strict=True) if s]
        if kept:
            plot = axis.boxplot([s for s, _, _ in kept], tick_labels=[label for _, label, _ in kept],
                                showfliers=True, patch_artist=True)
            for box, (_, _, row) in zip(plot["boxes"], kept, strict=True):
                box.set_facecolor(colors[(row.label, row.variant)])
                box.set_alpha(0.6)
            if len(kept) > 3:
                axis.tick_params(axis="x", labelrotation=30)
        axis.set_title(suite)
        axis.set_ylabel("ms per output token (per request)")
    figure.suptitle("Inter-token latency per request")
    return figure

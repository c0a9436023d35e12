"""The tune plot: expected speed-up against k, per workload, with the measured point (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from specdec.tune.estimate import Estimate  # noqa: E402


def write_plot(estimates: list[Estimate], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4))
    for e in estimates:
        ks, values = zip(*e.curve(), strict=True)
        label = f"{e.workload} (a={e.acceptance:.2f}, c={e.draft_cost:.3f})"
        (line,) = axes.plot(ks, values, marker=".", label=label)
        axes.plot([e.best_k], [e.speed_up(e.best_k)], marker="*", markersize=12, color=line.get_color())
        if e.measured_speed_up is not None:
            axes.plot([e.k], [e.measured_speed_up], marker="o", fillstyle="none", markersize=10,
                      color=line.get_color(), label=f"{e.workload}: measured at k={e.k}")
    axes.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("num_speculative_tokens (k)")
    axes.set_ylabel("expected speed-up over the target alone")
    axes.set_title("Leviathan et al.: E(a, k) / (1 + k c); star: best k")
    axes.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)

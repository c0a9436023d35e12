"""What `tune` prints: per workload, the estimate, the best k, and the environment change (pure)."""

from __future__ import annotations

import json

from specdec.tune.estimate import Estimate

# A change of k means a recompile of tens of minutes and a redeploy; below this expected gain the
# benchmark's own run-to-run spread could account for it.
WORTHWHILE_GAIN = 1.05


def recommendation(estimates: list[Estimate]) -> str:
    lines = []
    for e in estimates:
        lines.append(f"{e.workload}: acceptance a = {e.acceptance:.3f}, draft cost c = {e.draft_cost:.3f} "
                     f"({e.how})")
        if e.measured_speed_up is not None:
            lines.append(f"  measured speed-up at k={e.k}: {e.measured_speed_up:.2f}x; the model gives "
                         f"{e.speed_up(e.k):.2f}x")
        best = e.best_k
        if e.engine is not None:
            lines.append(f"  variant {e.variant} on engine {e.engine}: k from {e.k_range.start} to "
                         f"{e.k_range.stop - 1}")
        if not e.pays:
            lines.append(f"  speculation does not pay for {e.workload}: even the best k ({best}) gives "
                         f"{e.speed_up(best):.2f}x, no faster than the target alone. Serve this "
                         "workload without speculation.")
            continue
        if best != e.k and e.gain_over_deployed < WORTHWHILE_GAIN:
            lines.append(f"  recommended k = {e.k} (deployed): k={best} would give {e.speed_up(best):.2f}x, "
                         f"under {WORTHWHILE_GAIN - 1:.0%} more than {e.speed_up(e.k):.2f}x, within "
                         "measurement noise; no change to the environment file")
        elif best == e.k:
            lines.append(f"  recommended k = {e.k} (deployed): expected {e.speed_up(best):.2f}x over the "
                         "target alone; no change to the environment file")
        else:
            lines.append(f"  recommended k = {best}: expected {e.speed_up(best):.2f}x over the target alone, "
                         f"{e.gain_over_deployed:.2f}x the deployed k={e.k}'s {e.speed_up(e.k):.2f}x")
            lines.append(f"  environment file change: {change(e.setting, best)}")
    return "\n".join(lines)


def change(setting: str, k: int) -> str:
    """The edit to make: a JSON fragment for a top-level key, the key path for a variant's."""
    if setting == "serving.num_speculative_tokens":
        return json.dumps({"serving": {"num_speculative_tokens": k}})
    return f"{setting} = {k}"

"""What `tune` prints: per workload, the estimate, the best k, and the environment change (pure)."""

from __future__ import annotations

import json

from specdec.tune.estimate import Estimate


def recommendation(estimates: list[Estimate]) -> str:
    lines = []
    for e in estimates:
        lines.append(f"{e.workload}: acceptance a = {e.acceptance:.3f}, draft cost c = {e.draft_cost:.3f} "
                     f"({e.how})")
        if e.measured_speed_up is not None:
            lines.append(f"  measured speed-up at k={e.k}: {e.measured_speed_up:.2f}x; the model gives "
                         f"{e.speed_up(e.k):.2f}x")
        best = e.best_k
        if not e.pays:
            lines.append(f"  speculation does not pay for {e.workload}: even the best k ({best}) gives "
                         f"{e.speed_up(best):.2f}x, no faster than the target alone. Serve this "
                         "workload without speculation.")
            continue
        lines.append(f"  recommended k = {best}: expected {e.speed_up(best):.2f}x over the target alone, "
                     f"{e.gain_over_deployed:.2f}x the deployed k={e.k}'s {e.speed_up(e.k):.2f}x")
        change = json.dumps({"serving": {"num_speculative_tokens": best}})
        lines.append(f"  environment file change: {change}" if best != e.k
                     else "  keep the deployed k: no change to the environment file")
    return "\n".join(lines)

"""The benchmark's CloudWatch metrics, built from a results document (pure; publish.py sends them).

Namespace `SpecDec` (specdec/names.py), dimensions Environment, Variant and Suite, one datum per
suite and variant at the time its run finished. The dashboards read these names. Every speculative
variant is compared with the one baseline, each at its own k.
"""

from __future__ import annotations

from specdec.bench.results import Results, Run

DIMENSIONS = ("Environment", "Variant", "Suite")
# metric name -> (unit, value of a run's summary or None when not measured)
SUMMARY_METRICS = {
    "TimeToFirstTokenP50": ("Milliseconds", lambda s: s.ttft_ms and s.ttft_ms.p50),
    "TimeToFirstTokenP90": ("Milliseconds", lambda s: s.ttft_ms and s.ttft_ms.p90),
    "InterTokenLatencyP50": ("Milliseconds", lambda s: s.itl_ms and s.itl_ms.p50),
    "InterTokenLatencyP90": ("Milliseconds", lambda s: s.itl_ms and s.itl_ms.p90),
    "EndToEndLatencyP50": ("Seconds", lambda s: s.e2e_s and s.e2e_s.p50),
    "EndToEndLatencyP90": ("Seconds", lambda s: s.e2e_s and s.e2e_s.p90),
    "OutputTokensPerSecond": ("Count/Second", lambda s: s.output_tokens_per_s),
    "TokensPerStep": ("None", lambda s: s.tokens_per_step),
    "Requests": ("Count", lambda s: s.requests),
    "Errors": ("Count", lambda s: s.errors),
}
# Baseline ITL p50 over the variant's, per suite: how many times faster each token comes.
SPEED_UP = "SpeedUp"
# Speculation as the engine would report it, derived from tokens per step where it does not
# (the default image): each step yields 1 + the accepted draft tokens, out of k proposed.
MEAN_ACCEPTED_TOKENS = "MeanAcceptedTokens"
ACCEPTANCE_RATE = "AcceptanceRate"
UNNAMED_ENVIRONMENT = "unnamed"


def speed_up(results: Results, run: Run) -> float | None:
    baseline = results.baseline
    if baseline is None or run.variant == baseline.name:
        return None
    reference = results.run(run.suite, baseline.name)
    if not (reference and reference.summary.itl_ms and run.summary.itl_ms and run.summary.itl_ms.p50):
        return None
    return reference.summary.itl_ms.p50 / run.summary.itl_ms.p50


def _accepted(results: Results, run: Run) -> float | None:
    baseline = results.baseline
    steps = run.summary.tokens_per_step
    if steps is None or (baseline is not None and run.variant == baseline.name):
        return None
    return max(0.0, steps - 1)


def metric_data(results: Results) -> list[dict]:
    """put_metric_data's MetricData for every suite and variant."""
    environment = results.deployment.environment or UNNAMED_ENVIRONMENT
    data = []
    for run in results.runs:
        dimensions = [{"Name": "Environment", "Value": environment},
                      {"Name": "Variant", "Value": run.variant},
                      {"Name": "Suite", "Value": run.suite}]
        values = {name: (unit, value(run.summary)) for name, (unit, value) in SUMMARY_METRICS.items()}
        values[SPEED_UP] = ("None", speed_up(results, run))
        accepted = _accepted(results, run)
        values[MEAN_ACCEPTED_TOKENS] = ("None", accepted)
        k = results.described(run.variant).num_speculative_tokens
        values[ACCEPTANCE_RATE] = ("None", accepted / k if accepted is not None and k else None)
        data += [{"MetricName": name, "Dimensions": dimensions, "Timestamp": run.finished_at,
                  "Value": float(value), "Unit": unit}
                 for name, (unit, value) in values.items() if value is not None]
    return data

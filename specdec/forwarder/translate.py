"""Pure: Prometheus text -> samples -> increases since the last scrape -> CloudWatch MetricData."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from specdec.forwarder import catalog
from specdec.validation import UserError
from specdec.vllm_metrics import Engine

# A sample: its name and its labels (sorted), e.g. ("vllm:e2e_request_latency_seconds_bucket",
# (("engine", "0"), ("le", "0.5"), ("model_name", "Qwen/Qwen3-32B"))).
Key = tuple[str, tuple[tuple[str, str], ...]]
# Each bucket's observations are spread over up to this many evenly spaced values, so that
# CloudWatch's percentile interpolates inside a bucket as Prometheus' histogram_quantile does
# instead of snapping to its upper bound (vLLM's ITL buckets jump from 10 ms to 25 ms).
POINTS_PER_BUCKET = 4
# PutMetricData takes at most 150 distinct values per datum.
MAX_VALUES = 150


class ScrapeError(UserError):
    pass


def parse(text: str, source: str) -> dict[Key, float]:
    try:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}
    except ValueError as error:
        raise ScrapeError(f"{source}: not Prometheus text format: {error}") from None


def increase(before: dict[Key, float] | None, now: dict[Key, float]) -> dict[Key, float]:
    """How much each cumulative sample grew since the pod's last scrape; a sample that went down
    restarted from zero (the server restarted), one that is new started from zero. With no earlier
    scrape of the pod nothing is known yet."""
    if before is None:
        return {}
    grown = {}
    for key, value in now.items():
        previous = before.get(key, 0.0)
        grown[key] = value if value < previous else value - previous
    return grown


def _sum_by_name(samples: dict[Key, float],
                 keep_label: str | None = None) -> dict[tuple[str, str | None], float]:
    """Add up a sample's series over model, engine index and pod, keeping one label (le)."""
    totals: dict[tuple[str, str | None], float] = defaultdict(float)
    for (name, labels), value in samples.items():
        totals[(name, dict(labels).get(keep_label) if keep_label else None)] += value
    return totals


def histogram_points(cumulative: dict[float, float]) -> tuple[list[float], list[float]]:
    """Values and Counts for a histogram's increase, given as upper bound -> cumulative count."""
    buckets, lower, below = [], 0.0, 0.0
    for upper in sorted(cumulative):
        buckets.append((lower, upper, cumulative[upper] - below))
        below = cumulative[upper]
        if not math.isinf(upper):
            lower = upper
    filled = [(low, high, count) for low, high, count in buckets if count > 0]
    # Fewer points per bucket when many buckets filled, so that no bucket is ever dropped.
    per_bucket = max(1, min(POINTS_PER_BUCKET, MAX_VALUES // max(1, len(filled))))
    values, counts = [], []
    for low, high, count in filled:
        if math.isinf(high):
            # Past the last bound nothing is known but "at least this" (as histogram_quantile).
            values.append(low)
            counts.append(count)
            continue
        points = min(per_bucket, max(1, math.ceil(count)))
        width = (high - low) / points
        values += [low + (i + 0.5) * width for i in range(points)]
        counts += [count / points] * points
    return values, counts


def server_metric_data(*, environment: str, variant: str, engine: Engine, speculative: bool,
                       grown: dict[Key, float], now: dict[Key, float], ready: int,
                       timestamp: datetime) -> list[dict]:
    """MetricData for one variant; `grown` and `now` hold its pods' samples added up."""
    dimensions = [{"Name": "Environment", "Value": environment}, {"Name": "Variant", "Value": variant}]

    def datum(name: str, unit: str, **value) -> dict:
        return {"MetricName": name, "Dimensions": dimensions, "Timestamp": timestamp, "Unit": unit,
                "StorageResolution": 60, **value}

    data = [datum(catalog.READY_SERVERS, "Count", Value=float(ready))]
    buckets = _sum_by_name(grown, keep_label="le")
    for source, histogram in catalog.histograms(engine, speculative).items():
        cumulative = {float(le) * histogram.scale: count
                      for (name, le), count in buckets.items() if name == f"{source}_bucket"}
        values, counts = histogram_points(cumulative)
        if values:
            data.append(datum(histogram.metric, histogram.unit, Values=values, Counts=counts))
    totals = _sum_by_name(grown)
    for source, metric in catalog.COUNTERS.items():
        if (f"{source}_total", None) in totals:
            data.append(datum(metric, "Count", Value=totals[(f"{source}_total", None)]))
    current = _sum_by_name(now)
    for source, metric in catalog.GAUGES.items():
        if (source, None) in current:
            data.append(datum(metric, "Count", Value=current[(source, None)]))
    return data


def node_metric_data(*, environment: str, node_group: str, ready: int, timestamp: datetime) -> list[dict]:
    return [{"MetricName": catalog.READY_NODES, "Timestamp": timestamp, "Unit": "Count",
             "StorageResolution": 60, "Value": float(ready),
             "Dimensions": [{"Name": "Environment", "Value": environment},
                            {"Name": "NodeGroup", "Value": node_group}]}]

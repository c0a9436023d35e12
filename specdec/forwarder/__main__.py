"""`python -m specdec.forwarder --config JSON`: the forwarder's loop, run by its Deployment."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

import boto3

from specdec import names
from specdec.forwarder.forward import Forwarder, Settings
from specdec.forwarder.sources import KubernetesApi, scrape

# PutMetricData takes up to 1000 data per call and 1 MB; histogram data carry up to 150 values.
BATCH = 100


def publish(cloudwatch, namespace: str, data: list[dict]) -> None:
    for start in range(0, len(data), BATCH):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + BATCH])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m specdec.forwarder", description=__doc__)
    parser.add_argument("--config", required=True, help="JSON settings (written by the chart)")
    parser.add_argument("--metrics-namespace", required=True, help="CloudWatch namespace")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between scrapes")
    parser.add_argument("--cycles", type=int, help="stop after this many (default: run forever)")
    parser.add_argument("--kubernetes-url", help="API server (default: the in-cluster one)")
    args = parser.parse_args(argv)
    forwarder = Forwarder(Settings.from_json(json.loads(args.config)))
    settings = forwarder.settings
    api = KubernetesApi(args.kubernetes_url) if args.kubernetes_url else KubernetesApi.in_cluster()
    cloudwatch = boto3.client("cloudwatch")
    cycle = 0
    while args.cycles is None or cycle < args.cycles:
        started = time.monotonic()
        cycle += 1
        try:
            pods = api.server_pods(settings.namespace, names.COMPONENT_LABEL, names.SERVER_COMPONENT,
                                       names.VARIANT_LABEL)
            nodes = api.ready_nodes(settings.node_group)
            data, problems = forwarder.cycle(pods, nodes, scrape, datetime.now(UTC))
            publish(cloudwatch, args.metrics_namespace, data)
        except Exception as error:  # noqa: BLE001 - a monitor keeps running through a bad minute
            print(f"cycle {cycle}: skipped: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        else:
            ready = ", ".join(f"{v} {sum(p.ready for p in pods if p.variant == v)} ready"
                              for v in settings.variants)
            print(f"cycle {cycle}: {ready}, {nodes} Trn2 nodes ready, {len(data)} metrics put"
                  + "".join(f"\n  {p}" for p in problems), flush=True)
        if args.cycles is None or cycle < args.cycles:
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    return 0

if __name__ == "__main__":
    sys.exit(main())

"""Send a results document where the rest of SpecDec reads it: S3 and CloudWatch (boto3)."""

from __future__ import annotations

import re
from pathlib import Path

from specdec.bench.metrics import metric_data
from specdec.bench.results import Results
from specdec.validation import UserError

S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/(?P<prefix>.*))?$")
# PutMetricData takes up to 1,000 metrics per call (CloudWatch API reference); stay well below.
METRICS_PER_CALL = 500


class PublishError(UserError):
    """A destination SpecDec cannot write to; `str()` is one line."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key prefix ending in '/' or empty) of an s3://bucket/prefix URL."""
    match = S3_URL.match(url)
    if not match:
        raise PublishError(f"--upload {url!r}: not an S3 URL like s3://my-bucket/benchmarks/")
    prefix = (match.group("prefix") or "").strip("/")
    return match.group("bucket"), f"{prefix}/" if prefix else ""


# A run's folder is named after its start time; `results wait` (wait.py) reads it back.
RUN_FOLDER_TIME = "%Y%m%dT%H%M%SZ"


def run_folder(prefix: str, results: Results) -> str:
    """One folder per run, named by its start time, so runs sort by time and never overwrite."""
    environment = results.deployment.environment or "unnamed"
    return f"{prefix}{environment}/{results.started_at.strftime(RUN_FOLDER_TIME)}/"


def upload(session, url: str, results: Results, files: list[Path]) -> str:
    """Upload the results (and any extra files, like the load generator's log); the results URL."""
    bucket, prefix = parse_s3_url(url)
    folder = run_folder(prefix, results)
    s3 = session.client("s3")
    for path in files:
        s3.upload_file(str(path), bucket, folder + path.name)
    s3.put_object(Bucket=bucket, Key=folder + "results.json", ContentType="application/json",
                  Body=results.model_dump_json(indent=2).encode())
    return f"s3://{bucket}/{folder}results.json"


def put_metrics(session, namespace: str, results: Results) -> int:
    """Put every metric of the results; how many were sent."""
    data = metric_data(results)
    cloudwatch = session.client("cloudwatch")
    for start in range(0, len(data), METRICS_PER_CALL):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + METRICS_PER_CALL])
    return len(data)

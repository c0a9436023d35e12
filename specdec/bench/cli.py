"""`python -m specdec bench`: against any OpenAI-compatible servers, or on a deployed cluster (-e)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from specdec.arguments import number
from specdec.bench import defaults
from specdec.bench.loadgen import LoadGeneratorError
from specdec.bench.publish import PublishError, parse_s3_url
from specdec.bench.results import BASELINE_ROLE, SPECULATIVE_ROLE, Deployment, Variant
from specdec.bench.run import BenchError, BenchPlan, benchmark, wait_for_health, write_atomically
from specdec.bench.suites import SUITE_NAMES, SuiteError


def server_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1].strip("/")) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: an http(s) URL like http://host:8000")
    return text.rstrip("/").removesuffix("/v1")


def deployment(text: str) -> dict:
    """Deployment facts as JSON, inline or in a file (@path)."""
    source = text
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as error:
            raise argparse.ArgumentTypeError(f"{source}: cannot be read: {error.strerror}") from None
    try:
        facts = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error.msg}") from None
    known = set(Deployment.model_fields)
    if not isinstance(facts, dict) or set(facts) - known:
        raise argparse.ArgumentTypeError(
            f"{sorted(set(facts) - known) if isinstance(facts, dict) else facts!r} is not allowed: "
            f"a JSON object with keys among {', '.join(sorted(known))}")
    return facts


def add_parser(commands) -> None:
    bench = commands.add_parser(
        "bench", help="speculative vs baseline benchmark: against URLs, or on a deployed cluster (-e)",
        description="Run the same prompts with the same load against a speculative and a baseline "
        "server and write one results document (docs/benchmark.md).")
    where = bench.add_argument_group("where")
    where.add_argument("-e", "--env", help="run the benchmark Job on this environment's deployed "
                       "cluster (needs kubectl access) instead of against URLs")
    where.add_argument("--context", help="kubectl context with -e (default: the one `aws eks "
                       "update-kubeconfig` creates for the environment's cluster)")
    where.add_argument("--speculative-url", type=server_url, help="base URL of the speculative server")
    where.add_argument("--baseline-url", type=server_url, help="base URL of the baseline server")
    load = bench.add_argument_group("load (the same for both servers)")
    load.add_argument("--requests", type=number(int, 1), default=defaults.REQUESTS,
                      help=f"requests per suite and server (default {defaults.REQUESTS})")
    load.add_argument("--concurrency", type=number(int, 1), default=defaults.CONCURRENCY,
                      help=f"requests in flight (default {defaults.CONCURRENCY})")
    load.add_argument("--output-tokens", type=number(int, 2), default=defaults.OUTPUT_TOKENS,
                      help=f"max_tokens per request (default {defaults.OUTPUT_TOKENS})")
    load.add_argument("--temperature", type=number(float, 0, 2), default=defaults.TEMPERATURE,
                      help=f"sampling temperature (default {defaults.TEMPERATURE:g}: see docs/benchmark.md)")
    load.add_argument("--suite", action="append", choices=SUITE_NAMES, dest="suites",
                      help="prompt suite, repeatable (default: all)")
    out = bench.add_argument_group("results")
    out.add_argument("--out", type=Path, help="results JSON to write (required with URLs)")
    out.add_argument("--deployment", type=deployment, default={},
                     help="what serves the URLs, as JSON or @file, e.g. "
                     '\'{"instance_type": "trn2.48xlarge", "region": "us-east-2", "chips_per_server": 8}\'; '
                     "the report needs it for bandwidth and cost")
    out.add_argument("--upload", metavar="S3_URL", help="also upload the results under this s3:// prefix")
    out.add_argument("--cloudwatch-namespace", help="also put the results as CloudWatch metrics")
    out.add_argument("--wait-for-health", type=number(int, 0), default=0, metavar="SECONDS",
                     help="wait up to this long for both servers' /health (default 0: check once)")
    bench.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.env:
        if args.speculative_url or args.baseline_url or args.out:
            return _usage("-e runs the Job on the cluster: drop --speculative-url, --baseline-url "
                          "and --out, or drop -e to benchmark URLs from here")
        from specdec.bench.cluster import run_on_cluster

        return run_on_cluster(args.env, args.context)
    if not args.speculative_url or not args.out:
        return _usage("--speculative-url and --out are needed (or -e NAME for a deployed cluster)")
    if args.cloudwatch_namespace and not args.deployment.get("environment"):
        return _usage("--cloudwatch-namespace needs --deployment with an \"environment\": the "
                      "metrics' Environment dimension")
    try:
        if args.upload:
            parse_s3_url(args.upload)
        return _run_against_urls(args)
    except (BenchError, LoadGeneratorError, SuiteError, PublishError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1


def _run_against_urls(args: argparse.Namespace) -> int:
    variants = [Variant(name="speculative", role=SPECULATIVE_ROLE, url=args.speculative_url)]
    if args.baseline_url:
        variants.append(Variant(name="baseline", role=BASELINE_ROLE, url=args.baseline_url))
    plan = BenchPlan(variants=variants, suites=args.suites or list(SUITE_NAMES), requests=args.requests,
                     concurrency=args.concurrency, max_output_tokens=args.output_tokens,
                     temperature=args.temperature, deployment=args.deployment)
    progress = _printer()
    wait_for_health(variants, args.wait_for_health, progress)
    log = args.out.with_name(f"{args.out.stem}.guidellm.log")
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
    except OSError as error:
        raise BenchError(f"--out {args.out}: cannot write next to it: {error.strerror}") from None
    results = benchmark(plan, log, progress)
    write_atomically(args.out, results.model_dump_json(indent=2) + "\n")
    progress(f"results: {args.out} (load generator log: {log})")
    if args.upload or args.cloudwatch_namespace:
        _publish(args, results, log, progress)
    progress(f"next: python -m specdec report {args.out} --out {args.out.parent / 'report'}")
    return 0


def _publish(args: argparse.Namespace, results, log: Path, progress) -> None:
    import boto3  # only publishing talks to AWS
    from botocore.exceptions import BotoCoreError, ClientError

    from specdec.bench.publish import put_metrics, upload

    session = boto3.Session()
    try:
        if args.upload:
            progress(f"results: {upload(session, args.upload, results, [log])}")
        if args.cloudwatch_namespace:
            count = put_metrics(session, args.cloudwatch_namespace, results)
            progress(f"metrics: {count} data points in CloudWatch namespace {args.cloudwatch_namespace}")
    except (BotoCoreError, ClientError) as error:
        raise PublishError(f"{error} (the results are still in {args.out})") from None


def _printer():
    def progress(message: str) -> None:
        print(message, flush=True)
    return progress


def _usage(message: str) -> int:
    print(f"python -m specdec bench: {message}", file=sys.stderr)
    return 2



def since_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not allowed: an ISO time like 2026-12-01T10:00:00Z") from None
    # A time without a zone is UTC: CI runners and `date -u` both work in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_results_parser(commands) -> None:
    results = commands.add_parser("results", help="benchmark results in S3 (the e2e workflow waits on them)")
    actions = results.add_subparsers(dest="action", required=True, parser_class=type(results))
    wait = actions.add_parser(
        "wait", help="wait until a run that started after a time has written its results.json",
        description="Poll s3://BUCKET/benchmarks/ENV/ until a run started at or after --since has written "
        "results.json (the benchmark Job writes it last), printing one line per look.")
    wait.add_argument("-e", "--env", required=True, help="environment name: the runs' folder")
    wait.add_argument("--bucket", required=True, help="the stack output BenchmarkResultsBucketName")
    wait.add_argument("--since", type=since_time, required=True, metavar="ISO_TIME",
                      help="only runs that started at or after this (e.g. when the deploy started)")
    wait.add_argument("--timeout-minutes", type=number(int, 1, 1440), default=120, metavar="N",
                      help="give up after this long (default 120)")
    wait.add_argument("--poll-seconds", type=number(int, 5, 3600), default=60, metavar="N",
                      help="time between looks (default 60)")
    wait.add_argument("--out", type=Path, help="also download the results to this file")
    wait.set_defaults(run=_wait)


def _wait(args: argparse.Namespace) -> int:
    import time

    import boto3  # only this command talks to S3
    from botocore.exceptions import BotoCoreError, ClientError

    from specdec import names  # not in the benchmark pod, which never runs this command
    from specdec.bench.wait import wait_for_results

    prefix = f"{names.BENCHMARK_RESULTS_PREFIX}/{args.env}/"
    s3 = boto3.client("s3")

    def list_keys() -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    try:
        key = wait_for_results(list_keys, args.since, timeout_s=args.timeout_minutes * 60,
                               poll_s=args.poll_seconds, clock=time.monotonic, sleep=time.sleep,
                               progress=_printer(), where=f"s3://{args.bucket}/{prefix}")
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(args.bucket, key, str(args.out))
    except (BotoCoreError, ClientError) as error:
        print(f"results wait: s3://{args.bucket}/{prefix}: {error}", file=sys.stderr)
        return 1
    print(f"results: s3://{args.bucket}/{key}" + (f" (saved as {args.out})" if args.out else ""))
    return 0

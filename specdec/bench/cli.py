"""`python -m specdec bench`: against any OpenAI-compatible servers, or on a deployed cluster (-e)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from specdec import validation
from specdec.arguments import number
from specdec.bench import defaults
from specdec.bench.loadgen import LoadGeneratorError
from specdec.bench.publish import PublishError, parse_s3_url
from specdec.bench.results import (
    BASELINE_ROLE,
    NAME_PATTERN,
    SPECULATIVE_ROLE,
    VARIANT_FACTS,
    Deployment,
    Variant,
)
from specdec.bench.run import BenchError, BenchPlan, benchmark, wait_for_health, write_atomically
from specdec.bench.suites import SUITE_NAMES, SuiteError


def server_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1].strip("/")) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: an http(s) URL like http://host:8000")
    return text.rstrip("/").removesuffix("/v1")


def named_server(text: str) -> tuple[str, str]:
    """NAME=URL: a speculative server and the name its results, metrics and report carry."""
    name, equals, url = text.partition("=")
    if not equals or "://" in name:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: NAME=URL, like eagle3=http://host:8000")
    if not re.fullmatch(NAME_PATTERN, name):
        raise argparse.ArgumentTypeError(
            f"{name!r} is not allowed as a NAME: a DNS label (lower-case letters, digits and '-', at most "
            "63, starting and ending with a letter or digit), like eagle3")
    return name, server_url(url)


def baseline_server(text: str) -> tuple[str, str]:
    """URL, or NAME=URL for a baseline whose variant is not named baseline."""
    return named_server(text) if "=" in text.split("://", 1)[0] else ("baseline", server_url(text))


class _AddServer(argparse.Action):
    """Every server flag appends (name, role, URL) to one list, so variants run in the order given."""

    def __call__(self, parser, namespace, value, option_string=None):
        name, url = (SPECULATIVE_ROLE, value) if isinstance(value, str) else value
        servers = list(getattr(namespace, self.dest) or [])
        setattr(namespace, self.dest, [*servers, (name, self.const, url, option_string)])


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
    known = {*Deployment.model_fields, "variants"}
    if not isinstance(facts, dict) or set(facts) - known:
        raise argparse.ArgumentTypeError(
            f"{sorted(set(facts) - known) if isinstance(facts, dict) else facts!r} is not allowed: "
            f"a JSON object with keys among {', '.join(sorted(known))}")
    variants = facts.get("variants", {})
    if not isinstance(variants, dict) or not all(
            isinstance(v, dict) and set(v) <= set(VARIANT_FACTS) for v in variants.values()):
        raise argparse.ArgumentTypeError(
            f"variants = {json.dumps(variants)} is not allowed: an object of NAME: {{...}} with keys "
            f"among {', '.join(VARIANT_FACTS)}")
    return facts


def add_parser(commands) -> None:
    bench = commands.add_parser(
        "bench", help="speculative vs baseline benchmark: against URLs, or on a deployed cluster (-e)",
        description="Run the same prompts with the same load against one or more speculative servers "
        "and a baseline, one server at a time in the order given, and write one results document "
        "(docs/benchmark.md).")
    where = bench.add_argument_group("where")
    where.add_argument("-e", "--env", help="run the benchmark Job on this environment's deployed "
                       "cluster (needs kubectl access) instead of against URLs")
    where.add_argument("--context", help="kubectl context with -e (default: the one `aws eks "
                       "update-kubeconfig` creates for the environment's cluster)")
    where.add_argument("--speculative-url", type=server_url, action=_AddServer, dest="servers",
                       const=SPECULATIVE_ROLE, metavar="URL",
                       help="base URL of the speculative server (short for --variant speculative=URL)")
    where.add_argument("--variant", type=named_server, action=_AddServer, dest="servers",
                       const=SPECULATIVE_ROLE, metavar="NAME=URL",
                       help="a named speculative server, repeatable: each is compared with the baseline")
    where.add_argument("--baseline-url", type=baseline_server, action=_AddServer, dest="servers",
                       const=BASELINE_ROLE, metavar="[NAME=]URL",
                       help="base URL of the baseline server, without speculation (name: baseline)")
    load = bench.add_argument_group("load (the same for every server)")
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
                     "the report needs it for bandwidth and cost; \"variants\": {NAME: {\"engine\": ..., "
                     "\"draft_model\": ..., \"num_speculative_tokens\": ...}} describes each server")
    out.add_argument("--upload", metavar="S3_URL", help="also upload the results under this s3:// prefix")
    out.add_argument("--cloudwatch-namespace", help="also put the results as CloudWatch metrics")
    out.add_argument("--wait-for-health", type=number(int, 0), default=0, metavar="SECONDS",
                     help="wait up to this long for every server's /health (default 0: check once)")
    bench.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    servers = args.servers or []
    if args.env:
        if servers or args.out:
            return _usage("-e runs the Job on the cluster: drop --speculative-url, --variant, "
                          "--baseline-url and --out, or drop -e to benchmark URLs from here")
        from specdec.bench.cluster import run_on_cluster

        return run_on_cluster(args.env, args.context)
    if not any(role == SPECULATIVE_ROLE for _, role, _, _ in servers) or not args.out:
        return _usage("--speculative-url and --out are needed (or --variant NAME=URL for named "
                      "speculative servers, or -e NAME for a deployed cluster)")
    try:
        args.variants = _variants(servers, args.deployment.get("variants", {}))
        args.deployment = {k: v for k, v in args.deployment.items() if k != "variants"}
    except ValueError as error:
        return _usage(str(error))
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


def _variants(servers: list[tuple[str, str, str, str]], facts: dict) -> list[Variant]:
    """The variants in the order given, each with what --deployment's "variants" says served it;
    ValueError (one line) for a name given twice, a second baseline or facts about no variant."""
    def given(name: str, flag: str) -> str:
        shorthand = {"--speculative-url": SPECULATIVE_ROLE, "--baseline-url": BASELINE_ROLE}
        return flag if shorthand.get(flag) == name else f"{flag} {name}=URL"

    seen: dict[str, str] = {}
    for name, _, _, flag in servers:
        if name in seen:
            raise ValueError(f"{given(name, flag)}: the name {name!r} is also given by {seen[name]}: "
                             "each variant name once")
        seen[name] = given(name, flag)
    if sum(role == BASELINE_ROLE for _, role, _, _ in servers) > 1:
        raise ValueError("--baseline-url is given twice: at most one baseline, which every "
                         "speculative variant is compared with")
    unknown = sorted(set(facts) - set(seen))
    if unknown:
        raise ValueError(f"--deployment: variants.{unknown[0]} is not allowed: the name of a server given "
                         f"here ({', '.join(seen)})")
    variants = []
    for name, role, url, _ in servers:
        try:
            variants.append(Variant(name=name, role=role, url=url, **facts.get(name, {})))
        except ValidationError as error:
            path, value, allowed = validation.problems(error)[0]
            raise ValueError(validation.line("--deployment", f"variants.{name}.{path}", value,
                                             allowed)) from None
        if role == BASELINE_ROLE:
            speculating = [k for k in ("draft_model", "num_speculative_tokens", "speculative_method")
                           if facts.get(name, {}).get(k) is not None]
            if speculating:
                raise ValueError(validation.line("--deployment", f"variants.{name}.{speculating[0]}",
                                                 facts[name][speculating[0]],
                                                 "null on the baseline: it does not speculate"))
    return variants


def _run_against_urls(args: argparse.Namespace) -> int:
    variants = args.variants
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

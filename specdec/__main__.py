"""`python -m specdec <command>`: the project's command line for everything that is not CDK.

Each command imports what it needs when it runs: `bench` runs in the benchmark Job's pod, which
holds only specdec/bench and this file, and `manifests` starts a jsii runtime.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from specdec.validation import UserError


class _Parser(argparse.ArgumentParser):
    """A mistake in the arguments is one line naming the command, not a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _validate(args: argparse.Namespace) -> int:
    from specdec.config import load_environment

    environment = load_environment(args.env)
    print(f"environments/{args.env}.json is valid: stack {environment.stack_name} in {environment.region}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from specdec.summary import summarize

    print(summarize(Path(args.outdir)))
    return 0


def _env_table(args: argparse.Namespace) -> int:
    from specdec.reference import environment_table, update_readme

    if args.write:
        if not args.write.is_file():
            raise SystemExit(f"{args.write}: no such file")
        args.write.write_text(update_readme(args.write.read_text()))
        print(f"updated the environment-key table in {args.write}")
    else:
        print(environment_table())
    return 0


def _results_schema(args: argparse.Namespace) -> int:
    from specdec.bench.results import SCHEMA_PATH, json_schema

    if args.write:
        SCHEMA_PATH.write_text(json_schema())
        print(f"wrote {SCHEMA_PATH}")
    else:
        print(json_schema(), end="")
    return 0


def _manifests(args: argparse.Namespace) -> int:
    import cdk8s  # starts a jsii runtime: only for the commands that synthesize

    from k8s.benchmark import BenchmarkChart
    from k8s.metrics_forwarder import MetricsForwarderChart
    from k8s.namespace import NamespaceChart
    from k8s.serving import ServingChart
    from specdec.config import load_environment

    environment = load_environment(args.env)
    app = cdk8s.App(outdir=args.outdir, yaml_output_type=cdk8s.YamlOutputType.FILE_PER_CHART)
    NamespaceChart(app, "namespace", namespace=environment.serving.namespace)
    ServingChart.for_environment(app, "serving", environment)
    BenchmarkChart.for_environment(app, "benchmark", environment, results_bucket=args.results_bucket)
    if environment.monitoring.enabled:
        MetricsForwarderChart(app, "metrics-forwarder", environment=environment)
    app.synth()
    for path in sorted(Path(args.outdir).glob("*.yaml")):
        print(path)
    return 0


def _preflight(args: argparse.Namespace) -> int:
    import boto3  # only this command talks to AWS
    from botocore.exceptions import ProfileNotFound

    from specdec import preflight
    from specdec.config import load_environment

    environment = load_environment(args.env)
    try:
        session = boto3.Session(profile_name=args.profile)
    except ProfileNotFound:
        print(f"--profile {args.profile}: no such AWS profile (see `aws configure list-profiles`)",
              file=sys.stderr)
        return 2
    if session.get_credentials() is None:
        print("no AWS credentials found: set AWS_PROFILE (or pass --profile) or run `aws configure`",
              file=sys.stderr)
        return 2
    results = preflight.run(environment, session)
    print(preflight.report(f"environments/{args.env}.json", environment, results))
    return 1 if any(r.status == "FAIL" for r in results) else 0


def _parser() -> argparse.ArgumentParser:
    from specdec.bench import cli as bench_cli
    from specdec.janitor import cli as janitor_cli
    from specdec.plan import cli as plan_cli
    from specdec.report import cli as report_cli
    from specdec.tune import cli as tune_cli

    parser = _Parser(prog="python -m specdec", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    validate = commands.add_parser("validate", help="check an environment file and exit")
    validate.add_argument("-e", "--env", default="dev", help="environment name (default: dev)")
    validate.set_defaults(run=_validate)
    summary = commands.add_parser("summary", help="describe a synthesized cloud assembly")
    summary.add_argument("outdir", nargs="?", default="cdk.out", help="cloud assembly (default: cdk.out)")
    summary.set_defaults(run=_summary)
    table = commands.add_parser("env-table", help="print the README's table of environment keys")
    table.add_argument("--write", type=Path, metavar="README", help="replace the table in this file")
    table.set_defaults(run=_env_table)
    schema = commands.add_parser("results-schema", help="print the JSON Schema of benchmark results")
    schema.add_argument("--write", action="store_true", help="write it to specdec/bench/results.schema.json")
    schema.set_defaults(run=_results_schema)
    manifests = commands.add_parser(
        "manifests", help="write the Kubernetes manifests as plain YAML, one file per chart (GitOps)")
    manifests.add_argument("-e", "--env", default="dev", help="environment name (default: dev)")
    manifests.add_argument("-o", "--outdir", default="dist/manifests",
                           help="output folder (default: dist/manifests)")
    manifests.add_argument("--results-bucket", default="RESULTS_BUCKET",
                           help="bucket the benchmark uploads to (stack output BenchmarkResultsBucketName)")
    manifests.set_defaults(run=_manifests)
    check = commands.add_parser(
        "preflight", help="read-only checks of the AWS account (credentials, zones, Trn2 offering, "
        "reservation, CDK bootstrap) before a deploy")
    check.add_argument("-e", "--env", default="dev", help="environment name (default: dev)")
    check.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    check.set_defaults(run=_preflight)
    plan_cli.add_parser(commands)
    bench_cli.add_parser(commands)
    bench_cli.add_results_parser(commands)
    report_cli.add_parser(commands)
    tune_cli.add_parser(commands)
    janitor_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Commands that build charts start jsii; keep its Node end-of-life banner out of their output.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

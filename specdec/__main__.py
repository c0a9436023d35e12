"""`python -m specdec <command>`: the project's command line for everything that is not CDK."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from specdec.config import ConfigError, load_environment
from specdec.summary import summarize


def _validate(args: argparse.Namespace) -> int:
    environment = load_environment(args.env)
    print(f"environments/{args.env}.json is valid: stack {environment.stack_name} in {environment.region}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    print(summarize(Path(args.outdir)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m specdec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check an environment file and exit")
    validate.add_argument("-e", "--env", default="dev", help="environment name (default: dev)")
    validate.set_defaults(run=_validate)
    summary = commands.add_parser("summary", help="describe a synthesized cloud assembly")
    summary.add_argument("outdir", nargs="?", default="cdk.out", help="cloud assembly (default: cdk.out)")
    summary.set_defaults(run=_summary)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

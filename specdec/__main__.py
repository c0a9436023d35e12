"""`python -m specdec <command>`: the project's command line for everything that is not CDK."""

from __future__ import annotations

import argparse
import sys

from specdec.config import ConfigError, load_environment


def _validate(args: argparse.Namespace) -> int:
    environment = load_environment(args.env)
    print(f"environments/{args.env}.json is valid: stack {environment.stack_name} in {environment.region}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m specdec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check an environment file and exit")
    validate.add_argument("-e", "--env", default="dev", help="environment name (default: dev)")
    validate.set_defaults(run=_validate)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

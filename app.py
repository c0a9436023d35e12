#!/usr/bin/env python3
"""CDK entry point: `cdk synth|diff|deploy|destroy SpecDecStack -c env=NAME` (default: dev)."""

import sys

import aws_cdk as cdk

from specdec.config import ConfigError, load_environment
from stacks.assembly import build_app

DEFAULT_ENVIRONMENT = "dev"


def main() -> None:
    env_name = cdk.App().node.try_get_context("env") or DEFAULT_ENVIRONMENT
    try:
        environment = load_environment(env_name)
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
    app, _ = build_app(environment)
    app.synth()


if __name__ == "__main__":
    main()

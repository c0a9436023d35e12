#!/usr/bin/env python3
"""CDK entry point: `cdk synth|diff|deploy|destroy SpecDecStack -c env=NAME` (default: dev)."""

import os
import sys

# jsii prints a dozen-line Node end-of-life banner on Node 20, which would bury the one-line
# errors below; this only silences that banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402

from specdec.config import ConfigError, load_environment  # noqa: E402
from specdec.validation import UserError  # noqa: E402
from stacks import ci_role_stack  # noqa: E402
from stacks.assembly import build_app  # noqa: E402

DEFAULT_ENVIRONMENT = "dev"


def main() -> None:
    env_name = cdk.App().node.try_get_context("env") or DEFAULT_ENVIRONMENT
    try:
        environment = load_environment(env_name)
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
    app, _ = build_app(environment)
    # The CI role exists only for a named repository: without it there is nothing to trust.
    repository = app.node.try_get_context("github_repository")
    if repository:
        try:
            ci_role_stack.SpecDecCiRoleStack(
                app, ci_role_stack.STACK_ID, environment=environment, repository=repository,
                oidc_provider_arn=app.node.try_get_context("github_oidc_provider_arn"))
        except UserError as error:
            print(error, file=sys.stderr)
            sys.exit(1)
    app.synth()


if __name__ == "__main__":
    main()

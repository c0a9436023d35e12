"""Builds the CDK app for one validated environment; shared by app.py, the CLI and the tests."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from specdec.config import Environment
from stacks.specdec_stack import SpecDecStack

STACK_ID = "SpecDecStack"


def build_app(environment: Environment, outdir: str | None = None) -> tuple[cdk.App, SpecDecStack]:
    app = cdk.App(outdir=outdir, context={"env": environment.name})
    stack = SpecDecStack(app, STACK_ID, environment=environment)
    # cdk-nag runs as a policy-validation plugin: an unacknowledged finding fails the synth.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    # aws-cdk-lib's own CloudFormation validation plugin runs on every synth as well.
    cdk.Validations.of(stack).acknowledge(cdk.Acknowledgment(
        id="CloudFormation-Validate::W3010",
        reason="Zones are named on purpose: Trn2 is offered only in some zones of a region, and the "
               "Trn2 nodes must share the single-zone FSx for Lustre file system's zone.",
    ))
    return app, stack

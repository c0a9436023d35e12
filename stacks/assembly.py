"""Builds the CDK app for one validated environment; shared by app.py, the CLI and the tests."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from specdec.config import Environment
from stacks.specdec_stack import SpecDecStack

STACK_ID = "SpecDecStack"
# cdk.json's context (feature flags): the CLI passes it to app.py; in-process synths (tests, the
# CLI's `manifests`) get it here, so they build exactly what `cdk deploy` builds.
PROJECT_CONTEXT = json.loads((Path(__file__).resolve().parent.parent / "cdk.json").read_text())["context"]


def build_app(environment: Environment, outdir: str | None = None) -> tuple[cdk.App, SpecDecStack]:
    # The CLI's own context (CDK_CONTEXT_JSON) still takes precedence over these.
    app = cdk.App(outdir=outdir, context={**PROJECT_CONTEXT, "env": environment.name})
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

"""cdk-nag acknowledgments, each with the reason a reviewer needs to accept it."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Accept one AwsSolutions finding (full id, e.g. 'AwsSolutions-IAM4[Policy::...]') under scope."""
    cdk.Validations.of(scope).acknowledge(
        cdk.Acknowledgment(id=f"AwsSolutions::{finding}", reason=reason)
    )


def managed_policy(name: str) -> str:
    """The IAM4 finding id for an AWS managed policy attached under a scope."""
    return f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]"

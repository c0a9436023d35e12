"""One removal policy for every CloudWatch log group of the stack.

aws-cdk-lib creates log groups for its own Lambdas (the kubectl provider) with a Retain policy;
an environment that should leave nothing behind on `cdk destroy` needs them deleted too, and one
that keeps its logs (prod) should keep all of them, flow logs included.
"""

from __future__ import annotations

import jsii
from aws_cdk import IAspect, RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import IConstruct


@jsii.implements(IAspect)
class LogGroupRemovalPolicy:
    def __init__(self, policy: RemovalPolicy) -> None:
        self._policy = policy

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup):
            node.apply_removal_policy(self._policy)

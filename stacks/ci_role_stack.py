"""SpecDecCiRoleStack: the role GitHub Actions assumes through OIDC to run the e2e workflow.

Deployed once per account and environment, by hand, with credentials that may create IAM roles:
`npx cdk deploy SpecDecCiRole -c env=ci -c github_repository=OWNER/REPO`. Only the e2e job of
that repository, running in the GitHub environment `specdec-<env>`, can assume it; it holds no
long-lived key. It deploys through the CDK bootstrap roles (CloudFormation then acts with the
bootstrap's execution role), so it needs no permission on the stack's resources itself.
"""

from __future__ import annotations

import re

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import Environment as AwsEnvironment
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.nag import acknowledge
from specdec import names
from specdec.config import Environment
from specdec.preflight import BOOTSTRAP_VERSION_PARAMETER
from specdec.validation import UserError

STACK_ID = "SpecDecCiRole"
GITHUB_ISSUER = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
# The CDK CLI's roles from `cdk bootstrap` (default qualifier): deploy (CloudFormation calls and
# the stack's outputs), file-publishing (assets to the staging bucket), lookup (context lookups).
BOOTSTRAP_ROLES = ("deploy-role", "file-publishing-role", "lookup-role")
# A deploy, the benchmark's wait and the teardown run in one job of at most 6 hours.
SESSION = Duration.hours(6)


def github_environment(environment: Environment) -> str:
    """The GitHub environment the e2e job runs in; the role trusts only this subject."""
    return f"specdec-{environment.name}"


class SpecDecCiRoleStack(Stack):
    def __init__(self, scope: Construct, id: str, *, environment: Environment, repository: str,
                 oidc_provider_arn: str | None = None) -> None:
        if not REPOSITORY.match(repository):
            raise UserError(f"-c github_repository={repository!r} is not allowed: OWNER/REPO, as in the "
                            "repository's GitHub URL")
        super().__init__(
            scope, id,
            stack_name=f"{environment.stack_name}-ci-role",
            env=AwsEnvironment(account=environment.account, region=environment.region),
            description=f"SpecDec ({environment.name}): the role GitHub Actions assumes for the e2e run",
        )
        self._env = environment
        provider_arn = oidc_provider_arn or iam.CfnOIDCProvider(
            self, "GitHubOidc", url=f"https://{GITHUB_ISSUER}", client_id_list=[GITHUB_AUDIENCE],
        ).attr_arn
        self.subject = f"repo:{repository}:environment:{github_environment(environment)}"
        self.role = iam.Role(
            self, "Role",
            role_name=f"{environment.stack_name}-github-e2e",
            description=f"GitHub Actions e2e of {repository} (environment {github_environment(environment)})",
            max_session_duration=SESSION,
            assumed_by=iam.WebIdentityPrincipal(provider_arn, conditions={"StringEquals": {
                f"{GITHUB_ISSUER}:aud": GITHUB_AUDIENCE,
                f"{GITHUB_ISSUER}:sub": self.subject,
            }}),
        )
        for statement in [*self._deploy(), *self._results(), *self._preflight(), *self._janitor()]:
            self.role.add_to_policy(statement)
        self._acknowledge()
        CfnOutput(self, "RoleArn", value=self.role.role_arn,
                  description="The secret SPECDEC_CI_ROLE_ARN of the e2e workflow's GitHub environment")

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        region_part = self._env.region if region else ""
        return f"arn:aws:{service}:{region_part}:{self._env.account}:{resource}"

    def _deploy(self) -> list[iam.PolicyStatement]:
        account, region = self._env.account, self._env.region
        return [iam.PolicyStatement(
            actions=["sts:AssumeRole", "sts:TagSession"],
            resources=[f"arn:aws:iam::{account}:role/cdk-hnb659fds-{role}-{account}-{region}"
                       for role in BOOTSTRAP_ROLES],
        )]

    def _results(self) -> list[iam.PolicyStatement]:
        """Read this environment's benchmark results (`results wait`)."""
        buckets = f"arn:aws:s3:::{self._env.stack_name}-*"
        prefix = f"{names.BENCHMARK_RESULTS_PREFIX}/{self._env.name}/"
        return [
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[buckets],
                                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}}),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{buckets}/{prefix}*"]),
        ]

    def _preflight(self) -> list[iam.PolicyStatement]:
        """specdec/preflight.py's read-only calls (STS GetCallerIdentity needs no permission)."""
        cache = self._env.model_cache
        statements = [
            iam.PolicyStatement(actions=["ec2:DescribeAvailabilityZones", "ec2:DescribeInstanceTypeOfferings",
                                         "ec2:DescribeCapacityReservations"], resources=["*"]),
            iam.PolicyStatement(actions=["ssm:GetParameter"],
                                resources=[self._arn("ssm", f"parameter{BOOTSTRAP_VERSION_PARAMETER}")]),
        ]
        if cache.hf_token_secret_name:
            statements.append(iam.PolicyStatement(
                actions=["secretsmanager:DescribeSecret"],
                resources=[self._arn("secretsmanager", f"secret:{cache.hf_token_secret_name}-??????")]))
        if cache.existing_bucket_name:  # HeadBucket is authorized as s3:ListBucket
            statements.append(iam.PolicyStatement(actions=["s3:ListBucket"],
                                                  resources=[f"arn:aws:s3:::{cache.existing_bucket_name}"]))
        return statements

    def _janitor(self) -> list[iam.PolicyStatement]:
        """specdec/janitor's calls: it lists everything, and deletes only what is this environment's."""
        if not self._env.tags:
            raise UserError(f"environments/{self._env.name}.json: tags = {{}} is not allowed for the CI "
                            "role: its deletes are limited to resources with the environment's tags")
        owned = {"StringEquals": {f"aws:ResourceTag/{key}": value for key, value in self._env.tags.items()}}
        return [
            iam.PolicyStatement(actions=[
                "cloudformation:DescribeStacks", "ec2:DescribeVolumes", "ec2:DescribeVpcs",
                "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups",
                "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTags", "logs:DescribeLogGroups", "cloudwatch:DescribeAlarms",
                "cloudwatch:ListDashboards", "cloudwatch:GetDashboard", "tag:GetResources", "kms:DescribeKey",
            ], resources=["*"]),
            iam.PolicyStatement(actions=[
                "ec2:DeleteVolume", "ec2:DeleteSecurityGroup", "ec2:RevokeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupEgress", "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:DeleteTargetGroup", "cloudwatch:DeleteAlarms",
            ], resources=["*"], conditions=owned),
            # Interfaces that load balancers and the VPC CNI leave behind carry no tags of ours;
            # an attached interface cannot be deleted, so this reaches only orphans.
            iam.PolicyStatement(actions=["ec2:DeleteNetworkInterface"],
                                resources=[self._arn("ec2", "network-interface/*")]),
            # EKS and Lambda create their log groups untagged; the stack's name is in every one.
            iam.PolicyStatement(actions=["logs:DeleteLogGroup"],
                                resources=[self._arn("logs", f"log-group:*{self._env.stack_name}*")]),
            iam.PolicyStatement(actions=["cloudwatch:DeleteDashboards"],
                                resources=[self._arn("cloudwatch", f"dashboard/{self._env.stack_name}*",
                                                     region=False)]),
        ]

    def _acknowledge(self) -> None:
        acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]",
                    "Only for calls that take no resource ARN: EC2, ELB, Logs and CloudWatch Describe/List, "
                    "tag:GetResources and kms:DescribeKey (read-only), and deletes that the "
                    "aws:ResourceTag condition limits to this environment's tags.")
        findings = {
            f"arn:aws:s3:::{self._env.stack_name}-*": "The results bucket's name is generated by "
            "CloudFormation from the stack name; ListBucket is limited to the results prefix by s3:prefix.",
            f"arn:aws:s3:::{self._env.stack_name}-*/{names.BENCHMARK_RESULTS_PREFIX}/{self._env.name}/*":
            "Each benchmark run writes a new folder named by its start time; read-only.",
            self._arn("ec2", "network-interface/*"): "Orphaned interfaces of load balancers and the VPC CNI "
            "are untagged; attached interfaces cannot be deleted, so only orphans are reachable.",
            self._arn("logs", f"log-group:*{self._env.stack_name}*"): "EKS and Lambda name their log groups "
            "after the cluster and functions, which carry the stack name; they are created untagged.",
            self._arn("cloudwatch", f"dashboard/{self._env.stack_name}*", region=False): "Dashboards carry "
            "no tags; the stack name prefixes every dashboard SpecDec creates.",
        }
        for resource, reason in findings.items():
            acknowledge(self.role, f"AwsSolutions-IAM5[Resource::{resource}]", reason)

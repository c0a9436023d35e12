"""The benchmark: its results bucket, its Pod Identity role, and the Job and CronJob that run it."""

from __future__ import annotations

import cdk8s
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct, IDependable

from cdk_constructs.cluster import Cluster
from cdk_constructs.nag import acknowledge
from cdk_constructs.pod_identity import allow_put_metric_data, associate, pod_identity_role
from k8s.benchmark import BenchmarkChart
from specdec import names
from specdec.config import Environment


class Benchmark(Construct):
    def __init__(self, scope: Construct, id: str, *, cluster: Cluster, charts: cdk8s.App,
                 environment: Environment, after: list[IDependable]) -> None:
        super().__init__(scope, id)
        removal = RemovalPolicy.RETAIN if environment.benchmark.retain_results else RemovalPolicy.DESTROY
        self.bucket = s3.Bucket(
            self, "Results",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal,
            auto_delete_objects=removal == RemovalPolicy.DESTROY,
        )
        acknowledge(self.bucket, "AwsSolutions-S1",
                    "The bucket holds benchmark results (latencies and token counts, no prompts' answers "
                    "or user data), written by one Pod Identity role; CloudTrail records the API calls, "
                    "and access logs would need a second bucket per environment.")
        self.results_prefix = f"{names.BENCHMARK_RESULTS_PREFIX}/{environment.name}/"
        role = self._role(environment)
        association = associate(self, "Identity", cluster=cluster, namespace=environment.serving.namespace,
                                service_account=names.BENCHMARK_SERVICE_ACCOUNT, role=role)

        chart = BenchmarkChart.for_environment(charts, "benchmark", environment,
                                               results_bucket=self.bucket.bucket_name)
        self.manifest = cluster.cluster.add_cdk8s_chart("Benchmark", chart)
        # The pod gets credentials only if its association exists when it starts; and the servers
        # (and their namespace) come first, so on destroy the benchmark goes before them.
        self.manifest.node.add_dependency(association, *after)

    def _role(self, environment: Environment) -> iam.Role:
        """Write results under this environment's prefix and put metrics in SpecDec's namespace."""
        role = pod_identity_role(self, "Role", "Benchmark Job: uploads results, puts CloudWatch metrics")
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject"],
            resources=[self.bucket.arn_for_objects(f"{self.results_prefix}*")],
        ))
        allow_put_metric_data(role, names.BENCHMARK_METRICS_NAMESPACE)
        acknowledge(role, f"AwsSolutions-IAM5[Resource::<{self._bucket_logical_id()}.Arn>/"
                          f"{self.results_prefix}*]",
                    "Each run writes a new folder named by its start time under this environment's "
                    "results prefix; the object names are not known in advance.")
        return role

    def _bucket_logical_id(self) -> str:
        return Stack.of(self).get_logical_id(self.bucket.node.default_child)

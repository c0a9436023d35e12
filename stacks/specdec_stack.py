"""SpecDecStack: composes the constructs for one environment; holds no resource logic itself."""

from __future__ import annotations

import cdk8s
from aws_cdk import CfnOutput, RemovalPolicy, Stack, Tags
from aws_cdk import Environment as AwsEnvironment
from constructs import Construct

from cdk_constructs.cluster import Cluster
from cdk_constructs.network import Network
from k8s.namespace import NamespaceChart
from specdec.config import Environment


class SpecDecStack(Stack):
    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(
            scope, id,
            stack_name=environment.stack_name,
            env=AwsEnvironment(account=environment.account, region=environment.region),
            description=f"SpecDec ({environment.name}): speculative decoding with vLLM on EKS Trainium2",
        )
        self._zones = list(environment.availability_zones)
        for key, value in environment.tags.items():
            Tags.of(self).add(key, value)

        # Logs, keys and the cluster hold nothing a redeploy cannot recreate: teardown removes them.
        ephemeral = RemovalPolicy.DESTROY
        network = Network(self, "Network", settings=environment.network,
                          availability_zones=self._zones, removal_policy=ephemeral)
        cluster = Cluster(self, "Cluster", settings=environment.cluster, vpc=network.vpc,
                          cluster_name=environment.stack_name, removal_policy=ephemeral)
        # cdk8s charts render into this app; the cluster applies each one as a manifest.
        charts = cdk8s.App()
        namespace = cluster.cluster.add_cdk8s_chart(
            "ServingNamespace", NamespaceChart(charts, "namespace", namespace=environment.serving.namespace)
        )

        CfnOutput(self, "ClusterName", value=cluster.cluster.cluster_name)
        CfnOutput(
            self, "UpdateKubeconfigCommand",
            description="Run this to point kubectl at the cluster",
            value=f"aws eks update-kubeconfig --region {environment.region} "
                  f"--name {environment.stack_name}",
        )

    @property
    def availability_zones(self) -> list[str]:
        # Zones come from the environment file, so synth never looks them up in the account.
        return self._zones

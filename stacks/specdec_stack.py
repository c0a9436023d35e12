"""SpecDecStack: composes the constructs for one environment; holds no resource logic itself."""

from __future__ import annotations

import cdk8s
from aws_cdk import Aspects, CfnOutput, RemovalPolicy, Stack, Tags
from aws_cdk import Environment as AwsEnvironment
from constructs import Construct

from cdk_constructs.accelerator_capacity import AcceleratorCapacity
from cdk_constructs.benchmark import Benchmark
from cdk_constructs.cluster import Cluster
from cdk_constructs.dashboard import ServingDashboard
from cdk_constructs.load_balancer_controller import LoadBalancerController
from cdk_constructs.log_retention import LogGroupRemovalPolicy
from cdk_constructs.metrics_pipeline import MetricsPipeline
from cdk_constructs.model_cache import CacheConsumers, ModelCache
from cdk_constructs.network import Network
from cdk_constructs.neuron import NeuronSoftware
from cdk_constructs.tagging import TagUnmanagedResources
from cdk_constructs.workload import Workload
from k8s.namespace import NamespaceChart
from specdec import names
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
        Aspects.of(self).add(TagUnmanagedResources(environment.tags))

        # Keys and the cluster hold nothing a redeploy cannot recreate: teardown removes them.
        ephemeral = RemovalPolicy.DESTROY
        Aspects.of(self).add(LogGroupRemovalPolicy(
            RemovalPolicy.RETAIN if environment.retain_logs else RemovalPolicy.DESTROY))
        network = Network(self, "Network", settings=environment.network, availability_zones=self._zones)
        cluster = Cluster(self, "Cluster", settings=environment.cluster, vpc=network.vpc,
                          cluster_name=environment.stack_name, removal_policy=ephemeral)
        accelerators = AcceleratorCapacity(
            self, "Accelerators", settings=environment.accelerators, cluster=cluster,
            nodegroup_name=environment.accelerator_nodegroup_name)
        monitoring = environment.monitoring.enabled
        # Exactly one neuron-monitor per node: with monitoring on, the CloudWatch add-on brings its own.
        NeuronSoftware(self, "Neuron", cluster=cluster.cluster,
                       neuron_monitor=environment.accelerators.neuron_monitor and not monitoring)
        # cdk8s charts render into this app; the cluster applies each one as a manifest.
        charts = cdk8s.App()
        namespace = cluster.cluster.add_cdk8s_chart(
            "ServingNamespace", NamespaceChart(charts, "namespace", namespace=environment.serving.namespace)
        )
        serving = environment.serving
        model_cache = ModelCache(self, "ModelCache", settings=environment.model_cache, vpc=network.vpc,
                   availability_zone=environment.accelerators.availability_zone, cluster=cluster,
                   consumers=CacheConsumers(serving.namespace, serving.models()),
                   charts=charts, namespace_manifest=namespace,
                   csi_driver_version=environment.cluster.addon_versions.fsx_csi_driver)
        # Only with serving.internal_load_balancer: the controller that makes the servers' NLBs.
        controller_chart = (LoadBalancerController(self, "LoadBalancerController", cluster=cluster,
                                                   tags=environment.tags).chart
                            if serving.internal_load_balancer else None)
        workload = Workload(self, "Workload", cluster=cluster.cluster, charts=charts,
                            environment=environment, namespace=namespace,
                            model_cache=model_cache.manifest, load_balancer_controller=controller_chart)
        benchmark = Benchmark(self, "Benchmark", cluster=cluster, charts=charts, environment=environment,
                              after=[namespace, workload.manifest])
        if monitoring:
            MetricsPipeline(self, "Metrics", cluster=cluster, charts=charts, environment=environment,
                            after=[namespace, workload.manifest])
            dashboard = ServingDashboard(self, "Dashboard", environment=environment,
                                         file_system_id=model_cache.file_system.file_system_id)

        CfnOutput(self, "ClusterName", value=cluster.cluster.cluster_name)
        CfnOutput(
            self, "UpdateKubeconfigCommand",
            description="Run this to point kubectl at the cluster",
            value=f"aws eks update-kubeconfig --region {environment.region} "
                  f"--name {environment.stack_name}",
        )
        CfnOutput(self, "ModelBucketName", value=model_cache.bucket.bucket_name,
                  description="Holds weights and compiled graphs; to reuse a kept bucket, set "
                              "model_cache.existing_bucket_name to this")
        CfnOutput(self, "BenchmarkResultsBucketName", value=benchmark.bucket.bucket_name,
                  description="Benchmark results, one folder per run under "
                              f"{benchmark.results_prefix}")
        CfnOutput(
            self, "BenchmarkCommand",
            description="Run the benchmark on demand; it prints where the results went",
            value=f"python -m specdec bench -e {environment.name}",
        )
        if monitoring:
            CfnOutput(self, "DashboardUrl", description="The environment's CloudWatch dashboard",
                      value=f"https://{environment.region}.console.aws.amazon.com/cloudwatch/home?region="
                            f"{environment.region}#dashboards/dashboard/{dashboard.dashboard_name}")
            CfnOutput(self, "AlarmTopicArn", value=dashboard.topic.topic_arn,
                      description="SNS topic the alarms notify; subscribe more endpoints to it")
        CfnOutput(self, "SystemNodegroupName", value=cluster.system_nodegroup.nodegroup_name)
        CfnOutput(self, "AcceleratorNodegroupName", value=accelerators.nodegroup.nodegroup_name)
        if serving.internal_load_balancer:
            CfnOutput(
                self, "InternalLoadBalancersCommand",
                description="Run this for the DNS names of the servers' internal NLBs (port "
                            f"{names.SERVING_PORT}, reachable from inside the VPC)",
                value=internal_load_balancers_command(environment),
            )

    @property
    def availability_zones(self) -> list[str]:
        # Zones come from the environment file, so synth never looks them up in the account.
        return self._zones


def internal_load_balancers_command(environment: Environment) -> str:
    serving = environment.serving
    services = " ".join(names.load_balancer_service_name(v.name) for v in serving.resolved_variants())
    return (f"kubectl -n {serving.namespace} get svc {services} "
            "-o custom-columns=NAME:.metadata.name,DNS:.status.loadBalancer.ingress[0].hostname")

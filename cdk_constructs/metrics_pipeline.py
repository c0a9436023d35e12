"""Metrics to CloudWatch: the CloudWatch Observability add-on and SpecDec's metrics forwarder.

- The `amazon-cloudwatch-observability` add-on runs Container Insights with enhanced observability
  and, on Trn2 nodes, its own neuron-monitor DaemonSet, whose NeuronCore, HBM and error metrics
  it publishes as `node_neuron*` in the ContainerInsights namespace (docs/monitoring.md).
- The forwarder (k8s/metrics_forwarder.py) turns vLLM's Prometheus histograms into CloudWatch
  percentiles, which neither the CloudWatch agent nor ADOT's EMF exporter can.
"""

from __future__ import annotations

import json

import cdk8s
from aws_cdk import aws_eks as eks_l1
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct, IDependable

from cdk_constructs.cluster import Cluster
from cdk_constructs.nag import acknowledge, managed_policy
from cdk_constructs.pod_identity import allow_put_metric_data, associate, pod_identity_role
from k8s.metrics_forwarder import MetricsForwarderChart
from specdec import names
from specdec.config import Environment

ADDON = "amazon-cloudwatch-observability"
# The add-on's agent, cluster scraper and Fluent Bit share this service account (aws-observability/
# helm-charts, charts/amazon-cloudwatch-observability/templates/_helpers.tpl).
AGENT_NAMESPACE = "amazon-cloudwatch"
AGENT_SERVICE_ACCOUNT = "cloudwatch-agent"
AGENT_POLICY = "CloudWatchAgentServerPolicy"
# Container Insights writes its performance events here; created by the stack so that it has a
# retention and goes with the stack instead of being left behind by the agent.
PERFORMANCE_LOG_RETENTION = logs.RetentionDays.ONE_WEEK


def addon_configuration(neuron_monitor: bool) -> dict:
    """The add-on's configuration values (the Helm chart's values; AWS docs, "Configure the
    CloudWatch Observability EKS add-on").

    `agent.config` replaces the add-on's default agent configuration, so it restates the
    enhanced Container Insights it needs and leaves out Application Signals (traces need X-Ray
    permissions SpecDec does not grant). Container logs stay off: Fluent Bit on every node would
    ship every container's log lines at CloudWatch Logs prices; `kubectl logs` reads the servers'.
    """
    return {
        "agent": {"config": {"logs": {"metrics_collected": {"kubernetes": {
            "enhanced_container_insights": True,
            "accelerated_compute_metrics": neuron_monitor,
        }}}}},
        # The add-on's own neuron-monitor DaemonSet, on trn1/trn2/inf instance types by node affinity
        # (chart values `neuronMonitor.affinity`); the only one when on (cdk_constructs/neuron.py).
        "neuronMonitor": {"enabled": neuron_monitor},
        "containerLogs": {"enabled": False},
    }


class MetricsPipeline(Construct):
    def __init__(self, scope: Construct, id: str, *, cluster: Cluster, charts: cdk8s.App,
                 environment: Environment, after: list[IDependable]) -> None:
        super().__init__(scope, id)
        performance_logs = logs.LogGroup(
            self, "PerformanceLogs",
            log_group_name=f"/aws/containerinsights/{environment.stack_name}/performance",
            retention=PERFORMANCE_LOG_RETENTION,
        )
        agent_role = pod_identity_role(self, "AgentRole", "CloudWatch agent (Container Insights)")
        agent_role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(AGENT_POLICY))
        acknowledge(agent_role, managed_policy(AGENT_POLICY),
                    "The AWS managed policy the CloudWatch Observability add-on documents for its agent "
                    "(EKS User Guide, amazon-cloudwatch-observability); it writes metrics and logs only.")
        self.addon = eks_l1.CfnAddon(
            self, "Addon",
            cluster_name=cluster.cluster.cluster_name,
            addon_name=ADDON,
            addon_version=environment.cluster.addon_versions.cloudwatch_observability,
            resolve_conflicts="OVERWRITE",
            pod_identity_associations=[eks_l1.CfnAddon.PodIdentityAssociationProperty(
                service_account=AGENT_SERVICE_ACCOUNT, role_arn=agent_role.role_arn)],
            configuration_values=json.dumps(addon_configuration(environment.accelerators.neuron_monitor)),
        )
        # Its operator is a Deployment that tolerates no taint: the add-on turns ACTIVE once the
        # system nodes run it. Deleted before its log group, so the agent cannot recreate it.
        self.addon.node.add_dependency(cluster.pod_identity_agent, cluster.system_nodegroup, performance_logs)

        role = pod_identity_role(self, "ForwarderRole", "SpecDec metrics forwarder: puts vLLM metrics")
        allow_put_metric_data(role, names.BENCHMARK_METRICS_NAMESPACE)
        association = associate(self, "ForwarderIdentity", cluster=cluster,
                                namespace=environment.serving.namespace,
                                service_account=names.FORWARDER_SERVICE_ACCOUNT, role=role)
        chart = MetricsForwarderChart(charts, "metrics-forwarder", environment=environment)
        self.forwarder = cluster.cluster.add_cdk8s_chart("MetricsForwarder", chart)
        self.forwarder.node.add_dependency(association, *after)

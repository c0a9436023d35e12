"""Neuron software on the cluster: the Neuron Helm chart (device plugin, scheduler extension, node
problem detector) and the neuron-monitor DaemonSet.

aws_eks_v2 applies its own, much older device plugin (`manifest-NeuronDevicePlugin`) only when
`Cluster.add_nodegroup_capacity` gets inf1/inf2/trn1/trn1n in `instance_types` (aws-cdk
aws-eks-v2/lib/cluster.ts, addNodegroupCapacity; lib/instance-types.ts). SpecDec creates its node
groups with `eks.Nodegroup` and keeps the instance type in the launch template, so the chart's
device plugin is the only one (tests/test_accelerators.py checks).
"""

from __future__ import annotations

from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from specdec import names

# aws-neuron/neuron-helm-charts, published to ECR Public. 1.10.0 ships with Neuron SDK 2.33 (Neuron
# docs, "Install and configure Neuron Observer": chart 1.10.0); its neuronInstances list includes
# trn2.3xlarge and trn2.48xlarge, which older charts lacked (their device plugin never scheduled on
# Trn2). Check values with `helm show values oci://public.ecr.aws/neuron/neuron-helm-chart --version 1.10.0`.
NEURON_CHART = "oci://public.ecr.aws/neuron/neuron-helm-chart"
NEURON_CHART_VERSION = "1.10.0"
# The tag the Neuron docs' k8s-neuron-monitor-daemonset.yml (aws-neuron-sdk src/k8/) pins; newer tags
# (1.10.0, with the Neuron operator) exist: bump deliberately, with the chart.
NEURON_MONITOR_IMAGE = "public.ecr.aws/neuron/neuron-monitor:1.3.0"

NEURON_TOLERATION = {"key": names.NEURON_TAINT_KEY, "operator": "Exists", "effect": names.NEURON_TAINT_EFFECT}
ON_NEURON_NODES = {names.POOL_LABEL: names.NEURON_POOL}


def chart_values() -> dict:
    return {
        "devicePlugin": {
            "enabled": True,
            # The chart's defaults, restated so the taint the node group sets is tolerated by construction.
            "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}, NEURON_TOLERATION],
        },
        # Serving pods take 8 of a trn2.48xlarge's 16 devices; the extension picks adjacent ones
        # on the 4x4 torus (Neuron docs, "Neuron scheduler extension"). EKS does not let us
        # reconfigure its default scheduler, so the chart runs a second one that pods name.
        "scheduler": {
            "enabled": True,
            "customScheduler": {"enabled": True, "fullnameOverride": names.NEURON_SCHEDULER_NAME},
            "defaultScheduler": {"enabled": False},
        },
        # Neuron hardware errors become node conditions; recovery (node replacement) stays off.
        "npd": {"enabled": True, "nodeRecovery": {"enabled": False}},
        "draDriver": {"enabled": False},
    }


def neuron_monitor_manifests() -> list[dict]:
    labels = {"app": "neuron-monitor"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": names.NEURON_MONITOR_NAMESPACE}},
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "neuron-monitor", "namespace": names.NEURON_MONITOR_NAMESPACE,
                         "labels": labels},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": ON_NEURON_NODES,
                        "tolerations": [NEURON_TOLERATION],
                        "containers": [{
                            "name": "neuron-monitor",
                            "image": NEURON_MONITOR_IMAGE,
                            "command": ["/opt/bin/entrypoint.sh"],
                            "args": ["--port", str(names.NEURON_MONITOR_PORT),
                                     "--neuron-monitor-config", "/opt/aws/neuron/bin/neuron-monitor.conf"],
                            "ports": [{"name": "metrics", "containerPort": names.NEURON_MONITOR_PORT}],
                            "env": [{"name": "GOMEMLIMIT", "value": "160MiB"}],
                            "resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                                          "limits": {"cpu": "500m", "memory": "256Mi"}},
                            # Reads every Neuron device's counters (as in the Neuron docs' manifest).
                            "securityContext": {"privileged": True},
                        }],
                    },
                },
            },
        },
    ]


class NeuronSoftware(Construct):
    def __init__(self, scope: Construct, id: str, *, cluster: eks.Cluster, neuron_monitor: bool) -> None:
        super().__init__(scope, id)
        self.chart = eks.HelmChart(
            self, "Chart",
            cluster=cluster,
            repository=NEURON_CHART,
            chart="neuron-helm-chart",
            version=NEURON_CHART_VERSION,
            release="neuron",
            namespace="kube-system",
            values=chart_values(),
        )
        self.monitor = (eks.KubernetesManifest(self, "Monitor", cluster=cluster,
                                               manifest=neuron_monitor_manifests())
                        if neuron_monitor else None)

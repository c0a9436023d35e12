"""The vLLM serving workload: applies the serving chart once its namespace and model cache exist."""

from __future__ import annotations

import cdk8s
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct, IDependable

from k8s.serving import ServingChart
from specdec.config import Environment


class Workload(Construct):
    def __init__(self, scope: Construct, id: str, *, cluster: eks.Cluster, charts: cdk8s.App,
                 environment: Environment, namespace: eks.KubernetesManifest,
                 model_cache: eks.KubernetesManifest,
                 load_balancer_controller: IDependable | None = None) -> None:
        super().__init__(scope, id)
        chart = ServingChart.for_environment(charts, "serving", environment,
                                             load_balanced=load_balancer_controller is not None)
        self.manifest = cluster.add_cdk8s_chart("Serving", chart)
        # After the model cache's claim on deploy, so before it on destroy: a claim still mounted
        # by a server is held by the pvc-protection finalizer and its deletion would wait.
        self.manifest.node.add_dependency(namespace, model_cache)
        if load_balancer_controller:
            # Likewise the NLB Services: deleted while the controller still runs, so it deletes their
            # NLBs and security groups (and lifts its finalizer) before the VPC goes.
            self.manifest.node.add_dependency(load_balancer_controller)

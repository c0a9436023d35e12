#!/usr/bin/env python3
"""Reference for the synth benchmark: a bare VPC + EKS cluster, synthesized the same way."""

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk.lambda_layer_kubectl_v36 import KubectlV36Layer

ZONES = ["us-east-2a", "us-east-2b"]


class BareCluster(cdk.Stack):
    @property
    def availability_zones(self) -> list[str]:
        return ZONES  # as in SpecDecStack: no account lookup at synth


app = cdk.App()
stack = BareCluster(app, "BareCluster", env=cdk.Environment(account="123456789012", region="us-east-2"))
eks.Cluster(
    stack, "Cluster", version=eks.KubernetesVersion.V1_36,
    vpc=ec2.Vpc(stack, "Vpc", availability_zones=ZONES),
    default_capacity_type=eks.DefaultCapacityType.NODEGROUP, default_capacity=0,
    kubectl_provider_options=eks.KubectlProviderOptions(kubectl_layer=KubectlV36Layer(stack, "Kubectl")),
)
app.synth()

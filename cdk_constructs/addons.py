"""The EKS add-ons every node needs: VPC CNI, kube-proxy, Pod Identity agent, CoreDNS.

The cluster is created without EKS's self-managed copies (bootstrap_self_managed_addons=False), so
each of these exists exactly once, as an EKS add-on whose version the environment may pin.
Order matters: vpc-cni and kube-proxy must exist before the first node, or nodes never turn Ready
(aws-node reaches the API server through kube-proxy's service rules); vpc-cni takes its AWS
permissions from Pod Identity, so the agent comes first. CoreDNS is a Deployment: its add-on only
turns ACTIVE once pods run, so it waits for the system node group.
"""

from __future__ import annotations

import json

from aws_cdk import aws_eks as eks_l1
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct, IDependable

from cdk_constructs.nag import acknowledge, managed_policy
from cdk_constructs.pod_identity import pod_identity_role
from specdec.config import AddonVersions

CNI_SERVICE_ACCOUNT = "aws-node"  # the VPC CNI DaemonSet's service account in kube-system
CNI_POLICY = "AmazonEKS_CNI_Policy"  # IPv4 clusters (EKS User Guide, "cni-iam-role")


class ClusterAddons(Construct):
    def __init__(self, scope: Construct, id: str, *, cluster: eks.Cluster, versions: AddonVersions) -> None:
        super().__init__(scope, id)
        # aws_eks_v2 creates this add-on lazily the first time anything asks for it (e.g. a
        # ServiceAccount with Pod Identity); taking it from the cluster keeps it to exactly one.
        self.pod_identity_agent: eks.Addon = cluster.eks_pod_identity_agent
        if versions.pod_identity_agent:
            agent = self.pod_identity_agent.node.default_child
            agent.add_property_override("AddonVersion", versions.pod_identity_agent)

        cni_role = pod_identity_role(self, "VpcCniRole",
                                     "Amazon VPC CNI (aws-node): manages node ENIs and IP addresses")
        cni_role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(CNI_POLICY))
        acknowledge(cni_role, managed_policy(CNI_POLICY),
                    "The AWS managed policy EKS documents for the VPC CNI on IPv4 clusters; it is "
                    "scoped by AWS to ENI and address management.")
        self.vpc_cni = self._addon(
            cluster, "VpcCni", "vpc-cni", versions.vpc_cni,
            pod_identity=[eks_l1.CfnAddon.PodIdentityAssociationProperty(
                service_account=CNI_SERVICE_ACCOUNT, role_arn=cni_role.role_arn)],
            # The serving NetworkPolicy is only enforced with the VPC CNI's network policy agent
            # (EKS User Guide, "Limit Pod traffic with Kubernetes network policies").
            configuration={"enableNetworkPolicy": "true"},
        )
        self.vpc_cni.node.add_dependency(self.pod_identity_agent)
        self.kube_proxy = self._addon(cluster, "KubeProxy", "kube-proxy", versions.kube_proxy)
        self.coredns = self._addon(cluster, "CoreDns", "coredns", versions.coredns)

    @property
    def node_prerequisites(self) -> list[IDependable]:
        """What must exist before any node group: the add-ons that make a node Ready."""
        return [self.pod_identity_agent, self.vpc_cni, self.kube_proxy]

    def _addon(self, cluster: eks.Cluster, id: str, name: str, version: str | None,
               pod_identity: list | None = None, configuration: dict | None = None) -> eks_l1.CfnAddon:
        return eks_l1.CfnAddon(
            self, id,
            cluster_name=cluster.cluster_name,
            addon_name=name,
            # None: EKS installs its default build for the cluster's Kubernetes version.
            addon_version=version,
            resolve_conflicts="OVERWRITE",
            pod_identity_associations=pod_identity,
            configuration_values=json.dumps(configuration) if configuration else None,
        )

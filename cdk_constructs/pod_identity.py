"""IAM roles that EKS Pod Identity hands to Kubernetes service accounts, and their associations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import aws_eks as eks_l1
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.nag import acknowledge

if TYPE_CHECKING:
    from cdk_constructs.cluster import Cluster

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def pod_identity_role(scope: Construct, id: str, description: str) -> iam.Role:
    """A role the Pod Identity agent may assume (EKS User Guide, "EKS Pod Identity").

    The agent assumes it with session tags (cluster, namespace, service account), so the trust
    policy allows sts:TagSession besides sts:AssumeRole.
    """
    return iam.Role(scope, id, description=description,
                    assumed_by=iam.SessionTagsPrincipal(iam.ServicePrincipal(POD_IDENTITY_PRINCIPAL)))


def associate(scope: Construct, id: str, *, cluster: Cluster, namespace: str, service_account: str,
              role: iam.IRole) -> eks_l1.CfnPodIdentityAssociation:
    """Hand `role` to a service account. A pod gets credentials only if the association exists
    when it starts, and the agent must exist for that: what runs as the account depends on this."""
    association = eks_l1.CfnPodIdentityAssociation(
        scope, id,
        cluster_name=cluster.cluster.cluster_name,
        namespace=namespace,
        service_account=service_account,
        role_arn=role.role_arn,
    )
    association.node.add_dependency(cluster.pod_identity_agent)
    return association


def allow_put_metric_data(role: iam.Role, namespace: str) -> None:
    """PutMetricData has no resource-level permissions (Service Authorization Reference, "Actions
    defined by Amazon CloudWatch"); the cloudwatch:namespace condition key scopes it instead."""
    role.add_to_policy(iam.PolicyStatement(
        actions=["cloudwatch:PutMetricData"],
        resources=["*"],
        conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
    ))
    acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                "cloudwatch:PutMetricData supports no resource ARN; the statement is limited to the "
                f"{namespace} namespace by the cloudwatch:namespace condition.")

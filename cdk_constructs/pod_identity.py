"""IAM roles that EKS Pod Identity hands to Kubernetes service accounts."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def pod_identity_role(scope: Construct, id: str, description: str) -> iam.Role:
    """A role the Pod Identity agent may assume (EKS User Guide, "EKS Pod Identity").

    The agent assumes it with session tags (cluster, namespace, service account), so the trust
    policy allows sts:TagSession besides sts:AssumeRole.
    """
    return iam.Role(scope, id, description=description,
                    assumed_by=iam.SessionTagsPrincipal(iam.ServicePrincipal(POD_IDENTITY_PRINCIPAL)))

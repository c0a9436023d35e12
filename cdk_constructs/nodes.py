"""What every SpecDec node shares: its IAM role and the launch-template rules for its instances."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.nag import acknowledge, managed_policy

# AL2023 EKS AMIs (standard and Neuron) boot from this device.
ROOT_DEVICE = "/dev/xvda"
# Node role policies from the EKS User Guide ("Amazon EKS node IAM role"), minus
# AmazonEKS_CNI_Policy: the VPC CNI gets that from its own Pod Identity role (cdk_constructs/addons.py),
# so pods that reach the instance profile cannot manage ENIs.
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")


def node_role(scope: Construct, id: str) -> iam.Role:
    role = iam.Role(scope, id, assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
                    description="EKS managed node groups (kubelet, image pulls); no workload permissions")
    for policy in NODE_POLICIES:
        role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(policy))
        acknowledge(role, managed_policy(policy),
                    "EKS requires this AWS managed policy on the node role (EKS User Guide, "
                    "'Amazon EKS node IAM role').")
    return role


def launch_template_data(*, root_volume_gib: int, instance_type: str | None = None,
                         **extra) -> ec2.CfnLaunchTemplate.LaunchTemplateDataProperty:
    """Launch-template data EKS managed node groups accept.

    No image id or user data (EKS supplies both for the AMI type) and no security groups: EKS
    then attaches the cluster security group, which the model cache admits Lustre traffic from.
    """
    return ec2.CfnLaunchTemplate.LaunchTemplateDataProperty(
        instance_type=instance_type,
        # IMDSv2 only. Hop limit 2 keeps IMDS reachable for node agents in pods (the Neuron device
        # plugin, the CloudWatch agent); workloads get AWS permissions from Pod Identity instead.
        metadata_options=ec2.CfnLaunchTemplate.MetadataOptionsProperty(
            http_tokens="required", http_endpoint="enabled", http_put_response_hop_limit=2,
        ),
        block_device_mappings=[ec2.CfnLaunchTemplate.BlockDeviceMappingProperty(
            device_name=ROOT_DEVICE,
            ebs=ec2.CfnLaunchTemplate.EbsProperty(
                volume_size=root_volume_gib, volume_type="gp3", encrypted=True, delete_on_termination=True,
            ),
        )],
        **extra,
    )

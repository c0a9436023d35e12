"""The Trn2 managed node group and the launch template that buys its capacity.

Three ways to get Trn2 capacity (EKS User Guide, "Create a managed node group with Capacity Blocks
for ML"; EC2 User Guide, "Capacity Blocks for ML" and "On-Demand Capacity Reservations"):
- on_demand: ON_DEMAND, no reservation;
- capacity_block: CAPACITY_BLOCK plus a launch template with InstanceMarketOptions
  MarketType=capacity-block and a CapacityReservationTarget (only possible with a custom launch
  template);
- capacity_reservation: ON_DEMAND plus a CapacityReservationTarget on the launch template.
The instance type always lives in the launch template, never in the node group: CDK's AMI check
does not know trn2 and rejects the Neuron AMI type otherwise (docs/cluster.md).
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from cdk_constructs.cluster import Cluster
from cdk_constructs.nodes import launch_template_data
from specdec import names
from specdec.config import AcceleratorSettings

CAPACITY_TYPES = {
    "on_demand": eks.CapacityType.ON_DEMAND,
    "capacity_block": eks.CapacityType.CAPACITY_BLOCK,
    "capacity_reservation": eks.CapacityType.ON_DEMAND,
}


def market_options(settings: AcceleratorSettings) -> dict:
    """Launch-template fields that point instance launches at the reservation, if any."""
    if settings.capacity_type == "on_demand":
        return {}
    options = {
        "capacity_reservation_specification": ec2.CfnLaunchTemplate.CapacityReservationSpecificationProperty(
            capacity_reservation_target=ec2.CfnLaunchTemplate.CapacityReservationTargetProperty(
                capacity_reservation_id=settings.reservation_id),
        ),
    }
    if settings.capacity_type == "capacity_block":
        options["instance_market_options"] = ec2.CfnLaunchTemplate.InstanceMarketOptionsProperty(
            market_type="capacity-block")
    return options


class AcceleratorCapacity(Construct):
    """Trn2 nodes in one zone (the model cache's), tainted so only Neuron workloads land there."""

    def __init__(self, scope: Construct, id: str, *, settings: AcceleratorSettings, cluster: Cluster,
                 nodegroup_name: str) -> None:
        super().__init__(scope, id)
        self.launch_template = ec2.CfnLaunchTemplate(
            self, "LaunchTemplate",
            launch_template_data=launch_template_data(
                root_volume_gib=settings.root_volume_gib,
                instance_type=settings.instance_type,
                **market_options(settings),
            ),
        )
        self.nodegroup = eks.Nodegroup(
            self, "Nodegroup",
            cluster=cluster.cluster,
            nodegroup_name=nodegroup_name,
            node_role=cluster.node_role,
            # Spelled AL2023_x86_64_NEURON in CloudFormation; the enum serializes to that.
            ami_type=eks.NodegroupAmiType.AL2023_X86_64_NEURON,
            capacity_type=CAPACITY_TYPES[settings.capacity_type],
            launch_template_spec=eks.LaunchTemplateSpec(
                id=self.launch_template.ref, version=self.launch_template.attr_latest_version_number),
            min_size=settings.min_size,
            desired_size=settings.desired_size,
            max_size=settings.max_size,
            # The FSx for Lustre model cache is single-zone: keep the nodes next to it.
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                                        availability_zones=[settings.availability_zone]),
            labels={names.POOL_LABEL: names.NEURON_POOL},
            taints=[eks.TaintSpec(effect=eks.TaintEffect.NO_SCHEDULE, key=names.NEURON_TAINT_KEY,
                                  value=names.NEURON_TAINT_VALUE)],
        )
        cluster.require_node_addons(self.nodegroup)

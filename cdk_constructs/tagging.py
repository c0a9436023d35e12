"""Tags where `Tags.of(stack).add` does not reach: launch templates and aws-cdk-lib's raw resources.

`Tags.of` only tags constructs that carry a TagManager. Two kinds of resource in this stack do not:
- `AWS::EC2::LaunchTemplate` (CfnLaunchTemplate) has no Tags property. The template is tagged
  through its own TagSpecifications, and what it launches through LaunchTemplateData's: EKS managed
  node groups copy their own Tags to the node group only (CloudFormation reference,
  AWS::EKS::Nodegroup "Tags"), so the instances, their root volumes and their network interfaces
  get the environment's tags only from here.
- resources aws-cdk-lib writes as plain CfnResource: the handler roles and functions of its custom
  resource providers (VPC default security group, S3 auto-delete) and the EKS kubectl-ready
  barrier parameter.

tests/test_tags.py lists every taggable resource of every shipped template that still lacks them.
"""

from __future__ import annotations

import jsii
from aws_cdk import CfnResource, IAspect, TagManager
from aws_cdk import aws_ec2 as ec2
from constructs import IConstruct

# What a managed node's launch creates (EC2 API, LaunchTemplateTagSpecificationRequest).
LAUNCHED = ("instance", "volume", "network-interface")
# Types aws-cdk-lib emits as plain CfnResource here, by the shape of their Tags property
# (CloudFormation resource reference): a key/value list, or a map for SSM parameters.
LIST_TAGGED = {"AWS::IAM::Role", "AWS::Lambda::Function"}
MAP_TAGGED = {"AWS::SSM::Parameter"}


@jsii.implements(IAspect)
class TagUnmanagedResources:
    def __init__(self, tags: dict[str, str]) -> None:
        self._list = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        self._map = dict(sorted(tags.items()))

    def visit(self, node: IConstruct) -> None:
        if not self._list:
            return
        if isinstance(node, ec2.CfnLaunchTemplate):
            node.add_property_override("TagSpecifications", [
                {"ResourceType": "launch-template", "Tags": self._list}])
            node.add_property_override("LaunchTemplateData.TagSpecifications", [
                {"ResourceType": kind, "Tags": self._list} for kind in LAUNCHED])
        elif isinstance(node, CfnResource) and not (TagManager.is_taggable(node)
                                                     or TagManager.is_taggable_v2(node)):
            if node.cfn_resource_type in LIST_TAGGED:
                node.add_property_override("Tags", self._list)
            elif node.cfn_resource_type in MAP_TAGGED:
                node.add_property_override("Tags", self._map)

"""Every AWS resource an environment creates carries its project, environment and owner tags.

That includes what CloudFormation does not create itself but the stack decides: the nodes'
instances, root volumes and network interfaces (launch templates) and the NLBs of the AWS Load
Balancer Controller. Whether a CloudFormation type can be tagged is read from the resource schemas
cfn-lint bundles (the CloudFormation registry's, per region), not from a hand-written list.
"""

from __future__ import annotations

import json

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from specdec.config import load_environment
from specdec.rules import REQUIRED_TAGS
from tests.conftest import SHIPPED

# Types in the shipped templates that have no Tags property; each is part of, or a link between,
# resources that are tagged. A new type missing from here fails a test below until reviewed.
NO_TAGS_PROPERTY = {
    "AWS::EC2::Route",  # an entry of its (tagged) route table
    "AWS::EC2::SecurityGroupIngress",  # rules of a (tagged) security group
    "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::SubnetRouteTableAssociation",  # links between tagged subnets and route tables
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::IAM::Policy",  # inline policies of tagged roles
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",  # the policy of a tagged topic
    "AWS::SNS::Subscription",  # a link between a tagged topic and an address
    "AWS::Lambda::LayerVersion",  # layers take no tags (Lambda API, PublishLayerVersion)
    # Tagged through TagSpecifications instead, for itself and what it launches (checked below).
    "AWS::EC2::LaunchTemplate",
}
# Custom resources (Custom::...) are requests to a Lambda handler: a Tags property there would be
# handed to the handler, not put on any AWS resource.
CUSTOM = "Custom::"
LAUNCHED = {"instance", "volume", "network-interface"}


def has_tags_property(resource_type: str, region: str) -> bool:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    return "Tags" in schema["properties"]


def tag_dict(tags) -> dict[str, str]:
    """CloudFormation spells Tags as a key/value list or, for some types, as a map."""
    return dict(tags) if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags or []}


def untagged(synth, region: str) -> list[str]:
    """'Type logical-id (missing: ...)' for each taggable resource without every required tag."""
    found = []
    for logical_id, resource in synth.template["Resources"].items():
        kind = resource["Type"]
        if kind.startswith(CUSTOM) or not has_tags_property(kind, region):
            continue
        missing = [k for k in REQUIRED_TAGS if k not in tag_dict(resource["Properties"].get("Tags"))]
        if missing:
            found.append(f"{kind} {logical_id} (missing: {', '.join(missing)})")
    return found


@pytest.fixture(params=[*SHIPPED, "load-balanced"])
def case(request, shipped, load_balanced):
    """(synthesized stack, its environment's tags, region): every shipped environment, and dev with
    the internal load balancer (its controller adds types of its own)."""
    if request.param == "load-balanced":
        return load_balanced, load_environment("dev").tags, "us-east-2"
    environment = load_environment(request.param)
    return shipped[request.param], environment.tags, environment.region


def test_every_shipped_environment_names_project_environment_and_owner():
    for name in SHIPPED:
        tags = load_environment(name).tags
        assert set(REQUIRED_TAGS) <= set(tags) and tags["environment"] == name, name


def test_every_taggable_resource_carries_the_three_tags(case):
    synth, _, region = case
    assert untagged(synth, region) == []


def test_the_tags_are_the_environment_files(case):
    synth, tags, _ = case
    (vpc,) = synth.resources("AWS::EC2::VPC").values()
    assert {k: v for k, v in tag_dict(vpc["Properties"]["Tags"]).items() if k in tags} == tags


def test_types_left_untagged_are_exactly_those_without_a_tags_property(case):
    synth, _, region = case
    untaggable = {r["Type"] for r in synth.template["Resources"].values()
                  if not r["Type"].startswith(CUSTOM) and not has_tags_property(r["Type"], region)}
    assert sorted(untaggable - NO_TAGS_PROPERTY) == [], "review these and list them in NO_TAGS_PROPERTY"
    assert not any(has_tags_property(t, region) for t in NO_TAGS_PROPERTY)


def test_nodes_volumes_and_network_interfaces_get_the_tags_from_their_launch_template(case):
    """A managed node group's own Tags stay on the node group (CloudFormation reference,
    AWS::EKS::Nodegroup), and aws-cdk-lib's Tags aspect does not write TagSpecifications: the
    launch template has to name every kind of resource a node launch creates."""
    synth, tags, _ = case
    resources = synth.template["Resources"]
    nodegroups = synth.resources("AWS::EKS::Nodegroup").values()
    assert len(nodegroups) == 2
    for nodegroup in nodegroups:
        assert tag_dict(nodegroup["Properties"]["Tags"]).items() >= tags.items()
        template = resources[nodegroup["Properties"]["LaunchTemplate"]["Id"]["Ref"]]["Properties"]
        launched = {s["ResourceType"]: tag_dict(s["Tags"])
                    for s in template["LaunchTemplateData"]["TagSpecifications"]}
        assert launched == {kind: tags for kind in LAUNCHED}
        (own,) = template["TagSpecifications"]
        assert (own["ResourceType"], tag_dict(own["Tags"])) == ("launch-template", tags)


def test_the_load_balancer_controller_tags_every_nlb_it_creates(load_balanced):
    """The NLBs, target groups and security groups the controller creates are not CloudFormation's;
    it tags them with its --default-tags, set from the chart's defaultTags."""
    (release,) = [r for r in load_balanced.helm if r.chart == "aws-load-balancer-controller"]
    assert release.values["defaultTags"] == load_environment("dev").tags


def test_nothing_in_kubernetes_provisions_an_ebs_volume(case):
    """The only EBS volumes are the nodes' root volumes, tagged by their launch templates: no
    StorageClass, no EBS CSI driver, and the one claim binds the FSx volume statically."""
    synth, _, _ = case
    assert synth.objects_of("StorageClass") == []
    addons = {a["Properties"]["AddonName"] for a in synth.resources("AWS::EKS::Addon").values()}
    assert "aws-ebs-csi-driver" not in addons
    assert not any("ebs" in r.chart for r in synth.helm)
    for claim in synth.objects_of("PersistentVolumeClaim"):
        assert claim["spec"]["storageClassName"] == "" and claim["spec"]["volumeName"]
    assert {v["spec"]["csi"]["driver"] for v in synth.objects_of("PersistentVolume")} == {"fsx.csi.aws.com"}
    assert "ebs.csi.aws.com" not in json.dumps(synth.objects)

"""The VPC: what a user can rely on for every shipped environment."""

from __future__ import annotations

import ipaddress

import pytest

from specdec.config import load_environment
from specdec.manifests import render_intrinsic
from tests.conftest import SHIPPED, rejections


def subnets(synth, kind: str) -> list[dict]:
    """kind: 'Public' or 'Private' (CDK's aws-cdk:subnet-type tag)."""
    found = []
    for props in (r["Properties"] for r in synth.resources("AWS::EC2::Subnet").values()):
        tags = {t["Key"]: t["Value"] for t in props["Tags"]}
        if tags["aws-cdk:subnet-type"] == kind:
            found.append(props)
    return found


@pytest.mark.parametrize("name", SHIPPED)
def test_vpc_spans_the_environment_zones_with_a_node_subnet_per_zone(shipped, name):
    synth, env = shipped[name], load_environment(name)
    assert synth.only("AWS::EC2::VPC")["CidrBlock"] == env.network.vpc_cidr
    private = subnets(synth, "Private")
    assert sorted(s["AvailabilityZone"] for s in private) == sorted(env.availability_zones)
    assert sorted(s["AvailabilityZone"] for s in subnets(synth, "Public")) == sorted(env.availability_zones)
    assert all(not s["MapPublicIpOnLaunch"] for s in private)
    vpc = ipaddress.IPv4Network(env.network.vpc_cidr)
    assert all(ipaddress.IPv4Network(s["CidrBlock"]).subnet_of(vpc) for s in private)


@pytest.mark.parametrize("name", SHIPPED)
def test_nat_gateway_count_follows_the_environment(shipped, name):
    assert len(shipped[name].resources("AWS::EC2::NatGateway")) == load_environment(name).network.nat_gateways


def test_prod_has_a_nat_gateway_per_zone_and_dev_one(shipped):
    assert len(shipped["prod"].resources("AWS::EC2::NatGateway")) == 3
    assert len(shipped["dev"].resources("AWS::EC2::NatGateway")) == 1


@pytest.mark.parametrize("name", SHIPPED)
def test_endpoints_keep_image_pulls_credentials_and_logs_off_the_nat(shipped, name):
    synth, env = shipped[name], load_environment(name)
    endpoints = [r["Properties"] for r in synth.resources("AWS::EC2::VPCEndpoint").values()]
    services = {render_intrinsic(p["ServiceName"]) for p in endpoints}
    region = env.region
    assert {f"com.amazonaws.{region}.{s}" for s in ("ecr.api", "ecr.dkr", "sts", "logs")} <= services
    gateways = [p for p in endpoints if "RouteTableIds" in p]
    assert len(gateways) == 1 and render_intrinsic(gateways[0]["ServiceName"]).endswith(".s3")
    interface = [p for p in endpoints if "SubnetIds" in p]
    assert len(interface) == 4 and all(p["PrivateDnsEnabled"] for p in interface)


@pytest.mark.parametrize("name", SHIPPED)
def test_interface_endpoints_admit_only_https_from_the_vpc(shipped, name):
    synth, env = shipped[name], load_environment(name)
    groups = [
        g["Properties"]
        for g in synth.resources("AWS::EC2::SecurityGroup").values()
        if "interface endpoints" in g["Properties"]["GroupDescription"]
    ]
    assert len(groups) == 1
    ingress = groups[0]["SecurityGroupIngress"]
    assert ingress == [
        {
            "CidrIp": env.network.vpc_cidr,
            "Description": "HTTPS from the VPC",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


@pytest.mark.parametrize("name", SHIPPED)
def test_flow_logs_record_all_traffic_for_the_configured_retention(shipped, name):
    synth, env = shipped[name], load_environment(name)
    flow_log = synth.only("AWS::EC2::FlowLog")
    assert flow_log["TrafficType"] == "ALL" and flow_log["ResourceType"] == "VPC"
    assert flow_log["LogDestinationType"] == "cloud-watch-logs"
    group_id = flow_log["LogGroupName"]["Ref"]
    retention = synth.template["Resources"][group_id]["Properties"]["RetentionInDays"]
    assert retention == env.network.flow_log_retention_days


@pytest.mark.parametrize(("network", "expected"), [
    ({"vpc_cidr": "10.0.0.0/20"},
     "network.vpc_cidr = '10.0.0.0/20' is not allowed: a CIDR with room for 3 zones"),
    ({"vpc_cidr": "10.0.0.0/15"}, "network.vpc_cidr = '10.0.0.0/15' is not allowed: a prefix of /16"),
    ({"nat_gateways": 4}, "network.nat_gateways = 4 is not allowed: at most one per zone (3)"),
])
def test_bad_network_settings_are_rejected_naming_key_value_and_what_is_allowed(network, expected):
    assert any(p.startswith(f"bad.json: {expected}") for p in rejections({"network": network}))

"""Trn2 capacity and the Neuron software: on-demand, Capacity Block and Capacity Reservation."""

from __future__ import annotations

import json

import pytest

from cdk_constructs.neuron import NEURON_CHART, NEURON_CHART_VERSION
from specdec import names
from specdec.config import load_environment
from tests.conftest import SHIPPED, rejections

BLOCK, RESERVATION = "cr-0aaaaaaaaaaaaaaaa", "cr-0bbbbbbbbbbbbbbbb"
NEURON_TOLERATION = {"key": names.NEURON_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def capacity(synth_custom):
    """Environments not in the repo, one per way of buying Trn2 capacity."""

    def synth(name, **accelerators):
        return synth_custom(name, {"accelerators": accelerators})

    return {
        "on_demand": synth(
            "acc-od",
            capacity_type="on_demand",
            availability_zone="us-east-2c",
            min_size=0,
            desired_size=0,
            max_size=2,
            root_volume_gib=1024,
            neuron_monitor=False,
        ),
        "capacity_block": synth(
            "acc-cb",
            capacity_type="capacity_block",
            reservation_id=BLOCK,
            availability_zone="us-east-2a",
            min_size=0,
            desired_size=1,
            max_size=1,
        ),
        "capacity_reservation": synth(
            "acc-cr",
            capacity_type="capacity_reservation",
            reservation_id=RESERVATION,
            availability_zone="us-east-2b",
            min_size=1,
            desired_size=1,
            max_size=1,
        ),
    }


def trn2(synth) -> tuple[dict, dict]:
    """(node group properties, launch template data) of the accelerator node group."""
    groups = [
        r["Properties"]
        for r in synth.resources("AWS::EKS::Nodegroup").values()
        if r["Properties"]["AmiType"] == "AL2023_x86_64_NEURON"
    ]
    assert len(groups) == 1
    template_id = groups[0]["LaunchTemplate"]["Id"]["Ref"]
    return groups[0], synth.template["Resources"][template_id]["Properties"]["LaunchTemplateData"]


def subnet_zone(synth, ref: dict) -> str:
    return synth.template["Resources"][ref["Ref"]]["Properties"]["AvailabilityZone"]


def test_on_demand_buys_plain_on_demand_instances(capacity):
    group, data = trn2(capacity["on_demand"])
    assert group["CapacityType"] == "ON_DEMAND"
    assert "InstanceMarketOptions" not in data and "CapacityReservationSpecification" not in data


def test_capacity_block_uses_the_capacity_block_market_and_targets_the_block(capacity):
    group, data = trn2(capacity["capacity_block"])
    assert group["CapacityType"] == "CAPACITY_BLOCK"
    assert data["InstanceMarketOptions"] == {"MarketType": "capacity-block"}
    assert data["CapacityReservationSpecification"] == {
        "CapacityReservationTarget": {"CapacityReservationId": BLOCK}
    }


def test_capacity_reservation_is_on_demand_targeting_the_reservation(capacity):
    group, data = trn2(capacity["capacity_reservation"])
    assert group["CapacityType"] == "ON_DEMAND"
    assert "InstanceMarketOptions" not in data
    assert data["CapacityReservationSpecification"] == {
        "CapacityReservationTarget": {"CapacityReservationId": RESERVATION}
    }


@pytest.mark.parametrize("kind", ["on_demand", "capacity_block", "capacity_reservation"])
def test_instance_type_lives_only_in_the_launch_template(capacity, kind):
    group, data = trn2(capacity[kind])
    assert data["InstanceType"] == "trn2.48xlarge"
    assert "InstanceTypes" not in group


@pytest.mark.parametrize(
    "kind, zone",
    [("on_demand", "us-east-2c"), ("capacity_block", "us-east-2a"), ("capacity_reservation", "us-east-2b")],
)
def test_trn2_nodes_sit_in_the_model_cache_zone_only(capacity, kind, zone):
    synth = capacity[kind]
    group, _ = trn2(synth)
    assert [subnet_zone(synth, s) for s in group["Subnets"]] == [zone]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_trn2_node_group_follows_the_environment(shipped, name):
    synth, acc = shipped[name], load_environment(name).accelerators
    group, data = trn2(synth)
    assert group["ScalingConfig"] == {
        "MinSize": acc.min_size,
        "DesiredSize": acc.desired_size,
        "MaxSize": acc.max_size,
    }
    assert [subnet_zone(synth, s) for s in group["Subnets"]] == [acc.availability_zone]
    assert data["InstanceType"] == acc.instance_type
    reservation = data.get("CapacityReservationSpecification", {}).get("CapacityReservationTarget", {})
    assert reservation.get("CapacityReservationId") == acc.reservation_id


@pytest.mark.parametrize("name", SHIPPED)
def test_trn2_nodes_are_tainted_and_labelled_for_neuron_workloads(shipped, name):
    group, _ = trn2(shipped[name])
    assert group["Taints"] == [
        {"Key": names.NEURON_TAINT_KEY, "Value": names.NEURON_TAINT_VALUE, "Effect": "NO_SCHEDULE"}
    ]
    assert group["Labels"] == {names.POOL_LABEL: names.NEURON_POOL}


@pytest.mark.parametrize("name", SHIPPED)
def test_trn2_launch_template_requires_imdsv2_and_an_encrypted_gp3_root(shipped, name):
    _, data = trn2(shipped[name])
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    (root,) = data["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/xvda"
    assert root["Ebs"] == {
        "VolumeSize": load_environment(name).accelerators.root_volume_gib,
        "VolumeType": "gp3",
        "Encrypted": True,
        "DeleteOnTermination": True,
    }


def test_root_volume_size_comes_from_the_environment(capacity):
    _, data = trn2(capacity["on_demand"])
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 1024


@pytest.mark.parametrize("name", SHIPPED)
def test_nodes_keep_the_cluster_security_group(shipped, name):
    """No security groups in the launch template: EKS then attaches the cluster security group,
    which the model cache admits Lustre traffic from."""
    _, data = trn2(shipped[name])
    assert not {"SecurityGroupIds", "SecurityGroups", "NetworkInterfaces"} & set(data)


@pytest.mark.parametrize("name", SHIPPED)
def test_neuron_chart_is_pinned_and_runs_device_plugin_and_scheduler_extension(shipped, name):
    (release,) = [r for r in shipped[name].helm if r.repository == NEURON_CHART]
    assert release.version == NEURON_CHART_VERSION == "1.10.0"
    plugin = release.values["devicePlugin"]
    assert plugin["enabled"] is True and NEURON_TOLERATION in plugin["tolerations"]
    scheduler = release.values["scheduler"]
    assert scheduler["enabled"] is True and scheduler["customScheduler"]["enabled"] is True
    assert scheduler["customScheduler"]["fullnameOverride"] == names.NEURON_SCHEDULER_NAME
    assert release.values["draDriver"]["enabled"] is False


@pytest.mark.parametrize("name", SHIPPED)
def test_exactly_one_neuron_device_plugin_is_applied(shipped, name):
    """The chart's; aws_eks_v2's bundled `manifest-NeuronDevicePlugin` never appears."""
    synth = shipped[name]
    plugins = [r for r in synth.helm if r.values.get("devicePlugin", {}).get("enabled")]
    assert len(plugins) == 1
    assert not [o for o in synth.objects_of("DaemonSet") if "device-plugin" in o["metadata"]["name"]]
    assert not [k for k in synth.template["Resources"] if "NeuronDevicePlugin" in k]


def test_neuron_monitor_can_be_turned_off(capacity):
    """Neither SpecDec's DaemonSet nor the CloudWatch add-on's (tests/test_monitoring.py)."""
    synth = capacity["on_demand"]
    assert not [d for d in synth.objects_of("DaemonSet") if d["metadata"]["name"] == "neuron-monitor"]
    (addon,) = [a["Properties"] for a in synth.resources("AWS::EKS::Addon").values()
                if a["Properties"]["AddonName"] == "amazon-cloudwatch-observability"]
    assert json.loads(addon["ConfigurationValues"])["neuronMonitor"] == {"enabled": False}


@pytest.mark.parametrize(("accelerators", "expected"), [
    ({"capacity_type": "capacity_block"},
     "accelerators.reservation_id = null is not allowed: the reservation id"),
    ({"reservation_id": BLOCK}, f"accelerators.reservation_id = '{BLOCK}' is not allowed: no reservation"),
    ({"availability_zone": "us-east-2d"},
     "accelerators.availability_zone = 'us-east-2d' is not allowed: one of"),
    ({"capacity_type": "capacity_reservation", "reservation_id": "cr-123"},
     "accelerators.reservation_id = 'cr-123' is not allowed"),
])
def test_bad_accelerator_settings_are_rejected_naming_key_value_and_what_is_allowed(accelerators, expected):
    assert any(p.startswith(f"bad.json: {expected}") for p in rejections({"accelerators": accelerators}))

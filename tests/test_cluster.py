"""The EKS cluster, its add-ons and the CPU system node group."""

from __future__ import annotations

import json

import pytest

from specdec import names
from specdec.config import load_environment
from specdec.manifests import render_intrinsic
from tests.conftest import SHIPPED, rejections

ADMIN_ROLE = "arn:aws:iam::123456789012:role/platform-admins"
PINNED = {
    "vpc_cni": "v1.20.0-eksbuild.1",
    "kube_proxy": "v1.35.0-eksbuild.2",
    "coredns": "v1.12.4-eksbuild.1",
    "pod_identity_agent": "v1.3.8-eksbuild.2",
    "fsx_csi_driver": "v1.7.0-eksbuild.1",
}


@pytest.fixture(scope="module")
def custom(synth_custom):
    """An environment not in the repo: older Kubernetes, other allow-list, admins, pinned add-ons."""
    return synth_custom(
        "clustercustom",
        {
            "cluster": {
                "kubernetes_version": "1.35",
                "endpoint_access": "public_and_private",
                "public_access_cidrs": ["198.51.100.0/24"],
                "admin_role_arns": [ADMIN_ROLE],
                "addon_versions": PINNED,
            }
        },
    )


def addons(synth) -> dict[str, tuple[str, dict]]:
    found = {}
    for logical_id, resource in synth.resources("AWS::EKS::Addon").items():
        name = resource["Properties"]["AddonName"]
        assert name not in found, f"two {name} add-ons"
        found[name] = (logical_id, resource)
    return found


def managed_policies(synth, role_logical_id: str) -> set[str]:
    role = synth.template["Resources"][role_logical_id]["Properties"]
    return {render_intrinsic(arn).rsplit("/", 1)[-1] for arn in role.get("ManagedPolicyArns", [])}


def nodegroups(synth) -> dict[str, dict]:
    return {r["Properties"]["NodegroupName"]: r for r in synth.resources("AWS::EKS::Nodegroup").values()}


@pytest.mark.parametrize("name", SHIPPED)
def test_kubernetes_version_comes_from_the_environment(shipped, name):
    assert (
        shipped[name].only("AWS::EKS::Cluster")["Version"]
        == load_environment(name).cluster.kubernetes_version
    )


def test_default_version_is_136_and_older_versions_can_be_chosen(dev, custom):
    assert dev.only("AWS::EKS::Cluster")["Version"] == "1.36"
    assert custom.only("AWS::EKS::Cluster")["Version"] == "1.35"


@pytest.mark.parametrize("name", SHIPPED)
def test_kubectl_provider_uses_the_kubectl_136_layer(shipped, name):
    layers = [
        r["Properties"]["Description"] for r in shipped[name].resources("AWS::Lambda::LayerVersion").values()
    ]
    assert any(d.startswith("/opt/kubectl/kubectl 1.36.") for d in layers), layers


@pytest.mark.parametrize("name", SHIPPED)
def test_secrets_are_envelope_encrypted_with_a_rotating_customer_key(shipped, name):
    synth = shipped[name]
    (config,) = synth.only("AWS::EKS::Cluster")["EncryptionConfig"]
    assert config["Resources"] == ["secrets"]
    key_id = config["Provider"]["KeyArn"]["Fn::GetAtt"][0]
    key = synth.template["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize("name", SHIPPED)
def test_every_control_plane_log_type_is_on(shipped, name):
    logging = shipped[name].only("AWS::EKS::Cluster")["Logging"]["ClusterLogging"]["EnabledTypes"]
    assert {t["Type"] for t in logging} == {"api", "audit", "authenticator", "controllerManager", "scheduler"}


def test_prod_api_endpoint_is_private_only(shipped):
    vpc_config = shipped["prod"].only("AWS::EKS::Cluster")["ResourcesVpcConfig"]
    assert vpc_config["EndpointPrivateAccess"] is True and vpc_config["EndpointPublicAccess"] is False


def test_dev_api_endpoint_is_public_only_from_its_allow_list(dev):
    vpc_config = dev.only("AWS::EKS::Cluster")["ResourcesVpcConfig"]
    assert vpc_config["EndpointPublicAccess"] is True and vpc_config["EndpointPrivateAccess"] is True
    assert vpc_config["PublicAccessCidrs"] == load_environment("dev").cluster.public_access_cidrs


def test_public_endpoint_environment_allows_only_its_cidrs(custom):
    vpc_config = custom.only("AWS::EKS::Cluster")["ResourcesVpcConfig"]
    assert vpc_config["EndpointPublicAccess"] is True and vpc_config["EndpointPrivateAccess"] is True
    assert vpc_config["PublicAccessCidrs"] == ["198.51.100.0/24"]


def test_listed_roles_get_cluster_admin_through_access_entries(dev, custom):
    def admin_entries(synth):
        return [
            e["Properties"]
            for e in synth.resources("AWS::EKS::AccessEntry").values()
            if e["Properties"]["PrincipalArn"] == ADMIN_ROLE
        ]

    assert admin_entries(dev) == []
    (entry,) = admin_entries(custom)
    (policy,) = entry["AccessPolicies"]
    assert render_intrinsic(policy["PolicyArn"]).endswith(
        ":cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )
    assert policy["AccessScope"] == {"Type": "cluster"}


@pytest.mark.parametrize("name", SHIPPED)
def test_each_core_addon_exists_exactly_once_and_eks_bootstraps_no_self_managed_copies(shipped, name):
    synth = shipped[name]
    assert synth.only("AWS::EKS::Cluster")["BootstrapSelfManagedAddons"] is False
    assert {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent"} <= set(addons(synth))


def test_addon_versions_default_to_eks_and_can_be_pinned(dev, custom):
    for name, (_, addon) in addons(dev).items():
        assert "AddonVersion" not in addon["Properties"], name
    pinned = {name: addon["Properties"].get("AddonVersion") for name, (_, addon) in addons(custom).items()}
    assert pinned["vpc-cni"] == PINNED["vpc_cni"] and pinned["kube-proxy"] == PINNED["kube_proxy"]
    assert pinned["coredns"] == PINNED["coredns"]
    assert pinned["eks-pod-identity-agent"] == PINNED["pod_identity_agent"]
    assert pinned["aws-fsx-csi-driver"] == PINNED["fsx_csi_driver"]


@pytest.mark.parametrize("name", SHIPPED)
def test_vpc_cni_gets_its_permissions_from_pod_identity_not_the_node_role(shipped, name):
    synth = shipped[name]
    _, cni = addons(synth)["vpc-cni"]
    (association,) = cni["Properties"]["PodIdentityAssociations"]
    assert association["ServiceAccount"] == "aws-node"
    role_id = association["RoleArn"]["Fn::GetAtt"][0]
    assert managed_policies(synth, role_id) == {"AmazonEKS_CNI_Policy"}
    trust = synth.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert {s["Principal"]["Service"] for s in trust} == {"pods.eks.amazonaws.com"}
    assert {a for s in trust for a in s["Action"]} == {"sts:AssumeRole", "sts:TagSession"}
    for nodegroup in nodegroups(synth).values():
        node_role = nodegroup["Properties"]["NodeRole"]["Fn::GetAtt"][0]
        assert managed_policies(synth, node_role) == {
            "AmazonEKSWorkerNodePolicy",
            "AmazonEC2ContainerRegistryReadOnly",
        }


@pytest.mark.parametrize("name", SHIPPED)
def test_vpc_cni_enforces_network_policies_so_the_serving_policy_takes_effect(shipped, name):
    synth = shipped[name]
    _, cni = addons(synth)["vpc-cni"]
    assert json.loads(cni["Properties"]["ConfigurationValues"]) == {"enableNetworkPolicy": "true"}
    assert synth.objects_of("NetworkPolicy"), "nothing to enforce"


@pytest.mark.parametrize("name", SHIPPED)
def test_nodes_start_only_after_the_addons_that_make_them_ready(shipped, name):
    synth = shipped[name]
    found = addons(synth)
    needed = {found[a][0] for a in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")}
    for nodegroup in nodegroups(synth).values():
        assert needed <= set(nodegroup.get("DependsOn", []))
    assert found["eks-pod-identity-agent"][0] in found["vpc-cni"][1]["DependsOn"]


@pytest.mark.parametrize("name", SHIPPED)
def test_coredns_waits_for_the_system_nodes_it_runs_on(shipped, name):
    synth = shipped[name]
    system_id = next(
        k
        for k, r in synth.resources("AWS::EKS::Nodegroup").items()
        if r["Properties"]["NodegroupName"].endswith("-system")
    )
    assert system_id in addons(synth)["coredns"][1]["DependsOn"]


@pytest.mark.parametrize("name", SHIPPED)
def test_system_node_group_runs_al2023_cpu_nodes_sized_by_the_environment(shipped, name):
    synth, env = shipped[name], load_environment(name)
    system = nodegroups(synth)[f"{env.stack_name}-system"]["Properties"]
    nodes = env.cluster.system_nodes
    assert system["AmiType"] == "AL2023_x86_64_STANDARD"
    assert system["InstanceTypes"] == [nodes.instance_type]
    assert system["ScalingConfig"] == {
        "MinSize": nodes.min_size,
        "DesiredSize": nodes.desired_size,
        "MaxSize": nodes.max_size,
    }
    assert system["Labels"] == {names.POOL_LABEL: names.SYSTEM_POOL}
    assert "Taints" not in system
    template = synth.template["Resources"][system["LaunchTemplate"]["Id"]["Ref"]]["Properties"]
    data = template["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    (root,) = data["BlockDeviceMappings"]
    assert root["Ebs"]["Encrypted"] is True and root["Ebs"]["VolumeType"] == "gp3"
    assert not {"SecurityGroupIds", "SecurityGroups", "NetworkInterfaces"} & set(data)


@pytest.mark.parametrize("name", SHIPPED)
def test_outputs_name_the_cluster_the_kubeconfig_command_and_the_node_groups(shipped, name):
    synth, env = shipped[name], load_environment(name)
    outputs = {k: render_intrinsic(v["Value"]) for k, v in synth.template["Outputs"].items()}
    assert outputs["UpdateKubeconfigCommand"] == (
        f"aws eks update-kubeconfig --region {env.region} --name {env.stack_name}"
    )
    assert outputs["ClusterName"].startswith("${")
    assert {"SystemNodegroupName", "AcceleratorNodegroupName"} <= set(outputs)


@pytest.mark.parametrize(("cluster", "expected"), [
    ({"addon_versions": {"vpc_cni": "latest"}}, "cluster.addon_versions.vpc_cni = 'latest' is not allowed"),
    ({"public_access_cidrs": []}, "cluster.public_access_cidrs = [] is not allowed: at least one CIDR"),
    ({"admin_role_arns": ["alice"]}, "cluster.admin_role_arns.0 = 'alice' is not allowed: an IAM role ARN"),
    # aws_eks_v2 cannot limit a public-only endpoint to CIDRs, so it is not offered.
    ({"endpoint_access": "public"}, "cluster.endpoint_access = 'public' is not allowed"),
    # No kubectl layer within one minor of 1.37 is pinned.
    ({"kubernetes_version": "1.37"}, "cluster.kubernetes_version = '1.37' is not allowed"),
])
def test_bad_cluster_settings_are_rejected_naming_key_value_and_what_is_allowed(cluster, expected):
    assert any(p.startswith(f"bad.json: {expected}") for p in rejections({"cluster": cluster}))

"""serving.internal_load_balancer: internal NLBs through the AWS Load Balancer Controller.

What a user can rely on: off by default (no controller, no cloud load balancer); when on, a pinned
controller with Pod Identity permissions, one internal NLB Service per server next to its ClusterIP
Service, a NetworkPolicy that admits the NLB's traffic, and a template whose dependencies let
`cdk destroy` delete every NLB before the network it lives in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest

from cdk_constructs import load_balancer_controller as lbc
from k8s.serving import NLB_CLASS
from specdec import names
from specdec.manifests import MANIFEST_TYPE, render_intrinsic
from tests.conftest import rejections
from tests.dependency_graph import DependencyGraph

KUBERNETES_VERSION = "1.36.0"
LB = "service.beta.kubernetes.io/aws-load-balancer"
VARIANTS = [names.SPECULATIVE_VARIANT, names.BASELINE_VARIANT]


@pytest.fixture(scope="module")
def nlb(load_balanced):
    return load_balanced


def controller_release(synth):
    (release,) = [r for r in synth.helm if r.chart == lbc.CHART]
    return release


def manifest_holding(synth, kind: str, name: str) -> str:
    """Logical id of the manifest resource that applies the object kind/name."""
    (logical_id,) = [i for i, r in synth.resources(MANIFEST_TYPE).items()
                     if any(o["kind"] == kind and o["metadata"]["name"] == name
                            for o in json.loads(render_intrinsic(r["Properties"]["Manifest"])))]
    return logical_id


def depends_on(synth, logical_id: str) -> set[str]:
    found = synth.template["Resources"][logical_id].get("DependsOn", [])
    return {found} if isinstance(found, str) else set(found)


def nlb_services(synth) -> list[dict]:
    return [s for s in synth.objects_of("Service") if s["spec"].get("type") == "LoadBalancer"]


# --- off by default ---------------------------------------------------------------------------

def test_no_shipped_environment_installs_the_controller_or_creates_a_load_balancer(shipped):
    for synth in shipped.values():
        assert [r.chart for r in synth.helm if r.chart == lbc.CHART] == []
        assert nlb_services(synth) == []
        assert "InternalLoadBalancersCommand" not in synth.template.get("Outputs", {})
        for policy in synth.objects_of("NetworkPolicy"):
            peers = [p for rule in policy["spec"].get("ingress", []) for p in rule.get("from", [])]
            assert not any("ipBlock" in p for p in peers)


def test_the_setting_is_a_boolean():
    assert rejections({"serving": {"internal_load_balancer": "yes"}}) == [
        "bad.json: serving.internal_load_balancer = 'yes' is not allowed: input should be a valid boolean"]


# --- the controller ---------------------------------------------------------------------------

def test_the_controller_is_a_pinned_chart_in_kube_system_on_the_system_nodes(nlb):
    release = controller_release(nlb)
    assert (release.repository, release.version) == ("https://aws.github.io/eks-charts", "3.2.2")
    assert (release.namespace, release.release) == ("kube-system", "aws-load-balancer-controller")
    values = release.values
    assert values["image"] == {"tag": "v3.2.2"}  # the controller the chart and policy belong to
    assert values["nodeSelector"] == {names.POOL_LABEL: names.SYSTEM_POOL}
    (cluster_id,) = nlb.resources("AWS::EKS::Cluster")
    (vpc_id,) = nlb.resources("AWS::EC2::VPC")
    assert (values["clusterName"], values["vpcId"]) == (f"${{{cluster_id}}}", f"${{{vpc_id}}}")
    assert values["region"] == "us-east-2"  # dev's region
    # No webhook that every Service creation in the cluster would depend on.
    assert values["enableServiceMutatorWebhook"] is False


def test_the_install_waits_for_the_controller_within_the_kubectl_lambdas_15_minutes(nlb):
    (chart,) = [r["Properties"] for r in nlb.resources("Custom::AWSCDK-EKS-HelmChart").values()
                if r["Properties"]["Chart"] == "aws-load-balancer-controller"]
    assert chart["Wait"] is True
    assert int(chart["Timeout"].removesuffix("s")) <= 10 * 60


def test_the_controller_runs_as_a_service_account_the_stack_creates(nlb):
    values = controller_release(nlb).values
    assert values["serviceAccount"] == {"create": False, "name": "aws-load-balancer-controller"}
    (account,) = [o for o in nlb.objects_of("ServiceAccount")
                  if o["metadata"]["name"] == "aws-load-balancer-controller"]
    assert account["metadata"]["namespace"] == "kube-system"
    # No IRSA annotation: the permissions come from Pod Identity.
    assert "annotations" not in account["metadata"]


def test_the_controller_gets_the_official_policy_through_pod_identity(nlb):
    (association,) = [a["Properties"] for a in nlb.resources("AWS::EKS::PodIdentityAssociation").values()
                      if a["Properties"]["ServiceAccount"] == "aws-load-balancer-controller"]
    assert association["Namespace"] == "kube-system"
    role_id = association["RoleArn"]["Fn::GetAtt"][0]
    role = nlb.template["Resources"][role_id]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert {s["Principal"]["Service"] for s in trust} == {"pods.eks.amazonaws.com"}
    assert {a for s in trust for a in s["Action"]} == {"sts:AssumeRole", "sts:TagSession"}
    assert "ManagedPolicyArns" not in role
    (policy,) = [p["Properties"] for p in nlb.resources("AWS::IAM::Policy").values()
                 if {"Ref": role_id} in p["Properties"]["Roles"]]
    upstream = json.loads(lbc.POLICY_FILE.read_text())["Statement"]
    deployed = policy["PolicyDocument"]["Statement"]
    # CDK may merge statements; what is granted must be exactly upstream's, with only arn:aws:
    # made partition-neutral.
    assert any("AWS::Partition" in json.dumps(s["Resource"]) for s in deployed)
    assert grants(deployed) == grants(upstream)


def grants(statements: list[dict]) -> set[tuple[str, str, str, str]]:
    """(effect, action, resource, condition) for every action x resource of every statement."""
    def listed(value) -> list:
        return value if isinstance(value, list) else [value]
    return {
        (s["Effect"], action, render_intrinsic(resource).replace("arn:${AWS::Partition}:", "arn:aws:"),
         json.dumps(s.get("Condition"), sort_keys=True))
        for s in statements for action in listed(s["Action"]) for resource in listed(s["Resource"])
    }


def test_the_policy_file_is_the_one_for_the_pinned_controller():
    assert lbc.POLICY_FILE.name == f"aws-load-balancer-controller-{lbc.CONTROLLER_VERSION}.json"
    assert lbc.CONTROLLER_VERSION.removeprefix("v") == lbc.CHART_VERSION  # equal from 3.0.0 on
    assert lbc.POLICY_FILE.exists()


def test_exactly_one_pod_identity_agent_add_on_with_the_controller(nlb):
    agents = [a for a in nlb.resources("AWS::EKS::Addon").values()
              if a["Properties"]["AddonName"] == "eks-pod-identity-agent"]
    assert len(agents) == 1


# --- the NLB Services --------------------------------------------------------------------------

def test_each_server_gets_an_internal_nlb_service_with_ip_targets_next_to_its_cluster_ip_service(nlb):
    services = {s["metadata"]["name"]: s for s in nlb.objects_of("Service")}
    for variant in VARIANTS:
        assert services[names.server_name(variant)]["spec"]["type"] == "ClusterIP"
        service = services[names.load_balancer_service_name(variant)]
        spec, annotations = service["spec"], service["metadata"]["annotations"]
        assert spec["type"] == "LoadBalancer"
        assert spec["loadBalancerClass"] == NLB_CLASS == "service.k8s.aws/nlb"
        assert spec["allocateLoadBalancerNodePorts"] is False
        assert spec["selector"] == services[names.server_name(variant)]["spec"]["selector"]
        assert [(p["port"], p["targetPort"]) for p in spec["ports"]] == [(names.SERVING_PORT, "http")]
        assert annotations[f"{LB}-scheme"] == "internal"
        assert annotations[f"{LB}-nlb-target-type"] == "ip"
        assert annotations[f"{LB}-target-group-attributes"] == "preserve_client_ip.enabled=false"
        assert (annotations[f"{LB}-healthcheck-protocol"], annotations[f"{LB}-healthcheck-path"]) == (
            "http", "/health")
    assert len(nlb_services(nlb)) == len(VARIANTS)


def test_every_kubernetes_object_validates_strictly_with_the_load_balancer(nlb):
    for obj in nlb.objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_network_policy_admits_the_vpc_on_the_serving_port_only_with_the_load_balancer(nlb, dev):
    (policy,) = nlb.objects_of("NetworkPolicy")
    rules = policy["spec"]["ingress"]
    by_ip = [r for r in rules if any("ipBlock" in p for p in r["from"])]
    assert by_ip == [{
        "from": [{"ipBlock": {"cidr": "10.64.0.0/16"}}],  # dev's network.vpc_cidr
        "ports": [{"port": names.SERVING_PORT, "protocol": "TCP"}],
    }]
    # The rules for in-cluster clients are those of the default policy, unchanged.
    (default,) = dev.objects_of("NetworkPolicy")
    assert [r for r in rules if r not in by_ip] == default["spec"]["ingress"]


def test_a_stack_output_says_how_to_find_the_nlb_dns_names(nlb):
    output = nlb.template["Outputs"]["InternalLoadBalancersCommand"]["Value"]
    assert output.startswith("kubectl -n specdec get svc vllm-speculative-nlb vllm-baseline-nlb ")
    assert ".status.loadBalancer.ingress[0].hostname" in output


# --- teardown ----------------------------------------------------------------------------------

def test_the_nlb_services_are_deleted_while_the_controller_still_runs(nlb):
    """CloudFormation deletes in reverse dependency order: the serving manifest (and its NLB
    Services) goes first, so the controller deletes the NLBs and lifts its finalizer."""
    chart = controller_release(nlb).logical_id
    for variant in VARIANTS:
        serving = manifest_holding(nlb, "Service", names.load_balancer_service_name(variant))
        assert chart in depends_on(nlb, serving)


def test_the_controller_outlives_what_it_needs_to_delete_the_nlbs(nlb):
    chart = controller_release(nlb).logical_id
    resources = nlb.template["Resources"]
    needed = depends_on(nlb, chart)
    kinds = {resources[i]["Type"] for i in needed}
    assert {"AWS::EKS::PodIdentityAssociation", "AWS::IAM::Policy", "AWS::EKS::Nodegroup"} <= kinds
    assert manifest_holding(nlb, "ServiceAccount", "aws-load-balancer-controller") in needed
    # The association is created after (deleted before) the Pod Identity agent.
    (association,) = [i for i in needed if resources[i]["Type"] == "AWS::EKS::PodIdentityAssociation"]
    agent = [i for i, a in nlb.resources("AWS::EKS::Addon").items()
             if a["Properties"]["AddonName"] == "eks-pod-identity-agent"]
    assert set(agent) <= depends_on(nlb, association)


def test_the_controller_is_deleted_before_the_subnets_routes_and_nat_gateway_of_the_vpc(nlb):
    graph = DependencyGraph(nlb.template)
    network = graph.of_type("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway", "AWS::EC2::Route")
    assert network and graph.not_deleted_before([controller_release(nlb).logical_id], network) == []


# --- gates ------------------------------------------------------------------------------------

def test_the_gates_pass_with_the_load_balancer(nlb):
    """cdk-nag and CloudFormation validation (inside synth), cfn-lint and checkov, as for the
    shipped environments (tests/test_gates.py)."""
    report = json.loads((nlb.outdir / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        assert plugin["conclusion"] == "success" and plugin["violations"] == [], plugin["pluginName"]
    lint = subprocess.run([Path(sys.executable).parent / "cfn-lint", "--config-file", ".cfnlintrc.yaml",
                           "--regions", "us-east-2", "--", str(nlb.template_path)],
                          capture_output=True, text=True)
    assert lint.returncode == 0, (lint.stdout + lint.stderr)[:3000]
    checkov = subprocess.run(["bash", "scripts/checkov.sh", str(nlb.template_path)],
                             capture_output=True, text=True)
    assert checkov.returncode == 0 and "failed 0," in checkov.stdout, checkov.stdout[-3000:]

"""What `cdk destroy` leaves behind, per environment (dev and ci nothing, prod only its data and
logs), and the order it deletes in, so that it finishes with no manual step.

The order is read from the template's dependency graph (tests/dependency_graph.py): CloudFormation
deletes a resource only after everything that depends on it, and deletes unrelated resources in
parallel. Each rule below names a trap that a missing edge would spring (docs/cluster.md, "Teardown").
"""

from __future__ import annotations

import json

import pytest

from cdk_constructs.model_cache import CSI_ADDON
from specdec import names
from specdec.config import load_environment
from specdec.manifests import HELM_TYPE, MANIFEST_TYPE, render_intrinsic
from tests.dependency_graph import DependencyGraph

# Logical resources that an environment may keep, by the setting that keeps them.
KEPT_BY_SETTING = {
    "retain_bucket": {"AWS::S3::Bucket"},
    "retain_results": {"AWS::S3::Bucket"},
    "retain_logs": {"AWS::Logs::LogGroup"},
}


def retained(synth) -> dict[str, str]:
    """logical id -> type of every resource CloudFormation keeps on delete or replacement."""
    return {
        logical_id: resource["Type"]
        for logical_id, resource in synth.template["Resources"].items()
        if "Retain" in (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
    }


@pytest.mark.parametrize("name", ["dev", "ci"])
def test_dev_and_ci_keep_nothing(shipped, name):
    assert retained(shipped[name]) == {}


def test_prod_keeps_its_model_and_results_buckets_and_every_log_group_and_nothing_else(shipped):
    prod, env = shipped["prod"], load_environment("prod")
    assert env.model_cache.retain_bucket and env.retain_logs and not env.model_cache.retain_file_system
    assert env.benchmark.retain_results
    kept_types = set(retained(prod).values())
    assert kept_types == KEPT_BY_SETTING["retain_bucket"] | KEPT_BY_SETTING["retain_logs"]
    kept_buckets = sorted(i for i, t in retained(prod).items() if t == "AWS::S3::Bucket")
    assert [i.startswith(("BenchmarkResults", "ModelCacheBucket")) for i in kept_buckets] == [True, True]
    # Every log group, including those aws-cdk-lib creates for the kubectl provider's Lambdas.
    log_groups = prod.resources("AWS::Logs::LogGroup")
    assert len(log_groups) >= 3 and set(log_groups) <= set(retained(prod))


def test_a_loadbalancer_service_exists_only_with_the_internal_load_balancer_and_then_after_its_controller(
        shipped, load_balanced):
    """A cloud load balancer made by Kubernetes keeps network interfaces and security groups in the
    VPC until its controller deletes it (aws/aws-cdk#9970). So a LoadBalancer Service exists only
    when serving.internal_load_balancer is true, and then the manifest that applies it depends on
    the AWS Load Balancer Controller's chart: CloudFormation deletes the Service while the
    controller still runs (tests/test_load_balancer.py checks the rest of the chain)."""
    def load_balancer_services(synth) -> list[dict]:
        return [s for s in synth.objects_of("Service") if s["spec"].get("type", "ClusterIP") != "ClusterIP"]

    for name, synth in shipped.items():
        assert not load_environment(name).serving.internal_load_balancer, name
        assert load_balancer_services(synth) == [], name

    enabled = load_balanced
    (chart,) = [r.logical_id for r in enabled.helm if r.chart == "aws-load-balancer-controller"]
    services = load_balancer_services(enabled)
    assert services and all(s["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb" for s in services)
    applying = [r for r in enabled.resources(MANIFEST_TYPE).values()
                if any(o in services for o in json.loads(render_intrinsic(r["Properties"]["Manifest"])))]
    assert applying and all(chart in r["DependsOn"] for r in applying)


# --- the order of deletion -----------------------------------------------------------------------

KUBECTL_PROVIDER_TYPES = (MANIFEST_TYPE, HELM_TYPE)
NETWORK_TYPES = ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway", "AWS::EC2::Route",
                 "AWS::EC2::InternetGateway", "AWS::EC2::VPCGatewayAttachment")
TEARDOWN_CASES = ["dev", "ci", "load-balanced"]


@pytest.fixture(params=TEARDOWN_CASES)
def synth(request, shipped, load_balanced):
    """The shipped dev and ci, and dev with serving.internal_load_balancer."""
    return load_balanced if request.param == "load-balanced" else shipped[request.param]


def manifests(synth) -> dict[str, list[dict]]:
    """logical id -> the Kubernetes objects that manifest resource applies."""
    return {logical_id: json.loads(render_intrinsic(r["Properties"]["Manifest"]))
            for logical_id, r in synth.resources(MANIFEST_TYPE).items()}


def holding(synth, predicate) -> set[str]:
    return {i for i, objects in manifests(synth).items() if any(predicate(o) for o in objects)}


def mounts_the_model_cache(obj: dict) -> bool:
    spec = obj.get("spec", {})
    template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
    volumes = template.get("spec", {}).get("volumes", [])
    return any(v.get("persistentVolumeClaim", {}).get("claimName") == names.MODEL_CACHE_CLAIM
               for v in volumes)


def role_of(synth, principal: dict) -> str | None:
    """The role logical id an ARN value points at (Fn::GetAtt Role.Arn), if it is one of the stack's."""
    target = principal.get("Fn::GetAtt", [None])[0] if isinstance(principal, dict) else None
    return target if target in synth.resources("AWS::IAM::Role") else None


def test_the_graph_follows_depends_on_ref_getatt_and_sub_transitively():
    graph = DependencyGraph({"Resources": {
        "Service": {"Type": "T", "DependsOn": "Chart"},
        "Chart": {"Type": "T", "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
        "Role": {"Type": "T", "Properties": {"Name": {"Fn::Sub": "${Vpc}-${AWS::Region}-${!Literal}"}}},
        "Vpc": {"Type": "T", "Properties": {"Peer": {"Ref": "Subnet"}}},
        "Subnet": {"Type": "T"},
        "Unrelated": {"Type": "T", "Properties": {"Name": {"Fn::Sub": ["${Local}", {"Local": "x"}]}}},
    }})
    assert graph.direct("Role") == {"Vpc"}
    assert graph.dependencies("Service") == {"Chart", "Role", "Vpc", "Subnet"}
    assert graph.deleted_before("Service", "Subnet") and not graph.deleted_before("Subnet", "Service")
    assert graph.dependencies("Unrelated") == set()
    assert graph.not_deleted_before(["Unrelated", "Service"], ["Subnet"]) == [("Unrelated", "Subnet")]


def test_the_kubectl_providers_resources_are_deleted_before_its_access_entry(synth):
    """aws/aws-cdk#34897: a manifest or Helm release deleted after the access entry of the kubectl
    provider's role gets "Unauthorized" and hangs or fails the delete. aws-cdk-lib 2.275 makes every
    one depend on a kubectl-ready barrier that depends on that entry; this holds it to that."""
    graph = DependencyGraph(synth.template)
    kubectl = graph.of_type(*KUBECTL_PROVIDER_TYPES)
    # The role the provider's handler Lambda runs as: a dependency of every kubectl resource.
    handler_roles = {role_of(synth, synth.template["Resources"][f]["Properties"]["Role"])
                     for k in kubectl for f in graph.dependencies(k)
                     if synth.template["Resources"][f]["Type"] == "AWS::Lambda::Function"}
    entries = {i for i, e in synth.resources("AWS::EKS::AccessEntry").items()
               if role_of(synth, e["Properties"]["PrincipalArn"]) in handler_roles}
    assert kubectl and len(entries) == 1
    assert graph.not_deleted_before(kubectl, entries) == []


def test_the_kubectl_providers_resources_are_deleted_while_it_can_still_reach_aws(synth):
    """The provider's handler runs in the private subnets and calls the EKS API (update-kubeconfig)
    through the NAT gateway on every delete: routes and NAT go after the last kubectl resource."""
    graph = DependencyGraph(synth.template)
    kubectl = graph.of_type(*KUBECTL_PROVIDER_TYPES)
    assert graph.not_deleted_before(kubectl, graph.of_type(*NETWORK_TYPES)) == []


def test_load_balancer_services_are_deleted_while_the_controller_runs_and_before_the_network(load_balanced):
    """aws/aws-cdk#9970: an NLB made for a Service keeps interfaces and a security group in the VPC
    until the AWS Load Balancer Controller deletes it, which it does only while it runs. `kubectl
    delete` waits for the controller's finalizer, so a Service deleted first means a gone NLB."""
    graph = DependencyGraph(load_balanced.template)
    services = holding(load_balanced, lambda o: o["kind"] == "Service"
                       and o["spec"].get("type") == "LoadBalancer")
    (controller,) = [r.logical_id for r in load_balanced.helm if r.chart == "aws-load-balancer-controller"]
    assert services
    assert graph.not_deleted_before(services, [controller]) == []
    # tests/test_load_balancer.py: its nodes, credentials and permissions outlive the controller too.
    assert graph.not_deleted_before([controller], graph.of_type(*NETWORK_TYPES)) == []


def test_the_model_cache_claim_is_deleted_before_the_file_system_and_the_csi_driver(synth):
    graph = DependencyGraph(synth.template)
    claims = holding(synth, lambda o: o["kind"] in ("PersistentVolumeClaim", "PersistentVolume"))
    file_systems = graph.of_type("AWS::FSx::FileSystem")
    csi_driver = {i for i, a in synth.resources("AWS::EKS::Addon").items()
                  if a["Properties"]["AddonName"] == CSI_ADDON}
    assert claims and file_systems and csi_driver
    assert graph.not_deleted_before(claims, file_systems | csi_driver) == []


def test_every_pod_that_mounts_the_cache_is_deleted_before_its_claim(synth):
    """Deleting a Deployment or Job leaves its pods to terminate in the background, but a claim in
    use keeps its pvc-protection finalizer: `kubectl delete` of the claim waits until the last pod
    that mounts it is gone. So every workload that mounts the cache goes before (or with) the claim,
    and through it before the file system, whose network interfaces then leave the subnet."""
    graph = DependencyGraph(synth.template)
    (claim,) = holding(synth, lambda o: o["kind"] == "PersistentVolumeClaim")
    workloads = holding(synth, mounts_the_model_cache)
    assert workloads - {claim}, "no server mounts the model cache"
    assert graph.not_deleted_before(workloads - {claim}, [claim]) == []


def test_the_file_system_is_deleted_before_its_subnet_and_security_group(synth):
    """CloudFormation waits for an FSx deletion to finish, interfaces included: the subnet and
    security group it sits in go after it."""
    graph = DependencyGraph(synth.template)
    (file_system,) = graph.of_type("AWS::FSx::FileSystem")
    properties = synth.template["Resources"][file_system]["Properties"]
    placed_in = {value.get("Ref") or value["Fn::GetAtt"][0]
                 for key in ("SubnetIds", "SecurityGroupIds") for value in properties[key]}
    assert {synth.template["Resources"][i]["Type"] for i in placed_in} == {
        "AWS::EC2::Subnet", "AWS::EC2::SecurityGroup"}
    assert graph.not_deleted_before([file_system], placed_in) == []

"""What `cdk destroy` leaves behind, per environment: dev and ci nothing, prod only its data and logs."""

from __future__ import annotations

import json

import pytest

from specdec.config import load_environment
from specdec.manifests import MANIFEST_TYPE, render_intrinsic

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
        shipped, synth_custom):
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

    enabled = synth_custom("teardown-nlb", {"serving": {"internal_load_balancer": True}})
    (chart,) = [r.logical_id for r in enabled.helm if r.chart == "aws-load-balancer-controller"]
    services = load_balancer_services(enabled)
    assert services and all(s["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb" for s in services)
    applying = [r for r in enabled.resources(MANIFEST_TYPE).values()
                if any(o in services for o in json.loads(render_intrinsic(r["Properties"]["Manifest"])))]
    assert applying and all(chart in r["DependsOn"] for r in applying)

"""What `cdk destroy` leaves behind, per environment: dev and ci nothing, prod only its data and logs."""

from __future__ import annotations

import pytest

from specdec.config import load_environment

# Logical resources that an environment may keep, by the setting that keeps them.
KEPT_BY_SETTING = {
    "retain_bucket": {"AWS::S3::Bucket"},
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


def test_prod_keeps_its_model_bucket_and_every_log_group_and_nothing_else(shipped):
    prod, env = shipped["prod"], load_environment("prod")
    assert env.model_cache.retain_bucket and env.retain_logs and not env.model_cache.retain_file_system
    kept_types = set(retained(prod).values())
    assert kept_types == KEPT_BY_SETTING["retain_bucket"] | KEPT_BY_SETTING["retain_logs"]
    # Every log group, including those aws-cdk-lib creates for the kubectl provider's Lambdas.
    log_groups = prod.resources("AWS::Logs::LogGroup")
    assert len(log_groups) >= 3 and set(log_groups) <= set(retained(prod))


def test_no_kubernetes_service_creates_a_cloud_load_balancer_that_would_block_vpc_deletion(shipped):
    for synth in shipped.values():
        for service in synth.objects_of("Service"):
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]

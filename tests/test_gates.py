"""Offline gates on everything the app synthesizes, for every shipped environment.

cfn-lint (no errors; warnings only where .cfnlintrc.yaml ignores a rule with its reason),
cdk-nag AwsSolutions (no open finding; every acknowledgment has a reason) and strict
Kubernetes schema validation for the cluster's own Kubernetes version.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest

from specdec.config import load_environment
from tests.conftest import SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_cfn_lint_finds_nothing_in_the_environments_region(shipped, name):
    region = load_environment(name).region  # instance types and services are checked per region
    result = subprocess.run(
        [Path(sys.executable).parent / "cfn-lint", "--config-file", ".cfnlintrc.yaml",
         "--regions", region, "--", str(shipped[name].template_path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[:3000]


@pytest.mark.parametrize("name", SHIPPED)
def test_validation_plugins_have_no_open_finding_and_every_acknowledgment_has_a_reason(shipped, name):
    """cdk-nag AwsSolutions and aws-cdk-lib's built-in CloudFormation validation."""
    report = json.loads((shipped[name].outdir / "validation-report.json").read_text())
    plugins = {p["pluginName"]: p for p in report["pluginReports"]}
    assert {"AwsSolutions", "CloudFormation Validate"} <= set(plugins)
    for plugin in plugins.values():
        assert plugin["conclusion"] == "success"
        assert plugin["violations"] == [], [v["ruleName"] for v in plugin["violations"]]
        for acknowledged in plugin.get("suppressedViolations", []):
            assert len(acknowledged["reason"]) >= 20, acknowledged["ruleName"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_kubernetes_object_validates_strictly_for_the_cluster_version(shipped, name):
    version = load_environment(name).cluster.kubernetes_version + ".0"
    objects = shipped[name].objects
    assert objects, "the stack applies no Kubernetes objects"
    for obj in objects:
        label = f"{obj['kind']}/{obj['metadata'].get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name}: {label}: {error.message} at {list(error.path)}")


def test_checkov_reports_no_failed_check_that_is_not_skipped_with_a_reason(shipped):
    """checkov runs from its own virtual environment (scripts/checkov.sh); skips live in .checkov.yaml."""
    templates = [str(s.template_path) for s in shipped.values()]
    result = subprocess.run(["bash", "scripts/checkov.sh", *templates], capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert result.stdout.count("failed 0,") == len(templates)

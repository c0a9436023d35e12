"""The CI role stack: whom it trusts, what it may do, and the same gates as SpecDecStack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

from specdec.config import load_environment
from specdec.validation import UserError
from stacks.assembly import PROJECT_CONTEXT
from stacks.ci_role_stack import STACK_ID, SpecDecCiRoleStack

REPOSITORY = "example-org/specdec"


def synth(outdir: Path, **kwargs) -> tuple[dict, dict, Path]:
    """(template, validation report, template path) of the CI role stack for ci, as app.py builds it."""
    app = cdk.App(outdir=str(outdir), context={**PROJECT_CONTEXT, "env": "ci"})
    stack = SpecDecCiRoleStack(app, STACK_ID, environment=load_environment("ci"), repository=REPOSITORY,
                               **kwargs)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    path = outdir / f"{stack.artifact_id}.template.json"
    return (json.loads(path.read_text()), json.loads((outdir / "validation-report.json").read_text()), path)


@pytest.fixture(scope="module")
def ci_role(tmp_path_factory):
    return synth(tmp_path_factory.mktemp("ci-role"))


def _role(template: dict) -> dict:
    (role,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    return role


def _statements(template: dict) -> list[dict]:
    return [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def test_only_the_repositorys_e2e_environment_can_assume_it_with_the_sts_audience(ci_role):
    template, _, _ = ci_role
    (trust,) = _role(template)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:environment:specdec-ci",
    }}
    (provider,) = [r["Properties"] for r in template["Resources"].values()
                   if r["Type"] == "AWS::IAM::OIDCProvider"]
    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["ClientIdList"] == ["sts.amazonaws.com"]
    # The session outlives the job (6 hours) so the teardown at its end still has credentials.
    assert _role(template)["MaxSessionDuration"] == 6 * 3600


def test_an_existing_oidc_provider_is_reused_not_created(tmp_path):
    arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    template, _, _ = synth(tmp_path, oidc_provider_arn=arn)
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::OIDCProvider"]
    (trust,) = _role(template)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Federated": arn}


def test_no_admin_action_and_no_write_without_a_scope(ci_role):
    template, _, _ = ci_role
    statements = _statements(template)
    actions = [a for s in statements for a in _listed(s["Action"])]
    assert actions and not [a for a in actions if a == "*" or a.endswith(":*") or a.startswith("iam:")]
    tags = load_environment("ci").tags
    for statement in statements:
        writes = [a for a in _listed(statement["Action"]) if a.split(":")[1].startswith(("Delete", "Revoke"))]
        if writes and statement["Resource"] == "*":
            assert statement["Condition"] == {"StringEquals": {
                f"aws:ResourceTag/{key}": value for key, value in tags.items()}}, writes
            assert statement["Condition"]["StringEquals"]["aws:ResourceTag/environment"] == "ci"


def test_it_deploys_through_the_cdk_bootstrap_roles_and_reads_only_its_results(ci_role):
    template, _, _ = ci_role
    statements = _statements(template)
    (assume,) = [s for s in statements if "sts:AssumeRole" in _listed(s["Action"])]
    assert sorted(assume["Resource"]) == sorted(
        f"arn:aws:iam::123456789012:role/cdk-hnb659fds-{role}-123456789012-us-east-2"
        for role in ("deploy-role", "file-publishing-role", "lookup-role"))
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _listed(s["Action"]))]
    assert {a for s in s3 for a in _listed(s["Action"])} == {"s3:ListBucket", "s3:GetObject"}
    (listing,) = [s for s in s3 if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["benchmarks/ci/*"]}}


def test_cdk_nag_finds_nothing_open_and_every_acknowledgment_has_a_reason(ci_role):
    _, report, _ = ci_role
    plugins = {p["pluginName"]: p for p in report["pluginReports"]}
    nag = plugins["AwsSolutions"]
    assert nag["conclusion"] == "success" and nag["violations"] == [], [
        (v["ruleName"], v["violatingResources"][0].get("locations")) for v in nag["violations"]]
    for acknowledged in nag.get("suppressedViolations", []):
        assert len(acknowledged["reason"]) >= 20, acknowledged["ruleName"]


def test_cfn_lint_finds_nothing(ci_role):
    _, _, path = ci_role
    result = subprocess.run([Path(sys.executable).parent / "cfn-lint", "--config-file", ".cfnlintrc.yaml",
                             "--regions", "us-east-2", "--", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[:3000]


@pytest.mark.parametrize("repository", ["specdec", "org/repo/extra", "org name/repo", ""])
def test_a_malformed_repository_is_one_line(tmp_path, repository):
    app = cdk.App(outdir=str(tmp_path))
    with pytest.raises(UserError, match="github_repository=.* is not allowed: OWNER/REPO"):
        SpecDecCiRoleStack(app, STACK_ID, environment=load_environment("ci"), repository=repository)

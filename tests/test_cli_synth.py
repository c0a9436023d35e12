"""`cdk synth SpecDecStack -c env=NAME` works offline, exactly as the README says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("npx") is None or not (REPO / "node_modules").exists(),
                    reason="the pinned CDK CLI is installed by `make setup`")
def test_cdk_cli_synthesizes_with_no_credentials_and_names_the_stack_per_environment(shipped, tmp_path):
    no_aws = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    no_aws |= {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
               "AWS_EC2_METADATA_DISABLED": "true", "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "SpecDecStack", "-c", "env=ci", "--quiet",
         "--output", str(tmp_path)],
        cwd=REPO, env=no_aws, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    stack = manifest["artifacts"]["SpecDecStack"]
    assert stack["properties"]["stackName"] == "specdec-ci"
    assert stack["environment"] == "aws://123456789012/us-east-2"
    # The tests' in-process synth builds exactly what the CLI builds (same feature flags).
    cli_template = json.loads((tmp_path / "SpecDecStack.template.json").read_text())
    assert without_cli_metadata(cli_template) == without_cli_metadata(shipped["ci"].template)
    context_file = REPO / "cdk.context.json"  # where the CLI caches account lookups
    if context_file.exists():
        assert json.loads(context_file.read_text()) == {}, "synth looked something up in an account"


def without_cli_metadata(template: dict) -> dict:
    """The template less what only the CLI adds: construct paths, asset paths, version reporting."""
    resources = {
        logical_id: {**resource, "Metadata": {k: v for k, v in resource.get("Metadata", {}).items()
                                              if not k.startswith(("aws:cdk:", "aws:asset:"))}}
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] != "AWS::CDK::Metadata"
    }
    conditions = {k: v for k, v in template.get("Conditions", {}).items() if k != "CDKMetadataAvailable"}
    return {**template, "Resources": resources, "Conditions": conditions}

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
def test_cdk_cli_synthesizes_with_no_credentials_and_names_the_stack_per_environment(tmp_path):
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
    context_file = REPO / "cdk.context.json"  # where the CLI caches account lookups
    if context_file.exists():
        assert json.loads(context_file.read_text()) == {}, "synth looked something up in an account"

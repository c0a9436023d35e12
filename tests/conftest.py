"""Shared by the tests: every shipped environment synthesized once per session, and a moto account."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

# Imported before any test runs: moto registers its botocore hook in botocore's handler list when
# it is first imported, and a test that swaps that list (tests/test_janitor.py) must not hide it.
from moto import mock_aws

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from specdec.config import (  # noqa: E402
    ENVIRONMENTS_DIR,
    ConfigError,
    available_environments,
    load_environment,
    parse_environment,
)
from specdec.manifests import helm_releases, kubernetes_objects  # noqa: E402
from stacks.assembly import build_app  # noqa: E402

SHIPPED = available_environments()


@dataclass
class Synthesized:
    name: str
    outdir: Path
    template_path: Path
    template: dict
    objects: list[dict]
    helm: list

    def resources(self, type_: str) -> dict[str, dict]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == type_}

    def only(self, type_: str) -> dict:
        found = list(self.resources(type_).values())
        assert len(found) == 1, f"expected one {type_}, found {len(found)}"
        return found[0]["Properties"]

    def objects_of(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]


def synthesize(environment, outdir: Path) -> Synthesized:
    app, stack = build_app(environment, outdir=str(outdir))
    app.synth()
    template_path = outdir / f"{stack.artifact_id}.template.json"
    template = json.loads(template_path.read_text())
    return Synthesized(environment.name, outdir, template_path, template,
                       kubernetes_objects(template), helm_releases(template))


@pytest.fixture(scope="session")
def shipped(tmp_path_factory) -> dict[str, Synthesized]:
    """name -> synthesized stack, for every file in environments/."""
    return {name: synthesize(load_environment(name), tmp_path_factory.mktemp(f"cdk-{name}"))
            for name in SHIPPED}


@pytest.fixture(scope="session")
def dev(shipped) -> Synthesized:
    return shipped["dev"]


@pytest.fixture(scope="session")
def synth_custom(tmp_path_factory):
    """Synthesize an environment that is not in the repo: dev's file with overrides merged in."""
    base = json.loads(Path("environments/dev.json").read_text())

    def _synth(name: str, overrides: dict) -> Synthesized:
        return synthesize(parse_environment(name, deep_merge(base, overrides), f"{name}.json"),
                          tmp_path_factory.mktemp(f"cdk-{name}"))
    return _synth


@pytest.fixture(scope="session")
def load_balanced(synth_custom) -> Synthesized:
    """dev with serving.internal_load_balancer: the controller and the NLB Services, synthesized once."""
    return synth_custom("load-balanced", {"serving": {"internal_load_balancer": True}})


@pytest.fixture
def moto_session(monkeypatch):
    """A boto3 session in us-east-2 against moto's account (123456789012), with no real profile
    or credentials within reach."""
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name="us-east-2")


def deep_merge(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def rejections(overrides: dict, *, drop: tuple[str, ...] = ()) -> list[str]:
    """The one-line problems reported for dev.json with `overrides` merged in (and the top-level
    keys in `drop` removed), read from a file called `bad.json`."""
    data = deep_merge(json.loads((ENVIRONMENTS_DIR / "dev.json").read_text()), overrides)
    for key in drop:
        data.pop(key)
    with pytest.raises(ConfigError) as raised:
        parse_environment("bad", data, "bad.json")
    return raised.value.problems

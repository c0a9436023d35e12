"""Synthesizes every shipped environment once per test session and shares the result."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

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

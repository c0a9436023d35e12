"""`python -m specdec summary`: what a synth produced, in words a person reads in ten seconds.

Reads the cloud assembly (cdk.out) only, so it describes exactly what `cdk deploy` would send,
and writes every Kubernetes object the stack applies to `<cdk.out>/manifests/` as YAML.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import yaml

from specdec import names
from specdec.manifests import helm_releases, kubernetes_objects


def _stack_artifact(outdir: Path) -> dict:
    if not (outdir / "manifest.json").is_file():
        raise SystemExit(f"{outdir}: no cloud assembly here; run `make synth` first")
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = [a for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"]
    if len(stacks) != 1:
        raise SystemExit(f"{outdir}: expected one stack in the cloud assembly, found {len(stacks)}")
    return stacks[0]


def _nodegroups(resources: dict) -> list[str]:
    lines = []
    for resource in resources.values():
        if resource["Type"] != "AWS::EKS::Nodegroup":
            continue
        props = resource["Properties"]
        types = props.get("InstanceTypes") or _launch_template_instance_type(resources, props)
        scaling = props.get("ScalingConfig", {})
        name = props.get("NodegroupName", "(generated name)")
        lines.append(
            f"{name}: {', '.join(types)} x{scaling.get('DesiredSize', '?')} "
            f"(min {scaling.get('MinSize', '?')}, max {scaling.get('MaxSize', '?')}), "
            f"{props.get('AmiType', '?')}, {props.get('CapacityType', 'ON_DEMAND')}"
        )
    return lines


def _launch_template_instance_type(resources: dict, nodegroup: dict) -> list[str]:
    ref = nodegroup.get("LaunchTemplate", {}).get("Id", {})
    logical_id = ref.get("Ref") if isinstance(ref, dict) else None
    data = resources.get(logical_id, {}).get("Properties", {}).get("LaunchTemplateData", {})
    return [data["InstanceType"]] if "InstanceType" in data else ["(unset)"]


def _validation_results(outdir: Path) -> list[str]:
    report_path = outdir / "validation-report.json"
    if not report_path.exists():
        return ["no validation report: synthesized without the validation plugins"]
    return [
        f"{plugin['pluginName']} {plugin['conclusion']}: {len(plugin['violations'])} open findings, "
        f"{len(plugin.get('suppressedViolations', []))} acknowledged with a reason"
        for plugin in json.loads(report_path.read_text()).get("pluginReports", [])
    ]


def _wrapped(label: str, items: list[str]) -> str:
    return textwrap.fill(", ".join(items), width=100, initial_indent=f"{label:<13}",
                         subsequent_indent=" " * 13, break_on_hyphens=False)


def write_manifests(objects: list[dict], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    paths = []
    for i, obj in enumerate(objects, start=1):
        meta = obj.get("metadata", {})
        name = "-".join(p for p in (meta.get("namespace"), meta.get("name")) if p)
        path = directory / f"{i:02d}-{obj['kind'].lower()}-{name}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        paths.append(path)
    return paths


def _servers(objects: list[dict]) -> list[str]:
    """One line per vLLM server: its image tag, and its draft and k when it speculates."""
    lines = []
    for o in objects:
        labels = o["metadata"].get("labels", {})
        if o["kind"] != "Deployment" or labels.get(names.COMPONENT_LABEL) != names.SERVER_COMPONENT:
            continue
        container = o["spec"]["template"]["spec"]["containers"][0]
        command, tag = container["command"], container["image"].rsplit(":", 1)[-1]
        if "--speculative-config" in command:
            spec = json.loads(command[command.index("--speculative-config") + 1])
            draft = spec["model"].removeprefix(f"{names.MODELS_DIR}/")
            what = f"{spec['method']} draft {draft}, k={spec['num_speculative_tokens']}"
        else:
            what = "no draft (baseline)"
        lines.append(f"{o['metadata']['name']}: {what}, image {tag}")
    return lines


def _monitoring(resources: dict) -> list[str]:
    dashboards = [r["Properties"]["DashboardName"] for r in resources.values()
                  if r["Type"] == "AWS::CloudWatch::Dashboard"]
    alarms = sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in resources.values())
    return [f"dashboard {name} with {alarms} alarms" for name in dashboards] or ["off"]


def summarize(outdir: Path) -> str:
    artifact = _stack_artifact(outdir)
    template_path = outdir / artifact["properties"]["templateFile"]
    template = json.loads(template_path.read_text())
    resources = template["Resources"]
    objects = kubernetes_objects(template)
    manifests_dir = outdir / "manifests"
    write_manifests(objects, manifests_dir)

    account_region = artifact["environment"].removeprefix("aws://")
    by_type = Counter(r["Type"] for r in resources.values())
    kinds = Counter(o["kind"] for o in objects)
    stack_name = artifact["properties"].get("stackName", artifact["displayName"])
    env_name = stack_name.removeprefix("specdec-")
    lines = [
        f"stack        {stack_name} (select it as {artifact['displayName']}) in {account_region}",
        f"template     {template_path} ({len(resources)} resources)",
        _wrapped("resources", [f"{t.removeprefix('AWS::')} {n}" for t, n in sorted(by_type.items())]),
        *(f"node group   {line}" for line in _nodegroups(resources)),
        _wrapped("kubernetes", [f"{k} {n}" for k, n in sorted(kinds.items())] or ["none"]),
        *(f"server       {line}" for line in _servers(objects)),
        *(f"monitoring   {line}" for line in _monitoring(resources)),
        *(f"helm         {h.release or h.chart} {h.version} from {h.repository} into {h.namespace}"
          for h in helm_releases(template)),
        *(f"validation   {line}" for line in _validation_results(outdir)),
        f"manifests    {manifests_dir}/ ({len(objects)} files)",
        f"next         python -m specdec preflight -e {env_name}, then "
        f"npx cdk deploy {artifact['displayName']} -c env={env_name}   (README, 'Deploying for real')",
    ]
    return "\n".join(lines)

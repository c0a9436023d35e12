"""Reads what the CDK app applies to Kubernetes out of a synthesized CloudFormation template.

The template is the single source of truth for what `cdk deploy` applies: manifests travel in
`Custom::AWSCDK-EKS-KubernetesResource` resources and Helm releases in
`Custom::AWSCDK-EKS-HelmChart`. Values only known at deploy time (ARNs, DNS names) are
intrinsic functions there; they are rendered as `${Logical.Attr}` placeholders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MANIFEST_TYPE = "Custom::AWSCDK-EKS-KubernetesResource"
HELM_TYPE = "Custom::AWSCDK-EKS-HelmChart"


@dataclass(frozen=True)
class HelmRelease:
    logical_id: str
    chart: str
    repository: str
    version: str
    namespace: str
    release: str
    values: dict


def render_intrinsic(value: Any) -> str:
    """Best-effort text for a CloudFormation value: literals as is, intrinsics as placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(render_intrinsic(p) for p in parts)
        if fn == "Ref":
            return f"${{{arg}}}"
        if fn == "Fn::GetAtt":
            path = ".".join(arg if isinstance(arg, list) else [arg])
            return f"${{{path}}}"
        if fn == "Fn::Select":
            return "${Select}"
    return "${Token}"


def kubernetes_objects(template: dict) -> list[dict]:
    """Every Kubernetes object the stack applies with kubectl, in template order."""
    objects: list[dict] = []
    for resource in template.get("Resources", {}).values():
        if resource["Type"] == MANIFEST_TYPE:
            objects += json.loads(render_intrinsic(resource["Properties"]["Manifest"]))
    return objects


def helm_releases(template: dict) -> list[HelmRelease]:
    releases = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] != HELM_TYPE:
            continue
        props = resource["Properties"]
        values = props.get("Values")
        releases.append(HelmRelease(
            logical_id=logical_id,
            chart=props.get("Chart", ""),
            repository=props.get("Repository", ""),
            version=props.get("Version", ""),
            namespace=props.get("Namespace", "default"),
            release=props.get("Release", ""),
            values=json.loads(render_intrinsic(values)) if values else {},
        ))
    return releases

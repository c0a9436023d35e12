"""The serving namespace; applied first so every other chart can land in it."""

from __future__ import annotations

import cdk8s
from cdk8s_plus_36 import k8s
from constructs import Construct


class NamespaceChart(cdk8s.Chart):
    def __init__(self, scope: Construct, id: str, *, namespace: str) -> None:
        super().__init__(scope, id)
        k8s.KubeNamespace(
            self, "Namespace",
            metadata=k8s.ObjectMeta(
                name=namespace,
                # Pod Security Admission: serving pods need hostPath-free, non-privileged specs.
                labels={
                    "app.kubernetes.io/part-of": "specdec",
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            ),
        )

"""I/O: the Kubernetes API (server pods, Trn2 nodes) and the servers' /metrics.

Plain HTTPS with the pod's service-account token: two list calls do not justify the kubernetes
client, whose current release (37) requires a python-dateutil that botocore refuses.
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.request import Request, urlopen

ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Pod:
    name: str
    variant: str
    ip: str | None
    ready: bool


def _ready(conditions: list[dict] | None) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions or [])


class KubernetesApi:
    def __init__(self, base_url: str, token_file: Path | None = None, ca_file: Path | None = None):
        self.base_url, self.token_file = base_url, token_file
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    @classmethod
    def in_cluster(cls) -> KubernetesApi:
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
        return cls(f"https://{host}:{port}", ACCOUNT_DIR / "token", ACCOUNT_DIR / "ca.crt")

    def _list(self, path: str, selector: str) -> list[dict]:
        headers = {"Accept": "application/json"}
        if self.token_file:
            # Read every time: the kubelet rotates projected tokens.
            headers["Authorization"] = f"Bearer {self.token_file.read_text().strip()}"
        request = Request(f"{self.base_url}{path}?labelSelector={selector}", headers=headers)
        with urlopen(request, timeout=TIMEOUT_SECONDS, context=self.context) as response:
            return json.load(response)["items"]

    def server_pods(self, namespace: str, component_label: str, component: str,
                    variant_label: str) -> list[Pod]:
        items = self._list(f"/api/v1/namespaces/{namespace}/pods", f"{component_label}%3D{component}")
        return [Pod(item["metadata"]["name"], item["metadata"].get("labels", {}).get(variant_label, ""),
                    item.get("status", {}).get("podIP"), _ready(item.get("status", {}).get("conditions")))
                for item in items]

    def ready_nodes(self, node_group: str) -> int:
        items = self._list("/api/v1/nodes", f"eks.amazonaws.com%2Fnodegroup%3D{node_group}")
        return sum(_ready(item.get("status", {}).get("conditions")) for item in items)


def scrape(url: str) -> str:
    with urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        return response.read().decode("utf-8")

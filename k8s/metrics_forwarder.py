"""The metrics forwarder's Deployment (specdec/forwarder): one small pod on the system nodes that
scrapes every vLLM server and puts latency percentiles, throughput, queue depth, speculation
counters, ready servers and ready Trn2 nodes in CloudWatch.

Like the benchmark, it is the pinned Python image plus SpecDec's code from a ConfigMap and
requirements-forwarder.txt installed at start (k8s/shipped_code.py).
"""

from __future__ import annotations

import hashlib
import json
import shlex

import cdk8s
from cdk8s_plus_36 import k8s
from constructs import Construct

from k8s.shipped_code import CODE_MOUNT, config_map_key, package_files, pip_install, python_pod_spec, read
from specdec import names
from specdec.config import Environment
from specdec.vllm_metrics import engine_of

SHIPPED_FILES = [
    "specdec/__init__.py", "specdec/names.py", "specdec/validation.py", "specdec/vllm_metrics.py",
    *package_files("specdec/forwarder"), "requirements-forwarder.txt",
]
# Container Insights and CloudWatch's own dashboards work in one-minute periods.
INTERVAL_SECONDS = 60


def forwarder_settings(environment: Environment) -> dict:
    """What specdec/forwarder/forward.py's Settings reads."""
    serving = environment.serving
    variants = {v.name: {"speculative": v.speculative, "engine": engine_of(v).generation}
                for v in serving.resolved_variants()}
    return {"environment": environment.name, "namespace": serving.namespace,
            "node_group": environment.accelerator_nodegroup_name, "port": names.SERVING_PORT,
            "variants": variants}


class MetricsForwarderChart(cdk8s.Chart):
    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        namespace = environment.serving.namespace
        super().__init__(scope, id, namespace=namespace)
        files = read(SHIPPED_FILES)
        settings = json.dumps(forwarder_settings(environment), separators=(",", ":"))
        command = (
            f"{pip_install('requirements-forwarder.txt')}\n"
            f"cd {CODE_MOUNT}\n"
            "exec python -m specdec.forwarder "
            + shlex.join(["--config", settings, "--metrics-namespace", names.BENCHMARK_METRICS_NAMESPACE,
                          "--interval", str(INTERVAL_SECONDS)])
        )
        # A new ConfigMap name when the code changes rolls the Deployment.
        digest = hashlib.sha256(json.dumps(files).encode()).hexdigest()[:8]
        code = k8s.KubeConfigMap(
            self, "Code", metadata=k8s.ObjectMeta(name=f"{names.FORWARDER_NAME}-{digest}"),
            data={config_map_key(path): text for path, text in files.items()},
        )
        account = names.FORWARDER_SERVICE_ACCOUNT
        k8s.KubeServiceAccount(self, "ServiceAccount", metadata=k8s.ObjectMeta(name=account))
        subject = [k8s.Subject(kind="ServiceAccount", name=account, namespace=namespace)]
        # Read-only: the server pods of this namespace, and the nodes (to count ready Trn2 nodes).
        k8s.KubeRole(self, "Pods", metadata=k8s.ObjectMeta(name=names.FORWARDER_NAME),
                     rules=[k8s.PolicyRule(api_groups=[""], resources=["pods"], verbs=["list"])])
        k8s.KubeRoleBinding(self, "PodsBinding", metadata=k8s.ObjectMeta(name=names.FORWARDER_NAME),
                            role_ref=k8s.RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                                 name=names.FORWARDER_NAME),
                            subjects=subject)
        k8s.KubeClusterRole(self, "Nodes", metadata=k8s.ObjectMeta(name=names.FORWARDER_NAME),
                            rules=[k8s.PolicyRule(api_groups=[""], resources=["nodes"], verbs=["list"])])
        k8s.KubeClusterRoleBinding(
            self, "NodesBinding", metadata=k8s.ObjectMeta(name=names.FORWARDER_NAME),
            role_ref=k8s.RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                 name=names.FORWARDER_NAME),
            subjects=subject)
        self._deployment(code.name, command, environment.region)

    def _deployment(self, config_map: str, command: str, region: str) -> None:
        labels = {names.COMPONENT_LABEL: names.FORWARDER_COMPONENT, "app.kubernetes.io/part-of": "specdec"}
        k8s.KubeDeployment(
            self, "Deployment",
            metadata=k8s.ObjectMeta(name=names.FORWARDER_NAME, labels=labels),
            spec=k8s.DeploymentSpec(
                replicas=1,
                # Two forwarders would put every datum twice.
                strategy=k8s.DeploymentStrategy(type="Recreate"),
                selector=k8s.LabelSelector(match_labels=labels),
                template=k8s.PodTemplateSpec(
                    metadata=k8s.ObjectMeta(labels=labels),
                    spec=python_pod_spec(
                        service_account=names.FORWARDER_SERVICE_ACCOUNT, container="forwarder",
                        command=command, region=region, config_map=config_map, files=SHIPPED_FILES,
                        cpu="100m", memory="256Mi", memory_limit="512Mi", scratch="1Gi"),
                ),
            ),
        )

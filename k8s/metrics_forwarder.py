"""The metrics forwarder's Deployment (specdec/forwarder): one small pod on the system nodes that
scrapes every vLLM server and puts latency percentiles, throughput, queue depth, speculation
counters, ready servers and ready Trn2 nodes in CloudWatch.

Like the benchmark, it is the pinned Python image plus SpecDec's code from a ConfigMap and
requirements-forwarder.txt installed at start.
"""

from __future__ import annotations

import hashlib
import json
import shlex

import cdk8s
from cdk8s_plus_36 import k8s
from constructs import Construct

from k8s.model_cache import PREFETCH_IMAGE, UNPRIVILEGED_USER
from k8s.shipped_code import config_map_key, package_files, read
from specdec import names
from specdec.config import Environment
from specdec.vllm_metrics import engine_of

SHIPPED_FILES = [
    "specdec/__init__.py", "specdec/names.py", "specdec/validation.py", "specdec/vllm_metrics.py",
    *package_files("specdec/forwarder"), "requirements-forwarder.txt",
]
CODE_MOUNT = "/opt/specdec"
SCRATCH_MOUNT = "/tmp"
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
            "python -m pip install --no-cache-dir --disable-pip-version-check --quiet "
            f"--target {SCRATCH_MOUNT}/pylib -r {CODE_MOUNT}/requirements-forwarder.txt\n"
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
        env = {"HOME": SCRATCH_MOUNT, "PYTHONPATH": f"{SCRATCH_MOUNT}/pylib", "PYTHONUNBUFFERED": "1",
               "PYTHONDONTWRITEBYTECODE": "1",
               # botocore reads AWS_DEFAULT_REGION only; EKS's Pod Identity webhook adds neither
               # variable to a container that sets one (aws/amazon-eks-pod-identity-webhook).
               "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
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
                    spec=k8s.PodSpec(
                        service_account_name=names.FORWARDER_SERVICE_ACCOUNT,
                        node_selector={names.POOL_LABEL: names.SYSTEM_POOL},
                        security_context=k8s.PodSecurityContext(
                            run_as_non_root=True, run_as_user=UNPRIVILEGED_USER,
                            run_as_group=UNPRIVILEGED_USER,
                            seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault")),
                        containers=[k8s.Container(
                            name="forwarder",
                            image=PREFETCH_IMAGE,
                            command=["/bin/sh", "-ec", command],
                            env=[k8s.EnvVar(name=k, value=v) for k, v in env.items()],
                            resources=k8s.ResourceRequirements(
                                requests={"cpu": k8s.Quantity.from_string("100m"),
                                          "memory": k8s.Quantity.from_string("256Mi")},
                                limits={"memory": k8s.Quantity.from_string("512Mi")}),
                            security_context=k8s.SecurityContext(
                                allow_privilege_escalation=False, read_only_root_filesystem=True,
                                capabilities=k8s.Capabilities(drop=["ALL"])),
                            volume_mounts=[
                                k8s.VolumeMount(name="code", mount_path=CODE_MOUNT, read_only=True),
                                k8s.VolumeMount(name="scratch", mount_path=SCRATCH_MOUNT)],
                        )],
                        volumes=[
                            k8s.Volume(name="code", config_map=k8s.ConfigMapVolumeSource(
                                name=config_map,
                                items=[k8s.KeyToPath(key=config_map_key(p), path=p) for p in SHIPPED_FILES])),
                            k8s.Volume(name="scratch", empty_dir=k8s.EmptyDirVolumeSource(
                                size_limit=k8s.Quantity.from_string("1Gi"))),
                        ],
                    ),
                ),
            ),
        )

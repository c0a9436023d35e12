"""The vLLM servers: a Deployment per serving variant, their Services, PDBs and a NetworkPolicy.

Low-level `k8s` objects throughout: cdk8s-plus's ContainerResources cannot express the
`aws.amazon.com/neuron` extended resource. The command line and environment come from
specdec/serve_command.py; this chart only decides how the pods run.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import cdk8s
from cdk8s_plus_36 import k8s
from constructs import Construct

from specdec import names
from specdec.config import Environment, ServingSettings
from specdec.instances import AcceleratorInstance
from specdec.serve_command import model_dir, serve_args, serve_env
from specdec.variants import Variant

# Whole Trainium2 chips (Neuron devices) from the Neuron device plugin. With the device plugin the
# container sees only its allocated /dev/neuron* devices, so NEURON_RT_VISIBLE_CORES is not set.
NEURON_RESOURCE = "aws.amazon.com/neuron"
HTTP = "http"
# The recipe's startup budget: a first compile of Qwen3-32B takes tens of minutes, and a pod
# must not be killed mid-compile. 570 x 30 s = 4 h 45 min (aws-neuron-eks-samples manifests).
STARTUP_PERIOD_SECONDS = 30
STARTUP_FAILURE_THRESHOLD = 570
# Long enough to finish in-flight requests (the benchmark's 600-token answers take ~30 s).
TERMINATION_GRACE_SECONDS = 120
# Time for endpoints to drop the pod before vLLM stops accepting connections.
PRE_STOP_SLEEP_SECONDS = 10
# AWS Load Balancer Controller Service annotations (LBC docs, guide/service/annotations.md).
# IP targets send NLB traffic straight to the pod IPs (VPC CNI). Client IP preservation is off by
# default for IP targets over TCP (ELB docs, "Client IP preservation"); it is stated anyway because
# the NetworkPolicy relies on it: the pods then see the NLB's private IPs, inside the VPC CIDR.
NLB_CLASS = "service.k8s.aws/nlb"
_LB = "service.beta.kubernetes.io/aws-load-balancer"
NLB_ANNOTATIONS = {
    f"{_LB}-scheme": "internal",
    f"{_LB}-nlb-target-type": "ip",
    f"{_LB}-target-group-attributes": "preserve_client_ip.enabled=false",
    # A target takes traffic only once vLLM answers /health (models loaded), not when the port opens.
    f"{_LB}-healthcheck-protocol": "http",
    f"{_LB}-healthcheck-path": "/health",
}


@dataclass(frozen=True)
class InternalLoadBalancer:
    """Reach the servers through internal NLBs too; the VPC CIDR is where the NLBs' traffic comes from."""

    vpc_cidr: str


def server_labels(variant: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/part-of": "specdec",
        names.COMPONENT_LABEL: names.SERVER_COMPONENT,
        names.VARIANT_LABEL: variant,
    }


class ServingChart(cdk8s.Chart):
    def __init__(self, scope: Construct, id: str, *, settings: ServingSettings,
                 instance: AcceleratorInstance, logical_neuron_cores: int,
                 load_balancer: InternalLoadBalancer | None = None) -> None:
        super().__init__(scope, id, namespace=settings.namespace)
        chips = settings.tensor_parallel_size // instance.logical_cores_per_chip(logical_neuron_cores)
        for variant in settings.resolved_variants():
            _Server(self, variant.name, settings=settings, variant=variant, chips=chips,
                    load_balanced=load_balancer is not None)
        _server_network_policy(self, load_balancer)

    @classmethod
    def for_environment(cls, scope: Construct, id: str, environment: Environment, *,
                        load_balanced: bool = False) -> ServingChart:
        """The chart as the stack applies it; `python -m specdec manifests` writes the same one."""
        return cls(scope, id, settings=environment.serving, instance=environment.instance,
                   logical_neuron_cores=environment.accelerators.logical_neuron_cores,
                   load_balancer=(InternalLoadBalancer(vpc_cidr=environment.network.vpc_cidr)
                                  if load_balanced else None))


class _Server(Construct):
    """Deployment, Service(s) and PodDisruptionBudget of one variant."""

    def __init__(self, scope: Construct, id: str, *, settings: ServingSettings, variant: Variant,
                 chips: int, load_balanced: bool) -> None:
        super().__init__(scope, id)
        name, labels = variant.server_name, server_labels(variant.name)
        selector = k8s.LabelSelector(match_labels={
            "app.kubernetes.io/name": "vllm", names.VARIANT_LABEL: variant.name})
        models = [settings.target_model] + ([variant.draft_model] if variant.speculative else [])

        k8s.KubeDeployment(
            self, "Deployment",
            metadata=k8s.ObjectMeta(name=name, labels=labels),
            spec=k8s.DeploymentSpec(
                replicas=settings.replicas,
                selector=selector,
                # A surge pod would need chips the node does not have and wait forever: replace
                # pods one at a time instead.
                strategy=k8s.DeploymentStrategy(
                    type="RollingUpdate",
                    rolling_update=k8s.RollingUpdateDeployment(
                        max_surge=k8s.IntOrString.from_number(0),
                        max_unavailable=k8s.IntOrString.from_number(1)),
                ),
                template=k8s.PodTemplateSpec(
                    metadata=k8s.ObjectMeta(labels=labels),
                    spec=self._pod_spec(settings, variant, chips, models),
                ),
            ),
        )
        k8s.KubeService(
            self, "Service",
            metadata=k8s.ObjectMeta(name=name, labels=labels),
            spec=k8s.ServiceSpec(
                type="ClusterIP",
                selector=selector.match_labels,
                ports=[k8s.ServicePort(name=HTTP, port=names.SERVING_PORT, protocol="TCP",
                                       target_port=k8s.IntOrString.from_string(HTTP))],
            ),
        )
        if load_balanced:
            # A second Service, so in-cluster clients keep the ClusterIP one whatever happens to the NLB.
            k8s.KubeService(
                self, "LoadBalancer",
                metadata=k8s.ObjectMeta(name=names.load_balancer_service_name(variant.name), labels=labels,
                                        annotations=NLB_ANNOTATIONS),
                spec=k8s.ServiceSpec(
                    type="LoadBalancer",
                    load_balancer_class=NLB_CLASS,
                    # IP targets need no node ports: none are opened on the nodes.
                    allocate_load_balancer_node_ports=False,
                    selector=selector.match_labels,
                    ports=[k8s.ServicePort(name=HTTP, port=names.SERVING_PORT, protocol="TCP",
                                           target_port=k8s.IntOrString.from_string(HTTP))],
                ),
            )
        # Voluntary evictions (node drains, upgrades) take at most one server of a variant at a time.
        k8s.KubePodDisruptionBudget(
            self, "DisruptionBudget",
            metadata=k8s.ObjectMeta(name=name, labels=labels),
            spec=k8s.PodDisruptionBudgetSpec(
                max_unavailable=k8s.IntOrString.from_number(1), selector=selector),
        )

    @staticmethod
    def _pod_spec(settings: ServingSettings, variant: Variant, chips: int,
                  models: list[str]) -> k8s.PodSpec:
        neuron = k8s.Quantity.from_number(chips)
        memory = k8s.Quantity.from_string(f"{settings.memory_gib}Gi")
        cache = k8s.VolumeMount(name="model-cache", mount_path=names.MODEL_CACHE_MOUNT)
        # The server writes only its compile cache; the models are mounted over read-only.
        models_read_only = k8s.VolumeMount(name="model-cache", mount_path=names.MODELS_DIR,
                                           sub_path="models", read_only=True)
        health = k8s.HttpGetAction(path="/health", port=k8s.IntOrString.from_string(HTTP))
        return k8s.PodSpec(
            # The Neuron scheduler extension finds adjacent devices for pods that take more
            # than one (Neuron docs, "Neuron scheduler extension"); the cluster runs it as
            # its own scheduler.
            scheduler_name=names.NEURON_SCHEDULER_NAME if chips > 1 else None,
            node_selector={names.POOL_LABEL: names.NEURON_POOL},
            tolerations=[k8s.Toleration(key=names.NEURON_TAINT_KEY, operator="Equal",
                                        value=names.NEURON_TAINT_VALUE, effect=names.NEURON_TAINT_EFFECT)],
            automount_service_account_token=False,
            enable_service_links=False,
            termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
            security_context=k8s.PodSecurityContext(
                seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault")),
            init_containers=[k8s.Container(
                name="wait-for-models",
                # The serving image: already needed on the node, so no second image to pull or pin.
                image=variant.image,
                command=["/bin/sh", "-c", _wait_for_models_script(models)],
                resources=k8s.ResourceRequirements(
                    requests={"cpu": k8s.Quantity.from_string("50m"),
                              "memory": k8s.Quantity.from_string("64Mi")},
                    limits={"memory": k8s.Quantity.from_string("64Mi")},
                ),
                security_context=_container_security_context(),
                volume_mounts=[k8s.VolumeMount(name="model-cache", mount_path=names.MODEL_CACHE_MOUNT,
                                               read_only=True)],
            )],
            containers=[k8s.Container(
                name="vllm",
                image=variant.image,
                command=serve_args(settings, variant),
                env=[k8s.EnvVar(name=k, value=v) for k, v in serve_env(settings, variant).items()],
                ports=[k8s.ContainerPort(name=HTTP, container_port=names.SERVING_PORT, protocol="TCP")],
                resources=k8s.ResourceRequirements(
                    requests={"cpu": k8s.Quantity.from_number(settings.cpu), "memory": memory,
                              NEURON_RESOURCE: neuron},
                    # No CPU limit: throttling a compile only slows it down.
                    limits={"memory": memory, NEURON_RESOURCE: neuron},
                ),
                startup_probe=k8s.Probe(http_get=health, period_seconds=STARTUP_PERIOD_SECONDS,
                                        timeout_seconds=10, failure_threshold=STARTUP_FAILURE_THRESHOLD),
                readiness_probe=k8s.Probe(http_get=health, period_seconds=10, timeout_seconds=5,
                                          failure_threshold=3),
                liveness_probe=k8s.Probe(http_get=health, period_seconds=60, timeout_seconds=5,
                                         failure_threshold=3),
                lifecycle=k8s.Lifecycle(pre_stop=k8s.LifecycleHandler(
                    sleep=k8s.SleepAction(seconds=PRE_STOP_SLEEP_SECONDS))),
                security_context=_container_security_context(),
                volume_mounts=[cache, models_read_only,
                               k8s.VolumeMount(name="dshm", mount_path="/dev/shm")],
            )],
            volumes=[
                k8s.Volume(name="model-cache", persistent_volume_claim=k8s.PersistentVolumeClaimVolumeSource(
                    claim_name=names.MODEL_CACHE_CLAIM)),
                # PyTorch worker processes exchange tensors through /dev/shm; the runtime's 64 MiB
                # default is far too small.
                k8s.Volume(name="dshm", empty_dir=k8s.EmptyDirVolumeSource(
                    medium="Memory", size_limit=k8s.Quantity.from_string(f"{settings.shm_size_gib}Gi"))),
            ],
        )


def _container_security_context() -> k8s.SecurityContext:
    # The image runs as root (its Dockerfile sets no USER), so runAsNonRoot would stop it; the
    # Neuron runtime (libnrt) needs only the device files the device plugin passes in, no
    # capability and no privileged mode.
    return k8s.SecurityContext(
        privileged=False,
        allow_privilege_escalation=False,
        capabilities=k8s.Capabilities(drop=["ALL"]),
    )


def _wait_for_models_script(models: list[str]) -> str:
    markers = " ".join(shlex.quote(f"{model_dir(m)}/{names.COMPLETE_MARKER}") for m in models)
    return (f"for marker in {markers}; do "
            'until [ -f "$marker" ]; do echo "waiting for $marker (model prefetch)"; sleep 20; done; '
            "done")


def _server_network_policy(scope: Construct, load_balancer: InternalLoadBalancer | None) -> None:
    """Only the benchmark, an optional gateway and the metrics forwarder reach the servers, and with
    an internal load balancer also the VPC (the NLBs' private IPs are all a pod sees of its clients).

    Enforced only where the cluster enforces NetworkPolicy (VPC CNI `enableNetworkPolicy`).
    """
    serving_port = [k8s.NetworkPolicyPort(port=k8s.IntOrString.from_number(names.SERVING_PORT),
                                          protocol="TCP")]

    def pods(component: str) -> k8s.NetworkPolicyPeer:
        return k8s.NetworkPolicyPeer(pod_selector=k8s.LabelSelector(
            match_labels={names.COMPONENT_LABEL: component}))

    k8s.KubeNetworkPolicy(
        scope, "ServerIngress",
        metadata=k8s.ObjectMeta(name="vllm-server-ingress",
                                labels={"app.kubernetes.io/part-of": "specdec"}),
        spec=k8s.NetworkPolicySpec(
            pod_selector=k8s.LabelSelector(match_labels={names.COMPONENT_LABEL: names.SERVER_COMPONENT}),
            policy_types=["Ingress"],
            ingress=[k8s.NetworkPolicyIngressRule(
                from_=[
                    pods(names.BENCHMARK_COMPONENT),
                    pods(names.GATEWAY_COMPONENT),
                    pods(names.FORWARDER_COMPONENT),
                ],
                ports=serving_port,
            )] + ([k8s.NetworkPolicyIngressRule(
                from_=[k8s.NetworkPolicyPeer(ip_block=k8s.IpBlock(cidr=load_balancer.vpc_cidr))],
                ports=serving_port,
            )] if load_balancer else []),
        ),
    )

"""The vLLM servers `cdk deploy` applies: what a user can rely on about each pod, Service and policy."""

from __future__ import annotations

import json

import cdk8s
import kubernetes_validate
import pytest
import yaml

from k8s.serving import ServingChart
from specdec import names
from specdec.__main__ import main
from specdec.config import load_environment, parse_environment
from specdec.manifests import MANIFEST_TYPE, render_intrinsic

KUBERNETES_VERSION = "1.36.0"
SERVING_KINDS = {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"}
RECIPE_IMAGE = ("public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:"
                "0.9.1-neuronx-py311-sdk2.26.1-ubuntu22.04")


def chart_objects(**serving_overrides) -> list[dict]:
    """The serving chart alone, for a variation of dev's settings (no CDK synth needed)."""
    base = load_environment("dev")
    data = json.loads(base.model_dump_json(exclude={"name"}))
    data["serving"].update(serving_overrides)
    env = parse_environment("variant", data, "variant.json")
    chart = ServingChart(cdk8s.App(), "serving", settings=env.serving, instance=env.instance,
                         logical_neuron_cores=env.accelerators.logical_neuron_cores)
    return chart.to_json()


def named(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}"
    return found[0]


def server(objects: list[dict], variant: str) -> dict:
    """The vllm container of a variant's pod template."""
    pod = named(objects, "Deployment", names.server_name(variant))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return container


def pod_of(objects: list[dict], variant: str) -> dict:
    return named(objects, "Deployment", names.server_name(variant))["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def serving(dev) -> list[dict]:
    return [o for o in dev.objects if o["kind"] in SERVING_KINDS]


# --- deployed by the stack -------------------------------------------------------------------

def test_the_stack_applies_a_speculative_and_a_baseline_server_in_the_serving_namespace(serving):
    deployments = {o["metadata"]["name"] for o in serving
                   if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("vllm-")}
    assert deployments == {"vllm-speculative", "vllm-baseline"}
    assert {o["metadata"]["namespace"] for o in serving} == {"specdec"}


def test_the_servers_are_applied_after_their_namespace_and_model_cache_and_removed_before(dev):
    manifests = dev.resources(MANIFEST_TYPE)

    def holding(kind: str, name: str) -> str:
        (logical_id,) = [i for i, r in manifests.items()
                         if any(o["kind"] == kind and o["metadata"]["name"] == name
                                for o in json.loads(render_intrinsic(r["Properties"]["Manifest"])))]
        return logical_id

    servers = holding("Deployment", "vllm-speculative")
    assert holding("Namespace", "specdec") in manifests[servers]["DependsOn"]
    assert holding("PersistentVolumeClaim", names.MODEL_CACHE_CLAIM) in manifests[servers]["DependsOn"]


@pytest.mark.parametrize("environment", ["dev", "ci", "prod"])
def test_every_serving_object_validates_strictly_for_the_cluster_version(shipped, environment):
    objects = [o for o in shipped[environment].objects if o["kind"] in SERVING_KINDS
               and o["metadata"]["name"] != names.FORWARDER_NAME]
    assert len(objects) == 7
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


# --- the published recipe --------------------------------------------------------------------

def test_the_baseline_runs_the_recipes_baseline_command_from_the_local_model_cache(serving):
    container = server(serving, "baseline")
    assert container["image"] == RECIPE_IMAGE
    assert container["command"] == [
        "vllm", "serve", "/model-cache/models/Qwen/Qwen3-32B",
        "--served-model-name", "Qwen/Qwen3-32B",
        "--port", "8000",
        "--tensor-parallel-size", "32",
        "--max-num-seqs", "4",
        "--max-model-len", "1024",
        "--override-neuron-config", '{"save_sharded_checkpoint": true}',
    ]


def test_the_speculative_server_adds_fused_speculation_and_a_seven_token_draft(serving):
    command = server(serving, "speculative")["command"]
    assert command[:command.index("--override-neuron-config")] == server(serving, "baseline")["command"][
        :command.index("--override-neuron-config")]
    overrides = json.loads(command[command.index("--override-neuron-config") + 1])
    assert overrides == {"save_sharded_checkpoint": True, "enable_fused_speculation": True}
    speculative = json.loads(command[command.index("--speculative-config") + 1])
    assert speculative == {"model": "/model-cache/models/Qwen/Qwen3-1.7B", "num_speculative_tokens": 7,
                           "max_model_len": 1024, "method": "eagle"}


def test_the_image_gets_its_framework_and_a_compile_cache_per_variant(serving):
    envs = {v: {e["name"]: e["value"] for e in server(serving, v)["env"]}
            for v in ("speculative", "baseline")}
    for variant, env in envs.items():
        assert env["VLLM_NEURON_FRAMEWORK"] == "neuronx-distributed-inference"
        assert env["NEURON_COMPILED_ARTIFACTS"].startswith(f"{names.COMPILE_CACHE_DIR}/{variant}-")
        assert env["HF_HUB_OFFLINE"] == "1"
        assert "NEURON_RT_VISIBLE_CORES" not in env  # the device plugin exposes only the pod's devices
    assert envs["speculative"]["NEURON_COMPILED_ARTIFACTS"] != envs["baseline"]["NEURON_COMPILED_ARTIFACTS"]


def test_a_changed_setting_compiles_into_a_fresh_folder():
    def cache(objects):
        env = server(objects, "speculative")["env"]
        return next(e["value"] for e in env if e["name"] == "NEURON_COMPILED_ARTIFACTS")
    assert cache(chart_objects()) != cache(chart_objects(num_speculative_tokens=5))


# --- scheduling and resources ----------------------------------------------------------------

def test_each_server_takes_eight_whole_chips_through_the_neuron_scheduler(serving):
    for variant in ("speculative", "baseline"):
        resources = server(serving, variant)["resources"]
        assert resources["requests"]["aws.amazon.com/neuron"] == 8  # TP 32 / 4 logical cores per chip
        assert resources["limits"]["aws.amazon.com/neuron"] == 8
        assert resources["requests"]["cpu"] == 90
        assert resources["requests"]["memory"] == resources["limits"]["memory"] == "512Gi"
        pod = pod_of(serving, variant)
        assert pod["schedulerName"] == names.NEURON_SCHEDULER_NAME
        assert pod["nodeSelector"] == {names.POOL_LABEL: names.NEURON_POOL}
        assert pod["tolerations"] == [{"key": names.NEURON_TAINT_KEY, "operator": "Equal",
                                       "value": names.NEURON_TAINT_VALUE, "effect": "NoSchedule"}]


def test_a_smaller_tensor_parallel_group_takes_fewer_chips():
    objects = chart_objects(target_model="Qwen/Qwen3-8B", draft_model="Qwen/Qwen3-0.6B",
                            tensor_parallel_size=8)
    assert server(objects, "speculative")["resources"]["requests"]["aws.amazon.com/neuron"] == 2
    one_chip = chart_objects(target_model="Qwen/Qwen3-8B", draft_model="Qwen/Qwen3-0.6B",
                             tensor_parallel_size=4)
    # One device needs no topology-aware placement: the default scheduler places it.
    assert "schedulerName" not in pod_of(one_chip, "speculative")


def test_rollouts_replace_servers_without_a_surge_pod_that_could_never_get_chips(serving):
    for variant in ("speculative", "baseline"):
        strategy = named(serving, "Deployment", names.server_name(variant))["spec"]["strategy"]
        assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def test_prod_runs_two_replicas_of_each_server(shipped):
    deployments = [o for o in shipped["prod"].objects if o["kind"] == "Deployment"
                   and o["metadata"]["name"].startswith("vllm-")]
    assert [d["spec"]["replicas"] for d in deployments] == [2, 2]


def test_the_baseline_can_be_switched_off():
    objects = chart_objects(baseline_enabled=False)
    assert {o["metadata"]["name"] for o in objects if o["kind"] != "NetworkPolicy"} == {"vllm-speculative"}


# --- probes, volumes, lifecycle, security ----------------------------------------------------

def test_probes_let_a_first_compile_finish_and_then_watch_health(serving):
    container = server(serving, "speculative")
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] == 30 * 570
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_servers_wait_for_both_models_then_read_them_read_only(serving):
    pod = pod_of(serving, "speculative")
    (wait,) = pod["initContainers"]
    script = wait["command"][-1]
    for model in ("Qwen/Qwen3-32B", "Qwen/Qwen3-1.7B"):
        assert f"{names.MODELS_DIR}/{model}/{names.COMPLETE_MARKER}" in script
    baseline_script = pod_of(serving, "baseline")["initContainers"][0]["command"][-1]
    assert "Qwen3-1.7B" not in baseline_script
    mounts = {m["mountPath"]: m for m in server(serving, "speculative")["volumeMounts"]}
    assert mounts[names.MODELS_DIR]["readOnly"] is True
    assert mounts[names.MODEL_CACHE_MOUNT]["name"] == "model-cache"
    assert "readOnly" not in mounts[names.MODEL_CACHE_MOUNT]  # the compile cache is written here
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["model-cache"]["persistentVolumeClaim"] == {"claimName": names.MODEL_CACHE_CLAIM}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Gi"}
    assert mounts["/dev/shm"]["name"] == "dshm"


def test_servers_stop_gracefully(serving):
    pod = pod_of(serving, "speculative")
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert server(serving, "speculative")["lifecycle"]["preStop"] == {"sleep": {"seconds": 10}}


def test_servers_run_unprivileged_without_capabilities(serving):
    for variant in ("speculative", "baseline"):
        pod = pod_of(serving, variant)
        assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"] + pod["initContainers"]:
            assert container["securityContext"] == {
                "privileged": False, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


# --- Services, disruption budget, network policy ---------------------------------------------

def test_each_server_has_a_cluster_ip_service_on_the_openai_port(serving):
    for variant in ("speculative", "baseline"):
        service = named(serving, "Service", names.server_name(variant))["spec"]
        assert service["type"] == "ClusterIP"
        assert service["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP", "targetPort": "http"}]
        assert service["selector"][names.VARIANT_LABEL] == variant
        deployment = named(serving, "Deployment", names.server_name(variant))
        assert service["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_a_drain_never_takes_more_than_one_server_of_a_variant(serving):
    for variant in ("speculative", "baseline"):
        budget = named(serving, "PodDisruptionBudget", names.server_name(variant))["spec"]
        assert budget["maxUnavailable"] == 1
        assert budget["selector"]["matchLabels"][names.VARIANT_LABEL] == variant


def test_only_the_benchmark_a_gateway_and_the_metrics_forwarder_reach_the_servers(serving):
    (policy,) = [o for o in serving if o["kind"] == "NetworkPolicy"]
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {names.COMPONENT_LABEL: names.SERVER_COMPONENT}}
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {names.COMPONENT_LABEL: names.BENCHMARK_COMPONENT}}},
        {"podSelector": {"matchLabels": {names.COMPONENT_LABEL: names.GATEWAY_COMPONENT}}},
        {"podSelector": {"matchLabels": {names.COMPONENT_LABEL: names.FORWARDER_COMPONENT}}},
    ]
    for variant in ("speculative", "baseline"):
        labels = named(serving, "Deployment", names.server_name(variant))["spec"]["template"]["metadata"]
        assert labels["labels"][names.COMPONENT_LABEL] == names.SERVER_COMPONENT


# --- plain YAML for GitOps -------------------------------------------------------------------

def test_manifests_writes_one_valid_yaml_per_chart(tmp_path, capsys):
    assert main(["manifests", "-e", "dev", "-o", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.glob("*.yaml"))
    assert files == ["benchmark.k8s.yaml", "metrics-forwarder.k8s.yaml", "namespace.k8s.yaml",
                     "serving.k8s.yaml"]
    documents = [d for f in files for d in yaml.safe_load_all((tmp_path / f).read_text())]
    benchmark_kinds = {"ConfigMap", "ServiceAccount", "CronJob", "Job"}
    forwarder_kinds = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    assert {d["kind"] for d in documents} == SERVING_KINDS | {"Namespace"} | benchmark_kinds | forwarder_kinds
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)

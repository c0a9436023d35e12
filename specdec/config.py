"""The environment file schema: the one source of truth for every setting.

`environments/<name>.json` is parsed into an `Environment` once, at the edge (app.py or the
CLI). Everything below that receives typed, already-validated objects. Field-level rules live
on the fields; rules that relate several fields live in specdec/rules.py. Every problem is
reported as one line naming the file, the key path, the bad value and what is allowed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from specdec import names, validation
from specdec.bench import defaults as bench_defaults
from specdec.bench.suites import SUITE_NAMES
from specdec.instances import INSTANCES, AcceleratorInstance
from specdec.rules import cross_field_errors
from specdec.variants import ENGINES, NXDI, RECIPE_IMAGE, Variant

ENVIRONMENTS_DIR = Path(__file__).resolve().parent.parent / "environments"

# Kubernetes versions that aws-cdk-lib 2.275 (aws_eks_v2), the kubectl v36 layer (within one
# minor of the cluster) and the EKS Neuron AMIs all support; the newest is the default.
KUBERNETES_VERSIONS = ("1.35", "1.36")
# EKS add-on build strings, e.g. v1.20.0-eksbuild.1.
ADDON_VERSION = r"^v\d+\.\d+\.\d+-eksbuild\.\d+$"
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096]
# num_speculative_tokens (k): at least 1 draft token per step; at most 15, the largest k AWS ran
# the default image with (the sample's committed manifest; its README and the blog use 7 and call
# 5-10 typical). Each extra token is wasted draft and verify work once acceptance drops, and the
# expected tokens per step, (1 - a^(k+1)) / (1 - a), flattens quickly (Leviathan et al. 2023).
SPECULATIVE_TOKENS_RANGE = (1, 15)
IMAGE_PATTERN = r"^[^\s:]+(:[\w][\w.-]{0,127})(@sha256:[0-9a-f]{64})?$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# Per-variant keys: with serving.variants they are set on each variant, never at the top level.
PER_VARIANT_KEYS = ("image", "draft_model", "num_speculative_tokens", "speculative_method",
                    "baseline_enabled")


README_HINT = "no such key (check the spelling; see the README's table)"


class ConfigError(validation.UserError):
    """One or more problems in an environment file; `str()` is one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _Section(BaseModel):
    # Strict: `true` is not the number 1 and "2" is not the number 2, whatever Python would allow.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NetworkSettings(_Section):
    vpc_cidr: str = Field(
        "10.64.0.0/16",
        description="IPv4 CIDR of the VPC; each zone takes a /20 for nodes and a /24 public subnet.",
    )
    nat_gateways: int = Field(
        1, ge=1, description="NAT gateways: 1 is cheaper, one per zone survives a zone outage."
    )
    flow_log_retention_days: LOG_RETENTION_DAYS = Field(
        30, description="Days VPC flow logs are kept in CloudWatch Logs."
    )


class SystemNodeSettings(_Section):
    instance_type: str = Field(
        "m7i.xlarge", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
        description="Instance type of the CPU node group that runs controllers and add-ons.",
    )
    min_size: int = Field(2, ge=1, description="Fewest CPU system nodes.")
    desired_size: int = Field(2, ge=1, description="CPU system nodes at deploy time.")
    max_size: int = Field(3, ge=1, description="Most CPU system nodes.")


class AddonVersions(_Section):
    """EKS add-on versions; none means EKS's default build for the cluster's Kubernetes version.

    List the builds for a version with `aws eks describe-addon-versions --kubernetes-version 1.36
    --addon-name vpc-cni --query 'addons[].addonVersions[].addonVersion'`.
    """

    vpc_cni: str | None = Field(
        None, pattern=ADDON_VERSION, description="vpc-cni build, e.g. v1.20.0-eksbuild.1."
    )
    kube_proxy: str | None = Field(None, pattern=ADDON_VERSION, description="kube-proxy build.")
    coredns: str | None = Field(None, pattern=ADDON_VERSION, description="coredns build.")
    pod_identity_agent: str | None = Field(
        None, pattern=ADDON_VERSION, description="eks-pod-identity-agent build."
    )
    fsx_csi_driver: str | None = Field(
        None, pattern=ADDON_VERSION, description="aws-fsx-csi-driver build (the model cache's)."
    )
    cloudwatch_observability: str | None = Field(
        None, pattern=ADDON_VERSION,
        description="amazon-cloudwatch-observability build (Container Insights and Neuron metrics).",
    )


class ClusterSettings(_Section):
    kubernetes_version: Literal[KUBERNETES_VERSIONS] = Field(  # type: ignore[valid-type]
        KUBERNETES_VERSIONS[-1], description="EKS Kubernetes minor version."
    )
    endpoint_access: Literal["private", "public_and_private"] = Field(
        "private",
        description="Who reaches the Kubernetes API: the VPC only, or also the CIDRs below. (A public-only "
        "endpoint cannot be limited to CIDRs in aws_eks_v2, so it is not offered.)",
    )
    public_access_cidrs: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed to reach a public endpoint; required unless access is private.",
    )
    admin_role_arns: list[str] = Field(
        default_factory=list,
        description="IAM roles granted cluster admin through EKS access entries.",
    )
    system_nodes: SystemNodeSettings = Field(
        default_factory=SystemNodeSettings, description="The CPU system node group."
    )
    addon_versions: AddonVersions = Field(
        default_factory=AddonVersions, description="Versions of the EKS add-ons SpecDec installs."
    )


class AcceleratorSettings(_Section):
    instance_type: Literal[tuple(INSTANCES)] = Field(  # type: ignore[valid-type]
        "trn2.48xlarge", description="Trainium2 instance type of the accelerator node group."
    )
    capacity_type: Literal["on_demand", "capacity_block", "capacity_reservation"] = Field(
        "on_demand",
        description="How Trn2 capacity is bought: on demand, an EC2 Capacity Block for ML, "
        "or an On-Demand Capacity Reservation.",
    )
    reservation_id: str | None = Field(
        None, pattern=r"^cr-[0-9a-f]{17}$",
        description="Capacity reservation (cr-...) for capacity_block or capacity_reservation.",
    )
    availability_zone: str = Field(
        description="Zone of the Trn2 nodes and the model cache (FSx for Lustre is single-zone)."
    )
    min_size: int = Field(0, ge=0, description="Fewest Trn2 nodes.")
    desired_size: int = Field(1, ge=0, description="Trn2 nodes at deploy time.")
    max_size: int = Field(1, ge=1, description="Most Trn2 nodes.")
    root_volume_gib: int = Field(
        512, ge=200, le=16384,
        description="Encrypted gp3 root volume per Trn2 node, for images and Neuron caches.",
    )
    logical_neuron_cores: Literal[1, 2] = Field(
        2, description="Logical NeuronCore config (LNC): physical cores fused per logical core."
    )
    neuron_monitor: bool = Field(
        True,
        description="Run one neuron-monitor per Trn2 node (NeuronCore use, HBM, errors): the CloudWatch "
        "Observability add-on's with monitoring on, SpecDec's own DaemonSet (Prometheus on port 8000) "
        "with it off; false runs none.",
    )


class ModelCacheSettings(_Section):
    storage_capacity_gib: int = Field(
        1200, ge=1200, description="FSx for Lustre PERSISTENT_2 capacity: 1200 or a multiple of 2400."
    )
    throughput_mib_per_tib: Literal[125, 250, 500, 1000] = Field(
        250, description="FSx for Lustre PERSISTENT_2 throughput per TiB of storage."
    )
    retain_bucket: bool = Field(
        False, description="Keep the model bucket on `cdk destroy` (otherwise it is emptied and deleted)."
    )
    existing_bucket_name: str | None = Field(
        None,
        description="Link the cache to this existing S3 bucket (e.g. one kept by an earlier deploy) "
        "instead of creating one, so its weights and compiled artifacts come back with no download or "
        "compile. SpecDec never deletes a bucket it did not create.",
    )
    retain_file_system: bool = Field(
        False,
        description="Keep the FSx for Lustre file system (and its key and security group) on `cdk "
        "destroy`; its network interfaces then keep the VPC, so the destroy stops at the network "
        "until you delete the file system (docs/model-cache.md).",
    )
    hf_token_secret_name: str | None = Field(
        None, min_length=1, max_length=512,
        description="Secrets Manager secret (name, plain-text value) holding a Hugging Face token for "
        "gated models; Qwen3 models are public, so none is needed by default.",
    )


class VariantSettings(_Section):
    """One named server of serving.variants (docs/engines.md); no draft_model makes a baseline."""

    name: str = Field(
        # vllm-<name>-nlb, the internal load balancer's Service, must stay a 63-character DNS label.
        pattern=DNS_LABEL, max_length=51,
        description="DNS label naming the variant's Deployment and Service (vllm-<name>).")
    engine: Literal[tuple(ENGINES)] = Field(  # type: ignore[valid-type]
        NXDI, description="nxdi (the recipe: vLLM 0.9.1 V0 with NxD Inference) or vllm-neuron (the "
        "vLLM Neuron plugin on vLLM V1, EAGLE3 drafts only).")
    image: str | None = Field(
        None, pattern=IMAGE_PATTERN, description="Serving image; default: the engine's pinned image.")
    draft_model: str | None = Field(
        None, description="Draft (nxdi: a catalog model; vllm-neuron: an EAGLE3 head); none: a baseline.")
    num_speculative_tokens: int | None = Field(
        None, description="k, within the engine's range; default: the engine's (nxdi 7, vllm-neuron 3).")
    speculative_method: str | None = Field(
        None, description="`method` of --speculative-config; default: the engine's (eagle, eagle3).")

    def resolve(self) -> Variant:
        spec = ENGINES[self.engine]
        speculative = self.draft_model is not None
        return Variant(
            name=self.name, engine=self.engine, image=self.image or spec.default_image,
            draft_model=self.draft_model,
            num_speculative_tokens=(spec.default_k if self.num_speculative_tokens is None
                                    else self.num_speculative_tokens) if speculative else None,
            speculative_method=(spec.default_method if self.speculative_method is None
                                else self.speculative_method) if speculative else None,
        )


class ServingSettings(_Section):
    """The vLLM servers; defaults reproduce the published recipe (docs/serving.md)."""

    namespace: str = Field(
        "specdec", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="Kubernetes namespace of the serving workloads and the benchmark.",
    )
    image: str = Field(
        RECIPE_IMAGE, pattern=IMAGE_PATTERN,
        description="vLLM Neuron serving image, pinned by tag or digest.",
    )
    target_model: str = Field("Qwen/Qwen3-32B", description="Hugging Face id of the target model.")
    draft_model: str = Field("Qwen/Qwen3-1.7B", description="Hugging Face id of the draft model.")
    num_speculative_tokens: int = Field(
        7, ge=SPECULATIVE_TOKENS_RANGE[0], le=SPECULATIVE_TOKENS_RANGE[1],
        description="Tokens the draft proposes per target step (k).",
    )
    speculative_method: Literal["eagle", "draft_model"] = Field(
        "eagle",
        description="`method` in vLLM's --speculative-config (the recipe's value). The NxDI back end "
        "does not read it: a plain draft runs as a draft model unless the neuron config enables EAGLE.",
    )
    tensor_parallel_size: int = Field(
        32, ge=1, description="Logical NeuronCores each server shards the target (and draft) over."
    )
    max_model_len: int = Field(1024, ge=128, description="Longest sequence (prompt + output).")
    draft_max_model_len: int | None = Field(
        None, ge=128,
        description="`max_model_len` in an nxdi server's speculative config; default max_model_len "
        "(vLLM refuses a larger one). The plugin's EAGLE3 config takes none.",
    )
    max_num_seqs: int = Field(4, ge=1, description="Sequences batched per server.")
    neuron_config_overrides: dict[str, Any] = Field(
        default_factory=lambda: {"save_sharded_checkpoint": True},
        description="--override-neuron-config of every nxdi server (a speculative one also gets "
        "enable_fused_speculation); NxDI field names, so vllm-neuron servers do not get them.",
    )
    baseline_enabled: bool = Field(
        True, description="Also run a server without speculation, for A/B comparison."
    )
    variants: list[VariantSettings] | None = Field(
        None, min_length=1,
        description="Named servers sharing target_model, each on its engine (docs/engines.md); "
        "without it: the recipe's speculative server and baseline, from the keys above.",
    )
    replicas: int = Field(1, ge=1, description="Pods per serving Deployment.")
    cpu: int = Field(
        90, ge=1, description="vCPUs each server requests (the sample's 90: half a trn2.48xlarge)."
    )
    memory_gib: int = Field(
        512, ge=16,
        description="Memory each server requests and is limited to, /dev/shm included (loading and "
        "compiling a 32B model takes hundreds of GiB of host memory).",
    )
    shm_size_gib: int = Field(
        64, ge=1, description="Size of the memory-backed /dev/shm of each server."
    )
    internal_load_balancer: bool = Field(
        False,
        description="Also reach each server through an internal Network Load Balancer (VPC only), "
        "made by the AWS Load Balancer Controller, which is then installed too (docs/serving.md).",
    )


    def models(self) -> list[str]:
        """Every model a variant names, target first: what the prefetch Job fetches."""
        drafts = [v.draft_model for v in self.resolved_variants() if v.draft_model]
        return list(dict.fromkeys([self.target_model, *drafts]))

    def resolved_variants(self) -> list[Variant]:
        """What the environment serves, in order: serving.variants, or the recipe's two."""
        if self.variants is not None:
            return [v.resolve() for v in self.variants]
        recipe = [Variant(names.SPECULATIVE_VARIANT, NXDI, self.image, self.draft_model,
                          self.num_speculative_tokens, self.speculative_method)]
        if self.baseline_enabled:
            recipe.append(Variant(names.BASELINE_VARIANT, NXDI, self.image))
        return recipe


class BenchmarkSettings(_Section):
    """The speculative-vs-baseline benchmark (docs/benchmark.md); defaults are the published run's."""

    run_after_deploy: bool = Field(
        False,
        description="Run the benchmark Job once a deploy changes what it measures (it waits for both "
        "servers' /health first); `python -m specdec bench -e NAME` runs it on demand either way.",
    )
    suites: list[Literal[SUITE_NAMES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(SUITE_NAMES), min_length=1,
        description="Prompt suites to run (specdec/bench/suites/): structured prompts, where "
        "speculation should pay, and open-ended ones, where it should not.",
    )
    requests: int = Field(
        bench_defaults.REQUESTS, ge=1, le=10000, description="Requests per suite and variant."
    )
    concurrency: int = Field(
        bench_defaults.CONCURRENCY, ge=1, le=256,
        description="Requests in flight at once (the sample's 4), the same for every variant.",
    )
    output_tokens: int = Field(
        bench_defaults.OUTPUT_TOKENS, ge=2,
        description="max_tokens of every request (the sample's 600); answers may stop earlier.",
    )
    temperature: float = Field(
        bench_defaults.TEMPERATURE, ge=0.0, le=2.0,
        description="Sampling temperature of every request. 0 (greedy) is the only fair A/B on the "
        "default image: its speculative server always decodes greedily (docs/benchmark.md).",
    )
    health_timeout_minutes: int = Field(
        330, ge=1, le=1440,
        description="How long the Job waits for both servers' /health (model prefetch plus a first "
        "compile take hours; the servers' own startup budget is 4 h 45 min).",
    )
    retain_results: bool = Field(
        False, description="Keep the results bucket on `cdk destroy` (otherwise it is emptied and deleted)."
    )


class MonitoringSettings(_Section):
    """Metrics to CloudWatch, the dashboard and the alarms (docs/monitoring.md)."""

    enabled: bool = Field(
        True,
        description="Install the CloudWatch Observability add-on and SpecDec's metrics forwarder, and "
        "create the environment's dashboard and alarms.",
    )
    alarm_email: str | None = Field(
        None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Subscribe this address to the alarm topic (AWS e-mails a confirmation link first).",
    )
    itl_p90_ms: float = Field(
        60.0, gt=0,
        description="Alarm when a variant's p90 inter-token latency (ms) stays above this bound (the "
        "recipe's baseline decodes at about 45 ms a token).",
    )
    min_speed_up: dict[Literal[SUITE_NAMES], float] = Field(  # type: ignore[valid-type]
        default_factory=lambda: {"structured": 1.5},
        description="Alarm when the benchmark's measured speed-up on a suite falls below its bound "
        "(speculation no longer pays); suites left out get no alarm. Needs the baseline.",
    )
    min_acceptance_rate: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Alarm when the share of draft tokens accepted falls below this, where the engine "
        "reports it (vllm-neuron variants; the recipe's nxdi engine does not).",
    )


class Environment(_Section):
    name: str = Field(description="Environment name; taken from the file name, not set in the file.")
    account: str = Field(pattern=r"^\d{12}$", description="AWS account id (12 digits).")
    region: str = Field(
        pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region, e.g. us-east-2."
    )
    availability_zones: list[str] = Field(
        min_length=2, description="Zones of the VPC (EKS needs two); in the region."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every resource.")
    retain_logs: bool = Field(
        False,
        description="Keep the CloudWatch log groups (VPC flow logs, the kubectl provider's Lambda logs) "
        "on `cdk destroy`; otherwise they are deleted with the stack.",
    )
    network: NetworkSettings = Field(default_factory=NetworkSettings, description="The VPC.")
    cluster: ClusterSettings = Field(default_factory=ClusterSettings, description="The EKS cluster.")
    accelerators: AcceleratorSettings = Field(description="The Trn2 node group.")
    model_cache: ModelCacheSettings = Field(
        default_factory=ModelCacheSettings, description="The FSx for Lustre model cache."
    )
    serving: ServingSettings = Field(
        default_factory=ServingSettings, description="The vLLM servers."
    )
    benchmark: BenchmarkSettings = Field(
        default_factory=BenchmarkSettings, description="The speculative-vs-baseline benchmark."
    )
    monitoring: MonitoringSettings = Field(
        default_factory=MonitoringSettings, description="Metrics, the dashboard and the alarms."
    )

    @property
    def stack_name(self) -> str:
        return f"specdec-{self.name}"

    @property
    def accelerator_nodegroup_name(self) -> str:
        return f"{self.stack_name}-trn2"

    @property
    def instance(self) -> AcceleratorInstance:
        return INSTANCES[self.accelerators.instance_type]


def parse_environment(name: str, data: Any, source: str) -> Environment:
    """Validate already-loaded data; raise ConfigError with one line per problem."""
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the file must hold a JSON object, not {type(data).__name__}"])
    if "name" in data:
        raise ConfigError([f"{source}: name = {validation.show(data['name'])} is not allowed: "
                           "the environment name is the file name"])
    try:
        env = Environment.model_validate({**data, "name": name})
    except ValidationError as exc:
        problems = [(_variant_path(data, path), value,
                     README_HINT if allowed.startswith("no such key") else allowed)
                    for path, value, allowed in validation.problems(exc)]
    else:
        problems = cross_field_errors(env)
    if problems:
        raise ConfigError([validation.line(source, *problem) for problem in problems])
    return env


def _variant_path(data: dict, path: str) -> str:
    """serving.variants.1.engine -> serving.variants[name=eagle3].engine, when variant 1 has a name."""
    match = re.match(r"^serving\.variants\.(\d+)\.(.+)$", path)
    variants = data.get("serving", {}).get("variants") if isinstance(data.get("serving"), dict) else None
    if not match or not isinstance(variants, list) or int(match[1]) >= len(variants):
        return path
    variant = variants[int(match[1])]
    name = variant.get("name") if isinstance(variant, dict) else None
    if not isinstance(name, str) or match[2] == "name":
        return path
    return f"serving.variants[name={name}].{match[2]}"


class DuplicateKeyError(ValueError):
    def __init__(self, key: str, value: Any):
        super().__init__(key)
        self.key, self.value = key, value


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKeyError(key, value)
        seen[key] = value
    return seen


def available_environments(directory: Path = ENVIRONMENTS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.json"))


def load_environment(name: str, directory: Path = ENVIRONMENTS_DIR) -> Environment:
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9-]{0,20}", name):
        raise ConfigError([f"-c env={name!r} is not allowed: lower-case letters, digits and '-', "
                           "starting with a letter, at most 21 characters"])
    path = directory / f"{name}.json"
    shown = f"environments/{name}.json" if directory == ENVIRONMENTS_DIR else str(path)
    if not path.is_file():
        raise ConfigError([f"{shown}: no such environment file; available: "
                           f"{', '.join(available_environments(directory))}"])
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_refuse_duplicate_keys)
    except DuplicateKeyError as exc:
        raise ConfigError([validation.line(shown, exc.key, exc.value, "the key appears twice in one "
                                           "object, and only the last would count")]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{shown}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{shown}: byte {exc.start} is not UTF-8: save the file as UTF-8"]) from None
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot be read: {exc.strerror}"]) from None
    return parse_environment(name, data, shown)

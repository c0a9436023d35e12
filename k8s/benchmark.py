"""The benchmark: a Job that runs `python -m specdec bench` against the in-cluster Services after a
deploy, and a suspended CronJob holding the same pod, which `python -m specdec bench -e NAME`
copies into a Job on demand.

The pod is the pinned Python image plus SpecDec's own bench code and prompt suites, shipped in a
ConfigMap, and requirements-bench.txt installed at start: no image to build or push.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass

import cdk8s
from cdk8s_plus_36 import k8s
from constructs import Construct

from k8s.model_cache import PREFETCH_IMAGE
from k8s.shipped_code import (
    CODE_MOUNT,
    REPO,
    SCRATCH_MOUNT,
    config_map_key,
    package_files,
    pip_install,
    python_pod_spec,
    read,
)
from specdec import names
from specdec.config import Environment

# What `python -m specdec bench` imports and reads; a test runs it from a copy of just these.
# `python -m specdec` registers every command's parser (each package's cli.py) before it runs one.
SHIPPED_FILES = sorted({
    "specdec/__init__.py", "specdec/__main__.py", "specdec/validation.py", "specdec/arguments.py",
    *(str(p.relative_to(REPO)) for cli in (REPO / "specdec").glob("*/cli.py")
      for p in (cli, cli.parent / "__init__.py")),
    *package_files("specdec/bench"),
    "requirements-bench.txt",
})
RESULTS_FILE = f"{SCRATCH_MOUNT}/results/results.json"
# guidellm needs torch; the CPU build from PyTorch's index (2.13.0+cpu sorts above PyPI's 2.13.0)
# keeps the download to a few hundred MB instead of several GB of CUDA libraries.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# After the servers are healthy: 2 suites x 2 variants x 32 requests of 600 tokens at 45 ms take
# about 15 minutes; two hours leave room for larger runs and pip. Granted per pair of variants.
RUN_BUDGET_SECONDS = 2 * 3600
# A CronJob needs a schedule even when suspended; it never fires while `suspend` is true.
NEVER = "0 0 1 1 *"


@dataclass(frozen=True)
class BenchmarkTarget:
    """Where the results go (CloudFormation tokens at synth time)."""

    results_bucket: str


def deployment_facts(environment: Environment) -> dict:
    """What serves the benchmark, for its results document (specdec/bench/results.py): the
    deployment, and under "variants" what each server runs. The top-level draft_model and k describe
    the recipe's speculative variant, as results written before variants carried their own."""
    serving, accelerators = environment.serving, environment.accelerators
    instance = environment.instance
    variants = serving.resolved_variants()
    recipe = next((v for v in variants if v.name == names.SPECULATIVE_VARIANT and v.speculative), None)
    images = {v.image for v in variants}
    return {
        "environment": environment.name,
        "region": environment.region,
        "instance_type": instance.instance_type,
        "capacity_type": accelerators.capacity_type,
        "chips_per_server": serving.tensor_parallel_size
        // instance.logical_cores_per_chip(accelerators.logical_neuron_cores),
        "tensor_parallel_size": serving.tensor_parallel_size,
        "max_num_seqs": serving.max_num_seqs,
        "image": images.pop() if len(images) == 1 else None,
        "target_model": serving.target_model,
        "draft_model": recipe.draft_model if recipe else None,
        "num_speculative_tokens": recipe.num_speculative_tokens if recipe else None,
        "variants": {v.name: {"engine": v.engine, "image": v.image, "draft_model": v.draft_model,
                              "num_speculative_tokens": v.num_speculative_tokens,
                              "speculative_method": v.speculative_method} for v in variants},
    }


def bench_args(environment: Environment, target: BenchmarkTarget) -> list[str]:
    """Every variant of the environment, in its order: the baseline (if any) as --baseline-url, each
    speculative variant as --variant NAME=URL; the benchmark runs them in the order given."""
    serving, settings = environment.serving, environment.benchmark
    args = []
    for variant in serving.resolved_variants():
        url = names.service_url(variant.name, serving.namespace)
        if variant.speculative:
            args += ["--variant", f"{variant.name}={url}"]
        else:
            named = variant.name != names.BASELINE_VARIANT
            args += ["--baseline-url", f"{variant.name}={url}" if named else url]
    for suite in settings.suites:
        args += ["--suite", suite]
    return args + [
        "--requests", str(settings.requests),
        "--concurrency", str(settings.concurrency),
        "--output-tokens", str(settings.output_tokens),
        "--temperature", str(settings.temperature),
        "--wait-for-health", str(settings.health_timeout_minutes * 60),
        "--deployment", json.dumps(deployment_facts(environment), separators=(",", ":")),
        "--out", RESULTS_FILE,
        "--upload", f"s3://{target.results_bucket}/{names.BENCHMARK_RESULTS_PREFIX}/",
        "--cloudwatch-namespace", names.BENCHMARK_METRICS_NAMESPACE,
    ]


class BenchmarkChart(cdk8s.Chart):
    def __init__(self, scope: Construct, id: str, *, environment: Environment,
                 target: BenchmarkTarget) -> None:
        namespace = environment.serving.namespace
        super().__init__(scope, id, namespace=namespace)
        files = read(SHIPPED_FILES)
        command = self._command(bench_args(environment, target))
        # The bucket is a CloudFormation token whose text changes from synth to synth: leave it out.
        what_runs = self._command(bench_args(environment, BenchmarkTarget("results-bucket")))
        digest = hashlib.sha256(json.dumps([PREFETCH_IMAGE, what_runs, files]).encode()).hexdigest()[:8]
        code = k8s.KubeConfigMap(
            self, "Code", metadata=k8s.ObjectMeta(name=f"{names.BENCHMARK_NAME}-{digest}"),
            data={config_map_key(path): text for path, text in files.items()},
        )
        k8s.KubeServiceAccount(
            self, "ServiceAccount",
            metadata=k8s.ObjectMeta(name=names.BENCHMARK_SERVICE_ACCOUNT),
            # The pod never calls the Kubernetes API; EKS Pod Identity injects its own credentials.
            automount_service_account_token=False,
        )
        health_budget = environment.benchmark.health_timeout_minutes * 60
        pairs = -(-len(environment.serving.resolved_variants()) // 2)
        job = self._job_spec(code.name, command, environment.region,
                             health_budget + pairs * RUN_BUDGET_SECONDS)
        labels = {names.COMPONENT_LABEL: names.BENCHMARK_COMPONENT, "app.kubernetes.io/part-of": "specdec"}
        k8s.KubeCronJob(
            self, "OnDemand",
            metadata=k8s.ObjectMeta(name=names.BENCHMARK_NAME, labels=labels),
            spec=k8s.CronJobSpec(schedule=NEVER, suspend=True, concurrency_policy="Forbid",
                                 job_template=k8s.JobTemplateSpec(
                                     metadata=k8s.ObjectMeta(labels=labels), spec=job)),
        )
        if environment.benchmark.run_after_deploy:
            # Named after what it runs: a deploy that changes the servers, the load or the code
            # gets a new Job (a Job's pod template is immutable); an unchanged deploy keeps the old one.
            k8s.KubeJob(self, "AfterDeploy",
                        metadata=k8s.ObjectMeta(name=f"{names.BENCHMARK_NAME}-{digest}", labels=labels),
                        spec=job)

    @classmethod
    def for_environment(cls, scope: Construct, id: str, environment: Environment, *,
                        results_bucket: str) -> BenchmarkChart:
        return cls(scope, id, environment=environment, target=BenchmarkTarget(results_bucket))

    @staticmethod
    def _command(args: list[str]) -> str:
        return (
            f"{pip_install('requirements-bench.txt', TORCH_CPU_INDEX)}\n"
            f"cd {CODE_MOUNT}\n"
            f"exec python -m specdec bench {shlex.join(args)}"
        )

    @staticmethod
    def _job_spec(config_map: str, command: str, region: str, deadline_seconds: int) -> k8s.JobSpec:
        labels = {names.COMPONENT_LABEL: names.BENCHMARK_COMPONENT}
        return k8s.JobSpec(
            # A failed benchmark is looked at, not retried for hours against broken servers.
            backoff_limit=0,
            active_deadline_seconds=deadline_seconds,
            ttl_seconds_after_finished=7 * 24 * 3600,
            template=k8s.PodTemplateSpec(
                metadata=k8s.ObjectMeta(labels=labels),
                spec=python_pod_spec(
                    service_account=names.BENCHMARK_SERVICE_ACCOUNT, container="benchmark",
                    command=command, region=region, config_map=config_map, files=SHIPPED_FILES,
                    # torch's CPU build is most of the 8 GiB of scratch.
                    cpu="1", memory="2Gi", memory_limit="4Gi", scratch="8Gi", restart_policy="Never",
                    env={"HF_HOME": f"{SCRATCH_MOUNT}/hf", "MPLCONFIGDIR": f"{SCRATCH_MOUNT}/matplotlib"},
                ),
            ),
        )

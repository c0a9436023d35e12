"""The benchmark in the cluster: its Job and CronJob, the code they run, and their permissions."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from k8s.benchmark import CODE_MOUNT, SHIPPED_FILES, TORCH_CPU_INDEX
from specdec import names
from specdec.config import load_environment, parse_environment
from specdec.manifests import MANIFEST_TYPE, render_intrinsic
from tests.conftest import SHIPPED, deep_merge

REPO = Path(__file__).resolve().parent.parent
CUSTOM = {"serving": {"namespace": "llm", "baseline_enabled": False, "num_speculative_tokens": 5},
          "benchmark": {"run_after_deploy": False, "suites": ["structured"], "requests": 100,
                        "concurrency": 8, "output_tokens": 300, "health_timeout_minutes": 30}}


@pytest.fixture(scope="module")
def custom(synth_custom):
    """Baseline off, another namespace and k, no run after deploy, other load settings."""
    return synth_custom("benchcustom", CUSTOM)


@pytest.fixture(params=[*SHIPPED, "benchcustom"])
def each(request, shipped, custom):
    if request.param == "benchcustom":
        data = deep_merge(json.loads((REPO / "environments/dev.json").read_text()), CUSTOM)
        return parse_environment("benchcustom", data, "x"), custom
    return load_environment(request.param), shipped[request.param]


def cron_job(synth) -> dict:
    (found,) = synth.objects_of("CronJob")
    return found


def bench_argv(pod: dict) -> list[str]:
    (container,) = pod["spec"]["containers"]
    script = container["command"][-1]
    (line,) = [line for line in script.splitlines() if "python -m specdec bench" in line]
    return shlex.split(line.split("python -m specdec bench", 1)[1])


def option(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == name]


def servers(argv: list[str]) -> list[tuple[str, str]]:
    return [(arg, argv[i + 1]) for i, arg in enumerate(argv)
            if arg in ("--speculative-url", "--variant", "--baseline-url")]


def test_the_default_environment_benchmarks_the_recipes_two_servers_as_before(dev):
    argv = bench_argv(cron_job(dev)["spec"]["jobTemplate"]["spec"]["template"])
    assert servers(argv) == [("--variant", "speculative=http://vllm-speculative.specdec.svc:8000"),
                             ("--baseline-url", "http://vllm-baseline.specdec.svc:8000")]
    facts = json.loads(option(argv, "--deployment")[0])
    assert (facts["draft_model"], facts["num_speculative_tokens"]) == ("Qwen/Qwen3-1.7B", 7)
    assert facts["variants"]["speculative"]["num_speculative_tokens"] == 7


# Three servers of 8 chips take two trn2.48xlarge nodes.
THREE = {"accelerators": {"desired_size": 2, "max_size": 2}, "serving": {"variants": [
    {"name": "speculative", "engine": "nxdi", "draft_model": "Qwen/Qwen3-1.7B", "num_speculative_tokens": 5},
    {"name": "eagle3", "engine": "vllm-neuron", "draft_model": "RedHatAI/Qwen3-32B-speculator.eagle3",
     "num_speculative_tokens": 3},
    {"name": "baseline"}]}}


def test_three_variants_are_each_benchmarked_against_the_one_baseline_and_described(monkeypatch):
    from k8s.benchmark import BenchmarkTarget, bench_args
    from specdec.__main__ import main
    from specdec.bench import cli

    env = parse_environment("three", deep_merge(json.loads((REPO / "environments/dev.json").read_text()),
                                                THREE), "three.json")
    argv = bench_args(env, BenchmarkTarget("bucket"))
    assert servers(argv) == [("--variant", "speculative=http://vllm-speculative.specdec.svc:8000"),
                             ("--variant", "eagle3=http://vllm-eagle3.specdec.svc:8000"),
                             ("--baseline-url", "http://vllm-baseline.specdec.svc:8000")]
    facts = json.loads(option(argv, "--deployment")[0])
    assert (facts["draft_model"], facts["num_speculative_tokens"]) == ("Qwen/Qwen3-1.7B", 5)
    assert facts["image"] is None  # the variants run different images
    # The command line the Job runs makes three variants, each describing what served it.
    planned = {}
    monkeypatch.setattr(cli, "_run_against_urls", lambda args: planned.update(vars(args)) or 0)
    assert main(["bench", *argv]) == 0
    assert [(v.name, v.role, v.engine, v.num_speculative_tokens, v.speculative_method)
            for v in planned["variants"]] == [("speculative", "speculative", "nxdi", 5, "eagle"),
                                              ("eagle3", "speculative", "vllm-neuron", 3, "eagle3"),
                                              ("baseline", "baseline", "nxdi", None, None)]
    assert planned["variants"][1].image == env.serving.resolved_variants()[1].image != facts["variants"][
        "speculative"]["image"]


def test_a_suspended_cronjob_holds_the_benchmark_and_a_job_runs_it_after_deploy_where_asked(each):
    env, synth = each
    cron = cron_job(synth)
    assert cron["metadata"]["name"] == names.BENCHMARK_NAME
    assert cron["metadata"]["namespace"] == env.serving.namespace
    assert cron["spec"]["suspend"] is True and cron["spec"]["concurrencyPolicy"] == "Forbid"
    jobs = [j for j in synth.objects_of("Job") if j["metadata"]["name"].startswith(names.BENCHMARK_NAME)]
    if env.benchmark.run_after_deploy:
        (job,) = jobs
        assert job["spec"] == cron["spec"]["jobTemplate"]["spec"]
    else:
        assert jobs == []


def test_the_job_benchmarks_the_in_cluster_services_with_the_environments_load(each):
    env, synth = each
    pod = cron_job(synth)["spec"]["jobTemplate"]["spec"]["template"]
    argv = bench_argv(pod)
    services = {s["metadata"]["name"]: s for s in synth.objects_of("Service")}
    # Every variant the environment serves, in its order: speculative ones by name, the baseline apart.
    expected = []
    for variant in env.serving.resolved_variants():
        service = services[names.server_name(variant.name)]
        url = (f"http://{service['metadata']['name']}.{env.serving.namespace}.svc:"
               f"{service['spec']['ports'][0]['port']}")
        if variant.speculative:
            expected.append(("--variant", f"{variant.name}={url}"))
        else:
            named = variant.name != names.BASELINE_VARIANT
            expected.append(("--baseline-url", f"{variant.name}={url}" if named else url))
    assert servers(argv) == expected
    bench = env.benchmark
    assert option(argv, "--suite") == bench.suites
    assert option(argv, "--requests") == [str(bench.requests)]
    assert option(argv, "--concurrency") == [str(bench.concurrency)]
    assert option(argv, "--output-tokens") == [str(bench.output_tokens)]
    assert option(argv, "--temperature") == [str(bench.temperature)]
    assert option(argv, "--wait-for-health") == [str(bench.health_timeout_minutes * 60)]
    assert option(argv, "--cloudwatch-namespace") == [names.BENCHMARK_METRICS_NAMESPACE]
    (deployment,) = option(argv, "--deployment")
    facts = json.loads(deployment)
    variants = env.serving.resolved_variants()
    assert facts.pop("variants") == {
        v.name: {"engine": v.engine, "image": v.image, "draft_model": v.draft_model,
                 "num_speculative_tokens": v.num_speculative_tokens,
                 "speculative_method": v.speculative_method} for v in variants}
    if env.serving.variants is None:  # the recipe: as before variants described themselves
        image, draft, k = env.serving.image, env.serving.draft_model, env.serving.num_speculative_tokens
    else:  # the top level describes the variant named speculative, if any, and an image all share
        recipe = next((v for v in variants if v.name == names.SPECULATIVE_VARIANT and v.speculative), None)
        image = variants[0].image if len({v.image for v in variants}) == 1 else None
        draft, k = (recipe.draft_model, recipe.num_speculative_tokens) if recipe else (None, None)
    assert facts == {
        "environment": env.name, "region": env.region, "instance_type": env.accelerators.instance_type,
        "capacity_type": env.accelerators.capacity_type, "chips_per_server": 8,
        "tensor_parallel_size": env.serving.tensor_parallel_size, "max_num_seqs": env.serving.max_num_seqs,
        "image": image, "target_model": env.serving.target_model, "draft_model": draft,
        "num_speculative_tokens": k}
    (upload,) = option(argv, "--upload")
    bucket = next(i for i in synth.resources("AWS::S3::Bucket") if i.startswith("BenchmarkResults"))
    assert upload == f"s3://${{{bucket}}}/{names.BENCHMARK_RESULTS_PREFIX}/"


def test_the_pod_installs_the_pinned_requirements_with_cpu_torch_and_runs_as_an_unprivileged_user(dev):
    pod = cron_job(dev)["spec"]["jobTemplate"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    script = container["command"][-1]
    assert f"--extra-index-url {TORCH_CPU_INDEX} -r {CODE_MOUNT}/requirements-bench.txt" in script
    assert pod["metadata"]["labels"] == {names.COMPONENT_LABEL: names.BENCHMARK_COMPONENT}
    spec = pod["spec"]
    assert spec["serviceAccountName"] == names.BENCHMARK_SERVICE_ACCOUNT
    assert spec["nodeSelector"] == {names.POOL_LABEL: names.SYSTEM_POOL}
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["restartPolicy"] == "Never"
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                             "capabilities": {"drop": ["ALL"]}}
    env = {e["name"]: e["value"] for e in container["env"]}
    # botocore reads AWS_DEFAULT_REGION, and the Pod Identity webhook sets no region if one is set.
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-2"
    job = cron_job(dev)["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["activeDeadlineSeconds"] > load_environment("dev").benchmark.health_timeout_minutes * 60


def test_the_servers_network_policy_admits_the_benchmark_pods(each):
    _, synth = each
    labels = cron_job(synth)["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    (policy,) = synth.objects_of("NetworkPolicy")
    selectors = [peer.get("podSelector", {}).get("matchLabels") for rule in policy["spec"]["ingress"]
                 for peer in rule["from"]]
    assert any(s and s.items() <= labels.items() for s in selectors)


def test_the_code_configmap_holds_the_repos_bench_code_byte_for_byte(dev):
    pod = cron_job(dev)["spec"]["jobTemplate"]["spec"]["template"]
    (volume,) = [v for v in pod["spec"]["volumes"] if "configMap" in v]
    (config_map,) = [c for c in dev.objects_of("ConfigMap")
                     if c["metadata"]["name"] == volume["configMap"]["name"]]
    shipped = {item["path"]: config_map["data"][item["key"]] for item in volume["configMap"]["items"]}
    assert sorted(shipped) == sorted(SHIPPED_FILES)
    assert all(text == (REPO / path).read_text() for path, text in shipped.items())


def test_python_m_specdec_bench_runs_from_the_shipped_files_alone(tmp_path):
    """What the pod has: the ConfigMap's files and the bench requirements, not the repo."""
    for path in SHIPPED_FILES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    result = subprocess.run([sys.executable, "-m", "specdec", "bench", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--speculative-url" in result.stdout
    result = subprocess.run([sys.executable, "-c", "import specdec.bench.cli, specdec.bench.publish, "
                             "specdec.bench.run; import specdec.config"], cwd=tmp_path, capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin"})
    assert "No module named 'specdec.config'" in result.stderr  # proves the repo was not on the path


def test_the_bench_requirements_pin_what_the_cdk_app_pins_alike():
    def pins(name: str) -> dict[str, str]:
        lines = (REPO / name).read_text().splitlines()
        return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))

    bench, app = pins("requirements-bench.txt"), pins("requirements.txt")
    shared = set(bench) & set(app)
    assert shared == {"pydantic", "boto3"}
    assert {k: bench[k] for k in shared} == {k: app[k] for k in shared}


def _role_statements(synth, service_account: str) -> tuple[dict, list[dict]]:
    (association,) = [a["Properties"] for a in synth.resources("AWS::EKS::PodIdentityAssociation").values()
                      if a["Properties"]["ServiceAccount"] == service_account]
    role_id = association["RoleArn"]["Fn::GetAtt"][0]
    statements = [s for p in synth.resources("AWS::IAM::Policy").values()
                  if {"Ref": role_id} in p["Properties"]["Roles"]
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    return association, statements


def test_the_benchmark_may_write_its_environments_results_and_metrics_and_nothing_else(each):
    env, synth = each
    association, statements = _role_statements(synth, names.BENCHMARK_SERVICE_ACCOUNT)
    assert association["Namespace"] == env.serving.namespace
    bucket = next(i for i in synth.resources("AWS::S3::Bucket") if i.startswith("BenchmarkResults"))
    assert sorted((s["Action"], render_intrinsic(s["Resource"]), json.dumps(s.get("Condition")))
                  for s in statements) == [
        ("cloudwatch:PutMetricData", "*",
         json.dumps({"StringEquals": {"cloudwatch:namespace": names.BENCHMARK_METRICS_NAMESPACE}})),
        ("s3:PutObject", f"${{{bucket}.Arn}}/{names.BENCHMARK_RESULTS_PREFIX}/{env.name}/*", "null"),
    ]
    assert all(s["Effect"] == "Allow" for s in statements)


def test_the_benchmark_is_applied_after_its_identity_and_the_servers_so_it_is_deleted_before_them(each):
    _, synth = each
    manifests = synth.resources(MANIFEST_TYPE)

    def applying(kind: str) -> str:
        return next(i for i, r in manifests.items()
                    if kind in {o["kind"] for o in json.loads(render_intrinsic(r["Properties"]["Manifest"]))})

    depends = manifests[applying("CronJob")]["DependsOn"]
    association = next(i for i, a in synth.resources("AWS::EKS::PodIdentityAssociation").items()
                       if a["Properties"]["ServiceAccount"] == names.BENCHMARK_SERVICE_ACCOUNT)
    assert association in depends and applying("Deployment") in depends and applying("Namespace") in depends


def test_the_stack_says_where_results_go_and_how_to_run_the_benchmark(each):
    env, synth = each
    outputs = synth.template["Outputs"]
    bucket = next(i for i in synth.resources("AWS::S3::Bucket") if i.startswith("BenchmarkResults"))
    assert outputs["BenchmarkResultsBucketName"]["Value"] == {"Ref": bucket}
    assert outputs["BenchmarkCommand"]["Value"] == f"python -m specdec bench -e {env.name}"


@pytest.mark.parametrize("overrides,expected", [
    ({"benchmark": {"output_tokens": 1000}}, "benchmark.output_tokens = 1000 is not allowed: at most 896"),
    ({"benchmark": {"suites": ["structured", "structured"]}}, "benchmark.suites"),
    ({"benchmark": {"suites": ["poetry"]}}, "benchmark.suites.0 = 'poetry' is not allowed"),
    ({"benchmark": {"suites": []}}, "benchmark.suites = [] is not allowed"),
    ({"benchmark": {"concurrency": 0}}, "benchmark.concurrency = 0 is not allowed"),
    ({"benchmark": {"temperature": -1}}, "benchmark.temperature = -1 is not allowed"),
    ({"benchmark": {"run_after_deploy": "yes"}}, "benchmark.run_after_deploy = 'yes' is not allowed"),
])
def test_bad_benchmark_settings_are_refused_in_one_line(overrides, expected):
    from tests.conftest import rejections

    problems = rejections(overrides)
    assert any(p.startswith(f"bad.json: {expected}") for p in problems), problems

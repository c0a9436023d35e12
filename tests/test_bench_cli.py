"""`python -m specdec bench`: its arguments, its publishing (S3, CloudWatch) and its cluster mode."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from specdec.__main__ import main
from specdec.bench import publish
from specdec.bench.run import wait_for_health
from tests import results_factory
from tests.streaming_server import Behaviour, serving


@pytest.mark.parametrize("argv,expected", [
    (["bench", "--out", "r.json"], "--speculative-url and --out are needed"),
    (["bench", "--speculative-url", "localhost:8000", "--out", "r.json"],
     "--speculative-url: 'localhost:8000' is not allowed: an http(s) URL"),
    (["bench", "--speculative-url", "http://a", "--out", "r", "--requests", "0"],
     "--requests: 0 is not allowed: at least 1"),
    (["bench", "--speculative-url", "http://a", "--out", "r", "--concurrency", "four"],
     "--concurrency: 'four' is not a whole number"),
    (["bench", "--speculative-url", "http://a", "--out", "r", "--suite", "poetry"],
     "--suite: invalid choice"),
    (["bench", "--speculative-url", "http://a", "--out", "r", "--temperature", "3"],
     "--temperature: 3 is not allowed: between 0 and 2"),
    (["bench", "--speculative-url", "http://a", "--out", "r", "--deployment", '{"gpu": 1}'],
     "--deployment: ['gpu'] is not allowed"),
    (["bench", "--speculative-url", "http://a", "--out", "r", "--cloudwatch-namespace", "SpecDec"],
     "--cloudwatch-namespace needs --deployment with an \"environment\""),
    (["bench", "-e", "dev", "--speculative-url", "http://a"], "-e runs the Job on the cluster"),
    (["bench", "--speculative-url", "http://a", "--out", "r", "--upload", "bucket/x"],
     "--upload 'bucket/x': not an S3 URL"),
    (["bench", "--variant", "Eagle3=http://a", "--out", "r"],
     "--variant: 'Eagle3' is not allowed as a NAME: a DNS label"),
    (["bench", "--variant", "eagle3_k3=http://a", "--out", "r"], "'eagle3_k3' is not allowed as a NAME"),
    (["bench", "--variant", "http://a", "--out", "r"], "--variant: 'http://a' is not allowed: NAME=URL"),
    (["bench", "--variant", "eagle3=a:8000", "--out", "r"], "'a:8000' is not allowed: an http(s) URL"),
    (["bench", "--baseline-url", "http://b", "--out", "r"], "--speculative-url and --out are needed"),
    (["bench", "--speculative-url", "http://a", "--variant", "speculative=http://b", "--out", "r"],
     "--variant speculative=URL: the name 'speculative' is also given by --speculative-url: "
     "each variant name once"),
    (["bench", "--variant", "k3=http://a", "--variant", "k3=http://b", "--out", "r"],
     "--variant k3=URL: the name 'k3' is also given by --variant k3=URL"),
    (["bench", "--variant", "baseline=http://a", "--baseline-url", "http://b", "--out", "r"],
     "--baseline-url: the name 'baseline' is also given by --variant baseline=URL"),
    (["bench", "--variant", "a=http://a", "--baseline-url", "http://b", "--baseline-url", "plain=http://c",
      "--out", "r"], "--baseline-url is given twice: at most one baseline"),
    (["bench", "-e", "dev", "--variant", "a=http://a"], "-e runs the Job on the cluster"),
    (["bench", "--variant", "a=http://a", "--out", "r", "--deployment", '{"variants": {"ghost": {}}}'],
     "--deployment: variants.ghost is not allowed: the name of a server given here (a)"),
    (["bench", "--variant", "a=http://a", "--out", "r", "--deployment", '{"variants": {"a": {"gpu": 1}}}'],
     "--deployment: variants = {\"a\": {\"gpu\": 1}} is not allowed: an object of NAME"),
    (["bench", "--variant", "a=http://a", "--out", "r", "--deployment",
      '{"variants": {"a": {"num_speculative_tokens": "3"}}}'],
     "--deployment: variants.a.num_speculative_tokens = '3' is not allowed"),
    (["bench", "--variant", "a=http://a", "--baseline-url", "http://b", "--out", "r", "--deployment",
      '{"variants": {"baseline": {"num_speculative_tokens": 3}}}'],
     "--deployment: variants.baseline.num_speculative_tokens = 3 is not allowed: null on the baseline"),
])
def test_bad_arguments_are_one_line_and_nothing_runs(capsys, argv, expected):
    try:
        code = main(argv)
    except SystemExit as exited:
        code = exited.code
    assert code in (1, 2)
    error = capsys.readouterr().err.strip()
    assert expected in error and "\n" not in error


def _planned(monkeypatch, argv: list[str]):
    """The variants and deployment a bench command line would run with (nothing is run)."""
    from specdec.bench import cli

    seen = {}
    monkeypatch.setattr(cli, "_run_against_urls", lambda args: seen.update(vars(args)) or 0)
    assert main(["bench", *argv, "--out", "r.json"]) == 0
    return seen["variants"], seen["deployment"]


def test_speculative_url_is_short_for_a_variant_named_speculative(monkeypatch):
    short, _ = _planned(monkeypatch, ["--speculative-url", "http://a:8000/v1", "--baseline-url", "http://b"])
    named, _ = _planned(monkeypatch, ["--variant", "speculative=http://a:8000/v1", "--baseline-url", "http://b"])
    assert short == named
    assert [(v.name, v.role, v.url) for v in short] == [
        ("speculative", "speculative", "http://a:8000"), ("baseline", "baseline", "http://b")]


def test_every_variant_runs_in_the_order_given_each_described_by_the_deployment(monkeypatch):
    facts = {"target_model": "Qwen/Qwen3-32B", "num_speculative_tokens": 5,
             "variants": results_factory.THREE_VARIANTS}
    variants, deployment = _planned(monkeypatch, [
        "--variant", "speculative=http://recipe:8000", "--baseline-url", "http://base:8000",
        "--variant", "eagle3=http://eagle:8000", "--deployment", json.dumps(facts)])
    assert [(v.name, v.role, v.engine, v.num_speculative_tokens) for v in variants] == [
        ("speculative", "speculative", "nxdi", 5), ("baseline", "baseline", "nxdi", None),
        ("eagle3", "speculative", "vllm-neuron", 3)]
    assert (variants[2].draft_model, variants[2].image) == (results_factory.EAGLE3_HEAD, "plugin-image")
    assert "variants" not in deployment and deployment["num_speculative_tokens"] == 5


def test_a_baseline_may_carry_its_variants_name(monkeypatch):
    variants, _ = _planned(monkeypatch, ["--variant", "eagle3=http://a", "--baseline-url", "plain=http://b"])
    assert [(v.name, v.role) for v in variants] == [("eagle3", "speculative"), ("plain", "baseline")]


def test_a_server_that_does_not_answer_is_one_line_and_writes_no_results(tmp_path, capsys):
    out = tmp_path / "results.json"
    code = main(["bench", "--speculative-url", "http://127.0.0.1:9", "--out", str(out)])
    assert code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("bench: servers not healthy after 0 s: speculative http://127.0.0.1:9/health")
    assert "\n" not in error and not out.exists()


def test_waiting_for_health_reports_progress_and_returns_once_the_servers_answer():
    messages = []
    with serving(Behaviour(tokens_per_chunk=1, interval_s=0.01)) as url:
        from specdec.bench.results import Variant

        wait_for_health([Variant(name="speculative", role="speculative", url=url)], 5, messages.append,
                        sleep=lambda s: None)
    assert messages == ["health: speculative ok"]


@pytest.fixture
def aws(monkeypatch, moto_session):
    # The commands under test make their own clients, from the environment's region.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    return moto_session


def test_results_go_to_s3_in_one_folder_per_run_with_the_results_file_written_last(aws, tmp_path):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="results", CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    log = tmp_path / "results.guidellm.log"
    log.write_text("log")
    document = results_factory.recipe()
    url = publish.upload(aws, "s3://results/benchmarks/", document, [log])
    assert url == "s3://results/benchmarks/dev/20261124T100000Z/results.json"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="results")["Contents"])
    assert keys == ["benchmarks/dev/20261124T100000Z/results.guidellm.log",
                    "benchmarks/dev/20261124T100000Z/results.json"]
    body = s3.get_object(Bucket="results", Key=keys[1])["Body"].read().decode()
    from specdec.bench.results import load_results

    assert load_results(url, body) == document


def test_metrics_go_to_cloudwatch_with_environment_variant_and_suite(aws):
    sent = publish.put_metrics(aws, "SpecDec", results_factory.recipe())
    listed = aws.client("cloudwatch").list_metrics(Namespace="SpecDec")["Metrics"]
    assert len(listed) == sent
    speed_up = [m for m in listed if m["MetricName"] == "SpeedUp"]
    assert sorted(tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in speed_up) == [
        (("Environment", "dev"), ("Suite", "open-ended"), ("Variant", "speculative")),
        (("Environment", "dev"), ("Suite", "structured"), ("Variant", "speculative"))]


RESULTS_URL = "s3://bucket/benchmarks/dev/20261124T100000Z/results.json"
FAKE_KUBECTL = """#!/bin/sh
echo "$@" >> "{calls}"
case "$*" in
  *"config get-contexts"*) echo "arn:aws:eks:us-east-2:123456789012:cluster/specdec-dev" ;;
  *"create job"*)
    if [ -n "{fail_create}" ]; then echo 'cronjobs "specdec-benchmark" not found' >&2; exit 1; fi
    echo created ;;
  *"get pods"*) echo pod/specdec-benchmark-manual-1 ;;
  *"logs"*) echo "[1/4] structured x speculative"; echo "results: {results}" ;;
  *"get job"*) printf 1 ;;
esac
"""


def fake_kubectl(tmp_path: Path, monkeypatch, fail_create: bool = False) -> Path:
    calls = tmp_path / "calls"
    script = tmp_path / "bin" / "kubectl"
    script.parent.mkdir()
    script.write_text(FAKE_KUBECTL.format(calls=calls, fail_create="1" if fail_create else "",
                                          results=RESULTS_URL))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_bench_e_copies_the_cronjob_into_a_job_follows_it_and_says_where_the_results_are(
        tmp_path, monkeypatch, capsys):
    calls = fake_kubectl(tmp_path, monkeypatch)
    assert main(["bench", "-e", "dev"]) == 0
    out = capsys.readouterr().out
    assert "[1/4] structured x speculative" in out
    assert out.strip().splitlines()[-2:] == [
        f"results: {RESULTS_URL}", f"next: python -m specdec report {RESULTS_URL} --out report/"]
    create = next(line for line in calls.read_text().splitlines() if "create job" in line)
    assert create.startswith("--context arn:aws:eks:us-east-2:123456789012:cluster/specdec-dev "
                             "--namespace specdec create job specdec-benchmark-manual-")
    assert create.endswith("--from=cronjob/specdec-benchmark")


def test_bench_e_without_the_clusters_context_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    fake_kubectl(tmp_path, monkeypatch)
    assert main(["bench", "-e", "ci"]) == 2
    error = capsys.readouterr().err.strip()
    assert "aws eks update-kubeconfig --region us-east-2 --name specdec-ci" in error and "\n" not in error


def test_bench_e_on_a_cluster_without_the_benchmark_says_so(tmp_path, monkeypatch, capsys):
    fake_kubectl(tmp_path, monkeypatch, fail_create=True)
    assert main(["bench", "-e", "dev"]) == 1
    error = capsys.readouterr().err.strip()
    assert 'cronjobs "specdec-benchmark" not found' in error and "cdk deploy" in error


def test_bench_e_without_kubectl_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["bench", "-e", "dev"]) == 2
    assert "kubectl is not installed" in capsys.readouterr().err

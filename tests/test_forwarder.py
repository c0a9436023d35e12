"""The metrics forwarder: vLLM's Prometheus series in, CloudWatch metrics out, with the percentiles
of the histograms kept (as Values and Counts) and each series named for what it measures."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto import mock_aws
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from specdec.forwarder import translate
from specdec.forwarder.__main__ import main
from specdec.forwarder.forward import Forwarder, Settings
from specdec.forwarder.sources import Pod

NOW = datetime(2026, 12, 1, tzinfo=UTC)
# vLLM's inter-token latency buckets (vllm/v1/metrics/buckets.py; V0 uses the same for its
# time_per_output_token histogram).
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
               20.0, 40.0, 80.0)


class FakeVllm:
    """A server's /metrics as prometheus_client renders it: the names of one engine generation."""

    def __init__(self, generation: str):
        self.registry = CollectorRegistry()
        labels = ["model_name", "engine"]
        token = ("vllm:inter_token_latency_seconds" if generation == "V1"
                 else "vllm:time_per_output_token_seconds")
        self.token = Histogram(token, "token latency", labels, buckets=ITL_BUCKETS, registry=self.registry)
        self.ttft = Histogram("vllm:time_to_first_token_seconds", "ttft", labels, registry=self.registry)
        self.tokens = Counter("vllm:generation_tokens", "tokens", labels, registry=self.registry)
        self.running = Gauge("vllm:num_requests_running", "running", labels, registry=self.registry)
        self.spec = {}
        if generation == "V1":
            for name in ("drafts", "draft_tokens", "accepted_tokens"):
                self.spec[name] = Counter(f"vllm:spec_decode_num_{name}", name, labels,
                                          registry=self.registry)

    def serve(self, itl_s: list[float], tokens: int, running: int,
              drafts: int = 0, drafted: int = 0, accepted: int = 0) -> None:
        series = ("Qwen/Qwen3-32B", "0")
        for value in itl_s:
            self.token.labels(*series).observe(value)
        self.tokens.labels(*series).inc(tokens)
        self.running.labels(*series).set(running)
        for name, value in (("drafts", drafts), ("draft_tokens", drafted), ("accepted_tokens", accepted)):
            if name in self.spec:
                self.spec[name].labels(*series).inc(value)

    def text(self) -> str:
        return generate_latest(self.registry).decode()


def settings(engine: str = "V0") -> Settings:
    return Settings.from_json({
        "environment": "dev", "namespace": "specdec", "node_group": "specdec-dev-trn2", "port": 8000,
        "variants": {"speculative": {"speculative": True, "engine": engine},
                     "baseline": {"speculative": False, "engine": engine}}})


def by_name(data: list[dict], variant: str | None = None) -> dict[str, dict]:
    return {d["MetricName"]: d for d in data
            if variant is None or {"Name": "Variant", "Value": variant} in d["Dimensions"]}


def weighted_percentile(values: list[float], counts: list[float], q: float) -> float:
    total, seen = sum(counts), 0.0
    for value, count in sorted(zip(values, counts, strict=True)):
        seen += count
        if seen >= q * total:
            return value
    raise AssertionError("empty")


def test_the_first_scrape_only_sets_the_baseline_and_a_restart_or_a_new_series_counts_from_zero():
    key = ("vllm:generation_tokens_total", ())
    assert translate.increase(None, {key: 50.0}) == {}
    assert translate.increase({key: 50.0}, {key: 80.0}) == {key: 30.0}
    assert translate.increase({key: 80.0}, {key: 5.0}) == {key: 5.0}
    assert translate.increase({}, {key: 7.0}) == {key: 7.0}


def test_a_histogram_increase_becomes_values_and_counts_spread_inside_each_bucket():
    values, counts = translate.histogram_points({10.0: 0.0, 25.0: 100.0, 50.0: 120.0, float("inf"): 121.0})
    assert sum(counts) == pytest.approx(121.0)
    assert all(10.0 < v < 25.0 for v, c in zip(values, counts, strict=True) if c and v < 25.0)
    assert [v for v in values if v >= 25.0] == [28.125, 34.375, 40.625, 46.875, 50.0]
    # As Prometheus' histogram_quantile would: the median lies halfway up the (10, 25] bucket.
    assert 10.0 < weighted_percentile(values, counts, 0.5) < 25.0


def test_v0_speculative_server_reports_step_time_and_the_baseline_inter_token_latency():
    forwarder = Forwarder(settings("V0"))
    servers = {"10.0.0.1": FakeVllm("V0"), "10.0.0.2": FakeVllm("V0")}
    pods = [Pod("vllm-speculative-a", "speculative", "10.0.0.1", True),
            Pod("vllm-baseline-a", "baseline", "10.0.0.2", True)]

    def scrape(url: str) -> str:
        return servers[url.split("//")[1].split(":")[0]].text()

    forwarder.cycle(pods, 1, scrape, NOW)
    servers["10.0.0.1"].serve([0.045] * 90 + [0.060] * 10, tokens=400, running=4)
    servers["10.0.0.2"].serve([0.045] * 100, tokens=100, running=3)
    data, problems = forwarder.cycle(pods, 1, scrape, NOW)
    assert problems == []
    speculative, baseline = by_name(data, "speculative"), by_name(data, "baseline")
    assert "DecodeStepTime" in speculative and "InterTokenLatency" not in speculative
    assert "InterTokenLatency" in baseline and "DecodeStepTime" not in baseline
    itl = baseline["InterTokenLatency"]
    assert itl["Unit"] == "Milliseconds" and sum(itl["Counts"]) == pytest.approx(100)
    assert 25.0 < weighted_percentile(itl["Values"], itl["Counts"], 0.9) <= 50.0
    assert speculative["GeneratedTokens"]["Value"] == 400 and speculative["RequestsRunning"]["Value"] == 4
    # This image reports no speculation: nothing is invented.
    assert not {"SpeculativeDrafts", "SpeculativeAcceptedTokens"} & set(speculative)
    assert speculative["ReadyServers"]["Value"] == 1
    nodes = by_name(data)["ReadyNodes"]
    assert nodes["Value"] == 1 and {"Name": "NodeGroup", "Value": "specdec-dev-trn2"} in nodes["Dimensions"]


def test_v1_speculation_counters_are_forwarded_and_pods_of_a_variant_add_up():
    forwarder = Forwarder(settings("V1"))
    servers = {ip: FakeVllm("V1") for ip in ("10.0.0.1", "10.0.0.3")}
    pods = [Pod("vllm-speculative-a", "speculative", "10.0.0.1", True),
            Pod("vllm-speculative-b", "speculative", "10.0.0.3", True),
            Pod("vllm-speculative-c", "speculative", None, False)]

    def scrape(url: str) -> str:
        return servers[url.split("//")[1].split(":")[0]].text()

    forwarder.cycle(pods, 0, scrape, NOW)
    for server in servers.values():
        server.serve([0.015] * 50, tokens=200, running=2, drafts=50, drafted=150, accepted=100)
    data, _ = forwarder.cycle(pods, 0, scrape, NOW)
    speculative = by_name(data, "speculative")
    # V1 records one latency per step too: on a speculative server it is a step time.
    assert "InterTokenLatency" not in speculative and speculative["DecodeStepTime"]["Unit"] == "Milliseconds"
    assert sum(speculative["DecodeStepTime"]["Counts"]) == pytest.approx(100)
    assert (speculative["SpeculativeDrafts"]["Value"], speculative["SpeculativeDraftTokens"]["Value"],
            speculative["SpeculativeAcceptedTokens"]["Value"]) == (100, 300, 200)
    assert speculative["ReadyServers"]["Value"] == 2
    assert by_name(data, "baseline")["ReadyServers"]["Value"] == 0


def test_a_pod_that_does_not_answer_is_reported_and_the_others_still_count():
    forwarder = Forwarder(settings())

    def scrape(url: str) -> str:
        if "10.0.0.9" in url:
            raise ConnectionRefusedError("connection refused")
        return "not prometheus {"

    data, problems = forwarder.cycle([Pod("a", "speculative", "10.0.0.9", True),
                                      Pod("b", "baseline", "10.0.0.2", True)], 1, scrape, NOW)
    assert len(problems) == 2 and problems[0].startswith("a: ") and "not Prometheus text" in problems[1]
    assert by_name(data, "speculative")["ReadyServers"]["Value"] == 1


@pytest.fixture
def cluster_and_server():
    """One localhost port plays the Kubernetes API and a V0 server's /metrics."""
    vllm = FakeVllm("V0")
    pods = {"items": [{"metadata": {"name": "vllm-baseline-a", "labels": {"specdec.io/variant": "baseline"}},
                       "status": {"podIP": "127.0.0.1",
                                  "conditions": [{"type": "Ready", "status": "True"}]}}]}
    nodes = {"items": [{"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                       {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}]}
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.path)
            if self.path.startswith("/api/v1/namespaces/specdec/pods"):
                body = json.dumps(pods)
            elif self.path.startswith("/api/v1/nodes"):
                body = json.dumps(nodes)
            else:
                vllm.serve([0.04] * 10, tokens=10, running=1)
                body = vllm.text()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()


def test_the_forwarder_loop_puts_metrics_in_cloudwatch(cluster_and_server, monkeypatch, capsys):
    port, seen = cluster_and_server
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    config = {"environment": "dev", "namespace": "specdec", "node_group": "specdec-dev-trn2", "port": port,
              "variants": {"baseline": {"speculative": False, "engine": "V0"}}}
    with mock_aws():
        assert main(["--config", json.dumps(config), "--metrics-namespace", "SpecDec", "--interval", "0",
                     "--cycles", "2", "--kubernetes-url", f"http://127.0.0.1:{port}"]) == 0
        listed = boto3.client("cloudwatch").list_metrics(Namespace="SpecDec")["Metrics"]
        names = {m["MetricName"] for m in listed}
    assert {"InterTokenLatency", "GeneratedTokens", "RequestsRunning", "ReadyServers", "ReadyNodes"} <= names
    assert "labelSelector=app.kubernetes.io/component%3Dserver" in seen[0]
    assert "labelSelector=eks.amazonaws.com%2Fnodegroup%3Dspecdec-dev-trn2" in seen[1]
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "cycle 2: baseline 1 ready, 1 Trn2 nodes ready, 5 metrics put"


def test_the_forwarder_runs_from_its_shipped_files_and_its_own_requirements_alone(tmp_path):
    """What the pod has: the ConfigMap's files and requirements-forwarder.txt (boto3 and its
    dependencies, prometheus-client), nothing else of the repo's virtual environment."""
    import shutil
    import subprocess
    import sys

    from k8s.metrics_forwarder import SHIPPED_FILES
    from k8s.shipped_code import REPO

    for path in SHIPPED_FILES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    allowed = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six",
               "prometheus_client", "specdec"}
    guard = (
        "import sys\n"
        f"allowed = {allowed!r} | set(sys.stdlib_module_names)\n"
        "class Guard:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] not in allowed:\n"
        "            raise ImportError(f'{name} is not in the forwarder pod')\n"
        "sys.meta_path.insert(0, Guard())\n"
        "sys.argv = ['forwarder', '--help']\n"
        "import runpy; runpy.run_module('specdec.forwarder', run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", guard], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--metrics-namespace" in result.stdout

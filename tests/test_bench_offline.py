"""The benchmark end to end, offline: the real load generator (GuideLLM) against two localhost
servers whose timing is known, then the report built from what it measured.

The speculative stand-in streams 4 tokens every 40 ms (10 ms per token, 4 tokens per step), the
baseline 1 token every 30 ms: the benchmark must measure each within 5 %. (Each server costs a
GuideLLM start-up of seconds; more variants are covered by tests/test_bench_cli.py.)
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from specdec.__main__ import main
from specdec.bench.results import SCHEMA_PATH, load_results
from tests.streaming_server import Behaviour, serving

SPECULATIVE = Behaviour(tokens_per_chunk=4, interval_s=0.040)
BASELINE = Behaviour(tokens_per_chunk=1, interval_s=0.030)
TOLERANCE = 0.05
DEPLOYMENT = {"environment": "offline", "region": "us-east-2", "instance_type": "trn2.48xlarge",
              "capacity_type": "on_demand", "chips_per_server": 8, "tensor_parallel_size": 32,
              "max_num_seqs": 4, "draft_model": "Qwen/Qwen3-1.7B", "num_speculative_tokens": 7,
              "image": "tests/streaming_server.py"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One benchmark run (one suite, two variants; each GuideLLM run costs seconds of start-up)."""
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "results.json"
    with serving(SPECULATIVE) as speculative, serving(BASELINE) as baseline:
        code = main(["bench", "--speculative-url", speculative, "--baseline-url", baseline,
                     "--out", str(out), "--requests", "8", "--concurrency", "4",
                     "--output-tokens", "41", "--suite", "structured",
                     "--deployment", json.dumps(DEPLOYMENT)])
    return code, out


def test_the_run_succeeds_and_writes_a_results_file_that_the_json_schema_accepts(run):
    code, out = run
    assert code == 0
    document = json.loads(out.read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    results = load_results(str(out), out.read_text())
    assert [(r.suite, r.variant) for r in results.runs] == [
        ("structured", "speculative"), ("structured", "baseline")]
    assert results.described("speculative").num_speculative_tokens == 7  # the deployment's
    assert results.deployment.target_model == "Qwen/Qwen3-32B"  # asked of the server, not given
    assert results.method.load_generator == "guidellm" and results.method.temperature == 0


@pytest.mark.parametrize("variant,behaviour", [("speculative", SPECULATIVE), ("baseline", BASELINE)])
def test_inter_token_latency_and_tokens_per_step_come_back_within_5_percent(run, variant, behaviour):
    _, out = run
    results = load_results(str(out), out.read_text())
    for suite in results.suites:
        summary = results.run(suite, variant).summary
        assert summary.requests == 8 and summary.errors == 0
        assert summary.itl_ms.p50 == pytest.approx(behaviour.itl_ms, rel=TOLERANCE)
        assert summary.tokens_per_step == pytest.approx(behaviour.tokens_per_chunk, rel=TOLERANCE)
        assert summary.ttft_ms.p50 == pytest.approx(1000 * behaviour.ttft_s, rel=0.5)
        assert summary.output_tokens_mean == 41 and summary.prompt_tokens_mean == behaviour.prompt_tokens


def test_every_variant_got_the_same_prompts_and_the_same_load(run):
    _, out = run
    results = load_results(str(out), out.read_text())
    for suite in results.suites:
        runs = [results.run(suite, v.name) for v in results.variants]
        assert len({len(r.requests) for r in runs}) == 1
        assert {r.summary.prompt_tokens_mean for r in runs} == {64}


def test_the_report_is_built_from_the_measured_results(run, tmp_path, capsys):
    _, out = run
    report_dir = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report_dir), "--price-per-hour", "40"]) == 0
    text = (report_dir / "report.md").read_text()
    for variant, behaviour in (("speculative", SPECULATIVE),):
        rows = [line for line in text.splitlines()
                if line.startswith(f"| results | structured | {variant} |")]
        measured = float(rows[0].split("|")[6].strip().removesuffix("x"))
        assert measured == pytest.approx(BASELINE.itl_ms / behaviour.itl_ms, rel=2 * TOLERANCE)
    for chart in ("speed-up.png", "itl-distribution.png", "tokens-per-step.png", "bandwidth.png", "cost.png"):
        assert (report_dir / chart).read_bytes().startswith(b"\x89PNG"), chart
        assert f"]({chart})" in text
    assert "--price-per-hour 40" in text


def test_a_server_that_reports_no_usage_is_measured_in_words_and_says_so(tmp_path, capsys):
    """Without usage in the stream, token counts would need the model's tokenizer (a download):
    the benchmark counts words instead, which for this server are its tokens."""
    out = tmp_path / "results.json"
    quiet = Behaviour(tokens_per_chunk=4, interval_s=0.040, usage=False)
    with serving(quiet) as url:
        assert main(["bench", "--speculative-url", url, "--out", str(out), "--requests", "4",
                     "--output-tokens", "21", "--suite", "structured"]) == 0
    assert "token figures are words" in capsys.readouterr().out
    (measured,) = load_results(str(out), out.read_text()).runs
    assert measured.token_counts == "words"
    assert measured.summary.itl_ms.p50 == pytest.approx(quiet.itl_ms, rel=TOLERANCE)
    assert measured.summary.tokens_per_step == pytest.approx(4, rel=TOLERANCE)

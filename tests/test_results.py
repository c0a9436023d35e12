"""The results document: the contract every reader of a benchmark relies on."""

from __future__ import annotations

import json

import jsonschema
import numpy
import pytest

from specdec.bench import metrics
from specdec.bench.results import (
    SCHEMA_PATH,
    VARIANT_FACTS,
    Request,
    ResultsError,
    json_schema,
    load_results,
    percentiles,
    summarize,
)
from tests import results_factory


def test_the_committed_json_schema_is_the_one_the_models_define():
    assert SCHEMA_PATH.read_text() == json_schema(), "run: python -m specdec results-schema --write"


@pytest.mark.parametrize("values", [[3.0], [1.0, 2.0], [5.0, 1.0, 4.0, 2.0, 3.0], list(range(1, 33))])
def test_percentiles_interpolate_like_numpy(values):
    got = percentiles([float(v) for v in values])
    assert got.p50 == pytest.approx(numpy.percentile(values, 50))
    assert got.p90 == pytest.approx(numpy.percentile(values, 90))


def test_tokens_per_step_is_decoded_tokens_over_decode_steps():
    # 1 prefill token, then 600 tokens in 150 chunks of 4; and a one-token answer, which has no step.
    requests = [Request(ttft_ms=50, itl_ms=10, e2e_s=6.05, prompt_tokens=64, output_tokens=601, chunks=151),
                Request(ttft_ms=50, itl_ms=None, e2e_s=0.05, prompt_tokens=64, output_tokens=1, chunks=1)]
    summary = summarize(requests, errors=1, duration_s=10.0)
    assert summary.tokens_per_step == 600 / 150
    assert summary.output_tokens_per_s == 602 / 10.0
    assert summary.itl_ms.p50 == 10 and summary.requests == 2 and summary.errors == 1


def test_a_results_document_round_trips_through_json():
    document = results_factory.recipe()
    assert load_results("r.json", document.model_dump_json()) == document


def _document(**changes) -> str:
    data = json.loads(results_factory.recipe().model_dump_json())
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return json.dumps(data)


DELETE = object()


@pytest.mark.parametrize("text,expected", [
    ("", "r.json:1:1: not valid JSON"),
    ("{", "r.json:1:2: not valid JSON"),
    ("[]", "r.json: a results document is a JSON object, not list"),
    (_document(schema_version=2), "r.json: schema_version = 2 is not allowed: 1"),
    (_document(method=DELETE), "r.json: method = null is not allowed: a value: this key is required"),
    (_document(runs__0__summary__requests="4"), "r.json: runs.0.summary.requests = '4' is not allowed"),
    (_document(runs__0__requests__0__chunks=True), "r.json: runs.0.requests.0.chunks = true is not allowed"),
    (_document(runs__1__variant="mystery"), "r.json: runs.1.variant = 'mystery' is not allowed: one of"),
    (_document(runs__1__variant="speculative"), "r.json: runs.1 = 'structured/speculative' is not allowed"),
    (_document(runs__0__summary__requests=7), "r.json: runs.0.summary.requests = 7 is not allowed"),
    (_document(surprise=1), "r.json: surprise = 1 is not allowed: no such key"),
    (_document(variants__1__num_speculative_tokens=3),
     "r.json: variants.1.num_speculative_tokens = 3 is not allowed: null on the baseline"),
    (_document(variants__0__num_speculative_tokens=0), "r.json: variants.0.num_speculative_tokens = 0"),
])
def test_a_bad_results_document_is_one_line_naming_the_file_the_field_and_the_value(text, expected):
    with pytest.raises(ResultsError) as raised:
        load_results("r.json", text)
    message = str(raised.value)
    assert message.startswith(expected) and "\n" not in message


def test_cloudwatch_gets_every_summary_metric_per_suite_and_variant_and_the_speed_up():
    data = metrics.metric_data(results_factory.recipe())
    by_key = {(d["MetricName"], d["Dimensions"][1]["Value"], d["Dimensions"][2]["Value"]): d for d in data}
    assert {d["Name"] for d in data[0]["Dimensions"]} == set(metrics.DIMENSIONS)
    assert data[0]["Dimensions"][0] == {"Name": "Environment", "Value": "dev"}
    assert by_key[("SpeedUp", "speculative", "structured")]["Value"] == pytest.approx(3.0)
    assert by_key[("SpeedUp", "speculative", "open-ended")]["Value"] == pytest.approx(1.0)
    assert ("SpeedUp", "baseline", "structured") not in by_key
    assert by_key[("InterTokenLatencyP50", "baseline", "structured")] | {"Dimensions": None} == {
        "MetricName": "InterTokenLatencyP50", "Dimensions": None, "Timestamp": results_factory.STARTED,
        "Value": 45.0, "Unit": "Milliseconds"}
    assert by_key[("TokensPerStep", "speculative", "structured")]["Value"] == 3.0
    # 3 tokens per step at k = 7: 2 accepted of 7 proposed.
    assert by_key[("MeanAcceptedTokens", "speculative", "structured")]["Value"] == 2.0
    assert by_key[("AcceptanceRate", "speculative", "structured")]["Value"] == pytest.approx(2 / 7)
    assert ("AcceptanceRate", "baseline", "structured") not in by_key
    names = {d["MetricName"] for d in data}
    assert names == set(metrics.SUMMARY_METRICS) | {metrics.SPEED_UP, metrics.MEAN_ACCEPTED_TOKENS,
                                                    metrics.ACCEPTANCE_RATE}


def test_three_variants_each_describe_what_served_them_and_round_trip():
    document = results_factory.three_variants()
    text = document.model_dump_json()
    jsonschema.validate(json.loads(text), json.loads(SCHEMA_PATH.read_text()))
    assert load_results("r.json", text) == document
    eagle3 = document.described("eagle3")
    assert (eagle3.engine, eagle3.num_speculative_tokens, eagle3.image) == ("vllm-neuron", 3, "plugin-image")
    assert [v.name for v in document.speculative] == ["speculative", "eagle3"]


def test_a_document_written_before_variants_described_themselves_still_loads_and_reads_the_same():
    data = json.loads(results_factory.recipe().model_dump_json())
    for variant in data["variants"]:
        for key in VARIANT_FACTS:
            del variant[key]
    old = load_results("old.json", json.dumps(data))
    # The deployment's draft, k and image describe the recipe's speculative server.
    speculative, baseline = old.described("speculative"), old.described("baseline")
    assert (speculative.draft_model, speculative.num_speculative_tokens, speculative.image) == (
        "Qwen/Qwen3-1.7B", 7, "img")
    assert (baseline.draft_model, baseline.num_speculative_tokens, baseline.image) == (None, None, "img")


def test_a_variants_own_k_wins_over_the_deployments_and_only_the_recipes_variant_inherits_it():
    document = results_factory.three_variants()
    assert document.deployment.num_speculative_tokens == 5
    bare = results_factory.results([results_factory.run("s", "speculative", 15.0, 3),
                                    results_factory.run("s", "eagle3", 12.0, 3),
                                    results_factory.run("s", "baseline", 45.0, 1)], k=5)
    assert bare.described("speculative").num_speculative_tokens == 5
    assert bare.described("eagle3").num_speculative_tokens is None  # not the recipe's: unknown
    alone = results_factory.results([results_factory.run("s", "eagle3", 12.0, 3),
                                     results_factory.run("s", "baseline", 45.0, 1)], k=3)
    assert alone.described("eagle3").num_speculative_tokens == 3  # the only speculative variant


def test_cloudwatch_compares_every_speculative_variant_with_the_baseline_at_its_own_k():
    data = metrics.metric_data(results_factory.three_variants())
    by_key = {(d["MetricName"], d["Dimensions"][1]["Value"], d["Dimensions"][2]["Value"]): d["Value"]
              for d in data}
    assert by_key[("SpeedUp", "speculative", "structured")] == pytest.approx(3.0)
    assert by_key[("SpeedUp", "eagle3", "structured")] == pytest.approx(45 / 11.5)
    assert by_key[("SpeedUp", "eagle3", "open-ended")] == pytest.approx(1.5)
    assert {v for (name, v, _) in by_key if name == "SpeedUp"} == {"speculative", "eagle3"}
    # The recipe variant: 2 accepted of k = 5; the EAGLE3 variant: 3 of k = 3, then 1 of 3.
    assert by_key[("AcceptanceRate", "speculative", "structured")] == pytest.approx(2 / 5)
    assert by_key[("AcceptanceRate", "eagle3", "structured")] == pytest.approx(1.0)
    assert by_key[("AcceptanceRate", "eagle3", "open-ended")] == pytest.approx(1 / 3)
    assert by_key[("MeanAcceptedTokens", "eagle3", "structured")] == 3.0
    assert not any(name in (metrics.SPEED_UP, metrics.ACCEPTANCE_RATE) and variant == "baseline"
                   for name, variant, _ in by_key)

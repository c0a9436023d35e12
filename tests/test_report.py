"""`python -m specdec report`: what it derives from results, and how it refuses what it cannot use."""

from __future__ import annotations

import json

import pytest

from specdec.__main__ import main
from specdec.catalog import MODELS
from specdec.planner import Sharding
from specdec.pricing import PriceMissing, instance_hourly
from specdec.report.build import Source, build
from tests import results_factory
from tests.results_factory import recipe, results, run

TARGET, DRAFT = MODELS["Qwen/Qwen3-32B"], MODELS["Qwen/Qwen3-1.7B"]


def rows(report, suite: str, variant: str):
    (found,) = [r for r in report.rows if r.suite == suite and r.variant == variant]
    return found


def test_speed_up_is_baseline_itl_over_the_variants_per_suite():
    report = build([Source("recipe", recipe())])
    assert rows(report, "structured", "speculative").speed_up == pytest.approx(3.0)
    assert rows(report, "open-ended", "speculative").speed_up == pytest.approx(1.0)
    assert rows(report, "structured", "baseline").speed_up is None


def test_bandwidth_utilization_is_the_bytes_of_a_step_over_its_measured_time_and_the_chips_bandwidth():
    report = build([Source("recipe", recipe())])
    # Hand computation for the baseline on structured prompts: Qwen3-32B at TP 32 (KV heads
    # replicated 8 -> 32), batch 4 (concurrency 4, max_num_seqs 4), mid-answer context
    # 64 + 601 / 2 tokens, one token per 45 ms step, 8 chips at 2.9 TB/s.
    sharding = Sharding.of(TARGET, 32)
    weights = sharding.weight_bytes(TARGET)
    kv = 2 * 64 * 32 * 128 * 2 * 4 * (64 + 601 / 2)
    assert sharding.kv_heads == 32
    expected = (weights + int(kv)) / 0.045 / (8 * 2.9e12)
    baseline = rows(report, "structured", "baseline")
    assert baseline.step_ms == pytest.approx(45.0)
    assert baseline.bandwidth == pytest.approx(expected, rel=1e-9)
    # Speculative: 3 tokens per 15 ms = a 45 ms step that reads the target once and the draft k = 7 times.
    draft = Sharding.of(DRAFT, 32)
    draft_bytes = draft.weight_bytes(DRAFT) + int(draft.kv_bytes_per_token(DRAFT) * 4 * (64 + 601 / 2))
    speculative = rows(report, "structured", "speculative")
    assert speculative.step_ms == pytest.approx(45.0)
    step_bytes = weights + int(kv) + 7 * draft_bytes
    assert speculative.bandwidth == pytest.approx(step_bytes / 0.045 / (8 * 2.9e12), rel=1e-6)


def test_cost_per_million_tokens_is_the_servers_share_of_the_instance_over_its_token_rate():
    document = recipe()
    report = build([Source("recipe", document)], price_per_hour=40.0)
    speculative = rows(report, "structured", "speculative")
    tokens_per_s = document.run("structured", "speculative").summary.output_tokens_per_s
    assert speculative.usd_per_million == pytest.approx(40.0 * 8 / 16 / (tokens_per_s * 3600) * 1e6)


def test_without_a_sourced_price_cost_is_not_invented_but_explained():
    with pytest.raises(PriceMissing, match="no sourced on_demand price for trn2.48xlarge"):
        instance_hourly("us-east-2", "trn2.48xlarge", "on_demand")
    with pytest.raises(PriceMissing, match="no price for trn2.48xlarge in eu-north-1"):
        instance_hourly("eu-north-1", "trn2.48xlarge", "on_demand")
    assert instance_hourly("us-east-2", "m7i.xlarge", "capacity_reservation").usd == 0.2016
    report = build([Source("recipe", recipe())])
    assert all(r.usd_per_million is None for r in report.rows)
    assert any("cost not computed" in n and "--price-per-hour" in n for n in report.notes)


def test_a_baseline_that_streams_several_tokens_per_chunk_is_flagged():
    document = results([run("s", "speculative", 10.0, 4), run("s", "baseline", 20.0, 2)])
    report = build([Source("odd", document)])
    assert any("streamed 2.00 tokens per chunk" in note for note in report.notes)


def write(path, document) -> str:
    path.write_text(document.model_dump_json() if hasattr(document, "model_dump_json") else document)
    return str(path)


def test_several_files_make_a_side_by_side_table(tmp_path):
    k5, k7 = write(tmp_path / "k5.json", recipe(k=5)), write(tmp_path / "k7.json", recipe(k=7))
    assert main(["report", k5, k7, "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Results side by side" in text
    assert "| suite | k5 (k=5) | k7 (k=7) |" in text
    assert "| structured | 3.00x (3.00 tok/step) | 3.00x (3.00 tok/step) |" in text


def _without(document, suite: str, variant: str) -> str:
    data = json.loads(document.model_dump_json())
    data["runs"] = [r for r in data["runs"] if (r["suite"], r["variant"]) != (suite, variant)]
    return json.dumps(data)


def _no_baseline() -> str:
    data = json.loads(recipe().model_dump_json())
    data["runs"] = [r for r in data["runs"] if r["variant"] != "baseline"]
    data["variants"] = [v for v in data["variants"] if v["role"] != "baseline"]
    return json.dumps(data)


@pytest.mark.parametrize("content,expected", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    (b"\xff\xfe", "is not UTF-8"),
    (_without(recipe(), "open-ended", "baseline"), "runs has no 'baseline' run for suite 'open-ended'"),
    (_without(recipe(), "structured", "speculative"), "runs has no 'speculative' run for suite 'structured'"),
    (_no_baseline(), "has no baseline: rerun the benchmark with --baseline-url"),
])
def test_an_unusable_results_file_is_one_line_and_no_report_is_written(tmp_path, capsys, content, expected):
    bad = tmp_path / "bad.json"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content)
    good = write(tmp_path / "good.json", recipe())
    out = tmp_path / "report"
    assert main(["report", good, str(bad), "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(str(bad)) and expected in error and "\n" not in error
    assert not out.exists()


def test_a_report_over_an_old_one_replaces_it_whole(tmp_path):
    out = tmp_path / "report"
    good = write(tmp_path / "good.json", recipe())
    assert main(["report", good, "--out", str(out), "--price-per-hour", "40"]) == 0
    assert (out / "cost.png").exists()
    assert main(["report", good, "--out", str(out)]) == 0  # no price: no cost chart this time
    assert not (out / "cost.png").exists()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("argv,expected", [
    (["report", "r.json"], "the following arguments are required: --out"),
    (["report", "r.json", "--out", "x", "--price-per-hour", "-3"], "--price-per-hour: -3 is not allowed"),
])
def test_bad_report_arguments_are_one_line(capsys, argv, expected):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip()
    assert expected in error and "\n" not in error


def test_the_recipe_fixture_is_what_the_published_figures_say():
    document = results_factory.recipe()
    assert document.run("structured", "baseline").summary.itl_ms.p50 == 45.0
    assert document.run("structured", "speculative").summary.itl_ms.p50 == 15.0


def test_every_speculative_variant_is_compared_with_the_baseline_at_its_own_k():
    report = build([Source("three", results_factory.three_variants())])
    assert rows(report, "structured", "speculative").speed_up == pytest.approx(3.0)
    assert rows(report, "structured", "eagle3").speed_up == pytest.approx(45 / 11.5)
    assert rows(report, "open-ended", "eagle3").speed_up == pytest.approx(1.5)
    assert rows(report, "open-ended", "baseline").speed_up is None
    # The recipe variant's step reads its draft k = 5 times, as in a recipe run at k = 5.
    recipe_at_5 = build([Source("recipe", recipe(k=5))])
    assert rows(report, "structured", "speculative").bandwidth == pytest.approx(
        rows(recipe_at_5, "structured", "speculative").bandwidth)
    assert rows(report, "structured", "baseline").bandwidth is not None
    # An EAGLE3 head from the catalog is counted like any draft (specdec/catalog.py).
    assert rows(report, "structured", "eagle3").bandwidth is not None
    assert not any("bandwidth not computed for eagle3" in note for note in report.notes)
    # A draft the catalog does not know goes without, and the report says why.
    facts = {**results_factory.THREE_VARIANTS,
             "eagle3": {**results_factory.THREE_VARIANTS["eagle3"], "draft_model": "someone/unknown-head"}}
    unknown = build([Source("three", results_factory.results(
        list(results_factory.three_variants().runs), k=5, facts=facts, image=None))])
    assert rows(unknown, "structured", "eagle3").bandwidth is None
    assert any("bandwidth not computed for eagle3: its draft_model 'someone/unknown-head' is not a draft "
               "model or EAGLE3 head in the catalog" in note for note in unknown.notes)


def test_the_report_of_three_variants_names_each_ones_engine_draft_and_k(tmp_path):
    three, k7 = write(tmp_path / "three.json", results_factory.three_variants()), write(tmp_path / "k7.json",
                                                                                       recipe(k=7))
    assert main(["report", three, "--out", str(tmp_path / "one"), "--price-per-hour", "40"]) == 0
    text = (tmp_path / "one" / "report.md").read_text()
    assert "| three | speculative | speculative | nxdi | Qwen/Qwen3-1.7B | 5 | eagle | recipe-image |" in text
    assert (f"| three | eagle3 | speculative | vllm-neuron | {results_factory.EAGLE3_HEAD} | 3 | eagle3 | "
            "plugin-image |") in text
    assert "| three | baseline | baseline | nxdi | none | none | n/a | recipe-image |" in text
    assert "| per variant (see *Variants*) | Qwen/Qwen3-32B | per variant (see *Variants*) |" in text
    headline = [line for line in text.split("## Does speculation pay?")[1].split("##")[0].splitlines()
                if line.startswith("| three |")]
    assert [line.split(" | ")[1:3] for line in headline] == [
        ["structured", "speculative"], ["structured", "eagle3"], ["open-ended", "speculative"],
        ["open-ended", "eagle3"]]
    for chart in ("speed-up.png", "itl-distribution.png", "tokens-per-step.png", "cost.png"):
        assert (tmp_path / "one" / chart).read_bytes().startswith(b"\x89PNG"), chart
    assert main(["report", three, k7, "--out", str(tmp_path / "both")]) == 0
    text = (tmp_path / "both" / "report.md").read_text()
    assert "| suite | three | k7 (k=7) |" in text
    assert ("| structured | speculative (k=5): 3.00x (3.00 tok/step), eagle3 (k=3): 3.91x (4.00 tok/step) "
            "| 3.00x (3.00 tok/step) |") in text

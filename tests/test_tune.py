"""`python -m specdec tune`: acceptance and k from results and from vLLM metrics of both engines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from specdec.__main__ import main
from specdec.bench.results import Results
from specdec.speculation import best_k, expected_tokens, speed_up
from specdec.tune.estimate import TuneError, from_prometheus, from_results
from tests.results_factory import recipe, results, run, three_variants

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "metrics"


def test_acceptance_and_draft_cost_come_from_tokens_per_step_and_step_times():
    # 3 tokens per step at k=5 in a 50 ms step, against a 40 ms baseline step: c = (50/40 - 1) / 5.
    document = results([run("s", "speculative", 50 / 3, 3), run("s", "baseline", 40.0, 1)], k=5)
    (estimate,) = from_results("r.json", document)
    assert expected_tokens(estimate.acceptance, 5) == pytest.approx(3.0)
    assert estimate.draft_cost == pytest.approx(0.05)
    assert estimate.measured_speed_up == pytest.approx(40 / (50 / 3))
    # The model reproduces the measured point: it is fitted to it.
    assert estimate.speed_up(5) == pytest.approx(estimate.measured_speed_up, rel=1e-3)
    best = estimate.best_k
    assert all(speed_up(estimate.acceptance, k, 0.05) <= estimate.speed_up(best) for k in range(1, 16))


def test_a_workload_where_nothing_is_accepted_is_told_plainly_that_speculation_does_not_pay(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text(recipe().model_dump_json())
    assert main(["tune", str(path), "--plot", str(tmp_path / "tune.png")]) == 0
    out = capsys.readouterr().out
    assert "speculation does not pay for open-ended" in out
    assert "structured: acceptance a = " in out and "recommended k = " in out
    assert (tmp_path / "tune.png").read_bytes().startswith(b"\x89PNG")


def test_a_clear_gain_prints_the_environment_change(tmp_path, capsys):
    # 3 tokens per step at k=3 in a 34.5 ms step against a 30 ms baseline: a = 0.81, c = 0.05,
    # and a larger k beats k=3 by far more than measurement noise.
    document = results([run("s", "speculative", 11.5, 3), run("s", "baseline", 30.0, 1)], k=3)
    (estimate,) = from_results("r.json", document)
    assert estimate.draft_cost == pytest.approx(0.05)
    assert estimate.best_k > 3 and estimate.gain_over_deployed > 1.05
    path = tmp_path / "r.json"
    path.write_text(document.model_dump_json())
    assert main(["tune", str(path), "--plot", str(tmp_path / "t.png")]) == 0
    out = capsys.readouterr().out
    assert f'environment file change: {{"serving": {{"num_speculative_tokens": {estimate.best_k}}}}}' in out


def test_vllm_v1_per_position_counters_give_the_acceptance():
    # 1750 accepted over 1000 drafts of k=3: 2.75 tokens per step.
    estimate = from_prometheus("m", (FIXTURES / "vllm-v1.prom").read_text(), draft_cost=0.05, k=None)
    assert estimate.k == 3
    assert expected_tokens(estimate.acceptance, 3) == pytest.approx(2.75)
    assert "0.80, 0.60, 0.35" in estimate.how


def test_vllm_v0_totals_give_the_acceptance_once_k_is_known():
    text = (FIXTURES / "vllm-v0-gpu.prom").read_text()
    with pytest.raises(TuneError, match="vLLM V0 counters do not say k: pass --k"):
        from_prometheus("m", text, draft_cost=0.05, k=None)
    estimate = from_prometheus("m", text, draft_cost=0.05, k=4)
    assert expected_tokens(estimate.acceptance, 4) == pytest.approx(1 + 0.5 * 4)


def test_the_default_neuron_image_reports_no_speculation_and_tune_says_what_to_do_instead():
    with pytest.raises(TuneError, match="vLLM V0 on Neuron never does.*tune the results instead"):
        from_prometheus("m", (FIXTURES / "vllm-v0-neuron.prom").read_text(), draft_cost=0.05, k=7)


def test_a_metrics_file_is_tuned_with_the_bandwidth_models_draft_cost(tmp_path, capsys):
    assert main(["tune", str(FIXTURES / "vllm-v1.prom"), "--plot", str(tmp_path / "t.png")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("server: acceptance a = ") and "c from the bandwidth model" in out


def test_a_plugin_servers_metrics_are_tuned_within_its_engines_k_range_and_name_its_variant(tmp_path, capsys):
    assert main(["tune", str(FIXTURES / "vllm-v1.prom"), "-e", "engines", "--variant", "eagle3",
                 "--plot", str(tmp_path / "t.png")]) == 0
    out = capsys.readouterr().out
    assert "serving.variants[name=eagle3].num_speculative_tokens" in out
    recommended = [int(k) for k in re.findall(r"num_speculative_tokens = (\d+)", out)]
    assert all(1 <= k <= 7 for k in recommended)


def test_a_variant_the_environment_does_not_have_is_one_line(tmp_path, capsys):
    assert main(["tune", str(FIXTURES / "vllm-v1.prom"), "-e", "engines", "--variant", "nope",
                 "--plot", str(tmp_path / "t.png")]) == 1
    error = capsys.readouterr().err
    assert error == ("--variant nope: no speculative variant of that name in environments/engines.json; "
                     "its speculative variants: recipe, eagle3\n")


def _write(tmp_path, text: str | bytes) -> str:
    path = tmp_path / "input"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


@pytest.mark.parametrize("content,argv,expected", [
    ("", [], "the file is empty"),
    ("{not json", [], "not valid JSON"),
    (b"\xff\xfe", [], "is not UTF-8"),
    ("this is not { prometheus", [], "not Prometheus text format"),
    ("# HELP nothing here\n", [], "no vllm:spec_decode_* counters"),
    (recipe().model_dump_json(), ["--suite", "poetry"], "--suite poetry: not in"),
    (recipe().model_dump_json().replace('"num_speculative_tokens":7', '"num_speculative_tokens":null'), [],
     "deployment.num_speculative_tokens = null is not allowed"),
    (recipe().model_dump_json().replace('"num_speculative_tokens":7', '"num_speculative_tokens":20'), [],
     "deployment.num_speculative_tokens = 20 is not allowed: 1 to 15"),
])
def test_bad_input_is_one_line(tmp_path, capsys, content, argv, expected):
    source = _write(tmp_path, content)
    assert main(["tune", source, "--plot", str(tmp_path / "t.png"), *argv]) == 1
    error = capsys.readouterr().err.strip()
    assert expected in error and "\n" not in error
    assert not (tmp_path / "t.png").exists()


@pytest.mark.parametrize("argv,expected", [
    (["tune", "x", "--k", "16"], "--k: 16 is not allowed: between 1 and 15"),
    (["tune", "x", "--k", "0"], "--k: 0 is not allowed: between 1 and 15"),
])
def test_k_outside_the_range_is_refused(capsys, argv, expected):
    with pytest.raises(SystemExit):
        main(argv)
    assert expected in capsys.readouterr().err


def test_each_speculative_variant_is_tuned_at_its_own_k_within_its_engines_range(tmp_path, capsys):
    estimates = {e.workload: e for e in from_results("r.json", three_variants())}
    assert list(estimates) == ["structured", "structured (eagle3)", "open-ended", "open-ended (eagle3)"]
    recipe_variant, eagle3 = estimates["structured"], estimates["structured (eagle3)"]
    assert (recipe_variant.k, recipe_variant.engine, recipe_variant.k_range) == (5, "nxdi", range(1, 16))
    assert expected_tokens(recipe_variant.acceptance, 5) == pytest.approx(3.0)
    assert (eagle3.k, eagle3.engine, eagle3.k_range) == (3, "vllm-neuron", range(1, 8))
    # Every draft token accepted at almost no cost: the model would take k = 15, which vllm-neuron
    # does not run; the recommendation stops at its 7.
    assert best_k(eagle3.acceptance, eagle3.draft_cost) == 15 and eagle3.best_k == 7
    assert [k for k, _ in eagle3.curve()] == list(range(1, 8))
    path = tmp_path / "r.json"
    path.write_text(three_variants().model_dump_json())
    assert main(["tune", str(path), "--plot", str(tmp_path / "t.png")]) == 0
    out = capsys.readouterr().out
    assert "environment file change: serving.variants[name=eagle3].num_speculative_tokens = 7" in out
    assert "environment file change: serving.variants[name=speculative].num_speculative_tokens = 15" in out
    assert "speculation does not pay for open-ended:" in out
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")


def test_a_recipe_served_through_serving_variants_is_changed_there(monkeypatch):
    import specdec.config

    data = json.loads((REPO / "environments" / "dev.json").read_text())
    data["serving"] = {"variants": [{"name": "speculative", "draft_model": "Qwen/Qwen3-1.7B"},
                                    {"name": "baseline"}]}
    listed = specdec.config.parse_environment("dev", data, "dev.json")
    monkeypatch.setattr(specdec.config, "load_environment", lambda name: listed)
    (structured, _) = from_results("r.json", recipe())
    assert structured.setting == "serving.variants[name=speculative].num_speculative_tokens"


def test_a_k_outside_the_variants_engine_range_is_refused():
    data = json.loads(three_variants().model_dump_json())
    data["variants"][1]["num_speculative_tokens"] = 9
    with pytest.raises(TuneError, match=r"r.json: variants.1.num_speculative_tokens = 9 is not allowed: "
                                        r"1 to 7, on engine vllm-neuron"):
        from_results("r.json", Results.model_validate_json(json.dumps(data)))
    data["variants"][1]["num_speculative_tokens"] = None
    with pytest.raises(TuneError, match=r"variants.1.num_speculative_tokens = null is not allowed: tune "
                                        r"needs the k the speculative server eagle3 ran with"):
        from_results("r.json", Results.model_validate_json(json.dumps(data)))

"""`python -m specdec plan`: floors, speed-up over k and cost, against hand computations and the
published figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specdec.__main__ import main
from specdec.catalog import MODELS
from specdec.config import load_environment, parse_environment
from specdec.plan import forecast
from specdec.planner import Sharding
from specdec.pricing import PriceMissing, load_table
from specdec.speculation import acceptance_from_tokens_per_step, expected_tokens, speed_up
from tests.conftest import deep_merge

DEV = json.loads(Path("environments/dev.json").read_text())
TARGET, DRAFT = MODELS["Qwen/Qwen3-32B"], MODELS["Qwen/Qwen3-1.7B"]
BANDWIDTH_8_CHIPS = 8 * 2.9e12



def recipe_variant(environment):
    """The speculative server of an environment without serving.variants."""
    (variant,) = [v for v in environment.serving.resolved_variants() if v.speculative]
    return variant

def test_the_floors_are_the_bytes_of_a_step_over_the_bandwidth_of_the_servers_chips():
    floors = forecast.floors(load_environment("dev"), recipe_variant(load_environment("dev")))
    # dev: TP 32 on 8 chips, batch 4 (concurrency 4 = max_num_seqs), 64 + 600/2 tokens of context.
    assert (floors.chips, floors.batch, floors.context_tokens) == (8, 4, 364)
    target = Sharding.of(TARGET, 32)
    target_bytes = target.weight_bytes(TARGET) + int(target.kv_bytes_per_token(TARGET) * 4 * 364)
    draft = Sharding.of(DRAFT, 32)
    draft_bytes = draft.weight_bytes(DRAFT) + int(draft.kv_bytes_per_token(DRAFT) * 4 * 364)
    assert floors.target.seconds == pytest.approx(target_bytes / BANDWIDTH_8_CHIPS)
    assert floors.draft.seconds == pytest.approx(draft_bytes / BANDWIDTH_8_CHIPS)
    assert floors.speculative.seconds == pytest.approx((target_bytes + 7 * draft_bytes) / BANDWIDTH_8_CHIPS)
    assert floors.draft_cost == pytest.approx(draft_bytes / target_bytes)


def test_the_speed_up_table_follows_the_formula_and_marks_the_best_k():
    table = forecast.speed_up_table(0.8, 0.05, deployed_k=7)
    assert [k for k, _, _ in table.rows] == list(range(1, 16))
    for k, tokens, gain in table.rows:
        assert tokens == pytest.approx((1 - 0.8 ** (k + 1)) / 0.2)
        assert gain == pytest.approx(tokens / (1 + k * 0.05))
    assert table.best_k == max(table.rows, key=lambda row: row[2])[0]


def _prices(tmp_path, **overrides) -> Path:
    table = load_table()
    region = table["regions"]["us-east-2"]
    region["instances"]["trn2.48xlarge"]["on_demand"] = {"usd": 40.0, "source": "test"}
    for tier in region["fsx_lustre_persistent_2_gb_month"].values():
        tier.update(usd=0.2, source="test")
    region.update(overrides)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table))
    return path


def test_the_hourly_cost_adds_every_charge_of_the_environment(tmp_path):
    table = load_table(_prices(tmp_path))
    items = forecast.hourly_cost(load_environment("dev"), table, None)
    by_name = {i.name: i.usd_per_hour for i in items}
    # dev: 1 trn2.48xlarge, 2 m7i.xlarge, 1 NAT gateway, the EKS control plane, 1200 GiB of FSx.
    assert by_name == {"trn2.48xlarge (on_demand)": 40.0, "m7i.xlarge system nodes": 2 * 0.2016,
                       "NAT gateways": 0.045, "EKS control plane": 0.10,
                       "FSx for Lustre, 1200 GiB": pytest.approx(1200 * 0.2 / 730)}
    total = sum(by_name.values())
    assert forecast.usd_per_million_tokens(items, 100.0) == pytest.approx(total / 360000 * 1e6)


def test_an_unpriced_region_or_charge_is_an_error_not_a_zero(tmp_path):
    with pytest.raises(PriceMissing, match="has no prices for eu-north-1"):
        env = parse_environment("north", deep_merge(DEV, {"region": "eu-north-1", "availability_zones": [
            "eu-north-1a", "eu-north-1b"], "accelerators": {"availability_zone": "eu-north-1a"}}), "x")
        forecast.hourly_cost(env, load_table(), None)
    with pytest.raises(PriceMissing, match="no sourced price in us-east-2 for: trn2.48xlarge on_demand, "
                                           "FSx for Lustre PERSISTENT_2 at 250 MB/s/TiB"):
        forecast.hourly_cost(load_environment("dev"), load_table(), None)


def test_plan_prints_every_section_and_json_for_scripts(tmp_path, capsys):
    prices = _prices(tmp_path)
    assert main(["plan", "-e", "dev", "--acceptance", "0.8", "--prices", str(prices),
                 "--tokens-per-second", "50"]) == 0
    text = capsys.readouterr().out
    for heading in ("== memory", "== decode-step floors", "== speed-up over k", "== hourly cost"):
        assert heading in text
    assert "<- best" in text and "(deployed)" in text and "USD per million output tokens" in text
    assert main(["plan", "-e", "dev", "--acceptance", "0.8", "--prices", str(prices), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["speed_up"]["best_k"] in range(1, 16)
    assert document["cost"]["usd_per_hour"] == pytest.approx(sum(i["usd_per_hour"]
                                                                 for i in document["cost"]["items"]))


def test_plan_takes_acceptance_and_draft_cost_from_a_results_file(tmp_path, capsys):
    from tests.results_factory import results, run

    path = tmp_path / "r.json"
    path.write_text(results([run("s", "speculative", 50 / 3, 3), run("s", "baseline", 40.0, 1)],
                            k=5).model_dump_json())
    assert main(["plan", "-e", "dev", "--results", str(path), "--json"]) == 0
    speed = json.loads(capsys.readouterr().out)["speed_up"]
    assert expected_tokens(speed["acceptance"], 5) == pytest.approx(3.0)
    assert speed["draft_cost"] == pytest.approx(0.05)


@pytest.mark.parametrize("argv,expected", [
    (["plan", "--acceptance", "1.5"], "--acceptance: 1.5 is not allowed: between 0 and 1"),
    (["plan", "--acceptance", "-0.1"], "--acceptance: -0.1 is not allowed: between 0 and 1"),
    (["plan", "--acceptance", "0.5", "--results", "r.json"], "not allowed with argument"),
])
def test_bad_plan_arguments_are_one_line(capsys, argv, expected):
    with pytest.raises(SystemExit):
        main(argv)
    error = capsys.readouterr().err.strip()
    assert expected in error and "\n" not in error


def test_a_bad_results_file_for_plan_is_one_line(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text("{")
    assert main(["plan", "-e", "dev", "--results", str(path)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"{path}:1:2: not valid JSON") and "\n" not in error


# --- honesty: the model next to the published figures ------------------------------------------

def _implied_acceptance(measured_speed_up: float, k: int, c: float) -> float:
    """The a for which the model's speed-up at k equals the measured one."""
    return acceptance_from_tokens_per_step(measured_speed_up * (1 + k * c), k)


def test_the_model_against_the_published_figures(capsys):
    """What the model can honestly claim about the two published runs.

    The blog (2026-04-15): about 45 ms per output token without speculation and about 15 ms with
    it on structured prompts, k = 7, Qwen3-32B + Qwen3-1.7B at TP 32, concurrency 4. The Neuron
    NxDI tutorial: Qwen3-32B + Qwen3-0.6B at TP 64, k = 7, concurrency 1, 102.3 -> 137.8 output
    tokens/s. Neither publishes its acceptance rate or its draft's cost, so the model cannot
    predict either speed-up; it can say which acceptance each implies (with c from the bandwidth
    floors, and with a free draft as the lower bound), and that the bandwidth floor of a step is
    below the step times they measured.
    """
    dev = load_environment("dev")
    blog_floors = forecast.floors(dev, recipe_variant(dev))
    blog = {"speed_up": 45 / 15, "baseline_step_s": 0.045, "floors": blog_floors}

    tutorial_env = parse_environment("tutorial", deep_merge(DEV, {
        "serving": {"draft_model": "Qwen/Qwen3-0.6B", "tensor_parallel_size": 64, "max_num_seqs": 1,
                    "baseline_enabled": False},
        "benchmark": {"concurrency": 1, "output_tokens": 512}}), "tutorial.json")
    tutorial = {"speed_up": 137.8 / 102.3, "baseline_step_s": 1 / 102.3,
                "floors": forecast.floors(tutorial_env, recipe_variant(tutorial_env))}

    implied = {}
    for name, run in (("blog", blog), ("tutorial", tutorial)):
        floors = run["floors"]
        with_draft_cost = _implied_acceptance(run["speed_up"], 7, floors.draft_cost)
        free_draft = _implied_acceptance(run["speed_up"], 7, 0.0)
        implied[name] = (free_draft, with_draft_cost)
        # The model reproduces the figure exactly at the implied acceptance: it has one free parameter.
        assert speed_up(with_draft_cost, 7, floors.draft_cost) == pytest.approx(run["speed_up"])
        # A step cannot beat the bandwidth floor; the measured baseline step is far above it.
        assert floors.target.seconds < run["baseline_step_s"]
        print(f"{name}: measured speed-up {run['speed_up']:.2f}x at k=7; implied acceptance "
              f"{free_draft:.3f} with a free draft, {with_draft_cost:.3f} with c = {floors.draft_cost:.4f} "
              f"from the bandwidth floors; target step floor {1000 * floors.target.seconds:.2f} ms vs "
              f"{1000 * run['baseline_step_s']:.1f} ms measured "
              f"({run['baseline_step_s'] / floors.target.seconds:.0f}x the floor: collectives and "
              "overheads the bandwidth model does not see)")

    # Hand-checked: E(a, 7) = 3.0 at a = 0.6823 (free draft); with c = 0.0743 from the floors,
    # E(a, 7) = 3 (1 + 7 x 0.0743) = 4.560 at a = 0.830.
    assert implied["blog"][0] == pytest.approx(0.6823, abs=2e-4)
    assert implied["blog"][1] == pytest.approx(0.830, abs=2e-3)
    # The tutorial's 1.35x at k = 7 implies a far lower acceptance than the blog's structured prompts.
    assert implied["tutorial"][1] < implied["blog"][1] - 0.2
    out = capsys.readouterr().out
    assert "blog: measured speed-up 3.00x" in out and "tutorial: measured speed-up 1.35x" in out


def test_plan_forecasts_the_variant_asked_for_and_names_the_ones_there_are(capsys):
    assert main(["plan", "-e", "engines", "--variant", "eagle3", "--acceptance", "0.7"]) == 0
    out = capsys.readouterr().out
    assert "verified by RedHatAI/Qwen3-32B-speculator.eagle3 (variant eagle3, engine vllm-neuron)" in out
    assert main(["plan", "-e", "engines", "--variant", "nope"]) == 2
    assert capsys.readouterr().err == (
        "--variant nope: no speculative variant of that name in environments/engines.json; "
        "its speculative variants: recipe, eagle3\n")

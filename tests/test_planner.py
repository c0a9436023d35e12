"""The memory planner and the serving rules: a configuration that cannot run is refused before synth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specdec.__main__ import main
from specdec.catalog import MODELS
from specdec.config import ConfigError, load_environment, parse_environment
from specdec.instances import GIB, INSTANCES
from specdec.planner import RUNTIME_RESERVE_FRACTION, Sharding, plan

TRN2 = INSTANCES["trn2.48xlarge"]
DEV = json.loads(Path("environments/dev.json").read_text())


def with_serving(serving: dict, **sections) -> dict:
    return {**DEV, **sections, "serving": serving}


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse_environment("custom", data, "custom.json")
    return error.value.problems


# --- the catalog matches the model cards ------------------------------------------------------

@pytest.mark.parametrize("model", MODELS.values(), ids=list(MODELS))
def test_parameter_counts_computed_from_the_architecture_match_the_model_card(model):
    assert model.parameters / 1e9 == pytest.approx(model.card_parameters_billion, rel=0.02)


def test_qwen3_32b_matches_its_model_card():
    qwen = MODELS["Qwen/Qwen3-32B"]
    assert qwen.parameters / 1e9 == pytest.approx(32.8, abs=0.05)
    # The card's "non-embedding" count: everything but the (untied) embedding and LM head.
    assert (qwen.parameters - 2 * qwen.vocab_size * qwen.hidden_size) / 1e9 == pytest.approx(31.2, abs=0.05)
    assert qwen.kv_bytes_per_token == 2 * 64 * 8 * 128 * 2 == 262144


def test_every_catalog_entry_names_its_tokenizer_family_and_its_source():
    assert {m.tokenizer_family for m in MODELS.values()} == {"qwen3", "llama3"}
    assert all(m.source == f"https://huggingface.co/{m.model_id}/blob/main/config.json"
               for m in MODELS.values())


# --- sharding as NxDI does it ---------------------------------------------------------------

def test_kv_heads_are_replicated_up_to_the_tp_degree():
    sharding = Sharding.of(MODELS["Qwen/Qwen3-32B"], 32)
    assert (sharding.attention_heads, sharding.kv_heads, sharding.strategy) == (
        64, 32, "replicate-to-tp-degree")


def test_attention_heads_are_padded_to_a_multiple_of_the_tp_degree():
    assert Sharding.of(MODELS["Qwen/Qwen3-14B"], 32).attention_heads == 64  # 40 heads
    assert Sharding.of(MODELS["Qwen/Qwen3-1.7B"], 32).attention_heads == 32  # the recipe's draft


def test_padding_and_replication_cost_memory():
    qwen = MODELS["Qwen/Qwen3-32B"]
    sharded = Sharding.of(qwen, 32)
    assert sharded.weight_bytes(qwen) > qwen.parameters * 2
    assert sharded.kv_bytes_per_token(qwen) == 4 * qwen.kv_bytes_per_token  # 8 -> 32 KV heads


# --- the published recipe --------------------------------------------------------------------

def test_the_recipe_fits_with_room_to_spare():
    env = load_environment("dev")
    memory = plan(env.serving, TRN2, 2)
    spec, base = memory.variant("speculative"), memory.variant("baseline")
    assert memory.chips == 8 and spec.hbm == 768 * GIB
    assert memory.tokens == 4 * 1024
    assert spec.draft_id == "Qwen/Qwen3-1.7B" and base.draft_id is None
    assert 60 * GIB < spec.target_weights < 70 * GIB  # 32.8B bf16 plus replicated K/V projections
    assert spec.draft_weights > 0 and base.draft_weights == 0
    assert spec.reserve == int(768 * GIB * RUNTIME_RESERVE_FRACTION)
    assert spec.needed > base.needed and spec.headroom > 0


def test_plan_prints_a_readable_table(capsys):
    assert main(["plan", "-e", "dev"]) == 0
    out = capsys.readouterr().out
    for row in ("target weights", "draft weights", "KV cache", "HBM of the TP group", "headroom"):
        assert row in out
    assert "speculative" in out and "baseline" in out


# --- environments that are not in the repo ---------------------------------------------------

def test_an_8b_target_with_a_0_6b_draft_fits_on_two_chips():
    env = parse_environment("small", with_serving({
        "target_model": "Qwen/Qwen3-8B", "draft_model": "Qwen/Qwen3-0.6B", "tensor_parallel_size": 8,
    }), "small.json")
    assert plan(env.serving, TRN2, 2).chips == 2


def test_a_70b_target_that_does_not_fit_its_tp_group_is_refused_with_the_tp_that_would():
    found = problems(with_serving({
        "target_model": "meta-llama/Llama-3.3-70B-Instruct",
        "draft_model": "meta-llama/Llama-3.2-1B-Instruct",
        "tensor_parallel_size": 4,  # one chip: 96 GiB for 131 GiB of weights
    }))
    assert len(found) == 1
    assert found[0].startswith("custom.json: serving.tensor_parallel_size = 4 is not allowed: at least 8")
    assert "GiB of HBM" in found[0]


def test_a_70b_target_fits_on_one_chip_pair_only_at_lnc_2():
    serving = {"target_model": "meta-llama/Llama-3.3-70B-Instruct",
               "draft_model": "meta-llama/Llama-3.2-1B-Instruct", "tensor_parallel_size": 8}
    parse_environment("lnc2", with_serving(serving), "lnc2.json")  # 2 chips: fits
    at_lnc1 = {**DEV["accelerators"], "logical_neuron_cores": 1}
    found = problems(with_serving(serving, accelerators=at_lnc1))  # 1 chip: does not
    assert found[0].startswith("custom.json: serving.tensor_parallel_size = 8 is not allowed: at least 16")


def test_a_long_context_that_no_tp_can_hold_says_so():
    found = problems(with_serving({"max_model_len": 131072, "max_num_seqs": 256}))
    assert "no TP on one trn2.48xlarge fits" in found[0]


# --- one test per rejection rule -------------------------------------------------------------

def test_a_tp_degree_beyond_the_attention_heads_is_refused():
    found = problems(with_serving({"target_model": "Qwen/Qwen3-1.7B", "draft_model": "Qwen/Qwen3-0.6B"}))
    assert found == ["custom.json: serving.tensor_parallel_size = 32 is not allowed: at most 16, the "
                     "attention heads of Qwen/Qwen3-1.7B (NxDI pads heads up to a multiple of TP)"]


def test_a_draft_with_another_tokenizer_is_refused():
    found = problems(with_serving({"draft_model": "meta-llama/Llama-3.2-1B-Instruct"}))
    assert found == ["custom.json: serving.draft_model = 'meta-llama/Llama-3.2-1B-Instruct' is not "
                     "allowed: a draft with the target's tokenizer (qwen3), not llama3"]


def test_a_draft_as_large_as_the_target_is_refused():
    found = problems(with_serving({"target_model": "Qwen/Qwen3-8B", "draft_model": "Qwen/Qwen3-14B"}))
    assert found == ["custom.json: serving.draft_model = 'Qwen/Qwen3-14B' is not allowed: a draft "
                     "smaller than the target Qwen/Qwen3-8B"]


def test_a_model_outside_the_catalog_is_refused():
    found = problems(with_serving({"target_model": "Qwen/Qwen3-235B-A22B"}))
    assert found[0].startswith("custom.json: serving.target_model = 'Qwen/Qwen3-235B-A22B' is not "
                               "allowed: a catalog model: Qwen/Qwen3-0.6B")


def test_a_draft_context_longer_than_the_target_context_is_refused():
    # The sample's README writes 2048 here with --max-model-len 1024; vLLM raises at startup.
    found = problems(with_serving({"draft_max_model_len": 2048}))
    assert found == ["custom.json: serving.draft_max_model_len = 2048 is not allowed: at most "
                     "max_model_len (1024); vLLM refuses a larger one"]


@pytest.mark.parametrize("tp, allowed", [
    (24, "a power of two up to the 64 logical NeuronCores of trn2.48xlarge at LNC=2"),
    (128, "a power of two up to the 64 logical NeuronCores of trn2.48xlarge at LNC=2"),
    (2, "a multiple of 4 (whole Trainium2 chips at LNC=2)"),
])
def test_a_tp_degree_that_is_not_whole_chips_is_refused(tp, allowed):
    found = problems(with_serving({"tensor_parallel_size": tp}))
    assert found == [f"custom.json: serving.tensor_parallel_size = {tp} is not allowed: {allowed}"]


def test_more_servers_than_the_node_group_holds_are_refused():
    found = problems(with_serving({"replicas": 2}))
    assert found == ["custom.json: serving.replicas = 2 is not allowed: at most 1 per deployment: 4 "
                     "serving pods of 8 chips do not fit on 1 x trn2.48xlarge"]


def test_servers_that_ask_for_more_cpu_or_memory_than_a_node_has_are_refused():
    found = problems(with_serving({"cpu": 100, "memory_gib": 1024}))
    assert found == [
        "custom.json: serving.cpu = 100 is not allowed: at most 92: 2 servers share a trn2.48xlarge "
        "(192 vCPUs, 8 kept for the system)",
        "custom.json: serving.memory_gib = 1024 is not allowed: at most 992: 2 servers share a "
        "trn2.48xlarge (2048 GiB, 64 kept for the system)",
    ]


def test_a_shared_memory_volume_as_large_as_the_memory_limit_is_refused():
    found = problems(with_serving({"shm_size_gib": 512}))
    assert found == ["custom.json: serving.shm_size_gib = 512 is not allowed: less than memory_gib "
                     "(512): /dev/shm counts against it"]

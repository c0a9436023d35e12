"""Named serving variants on two engines: the recipe (nxdi) and the vLLM Neuron plugin with EAGLE3
(vllm-neuron), side by side on one cluster. What is refused and how, what each Deployment runs,
and what the plan asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k8s.serving import ServingChart
from specdec.catalog import EAGLE3_HEADS, MODELS
from specdec.config import load_environment, parse_environment
from specdec.instances import INSTANCES
from specdec.planner import plan
from specdec.serve_command import serve_args, serve_env
from specdec.variants import PLUGIN_IMAGE, RECIPE_IMAGE
from tests.conftest import deep_merge, rejections

HEAD = "RedHatAI/Qwen3-32B-speculator.eagle3"
RECIPE = {"name": "recipe", "engine": "nxdi", "draft_model": "Qwen/Qwen3-1.7B", "num_speculative_tokens": 5}
EAGLE3 = {"name": "eagle3", "engine": "vllm-neuron", "draft_model": HEAD, "num_speculative_tokens": 4}
BASELINE = {"name": "baseline", "engine": "nxdi"}
TWO_NODES = {"accelerators": {"desired_size": 2, "max_size": 2}}


def three_variants(**serving):
    data = deep_merge(
        json.loads(Path("environments/dev.json").read_text()),
        {**TWO_NODES, "serving": {"variants": [RECIPE, EAGLE3, BASELINE], **serving}},
    )
    return parse_environment("three", data, "three.json")


def refused(variants: list[dict], **serving) -> list[str]:
    return rejections({**TWO_NODES, "serving": {"variants": variants, **serving}})


# --- what is refused, one line each, naming the variant and the key -----------------------------


def test_a_plain_draft_on_the_plugin_is_refused_with_the_reason_and_the_doc():
    (problem,) = refused([{**EAGLE3, "draft_model": "Qwen/Qwen3-1.7B"}, BASELINE])
    assert problem.startswith(
        "bad.json: serving.variants[name=eagle3].draft_model = 'Qwen/Qwen3-1.7B' "
        "is not allowed: an EAGLE3 head (RedHatAI/Qwen3-32B-speculator.eagle3)"
    )
    assert "Vanilla draft-model speculative decoding is not supported" in problem
    assert "migration-nxdi-to-vllm-neuron" in problem and "\n" not in problem


def test_an_eagle3_head_on_the_recipe_engine_is_refused():
    (problem,) = refused([{**RECIPE, "draft_model": HEAD}, BASELINE])
    assert "serving.variants[name=recipe].draft_model" in problem and "engine vllm-neuron" in problem


def test_a_duplicate_variant_name_is_refused():
    (problem,) = refused([RECIPE, {**EAGLE3, "name": "recipe"}, BASELINE])
    assert problem == (
        "bad.json: serving.variants.1.name = 'recipe' is not allowed: a name no other "
        "variant has (serving.variants.0 has it)"
    )


@pytest.mark.parametrize(
    "key,value",
    [
        ("draft_model", "Qwen/Qwen3-0.6B"),
        ("num_speculative_tokens", 5),
        ("image", RECIPE_IMAGE),
        ("baseline_enabled", False),
    ],
)
def test_a_per_variant_key_at_the_top_level_with_variants_is_refused_naming_both(key, value):
    (problem,) = refused([RECIPE, BASELINE], **{key: value})
    assert problem.startswith(f"bad.json: serving.{key} = ")
    instead = (
        "list a variant without draft_model for a baseline"
        if key == "baseline_enabled"
        else f"set {key} on each variant instead"
    )
    assert f"not set together with serving.variants: {instead}" in problem


@pytest.mark.parametrize(
    "variant,expected",
    [
        (
            {**EAGLE3, "speculative_method": "eagle"},
            "serving.variants[name=eagle3].speculative_method = 'eagle' is not allowed: "
            "eagle3 on engine vllm-neuron",
        ),
        (
            {**RECIPE, "speculative_method": "eagle3"},
            "serving.variants[name=recipe].speculative_method = 'eagle3' is not allowed: "
            "eagle or draft_model on engine nxdi",
        ),
        (
            {**EAGLE3, "num_speculative_tokens": 8},
            "serving.variants[name=eagle3].num_speculative_tokens = 8 is not allowed: "
            "1 to 7 on engine vllm-neuron",
        ),
        (
            {**RECIPE, "num_speculative_tokens": 16},
            "serving.variants[name=recipe].num_speculative_tokens = 16 is not allowed: "
            "1 to 15 on engine nxdi",
        ),
        (
            {**RECIPE, "num_speculative_tokens": 0},
            "serving.variants[name=recipe].num_speculative_tokens = 0 is not allowed: 1 to 15 on engine nxdi",
        ),
        (
            {**RECIPE, "image": PLUGIN_IMAGE},
            "serving.variants[name=recipe].image = '"
            + PLUGIN_IMAGE
            + "' is not allowed: an image of vLLM before 0.11",
        ),
    ],
)
def test_what_an_engine_does_not_run_is_refused(variant, expected):
    (problem,) = refused([variant, BASELINE])
    assert expected in problem


def test_a_baseline_takes_no_k_and_there_is_only_one():
    problems = refused([RECIPE, {**BASELINE, "num_speculative_tokens": 3}, {**BASELINE, "name": "other"}])
    assert any(
        "serving.variants[name=baseline].num_speculative_tokens = 3" in p and "a baseline does not" in p
        for p in problems
    )
    assert any(
        "serving.variants[name=other].draft_model = null" in p
        and "only one variant may be the baseline, and baseline is" in p
        for p in problems
    )


def test_variants_that_do_not_fit_the_node_group_are_refused_at_the_node_group():
    (problem,) = rejections({"serving": {"variants": [RECIPE, EAGLE3, BASELINE]}})
    assert problem == (
        "bad.json: accelerators.max_size = 1 is not allowed: at least 2: 3 serving variants "
        "of 8 chips need 2 x trn2.48xlarge (and desired_size as many)"
    )
    (problem,) = rejections(
        {
            "accelerators": {"desired_size": 1, "max_size": 2},
            "serving": {"variants": [RECIPE, EAGLE3, BASELINE]},
        }
    )
    assert problem.startswith("bad.json: accelerators.desired_size = 1 is not allowed: at least 2")


def test_field_errors_inside_a_variant_name_it():
    (problem,) = refused([{**EAGLE3, "engine": "trtllm"}, BASELINE])
    assert problem.startswith("bad.json: serving.variants[name=eagle3].engine = 'trtllm' is not allowed")


def test_a_name_that_collides_with_another_variants_load_balancer_service_is_refused():
    (problem,) = refused([RECIPE, {**EAGLE3, "name": "recipe-nlb"}, BASELINE])
    assert "serving.variants.1.name = 'recipe-nlb' is not allowed" in problem


# --- what each Deployment runs ------------------------------------------------------------------


def test_without_variants_the_environment_serves_the_recipe_and_its_baseline_as_before():
    variants = load_environment("dev").serving.resolved_variants()
    assert [
        (v.name, v.engine, v.image, v.draft_model, v.num_speculative_tokens, v.speculative_method)
        for v in variants
    ] == [
        ("speculative", "nxdi", RECIPE_IMAGE, "Qwen/Qwen3-1.7B", 7, "eagle"),
        ("baseline", "nxdi", RECIPE_IMAGE, None, None, None),
    ]


def test_each_engine_gets_its_own_command_environment_and_image():
    environment = three_variants()
    serving = environment.serving
    recipe, eagle3, baseline = serving.resolved_variants()
    assert (recipe.image, eagle3.image, baseline.image) == (RECIPE_IMAGE, PLUGIN_IMAGE, RECIPE_IMAGE)

    args = serve_args(serving, recipe)
    assert args[args.index("--override-neuron-config") + 1] == json.dumps(
        {"save_sharded_checkpoint": True, "enable_fused_speculation": True}
    )
    assert json.loads(args[args.index("--speculative-config") + 1]) == {
        "model": "/model-cache/models/Qwen/Qwen3-1.7B",
        "num_speculative_tokens": 5,
        "max_model_len": 1024,
        "method": "eagle",
    }
    assert serve_env(serving, recipe)["VLLM_NEURON_FRAMEWORK"] == "neuronx-distributed-inference"

    args = serve_args(serving, eagle3)
    assert "--override-neuron-config" not in args and "--device" not in args
    assert json.loads(args[args.index("--speculative-config") + 1]) == {
        "method": "eagle3",
        "model": f"/model-cache/models/{HEAD}",
        "num_speculative_tokens": 4,
    }
    neuron = json.loads(args[args.index("--additional-config") + 1])["neuron_config"]
    assert neuron["num_seqs_buckets"][-1] == serving.max_num_seqs
    assert neuron["num_batched_tokens_buckets"][-1] == int(args[args.index("--max-num-batched-tokens") + 1])
    assert "save_sharded_checkpoint" not in neuron and "enable_fused_speculation" not in neuron
    env = serve_env(serving, eagle3)
    assert "VLLM_NEURON_FRAMEWORK" not in env
    assert env["NEURON_COMPILED_ARTIFACTS"].startswith("/model-cache/neuron-compile-cache/eagle3-")

    assert "--speculative-config" not in serve_args(serving, baseline)
    caches = {serve_env(serving, v)["NEURON_COMPILED_ARTIFACTS"] for v in (recipe, eagle3, baseline)}
    assert len(caches) == 3


def test_the_chart_has_one_deployment_per_variant_with_its_engines_image(tmp_path):
    import cdk8s

    environment = three_variants()
    app = cdk8s.App(outdir=str(tmp_path))
    chart = ServingChart.for_environment(app, "serving", environment)
    deployments = {o["metadata"]["name"]: o for o in chart.to_json() if o["kind"] == "Deployment"}
    assert list(deployments) == ["vllm-recipe", "vllm-eagle3", "vllm-baseline"]
    for name, image in (
        ("vllm-recipe", RECIPE_IMAGE),
        ("vllm-eagle3", PLUGIN_IMAGE),
        ("vllm-baseline", RECIPE_IMAGE),
    ):
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"] == image and pod["initContainers"][0]["image"] == image
    waits = deployments["vllm-eagle3"]["spec"]["template"]["spec"]["initContainers"][0]["command"][-1]
    assert f"/model-cache/models/{HEAD}/.specdec-complete" in waits


def test_the_prefetch_job_fetches_every_model_a_variant_names():
    assert three_variants().serving.models() == ["Qwen/Qwen3-32B", "Qwen/Qwen3-1.7B", HEAD]


# --- catalog and plan ---------------------------------------------------------------------------


def test_the_eagle3_head_is_counted_from_its_config_and_matches_its_published_file():
    head = EAGLE3_HEADS[HEAD]
    assert head.target_model_id == "Qwen/Qwen3-32B" and head.vocab_size == MODELS["Qwen/Qwen3-32B"].vocab_size
    # The safetensors also hold the 32k-entry d2t and the t2d vocabulary maps and a header.
    assert head.parameters * 2 == pytest.approx(head.file_bytes, rel=1e-3)
    assert "vocabulary" in head.shares


def test_three_tp32_variants_at_lnc_2_need_24_chips_on_two_nodes():
    environment = three_variants()
    memory = plan(environment.serving, INSTANCES["trn2.48xlarge"], 2)
    assert [v.name for v in memory.variants] == ["recipe", "eagle3", "baseline"]
    assert (memory.placement.chips, memory.placement.nodes) == (24, 2)
    assert memory.variant("eagle3").draft_weights > 0 and memory.variant("baseline").draft_weights == 0
    assert all(v.headroom > 0 for v in memory.variants)


def test_the_shipped_engines_environment_runs_the_recipe_eagle3_and_a_baseline(shipped):
    serving = load_environment("engines").serving
    assert [(v.name, v.engine, v.draft_model) for v in serving.resolved_variants()] == [
        ("recipe", "nxdi", "Qwen/Qwen3-1.7B"),
        ("eagle3", "vllm-neuron", HEAD),
        ("baseline", "nxdi", None),
    ]
    deployments = {d["metadata"]["name"] for d in shipped["engines"].objects_of("Deployment")}
    assert {"vllm-recipe", "vllm-eagle3", "vllm-baseline"} <= deployments

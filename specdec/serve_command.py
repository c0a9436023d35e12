"""The one place a server's vLLM command line and environment are built, one builder per engine.

- `nxdi`: the published recipe, unchanged (aws-neuron-eks-samples, speculative_decoding_trn2_vllm):
  vLLM 0.9.1's V0 engine with the NxD Inference back end.
- `vllm-neuron`: the vLLM Neuron plugin (vLLM V1). Each difference from the recipe is commented with
  its source, mostly the plugin's migration guide (vllm-neuron docs,
  getting-started/migration-nxdi-to-vllm-neuron, 2026-07-15).

Models are read from the shared cache, never downloaded.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from specdec import names
from specdec.variants import NXDI, Variant

if TYPE_CHECKING:
    from specdec.config import ServingSettings


def model_dir(model_id: str) -> str:
    """Where the prefetch Job leaves a model: MODELS_DIR/<Hugging Face id>."""
    return f"{names.MODELS_DIR}/{model_id}"


def neuron_config(settings: ServingSettings, variant: Variant) -> dict:
    """The recipe's --override-neuron-config (nxdi only)."""
    overrides = dict(settings.neuron_config_overrides)
    if variant.speculative:
        # The sample's speculative server runs the draft fused into the target's graph (one
        # device call per step); NxDI's speculation defaults say the same, stated here explicitly.
        overrides["enable_fused_speculation"] = True
    return overrides


def plugin_neuron_config(settings: ServingSettings, variant: Variant) -> dict:
    """--additional-config's neuron_config for the plugin. The recipe's `save_sharded_checkpoint`
    and `enable_fused_speculation` appear nowhere in the plugin's reference configuration, so
    neither is passed; serving.neuron_config_overrides holds NxDI field names and applies to nxdi."""
    config: dict = {
        # Bucket rules (vllm-neuron docs, reference-configuration): the largest num_seqs bucket
        # must equal max_num_seqs and the largest num_batched_tokens bucket max_num_batched_tokens.
        "num_seqs_buckets": [settings.max_num_seqs],
        "num_batched_tokens_buckets": [settings.max_model_len],
    }
    if variant.speculative:
        # "Required for on-device rejection sampling" (vllm-neuron features guide, speculative
        # decoding). Greedy, as the recipe's fused speculation is: the benchmark sends
        # temperature 0 to every variant (docs/benchmark.md).
        config["on_device_sampling_config"] = {"all_greedy": True}
    return config


def _common_args(settings: ServingSettings) -> list[str]:
    return [
        "vllm", "serve", model_dir(settings.target_model),
        "--served-model-name", settings.target_model,
        "--port", str(names.SERVING_PORT),
        "--tensor-parallel-size", str(settings.tensor_parallel_size),
        "--max-num-seqs", str(settings.max_num_seqs),
        "--max-model-len", str(settings.max_model_len),
    ]


def serve_args(settings: ServingSettings, variant: Variant) -> list[str]:
    """`vllm serve ...` as an exec-form argument list (no shell, so the JSON needs no quoting)."""
    if variant.engine == NXDI:
        return _nxdi_args(settings, variant)
    return _plugin_args(settings, variant)


def _nxdi_args(settings: ServingSettings, variant: Variant) -> list[str]:
    args = _common_args(settings) + [
        "--override-neuron-config", json.dumps(neuron_config(settings, variant)),
    ]
    if variant.speculative:
        args += ["--speculative-config", json.dumps({
            "model": model_dir(variant.draft_model),
            "num_speculative_tokens": variant.num_speculative_tokens,
            "max_model_len": settings.draft_max_model_len or settings.max_model_len,
            "method": variant.speculative_method,
        })]
    return args


def _plugin_args(settings: ServingSettings, variant: Variant) -> list[str]:
    args = _common_args(settings) + [
        # V1 would otherwise batch up to its own default of tokens per step; the bucket above must
        # match it (older plugins defaulted to 131072).
        "--max-num-batched-tokens", str(settings.max_model_len),
        # As the plugin's EAGLE3 tutorial serves; the recipe's V0 engine caches no prefixes either,
        # so the engines are compared like with like on the benchmark's repeated prompts.
        "--no-enable-prefix-caching",
        # The plugin's Neuron settings move from --override-neuron-config to --additional-config.
        "--additional-config", json.dumps({"neuron_config": plugin_neuron_config(settings, variant)}),
    ]
    if variant.speculative:
        # Only method, model and num_speculative_tokens: the head runs at the target's TP and
        # needs no length of its own (vllm-neuron design/speculation).
        args += ["--speculative-config", json.dumps({
            "method": variant.speculative_method,
            "model": model_dir(variant.draft_model),
            "num_speculative_tokens": variant.num_speculative_tokens,
        })]
    return args


def compile_cache_dir(settings: ServingSettings, variant: Variant) -> str:
    """A compile-cache folder per variant and configuration.

    Both engines load whatever they find in NEURON_COMPILED_ARTIFACTS and compile into it when it
    is empty, so a folder shared by two configurations would serve a stale graph (k, for one, is
    unrolled into the compiled draft). Hashing the image and the command gives every
    configuration its own folder, and a redeploy of an unchanged one finds its graph.
    """
    fingerprint = json.dumps([variant.image, serve_args(settings, variant)])
    return f"{names.COMPILE_CACHE_DIR}/{variant.name}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:12]}"


def serve_env(settings: ServingSettings, variant: Variant) -> dict[str, str]:
    # The 0.9.1 image ships two Neuron back ends; NxDI is the one the recipe uses. The plugin has a
    # single back end and no such variable (migration guide).
    framework = ({"VLLM_NEURON_FRAMEWORK": "neuronx-distributed-inference"} if variant.engine == NXDI
                 else {})
    return {
        **framework,
        "NEURON_COMPILED_ARTIFACTS": compile_cache_dir(settings, variant),
        # Fail fast instead of downloading if a model folder were incomplete.
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }

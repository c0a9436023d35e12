"""The one place the vLLM command line and environment of a server are built from the settings.

The default image (vLLM 0.9.1 on Neuron SDK 2.26) runs the V0 engine with NeuronX Distributed
Inference (NxDI). The arguments reproduce the published recipe (aws-neuron-eks-samples,
speculative_decoding_trn2_vllm); models are read from the shared cache, never downloaded.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from specdec import names

if TYPE_CHECKING:
    from specdec.config import ServingSettings


def model_dir(model_id: str) -> str:
    """Where the prefetch Job leaves a model: MODELS_DIR/<Hugging Face id>."""
    return f"{names.MODELS_DIR}/{model_id}"


def neuron_config(settings: ServingSettings, speculative: bool) -> dict:
    overrides = dict(settings.neuron_config_overrides)
    if speculative:
        # The sample's speculative server runs the draft fused into the target's graph (one
        # device call per step); NxDI's speculation defaults say the same, stated here explicitly.
        overrides["enable_fused_speculation"] = True
    return overrides


def serve_args(settings: ServingSettings, speculative: bool) -> list[str]:
    """`vllm serve ...` as an exec-form argument list (no shell, so the JSON needs no quoting)."""
    args = [
        "vllm", "serve", model_dir(settings.target_model),
        "--served-model-name", settings.target_model,
        "--port", str(names.SERVING_PORT),
        "--tensor-parallel-size", str(settings.tensor_parallel_size),
        "--max-num-seqs", str(settings.max_num_seqs),
        "--max-model-len", str(settings.max_model_len),
        "--override-neuron-config", json.dumps(neuron_config(settings, speculative)),
    ]
    if speculative:
        args += ["--speculative-config", json.dumps({
            "model": model_dir(settings.draft_model),
            "num_speculative_tokens": settings.num_speculative_tokens,
            "max_model_len": settings.draft_max_model_len or settings.max_model_len,
            "method": settings.speculative_method,
        })]
    return args


def compile_cache_dir(settings: ServingSettings, speculative: bool) -> str:
    """A compile-cache folder per variant and configuration.

    NxDI loads whatever it finds in NEURON_COMPILED_ARTIFACTS and only compiles when that fails,
    so a folder shared by two configurations would serve a stale graph. Hashing the image and
    the command gives every configuration its own folder, and a redeploy of an unchanged one
    finds its graph (a first compile of Qwen3-32B takes tens of minutes).
    """
    variant = names.SPECULATIVE_VARIANT if speculative else names.BASELINE_VARIANT
    fingerprint = json.dumps([settings.image, serve_args(settings, speculative)])
    return f"{names.COMPILE_CACHE_DIR}/{variant}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:12]}"


def serve_env(settings: ServingSettings, speculative: bool) -> dict[str, str]:
    return {
        # The 0.9.1 image ships two Neuron back ends; NxDI is the one the recipe uses.
        "VLLM_NEURON_FRAMEWORK": "neuronx-distributed-inference",
        "NEURON_COMPILED_ARTIFACTS": compile_cache_dir(settings, speculative),
        # Fail fast instead of downloading if a model folder were incomplete.
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }

"""Serving variants and the two engines that can run them (docs/engines.md).

An environment serves one target model through named variants: without `serving.variants`, the
recipe's two (a speculative server and a baseline, from today's top-level keys); with it, any
list. Each variant runs on one engine:

- `nxdi`: the published recipe, vLLM 0.9.1's V0 engine with the NxD Inference back end (Neuron
  SDK 2.26); a plain draft model fused into the target's graph.
- `vllm-neuron`: the vLLM Neuron plugin on vLLM V1 (Neuron SDK 2.33), the path the Neuron docs now
  recommend; EAGLE3 draft heads only.
"""

from __future__ import annotations

from dataclasses import dataclass

from specdec import names
from specdec.validation import UserError

RECIPE_IMAGE = (
    "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:0.9.1-neuronx-py311-sdk2.26.1-ubuntu22.04"
)
# Neuron docs 2.33.0, setup/pytorch/dlc: vLLM Neuron 0.29.0.1.2.0 (vLLM 0.29.0), Python 3.14.
PLUGIN_IMAGE = (
    "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:0.29.0.1.2.0-neuronx-py314-sdk2.33.0-ubuntu26.04"
)
NXDI, VLLM_NEURON = "nxdi", "vllm-neuron"


@dataclass(frozen=True)
class EngineSpec:
    name: str
    default_image: str
    methods: tuple[str, ...]  # `method` of --speculative-config it accepts
    default_method: str
    k_range: tuple[int, int]  # num_speculative_tokens it is run with
    default_k: int
    draft: str  # what a draft must be: "model" (a catalog model) or "eagle3" (a catalog EAGLE3 head)
    generation: str  # vLLM engine generation, for metric names (specdec/vllm_metrics.py)
    reference: str


ENGINES = {
    NXDI: EngineSpec(
        NXDI, RECIPE_IMAGE, methods=("eagle", "draft_model"), default_method="eagle",
        # 15: the largest k AWS ran this image with (the sample's committed manifest); 7 is the blog's.
        k_range=(1, 15), default_k=7, draft="model", generation="V0",
        reference="aws-neuron/aws-neuron-eks-samples, speculative_decoding_trn2_vllm",
    ),
    VLLM_NEURON: EngineSpec(
        VLLM_NEURON, PLUGIN_IMAGE,
        # vllm_neuron/vllm/worker/neuron_model_runner.py builds a proposer for "eagle3" (and the
        # newer "dflash", which SpecDec does not offer) and raises "Unsupported speculative
        # decoding method" for anything else.
        methods=("eagle3",), default_method="eagle3",
        # The plugin's design doc starts at k=3; its features guide calls 3-7 typical. k is unrolled
        # into the compiled draft graph, so SpecDec stays inside what AWS documents.
        k_range=(1, 7), default_k=3, draft="eagle3", generation="V1",
        reference="vllm-neuron docs, getting-started/migration-nxdi-to-vllm-neuron (2026-07-15): "
                  "\"Vanilla draft-model speculative decoding is not supported; migrate to an EAGLE3 draft\"",
    ),
}


@dataclass(frozen=True)
class Variant:
    """One server configuration, fully resolved: what a Deployment runs."""

    name: str
    engine: str
    image: str
    draft_model: str | None = None
    num_speculative_tokens: int | None = None
    speculative_method: str | None = None

    @property
    def speculative(self) -> bool:
        return self.draft_model is not None

    @property
    def spec(self) -> EngineSpec:
        return ENGINES[self.engine]

    @property
    def server_name(self) -> str:
        return names.server_name(self.name)


class VariantNotFound(UserError):
    pass


def speculative_variant(variants: list[Variant], name: str | None, source: str) -> Variant:
    """The speculative variant called `name`, or the first one; `source` names the file read."""
    speculative = [v for v in variants if v.speculative]
    found = next((v for v in speculative if v.name == name), None) if name else speculative[0]
    if found is None:
        raise VariantNotFound(f"--variant {name}: no speculative variant of that name in {source}; its "
                              f"speculative variants: {', '.join(v.name for v in speculative)}")
    return found

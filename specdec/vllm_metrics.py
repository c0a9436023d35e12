"""What a vLLM server exposes on /metrics, by engine generation (a variant's engine decides which).

Both generations record their token-latency histogram once per engine step and request: V0's
`vllm:time_per_output_token_seconds` (vllm/engine/llm_engine.py, `_get_stats`) and V1's
`vllm:inter_token_latency_seconds` (vllm/v1/metrics/stats.py, `IterationStats.update_from_output`).
On a speculative server one step emits up to k+1 tokens, so there it is a step time, not a
per-token latency. V0 on Neuron never fills the `vllm:spec_decode_*` series (speculation runs fused
inside NxD Inference); V1 (vLLM 0.11 and later, every vLLM Neuron plugin image) counts drafts and
accepted tokens (vllm/v1/spec_decode/metrics.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from specdec.variants import Variant

TTFT = "vllm:time_to_first_token_seconds"
E2E = "vllm:e2e_request_latency_seconds"
V0_TOKEN_LATENCY = "vllm:time_per_output_token_seconds"
V1_TOKEN_LATENCY = "vllm:inter_token_latency_seconds"
GENERATION_TOKENS = "vllm:generation_tokens"  # a counter: exposed with _total
REQUESTS_RUNNING = "vllm:num_requests_running"
REQUESTS_WAITING = "vllm:num_requests_waiting"
SPEC_DRAFTS = "vllm:spec_decode_num_drafts"
SPEC_DRAFT_TOKENS = "vllm:spec_decode_num_draft_tokens"
SPEC_ACCEPTED_TOKENS = "vllm:spec_decode_num_accepted_tokens"
# vLLM 0.11 removed the V0 engine.
FIRST_V1_VERSION = (0, 11)
# The Neuron DLC tags start with the vLLM version: pytorch-inference-vllm-neuronx:0.9.1-neuronx-...
_TAG_VERSION = re.compile(r":(\d+)\.(\d+)[.\d]*-")


@dataclass(frozen=True)
class Engine:
    generation: str
    token_latency: str
    reports_speculation: bool

    def token_latency_is_per_step(self, speculative: bool) -> bool:
        # One observation per step, and a speculative step yields several tokens.
        return speculative


V0 = Engine("V0", V0_TOKEN_LATENCY, reports_speculation=False)
V1 = Engine("V1", V1_TOKEN_LATENCY, reports_speculation=True)


def engine_of(variant: Variant) -> Engine:
    return V1 if variant.spec.generation == "V1" else V0


def vllm_version(image: str) -> tuple[int, int] | None:
    """The vLLM version a Neuron DLC tag starts with, or None (a digest, a custom build)."""
    match = _TAG_VERSION.search(image.split("@")[0])
    return (int(match[1]), int(match[2])) if match else None

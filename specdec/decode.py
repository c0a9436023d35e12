"""What one decode step reads from HBM, the quantity that bounds decode speed (pure).

Decoding a token reads every weight of the model and the KV cache of every sequence in the batch
once; at small batch that traffic, not arithmetic, sets the step time. One speculative step
(vLLM + NxDI fused speculation) runs the draft k times and the target once over k + 1 tokens
(Leviathan et al. 2023, the cost model of speculative sampling), so it reads the target once
and the draft k times. Weights and KV are counted as NxDI shards them (specdec/planner.py:
padded heads, replicated KV heads), summed over the tensor-parallel group.
"""

from __future__ import annotations

from dataclasses import dataclass

from specdec.catalog import ModelArchitecture
from specdec.planner import Sharding


@dataclass(frozen=True)
class StepBytes:
    weights: int
    kv_cache: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache


def model_step(model: ModelArchitecture, tp: int, batch: int, context_tokens: float) -> StepBytes:
    """One forward pass of `model` over a batch whose sequences hold `context_tokens` each."""
    sharding = Sharding.of(model, tp)
    kv = sharding.kv_bytes_per_token(model) * batch * context_tokens
    return StepBytes(weights=sharding.weight_bytes(model), kv_cache=int(kv))


def decode_step(target: ModelArchitecture, draft: ModelArchitecture | None, k: int, tp: int,
                batch: int, context_tokens: float) -> StepBytes:
    """Bytes one decode step reads: the target alone, or the target once plus the draft k times."""
    step = model_step(target, tp, batch, context_tokens)
    if draft is None:
        return step
    drafted = model_step(draft, tp, batch, context_tokens)
    return StepBytes(weights=step.weights + k * drafted.weights,
                     kv_cache=step.kv_cache + k * drafted.kv_cache)


def bandwidth_utilization(step: StepBytes, step_seconds: float, chips: int,
                          bytes_per_s_per_chip: float) -> float:
    """Fraction of the group's HBM bandwidth the measured step time implies."""
    return step.total / step_seconds / (chips * bytes_per_s_per_chip)


def draft_relative_cost(target: ModelArchitecture, draft: ModelArchitecture, tp: int, batch: int,
                        context_tokens: float) -> float:
    """c of the speculative model by bandwidth alone: bytes of a draft pass over a target pass."""
    return (model_step(draft, tp, batch, context_tokens).total
            / model_step(target, tp, batch, context_tokens).total)

"""HBM planner: will the target, the draft and their KV cache fit on one tensor-parallel group?

It models how NeuronX Distributed Inference (NxDI, the framework of the default vLLM image)
lays a model out, so that a configuration that cannot load is refused at synth time, not after
a node has been bought and a compile has run for an hour:

* Sharding (neuronx_distributed_inference/modules/attention/gqa.py, `get_shardable_head_counts`):
  attention heads are padded up to a multiple of the TP degree; K/V heads are replicated up to
  the TP degree when TP is a multiple of them (REPLICATE_TO_TP_DEGREE), otherwise every query
  head gets its own K/V head (CONVERT_TO_MHA). Padding and replication cost HBM, so the planner
  counts the weights and KV cache as sharded, not as on the model card.
* Fused speculation (vllm/model_executor/model_loader/neuronx_distributed.py, vLLM 0.9.x):
  the draft is compiled with a copy of the target's neuron config, i.e. at the same TP degree,
  batch size (max_num_seqs) and sequence length (max_model_len), on the same cores.
* HBM: 96 GiB per Trainium2 chip (Neuron docs, "Trainium2 architecture"). The Neuron runtime,
  compiled graphs, collectives buffers and scratchpad also live there; Neuron does not publish a
  fixed size for them, so the planner keeps RUNTIME_RESERVE_FRACTION of the group's HBM free
  as a planning margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from specdec.catalog import BF16_BYTES, ModelArchitecture
from specdec.instances import GIB, AcceleratorInstance

if TYPE_CHECKING:
    from specdec.config import ServingSettings

RUNTIME_RESERVE_FRACTION = 0.15


@dataclass(frozen=True)
class Sharding:
    """One model's attention layout at a TP degree, as NxDI builds it."""

    attention_heads: int  # padded
    kv_heads: int  # replicated or converted
    strategy: str

    @classmethod
    def of(cls, model: ModelArchitecture, tp: int) -> Sharding:
        padded = -(-model.attention_heads // tp) * tp
        if model.kv_heads == model.attention_heads:
            return cls(padded, padded, "mha")
        if model.kv_heads % tp == 0:
            return cls(padded, model.kv_heads, "shard")
        if tp % model.kv_heads == 0:
            return cls(padded, tp, "replicate-to-tp-degree")
        return cls(padded, padded, "convert-to-mha")

    def weight_bytes(self, model: ModelArchitecture) -> int:
        return model.parameters_sharded(self.attention_heads, self.kv_heads) * BF16_BYTES

    def kv_bytes_per_token(self, model: ModelArchitecture) -> int:
        return 2 * model.layers * self.kv_heads * model.head_dim * BF16_BYTES


@dataclass(frozen=True)
class VariantPlan:
    """HBM use of one server (one pod) on its tensor-parallel group."""

    name: str
    target_weights: int
    draft_weights: int
    kv_cache: int
    hbm: int

    @property
    def reserve(self) -> int:
        return int(self.hbm * RUNTIME_RESERVE_FRACTION)

    @property
    def needed(self) -> int:
        return self.target_weights + self.draft_weights + self.kv_cache + self.reserve

    @property
    def headroom(self) -> int:
        return self.hbm - self.needed


@dataclass(frozen=True)
class MemoryPlan:
    target: ModelArchitecture
    draft: ModelArchitecture
    tp: int
    lnc: int
    chips: int
    instance_type: str
    tokens: int  # KV cache slots: max_num_seqs x max_model_len
    speculative: VariantPlan
    baseline: VariantPlan | None

    @property
    def variants(self) -> list[VariantPlan]:
        return [v for v in (self.speculative, self.baseline) if v]

    def table(self) -> str:
        def gib(n: int) -> str:
            return f"{n / GIB:,.1f} GiB"

        rows = [
            (f"target weights, bf16 ({self.target.model_id})", "target_weights"),
            (f"draft weights, bf16 ({self.draft.model_id})", "draft_weights"),
            (f"KV cache ({self.tokens:,} token slots)", "kv_cache"),
            (f"runtime reserve ({RUNTIME_RESERVE_FRACTION:.0%} of HBM)", "reserve"),
            ("needed", "needed"),
            (f"HBM of the TP group ({self.chips} x 96 GiB)", "hbm"),
            ("headroom", "headroom"),
        ]
        width = max(len(label) for label, _ in rows)
        lines = [
            f"TP {self.tp} at LNC={self.lnc} = {self.chips} Trainium2 chip(s) of {self.instance_type}",
            " " * width + "".join(f"{v.name:>16}" for v in self.variants),
        ]
        for label, attr in rows:
            cells = "".join(
                f"{'-' if attr == 'draft_weights' and not v.draft_weights else gib(getattr(v, attr)):>16}"
                for v in self.variants
            )
            lines.append(f"{label:<{width}}{cells}")
        for model in (self.target, self.draft):
            s = Sharding.of(model, self.tp)
            changes = []
            if s.attention_heads != model.attention_heads:
                changes.append(f"attention heads {model.attention_heads} -> {s.attention_heads} (padded)")
            if s.kv_heads != model.kv_heads:
                changes.append(f"KV heads {model.kv_heads} -> {s.kv_heads} ({s.strategy})")
            if changes:
                lines.append(f"note: {model.model_id} at TP {self.tp}: {', '.join(changes)}")
        return "\n".join(lines)


def plan(serving: ServingSettings, instance: AcceleratorInstance, lnc: int,
         target: ModelArchitecture, draft: ModelArchitecture) -> MemoryPlan:
    tp = serving.tensor_parallel_size
    chips = max(1, tp // instance.logical_cores_per_chip(lnc))
    hbm = chips * instance.hbm_gib_per_chip * GIB
    tokens = serving.max_num_seqs * serving.max_model_len
    target_sharding, draft_sharding = Sharding.of(target, tp), Sharding.of(draft, tp)
    target_weights = target_sharding.weight_bytes(target)
    target_kv = target_sharding.kv_bytes_per_token(target) * tokens
    speculative = VariantPlan(
        "speculative", target_weights, draft_sharding.weight_bytes(draft),
        target_kv + draft_sharding.kv_bytes_per_token(draft) * tokens, hbm,
    )
    baseline = (VariantPlan("baseline", target_weights, 0, target_kv, hbm)
                if serving.baseline_enabled else None)
    return MemoryPlan(target, draft, tp, lnc, chips, instance.instance_type, tokens, speculative, baseline)


def plan_errors(serving: ServingSettings, instance: AcceleratorInstance, lnc: int,
                target: ModelArchitecture, draft: ModelArchitecture) -> list[tuple[str, Any, str]]:
    """(key path, value, what is allowed) for a TP degree NxDI cannot use or HBM cannot hold."""
    tp = serving.tensor_parallel_size
    if tp > target.attention_heads:
        # Padding heads up to TP would leave ranks that hold only padding: memory and
        # collectives for no work. The draft may be padded (it shares the target's TP).
        return [("serving.tensor_parallel_size", tp,
                 f"at most {target.attention_heads}, the attention heads of {target.model_id} "
                 "(NxDI pads heads up to a multiple of TP)")]
    speculative = plan(serving, instance, lnc, target, draft).speculative
    if speculative.headroom >= 0:
        return []
    fitting = _smallest_fitting_tp(serving, instance, lnc, target, draft)
    allowed = (f"at least {fitting}" if fitting else "a smaller model or max_model_len x max_num_seqs "
               f"(no TP on one {instance.instance_type} fits)")
    return [("serving.tensor_parallel_size", tp,
             f"{allowed}: {target.model_id} + draft {draft.model_id} need "
             f"{speculative.needed / GIB:,.1f} GiB of HBM (weights, KV cache and a "
             f"{RUNTIME_RESERVE_FRACTION:.0%} runtime reserve) but TP {tp} at LNC={lnc} spans "
             f"{speculative.hbm / GIB:,.0f} GiB; see `python -m specdec plan`")]


def _smallest_fitting_tp(serving: ServingSettings, instance: AcceleratorInstance, lnc: int,
                         target: ModelArchitecture, draft: ModelArchitecture) -> int | None:
    tp = instance.logical_cores_per_chip(lnc)
    while tp <= min(instance.logical_cores(lnc), target.attention_heads):
        candidate = serving.model_copy(update={"tensor_parallel_size": tp})
        if plan(candidate, instance, lnc, target, draft).speculative.headroom >= 0:
            return tp
        tp *= 2
    return None

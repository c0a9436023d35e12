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

from specdec.catalog import BF16_BYTES, EAGLE3_HEADS, MODELS, Eagle3Head, ModelArchitecture
from specdec.instances import GIB, AcceleratorInstance

if TYPE_CHECKING:
    from specdec.config import ServingSettings

RUNTIME_RESERVE_FRACTION = 0.15
Draft = ModelArchitecture | Eagle3Head


@dataclass(frozen=True)
class Sharding:
    """One model's attention layout at a TP degree, as NxDI builds it."""

    attention_heads: int  # padded
    kv_heads: int  # replicated or converted
    strategy: str

    @classmethod
    def of(cls, model: ModelArchitecture | Eagle3Head, tp: int) -> Sharding:
        padded = -(-model.attention_heads // tp) * tp
        if model.kv_heads == model.attention_heads:
            return cls(padded, padded, "mha")
        if model.kv_heads % tp == 0:
            return cls(padded, model.kv_heads, "shard")
        if tp % model.kv_heads == 0:
            return cls(padded, tp, "replicate-to-tp-degree")
        return cls(padded, padded, "convert-to-mha")

    def weight_bytes(self, model: ModelArchitecture | Eagle3Head) -> int:
        return model.parameters_sharded(self.attention_heads, self.kv_heads) * BF16_BYTES

    def kv_bytes_per_token(self, model: ModelArchitecture | Eagle3Head) -> int:
        return 2 * model.layers * self.kv_heads * model.head_dim * BF16_BYTES


@dataclass(frozen=True)
class VariantPlan:
    """HBM use of one server (one pod) on its tensor-parallel group."""

    name: str
    draft_id: str | None
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
class Placement:
    """Where the servers go: every variant's pods, TP group by TP group, on whole Trn2 nodes."""

    pods: int
    chips_per_pod: int
    chips_per_node: int

    @property
    def chips(self) -> int:
        return self.pods * self.chips_per_pod

    @property
    def per_node(self) -> int:
        return self.chips_per_node // self.chips_per_pod

    @property
    def nodes(self) -> int:
        # Every pod takes the same number of chips, so first-fit fills nodes evenly.
        return -(-self.pods // self.per_node)


@dataclass(frozen=True)
class MemoryPlan:
    target: ModelArchitecture
    drafts: dict[str, Draft]
    tp: int
    lnc: int
    chips: int
    instance_type: str
    tokens: int  # KV cache slots: max_num_seqs x max_model_len
    variants: list[VariantPlan]
    placement: Placement

    def variant(self, name: str) -> VariantPlan:
        return next(v for v in self.variants if v.name == name)

    def table(self) -> str:
        def gib(n: int) -> str:
            return f"{n / GIB:,.1f} GiB"

        rows = [
            (f"target weights, bf16 ({self.target.model_id})", "target_weights"),
            ("draft weights, bf16 (below)", "draft_weights"),
            (f"KV cache ({self.tokens:,} token slots)", "kv_cache"),
            (f"runtime reserve ({RUNTIME_RESERVE_FRACTION:.0%} of HBM)", "reserve"),
            ("needed", "needed"),
            (f"HBM of the TP group ({self.chips} x 96 GiB)", "hbm"),
            ("headroom", "headroom"),
        ]
        width = max(len(label) for label, _ in rows)
        column = max(16, *(len(v.name) + 2 for v in self.variants))
        lines = [
            f"TP {self.tp} at LNC={self.lnc} = {self.chips} Trainium2 chip(s) of {self.instance_type}",
            " " * width + "".join(f"{v.name:>{column}}" for v in self.variants),
        ]
        for label, attr in rows:
            shown = ["-" if attr == "draft_weights" and not v.draft_weights else gib(getattr(v, attr))
                     for v in self.variants]
            cells = "".join(f"{cell:>{column}}" for cell in shown)
            lines.append(f"{label:<{width}}{cells}")
        lines += [f"draft of {v.name}: {v.draft_id}" for v in self.variants if v.draft_id]
        for model in (self.target, *{d.model_id: d for d in self.drafts.values()}.values()):
            s = Sharding.of(model, self.tp)
            changes = []
            if s.attention_heads != model.attention_heads:
                changes.append(f"attention heads {model.attention_heads} -> {s.attention_heads} (padded)")
            if s.kv_heads != model.kv_heads:
                changes.append(f"KV heads {model.kv_heads} -> {s.kv_heads} ({s.strategy})")
            if changes:
                lines.append(f"note: {model.model_id} at TP {self.tp}: {', '.join(changes)}")
        p = self.placement
        lines.append(f"placement: {p.pods} server pod(s) x {p.chips_per_pod} chips = {p.chips} chips "
                     f"on {p.nodes} x {self.instance_type} ({p.chips_per_node} chips each)")
        return "\n".join(lines)


def draft_architecture(model_id: str) -> Draft:
    return EAGLE3_HEADS.get(model_id) or MODELS[model_id]


def plan(serving: ServingSettings, instance: AcceleratorInstance, lnc: int) -> MemoryPlan:
    """Every variant of the environment on its TP group; the target is shared, drafts differ."""
    tp = serving.tensor_parallel_size
    target = MODELS[serving.target_model]
    chips = max(1, tp // instance.logical_cores_per_chip(lnc))
    hbm = chips * instance.hbm_gib_per_chip * GIB
    tokens = serving.max_num_seqs * serving.max_model_len
    target_sharding = Sharding.of(target, tp)
    target_weights = target_sharding.weight_bytes(target)
    target_kv = target_sharding.kv_bytes_per_token(target) * tokens
    drafts, variants = {}, []
    for variant in serving.resolved_variants():
        draft_weights, draft_kv = 0, 0
        if variant.draft_model:
            draft = drafts[variant.name] = draft_architecture(variant.draft_model)
            sharding = Sharding.of(draft, tp)
            draft_weights = sharding.weight_bytes(draft)
            draft_kv = sharding.kv_bytes_per_token(draft) * tokens
        variants.append(VariantPlan(variant.name, variant.draft_model, target_weights, draft_weights,
                                    target_kv + draft_kv, hbm))
    placement = Placement(pods=len(variants) * serving.replicas, chips_per_pod=chips,
                          chips_per_node=instance.chips)
    return MemoryPlan(target, drafts, tp, lnc, chips, instance.instance_type, tokens, variants, placement)


def plan_errors(serving: ServingSettings, instance: AcceleratorInstance,
                lnc: int) -> list[tuple[str, Any, str]]:
    """(key path, value, what is allowed) for a TP degree NxDI cannot use or HBM cannot hold."""
    tp = serving.tensor_parallel_size
    target = MODELS[serving.target_model]
    if tp > target.attention_heads:
        # Padding heads up to TP would leave ranks that hold only padding: memory and
        # collectives for no work. The draft may be padded (it shares the target's TP).
        return [("serving.tensor_parallel_size", tp,
                 f"at most {target.attention_heads}, the attention heads of {target.model_id} "
                 "(NxDI pads heads up to a multiple of TP)")]
    largest = max(plan(serving, instance, lnc).variants, key=lambda v: v.needed)
    if largest.headroom >= 0:
        return []
    fitting = _smallest_fitting_tp(serving, instance, lnc)
    allowed = (f"at least {fitting}" if fitting else "a smaller model or max_model_len x max_num_seqs "
               f"(no TP on one {instance.instance_type} fits)")
    drafted = f" + draft {largest.draft_id}" if largest.draft_id else ""
    return [("serving.tensor_parallel_size", tp,
             f"{allowed}: {target.model_id}{drafted} need "
             f"{largest.needed / GIB:,.1f} GiB of HBM (weights, KV cache and a "
             f"{RUNTIME_RESERVE_FRACTION:.0%} runtime reserve) but TP {tp} at LNC={lnc} spans "
             f"{largest.hbm / GIB:,.0f} GiB; see `python -m specdec plan`")]


def _smallest_fitting_tp(serving: ServingSettings, instance: AcceleratorInstance, lnc: int) -> int | None:
    tp = instance.logical_cores_per_chip(lnc)
    while tp <= min(instance.logical_cores(lnc), MODELS[serving.target_model].attention_heads):
        candidate = serving.model_copy(update={"tensor_parallel_size": tp})
        if all(v.headroom >= 0 for v in plan(candidate, instance, lnc).variants):
            return tp
        tp *= 2
    return None

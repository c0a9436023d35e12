"""`plan` as text for people and as JSON for scripts (pure)."""

from __future__ import annotations

from dataclasses import asdict

from specdec.config import Environment
from specdec.instances import GIB
from specdec.plan.forecast import CostItem, Floors, SpeedUpTable, usd_per_million_tokens
from specdec.variants import Variant


def as_text(environment: Environment, variant: Variant, memory, floors: Floors, speed: SpeedUpTable | None,
            how: str, cost: list[CostItem] | None, cost_problem: str | None,
            tokens_per_s: float | None) -> str:
    serving = environment.serving
    lines = [f"environments/{environment.name}.json: {serving.target_model} verified by "
             f"{variant.draft_model} (variant {variant.name}, engine {variant.engine}), "
             f"{serving.max_num_seqs} x {serving.max_model_len} tokens, k={variant.num_speculative_tokens}",
             "", "== memory (HBM of one server)", memory.table(), "",
             f"== decode-step floors: bytes read / HBM bandwidth of {floors.chips} chips, batch "
             f"{floors.batch}, {floors.context_tokens:.0f} tokens of context"]
    for floor in (floors.target, floors.draft, floors.speculative):
        lines.append(f"{floor.name:<52} {floor.bytes.total / GIB:8.1f} GiB {1000 * floor.seconds:8.2f} ms")
    lines.append(f"draft cost c by bandwidth: {floors.draft_cost:.4f} of a target step")
    lines += ["", "== speed-up over k (Leviathan et al.: E = (1 - a^(k+1)) / (1 - a), "
              "speed-up = E / (1 + k c))"]
    if speed is None:
        lines.append(f"not computed: {how}")
    else:
        lines.append(f"a = {speed.acceptance:.3f}, c = {speed.draft_cost:.4f} ({how})")
        lines.append(f"{'k':>3} {'tokens/step':>12} {'speed-up':>9}")
        for k, tokens, gain in speed.rows:
            marks = " ".join(mark for mark, on in (("<- best", k == speed.best_k),
                                                   ("(deployed)", k == speed.deployed_k)) if on)
            lines.append(f"{k:>3} {tokens:>12.2f} {gain:>8.2f}x {marks}".rstrip())
    lines += ["", "== hourly cost at the desired sizes (usage-based charges not counted)"]
    if cost is None:
        lines.append(f"not computed: {cost_problem}")
    else:
        for item in cost:
            lines.append(f"{item.name:<40} {item.quantity:>8g} x {item.unit_usd_per_hour:>9.4f} = "
                         f"{item.usd_per_hour:>8.2f} USD/h")
        total = sum(i.usd_per_hour for i in cost)
        lines.append(f"{'total':<40} {'':>8}   {'':>9}   {total:>8.2f} USD/h")
        if tokens_per_s:
            lines.append(f"at {tokens_per_s:,.1f} output tokens/s: "
                         f"{usd_per_million_tokens(cost, tokens_per_s):,.2f} USD per million output tokens")
        else:
            lines.append("cost per million output tokens: give --tokens-per-second or --results")
    return "\n".join(lines)


def as_json(environment: Environment, variant: Variant, memory, floors: Floors, speed: SpeedUpTable | None,
            how: str, cost: list[CostItem] | None, cost_problem: str | None,
            tokens_per_s: float | None) -> dict:
    placement = memory.placement
    return {
        "environment": environment.name,
        "variant": {"name": variant.name, "engine": variant.engine, "draft_model": variant.draft_model,
                    "num_speculative_tokens": variant.num_speculative_tokens},
        "memory": {v.name: {"draft_model": v.draft_id,
                            "target_weights_bytes": v.target_weights, "draft_weights_bytes": v.draft_weights,
                            "kv_cache_bytes": v.kv_cache, "reserve_bytes": v.reserve, "hbm_bytes": v.hbm,
                            "headroom_bytes": v.headroom} for v in memory.variants},
        "placement": {"pods": placement.pods, "chips_per_pod": placement.chips_per_pod,
                      "chips": placement.chips, "nodes": placement.nodes,
                      "instance_type": memory.instance_type},
        "floors": {"batch": floors.batch, "context_tokens": floors.context_tokens, "chips": floors.chips,
                   "draft_cost": floors.draft_cost,
                   **{key: {"bytes": f.bytes.total, "seconds": f.seconds}
                      for key, f in (("target", floors.target), ("draft", floors.draft),
                                     ("speculative", floors.speculative))}},
        "speed_up": None if speed is None else {
            "acceptance": speed.acceptance, "draft_cost": speed.draft_cost, "how": how,
            "best_k": speed.best_k, "deployed_k": speed.deployed_k,
            "rows": [{"k": k, "tokens_per_step": t, "speed_up": s} for k, t, s in speed.rows]},
        "cost": {"problem": cost_problem} if cost is None else {
            "items": [asdict(i) | {"usd_per_hour": i.usd_per_hour} for i in cost],
            "usd_per_hour": sum(i.usd_per_hour for i in cost),
            "output_tokens_per_s": tokens_per_s,
            "usd_per_million_output_tokens": (usd_per_million_tokens(cost, tokens_per_s)
                                              if tokens_per_s else None)},
    }

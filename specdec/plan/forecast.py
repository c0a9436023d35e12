"""What `plan` predicts before a deploy, beyond the memory fit (pure): the bandwidth floors of a
decode step, the speed-up over k from an acceptance rate, and what the environment costs.

The floors are lower bounds: a step cannot read its bytes faster than the chips' HBM bandwidth.
Real steps are slower (collectives across 8 chips, kernel launch, host overhead): the ratio of a
measured step to its floor says how much of that overhead there is, not how fast it could be.
"""

from __future__ import annotations

from dataclasses import dataclass

from specdec.catalog import MODELS
from specdec.config import Environment
from specdec.decode import StepBytes, decode_step, model_step
from specdec.planner import draft_architecture
from specdec.pricing import PriceMissing
from specdec.speculation import K_RANGE, best_k, speed_up
from specdec.variants import Variant

# The benchmark's prompts are about 64 tokens (specdec/bench/suites.py).
PROMPT_TOKENS = 64
HOURS_PER_MONTH = 730  # AWS prices monthly rates over 730 hours


@dataclass(frozen=True)
class Floor:
    name: str
    bytes: StepBytes
    seconds: float


@dataclass(frozen=True)
class Floors:
    batch: int
    context_tokens: float
    chips: int
    target: Floor
    draft: Floor
    speculative: Floor

    @property
    def draft_cost(self) -> float:
        """c by bandwidth alone: a draft pass over a target pass."""
        return self.draft.seconds / self.target.seconds


def floors(environment: Environment, variant: Variant) -> Floors:
    """At the benchmark's load: its concurrency (up to max_num_seqs) at mid-answer context, for one
    speculative variant's draft and k. An EAGLE3 head's whole embedding table is counted as read,
    as the target's is: an upper bound on its bytes, so the floor stays a floor of the model."""
    serving, bench = environment.serving, environment.benchmark
    instance = environment.instance
    chips = serving.tensor_parallel_size // instance.logical_cores_per_chip(
        environment.accelerators.logical_neuron_cores)
    bandwidth = chips * instance.hbm_bytes_per_s_per_chip
    batch = min(bench.concurrency, serving.max_num_seqs)
    context = PROMPT_TOKENS + bench.output_tokens / 2
    target, draft = MODELS[serving.target_model], draft_architecture(variant.draft_model)
    tp, k = serving.tensor_parallel_size, variant.num_speculative_tokens

    def floor(name: str, step: StepBytes) -> Floor:
        return Floor(name, step, step.total / bandwidth)

    return Floors(
        batch, context, chips,
        floor(f"target alone ({target.model_id})", model_step(target, tp, batch, context)),
        floor(f"draft alone ({draft.model_id})", model_step(draft, tp, batch, context)),
        floor(f"speculative step (target + {k} draft passes)",
              decode_step(target, draft, k, tp, batch, context)),
    )


@dataclass(frozen=True)
class SpeedUpTable:
    acceptance: float
    draft_cost: float
    rows: list[tuple[int, float, float]]  # k, expected tokens per step, speed-up
    best_k: int
    deployed_k: int


def speed_up_table(acceptance: float, draft_cost: float, deployed_k: int,
                   ks: range = K_RANGE) -> SpeedUpTable:
    """Over the k the variant's engine is run with (ks)."""
    from specdec.speculation import expected_tokens

    rows = [(k, expected_tokens(acceptance, k), speed_up(acceptance, k, draft_cost)) for k in ks]
    return SpeedUpTable(acceptance, draft_cost, rows, best_k(acceptance, draft_cost, ks), deployed_k)


@dataclass(frozen=True)
class CostItem:
    name: str
    quantity: float
    unit_usd_per_hour: float
    source: str

    @property
    def usd_per_hour(self) -> float:
        return self.quantity * self.unit_usd_per_hour


def hourly_cost(environment: Environment, table: dict,
                accelerator_usd_per_hour: float | None) -> list[CostItem]:
    """Every hourly charge of the environment at its desired sizes; PriceMissing names what the
    table lacks. Data transfer, NAT data processing, S3 and load balancer capacity units are
    usage-based and left out (the plan says so)."""
    region = environment.region
    prices = table["regions"].get(region)
    if prices is None:
        raise PriceMissing(f"specdec/prices.json has no prices for {region} (it has "
                           f"{', '.join(table['regions'])}): add the region, sourced and dated")
    acc, cluster, cache = environment.accelerators, environment.cluster, environment.model_cache
    missing: list[str] = []

    def price(path: list[str], what: str) -> tuple[float, str]:
        entry = prices
        for key in path:
            entry = entry.get(key) if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or entry.get("usd") is None:
            missing.append(what)
            return 0.0, ""
        return entry["usd"], entry["source"]

    column = "on_demand" if acc.capacity_type == "capacity_reservation" else acc.capacity_type
    if accelerator_usd_per_hour is not None:
        trn2 = (accelerator_usd_per_hour, "--price-per-hour")
    else:
        trn2 = price(["instances", acc.instance_type, column], f"{acc.instance_type} {acc.capacity_type}")
    system = price(["instances", cluster.system_nodes.instance_type, "on_demand"],
                   f"{cluster.system_nodes.instance_type} on_demand")
    nat = price(["nat_gateway_hour"], "NAT gateway hour")
    eks = price(["eks_cluster_hour"], "EKS cluster hour")
    fsx = price(["fsx_lustre_persistent_2_gb_month", str(cache.throughput_mib_per_tib)],
                f"FSx for Lustre PERSISTENT_2 at {cache.throughput_mib_per_tib} MB/s/TiB")
    items = [
        CostItem(f"{acc.instance_type} ({acc.capacity_type})", acc.desired_size, *trn2),
        CostItem(f"{cluster.system_nodes.instance_type} system nodes", cluster.system_nodes.desired_size,
                 *system),
        CostItem("NAT gateways", environment.network.nat_gateways, *nat),
        CostItem("EKS control plane", 1, *eks),
        CostItem(f"FSx for Lustre, {cache.storage_capacity_gib} GiB", cache.storage_capacity_gib,
                 fsx[0] / HOURS_PER_MONTH, fsx[1]),
    ]
    if environment.serving.internal_load_balancer:
        nlb = price(["nlb_hour"], "Network Load Balancer hour")
        items.append(CostItem("internal NLBs", len(environment.serving.resolved_variants()), *nlb))
    if missing:
        raise PriceMissing(f"specdec/prices.json (checked {table['checked']}) has no sourced price in "
                           f"{region} for: {', '.join(missing)}; pass --price-per-hour for the accelerator "
                           "instance, or --prices FILE with the same layout")
    return items


def usd_per_million_tokens(items: list[CostItem], output_tokens_per_s: float) -> float:
    return sum(i.usd_per_hour for i in items) / (output_tokens_per_s * 3600) * 1e6

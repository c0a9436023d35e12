"""Acceptance and draft cost estimated from what was measured, and the k they recommend (pure).

From benchmark results: per suite and speculative variant, a from the variant's tokens per step at
its k (inverting E(a, k)), c from its step time over the baseline's, and k recommended within the
range its engine runs (specdec/variants.py). From a vLLM /metrics capture: a from the speculation
counters, c from the bandwidth model (the counters carry no time).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from specdec.bench.results import BASELINE_ROLE, SPECULATIVE_ROLE, Results
from specdec.speculation import (
    K_RANGE,
    acceptance_from_tokens_per_step,
    best_k,
    draft_cost_from_step_times,
    speed_up,
)
from specdec.validation import UserError
from specdec.variants import ENGINES, Variant

# vLLM V1 (vllm/v1/spec_decode/metrics.py) and V0 (vllm/engine/metrics.py) counter samples.
V1_DRAFTS = "vllm:spec_decode_num_drafts_total"
V1_ACCEPTED_PER_POSITION = "vllm:spec_decode_num_accepted_tokens_per_pos_total"
V0_ACCEPTED = "vllm:spec_decode_num_accepted_tokens_total"
V0_DRAFT_TOKENS = "vllm:spec_decode_num_draft_tokens_total"


class TuneError(UserError):
    """Input `tune` cannot use; `str()` is one line."""


@dataclass(frozen=True)
class Estimate:
    workload: str  # a suite, or "server" for a metrics capture
    k: int  # the deployed k
    acceptance: float
    draft_cost: float
    how: str  # where a and c came from, in words
    measured_speed_up: float | None = None
    variant: str = SPECULATIVE_ROLE  # the benchmarked variant (results) the estimate is for
    engine: str | None = None  # its engine, where known: it bounds the k recommended
    k_range: range = K_RANGE
    # Where k is set in the environment file: "serving.num_speculative_tokens" for the recipe's
    # variant, "serving.variants[name=X].num_speculative_tokens" for a variant of serving.variants.
    setting: str = "serving.num_speculative_tokens"

    @property
    def best_k(self) -> int:
        return best_k(self.acceptance, self.draft_cost, self.k_range)

    def speed_up(self, k: int) -> float:
        return speed_up(self.acceptance, k, self.draft_cost)

    @property
    def pays(self) -> bool:
        return self.speed_up(self.best_k) > 1

    @property
    def gain_over_deployed(self) -> float:
        return self.speed_up(self.best_k) / self.speed_up(self.k)

    def curve(self) -> list[tuple[int, float]]:
        return [(k, self.speed_up(k)) for k in self.k_range]


def from_results(source: str, results: Results, suite: str | None = None) -> list[Estimate]:
    """One estimate per suite and speculative variant, each against the one baseline."""
    baseline = results.baseline
    if baseline is None:
        raise TuneError(f"{source}: variants has no baseline: the draft's cost is measured against it")
    suites = results.suites
    if suite is not None and suite not in suites:
        raise TuneError(f"--suite {suite}: not in {source}; it has {', '.join(suites)}")
    settings = _settings(results)
    deployed = {v.name: _deployed_k(source, results, v.name) for v in results.speculative}
    estimates = []
    for name in [suite] if suite else suites:
        reference = results.run(name, baseline.name)
        for variant in results.speculative:
            run = results.run(name, variant.name)
            if run is None or reference is None:
                continue
            k, engine, ks = deployed[variant.name]
            estimates.append(_from_run(source, name, variant.name, run.summary, reference.summary, k,
                                       engine=engine, k_range=ks, setting=settings[variant.name]))
    if not estimates:
        raise TuneError(f"{source}: no suite has both a speculative and a baseline run")
    return estimates


def _deployed_k(source: str, results: Results, name: str) -> tuple[int, str | None, range]:
    """A variant's k, its engine, and the k its engine runs (every k SpecDec deploys when the
    engine is not known)."""
    index = next(i for i, v in enumerate(results.variants) if v.name == name)
    own = results.variants[index].num_speculative_tokens is not None
    key = f"variants.{index}.num_speculative_tokens" if own or not results.inherits_deployment(name) \
        else "deployment.num_speculative_tokens"
    described = results.described(name)
    k, engine = described.num_speculative_tokens, described.engine
    if not k:
        raise TuneError(f"{source}: {key} = null is not allowed: tune needs the k the speculative server "
                        f"{name} ran with (bench --deployment, docs/benchmark.md)")
    if engine in ENGINES:
        low, high = ENGINES[engine].k_range
        ks, where = range(low, high + 1), f"on engine {engine}"
    else:
        ks, where = K_RANGE, "the k SpecDec deploys"
    if k not in ks:
        raise TuneError(f"{source}: {key} = {k} is not allowed: {ks.start} to {ks.stop - 1}, {where}")
    return k, engine, ks


def _settings(results: Results) -> dict[str, str]:
    """Where each speculative variant's k is set in its environment file. The recipe's variants
    (speculative, and a baseline named baseline) come from the top-level keys unless the
    environment file, if it is here, lists them under serving.variants; any other name is one of
    serving.variants."""
    names = [v.name for v in results.variants]
    top_level = "serving.num_speculative_tokens"
    per_variant = {n: f"serving.variants[name={n}].num_speculative_tokens" for n in names}
    if not set(names) <= {SPECULATIVE_ROLE, BASELINE_ROLE}:
        return per_variant
    listed = _environment_lists_variants(results.deployment.environment, names)
    return per_variant if listed else dict.fromkeys(names, top_level)


def _environment_lists_variants(name: str | None, variants: list[str]) -> bool:
    """Whether environments/NAME.json serves these variants through serving.variants (False when
    it is not here, does not load, or serves other variants: then it did not make these results)."""
    if not name:
        return False
    from specdec.config import ConfigError, load_environment  # the CDK app's, not the bench pod's

    try:
        serving = load_environment(name).serving
    except ConfigError:
        return False
    return serving.variants is not None and {v.name for v in serving.resolved_variants()} == set(variants)


def _from_run(source: str, suite: str, variant: str, summary, base, k: int, **facts) -> Estimate:
    steps = summary.tokens_per_step
    if steps is None or not (summary.itl_ms and base.itl_ms):
        raise TuneError(f"{source}: runs {suite}/{variant} has no decoded tokens to estimate from")
    # Measurement noise can put tokens per step a hair outside [1, k + 1].
    acceptance = acceptance_from_tokens_per_step(min(max(steps, 1.0), k + 1.0), k)
    cost = draft_cost_from_step_times(summary.itl_ms.p50 * steps, base.itl_ms.p50, k)
    label = suite if variant == SPECULATIVE_ROLE else f"{suite} ({variant})"
    return Estimate(label, k, acceptance, cost,
                    f"a from {steps:.2f} tokens per step at k={k}; c from the step time "
                    f"({summary.itl_ms.p50 * steps:.1f} ms) over the baseline's ({base.itl_ms.p50:.1f} ms)",
                    measured_speed_up=base.itl_ms.p50 / summary.itl_ms.p50, variant=variant, **facts)


def from_prometheus(source: str, text: str, draft_cost: float, k: int | None,
                    variant: Variant | None = None,
                    setting: str = "serving.num_speculative_tokens") -> Estimate:
    """An estimate from vLLM's /metrics: V1's per-position counters, or V0's totals; k is
    recommended within the range of the engine of `variant`, the server that was scraped."""
    try:
        samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    except (ValueError, TypeError) as error:
        raise TuneError(f"{source}: not Prometheus text format: {error}") from None
    totals: dict[str, float] = {}
    per_position: dict[int, float] = {}
    for sample in samples:
        if sample.name == V1_ACCEPTED_PER_POSITION:
            position = int(sample.labels.get("position", -1))
            per_position[position] = per_position.get(position, 0.0) + sample.value
        else:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    if V1_DRAFTS in totals and per_position:
        drafts, positions = totals[V1_DRAFTS], len(per_position)
        if drafts <= 0:
            raise TuneError(f"{source}: {V1_DRAFTS} = 0: the server has not speculated yet; send it traffic")
        accepted = sum(per_position.values()) / drafts
        deployed = k or positions
        rates = ", ".join(f"{per_position[p] / drafts:.2f}" for p in sorted(per_position))
        how = f"a from vLLM V1's per-position acceptance ({rates}) over {drafts:.0f} drafts"
    elif V0_ACCEPTED in totals and V0_DRAFT_TOKENS in totals:
        if not k:
            raise TuneError(f"{source}: vLLM V0 counters do not say k: pass --k")
        if totals[V0_DRAFT_TOKENS] <= 0:
            raise TuneError(f"{source}: {V0_DRAFT_TOKENS} = 0: the server has not speculated yet")
        deployed = k
        accepted = totals[V0_ACCEPTED] / totals[V0_DRAFT_TOKENS] * k
        ratio = f"{totals[V0_ACCEPTED]:.0f} / {totals[V0_DRAFT_TOKENS]:.0f}"
        how = f"a from vLLM V0's accepted / draft tokens ({ratio})"
    else:
        raise TuneError(f"{source}: no vllm:spec_decode_* counters: the server does not report speculation "
                        "(vLLM V0 on Neuron never does); benchmark it and tune the results instead")
    acceptance = acceptance_from_tokens_per_step(min(1 + accepted, deployed + 1.0), deployed)
    if variant is None:
        return Estimate("server", deployed, acceptance, draft_cost, how + "; c from the bandwidth model")
    low, high = variant.spec.k_range
    return Estimate("server", deployed, acceptance, draft_cost, how + "; c from the bandwidth model",
                    variant=variant.name, engine=variant.engine, k_range=range(low, high + 1),
                    setting=setting)

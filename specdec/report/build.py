"""What the report says, computed from results documents (pure: no files, no plotting).

Every number is either measured (copied from the results) or derived from measured numbers by a
formula stated next to it in the report; nothing is modelled without saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

from specdec.bench.results import WORDS, Results, Run
from specdec.catalog import EAGLE3_HEADS, MODELS
from specdec.decode import bandwidth_utilization, decode_step
from specdec.instances import INSTANCES
from specdec.planner import draft_architecture
from specdec.pricing import PriceMissing, instance_hourly
from specdec.validation import UserError

# A baseline streams one token per step; more means the server batches steps into chunks, and
# tokens per chunk then overstates tokens per step for every variant.
BASELINE_STEP_TOLERANCE = 0.05


class ReportError(UserError):
    """Results that cannot make a report; `str()` is one line."""


@dataclass(frozen=True)
class Source:
    label: str
    results: Results


@dataclass(frozen=True)
class Row:
    """One suite x variant of one results file, with what is derived from it."""

    label: str
    suite: str
    variant: str
    role: str
    run: Run
    speed_up: float | None  # baseline ITL p50 / this ITL p50
    step_ms: float | None  # ITL p50 x tokens per step
    bandwidth: float | None  # fraction of the HBM bandwidth of the server's chips
    usd_per_million: float | None


@dataclass(frozen=True)
class Report:
    sources: list[Source]
    rows: list[Row]
    notes: list[str]  # why something was not computed, and anything a reader must know
    price_source: str | None

    def rows_of(self, label: str) -> list[Row]:
        return [r for r in self.rows if r.label == label]


def check_comparable(source: str, results: Results) -> None:
    """A report compares every variant with the baseline on every suite: all must be there."""
    baseline = results.baseline
    if baseline is None:
        raise ReportError(f"{source}: variants = {[v.name for v in results.variants]} has no baseline: "
                          "rerun the benchmark with --baseline-url (a report compares against it)")
    for suite in results.suites:
        for variant in results.variants:
            if results.run(suite, variant.name) is None:
                raise ReportError(f"{source}: runs has no {variant.name!r} run for suite {suite!r}: every "
                                  "variant must run every suite (same prompts, same load)")
        for variant in results.variants:
            if not results.run(suite, variant.name).requests:
                raise ReportError(f"{source}: runs {suite}/{variant.name} has no successful request: "
                                  "nothing to report (see its errors)")


def build(sources: list[Source], price_per_hour: float | None = None) -> Report:
    notes: list[str] = []
    rows: list[Row] = []
    price_source = None
    for source in sources:
        results = source.results
        price, why = _price(results, price_per_hour)
        if price is not None:
            price_source = price[1]
        elif why:
            notes.append(f"{source.label}: cost not computed: {why}")
        bandwidth_note = _bandwidth_missing(results)
        if bandwidth_note:
            notes.append(f"{source.label}: bandwidth not computed: {bandwidth_note}")
        without_draft = {} if bandwidth_note else _drafts_missing(results)
        if without_draft:
            notes.append(f"{source.label}: bandwidth not computed for "
                         + "; ".join(f"{name}: {why}" for name, why in without_draft.items()))
        measurable = set() if bandwidth_note else {v.name for v in results.variants} - set(without_draft)
        baseline = results.baseline
        for suite in results.suites:
            reference = results.run(suite, baseline.name)
            for variant in results.variants:
                run = results.run(suite, variant.name)
                rows.append(_row(source.label, results, run, variant.role, reference,
                                 _bandwidth if variant.name in measurable else None,
                                 price[0] if price else None))
            steps = reference.summary.tokens_per_step
            if steps is not None and abs(steps - 1) > BASELINE_STEP_TOLERANCE:
                notes.append(f"{source.label}: the baseline streamed {steps:.2f} tokens per chunk on "
                             f"{suite}, not 1: the server groups steps into chunks, so tokens per "
                             "step (and the bandwidth derived from it) are overstated for every variant")
        worded = sorted({f"{r.suite}/{r.variant}" for r in results.runs if r.token_counts == WORDS})
        if worded:
            notes.append(f"{source.label}: the server reported no token usage for {', '.join(worded)}: "
                         "token counts there are whitespace-separated words, not tokens")
        if results.method.temperature != 0:
            notes.append(f"{source.label}: temperature {results.method.temperature:g}: on the default "
                         "image the speculative server decodes greedily whatever the request asks, so "
                         "the variants did not sample alike (docs/benchmark.md)")
    return Report(sources, rows, notes, price_source)


def _row(label: str, results: Results, run: Run, role: str, reference: Run, bandwidth_of,
         usd_per_hour: float | None) -> Row:
    summary, base = run.summary, reference.summary
    speed_up = None
    if run.variant != reference.variant and summary.itl_ms and base.itl_ms and summary.itl_ms.p50:
        speed_up = base.itl_ms.p50 / summary.itl_ms.p50
    step_ms = (summary.itl_ms.p50 * summary.tokens_per_step
               if summary.itl_ms and summary.tokens_per_step else None)
    bandwidth = bandwidth_of(results, run, role, step_ms) if bandwidth_of and step_ms else None
    cost = None
    if usd_per_hour is not None and summary.output_tokens_per_s > 0:
        cost = _server_share(results) * usd_per_hour / (summary.output_tokens_per_s * 3600) * 1e6
    return Row(label, run.suite, run.variant, role, run, speed_up, step_ms, bandwidth, cost)


def _server_share(results: Results) -> float:
    """Fraction of an instance one server occupies: its chips over the instance's."""
    deployment = results.deployment
    return deployment.chips_per_server / INSTANCES[deployment.instance_type].chips


def _price(results: Results, price_per_hour: float | None) -> tuple[tuple[float, str] | None, str | None]:
    deployment = results.deployment
    if deployment.instance_type not in INSTANCES or deployment.chips_per_server is None:
        return None, ("the results do not say which Trainium2 instance and how many chips served them "
                      '(bench --deployment \'{"instance_type": ..., "chips_per_server": ...}\')')
    if price_per_hour is not None:
        return (price_per_hour, f"--price-per-hour {price_per_hour:g} (per {deployment.instance_type}"
                                " hour, given on the command line)"), None
    if not (deployment.region and deployment.capacity_type):
        return None, "the results do not say the region and capacity type: pass --price-per-hour"
    try:
        price = instance_hourly(deployment.region, deployment.instance_type, deployment.capacity_type)
    except PriceMissing as missing:
        return None, str(missing)
    return (price.usd, price.source), None


def _bandwidth_missing(results: Results) -> str | None:
    d = results.deployment
    missing = [name for name, value in (("instance_type", d.instance_type in INSTANCES),
                                        ("chips_per_server", d.chips_per_server),
                                        ("tensor_parallel_size", d.tensor_parallel_size)) if not value]
    if d.target_model not in MODELS:
        missing.append(f"target_model in the catalog (got {d.target_model!r})")
    return f"the results' deployment lacks {', '.join(missing)}" if missing else None


def _drafts_missing(results: Results) -> dict[str, str]:
    """Speculative variants whose step bytes cannot be counted, and why."""
    missing = {}
    for variant in results.speculative:
        described = results.described(variant.name)
        if described.draft_model not in MODELS and described.draft_model not in EAGLE3_HEADS:
            missing[variant.name] = (f"its draft_model {described.draft_model!r} is not a draft model or "
                                     "EAGLE3 head in the catalog")
        elif not described.num_speculative_tokens:
            missing[variant.name] = "its num_speculative_tokens is not known"
    return missing


def _bandwidth(results: Results, run: Run, role: str, step_ms: float) -> float:
    d = results.deployment
    summary = run.summary
    batch = min(results.method.concurrency, d.max_num_seqs or results.method.concurrency)
    # Mid-answer context: the prompt plus half of the answer, averaged over the decode.
    context = (summary.prompt_tokens_mean or 0) + (summary.output_tokens_mean or 0) / 2
    variant = results.described(run.variant)
    draft = draft_architecture(variant.draft_model) if role != "baseline" else None
    step = decode_step(MODELS[d.target_model], draft, variant.num_speculative_tokens or 0,
                       d.tensor_parallel_size, batch, context)
    instance = INSTANCES[d.instance_type]
    return bandwidth_utilization(step, step_ms / 1000, d.chips_per_server, instance.hbm_bytes_per_s_per_chip)

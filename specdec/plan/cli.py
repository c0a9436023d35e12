"""`python -m specdec plan -e NAME`: memory fit, decode-step floors, speed-up over k, and cost."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from specdec.arguments import number
from specdec.validation import UserError


def add_parser(commands) -> None:
    plan = commands.add_parser(
        "plan", help="before a deploy: HBM fit, decode-step floors, speed-up over k, hourly cost",
        description="What an environment should do before it is deployed (docs/plan-and-tune.md).")
    plan.add_argument("-e", "--env", default="dev", help="environment name (default: dev)")
    where = plan.add_mutually_exclusive_group()
    where.add_argument("--acceptance", type=number(float, 0, 1),
                       help="per-token acceptance rate a of the draft, 0 to 1")
    where.add_argument("--results", help="a benchmark results file: a and the draft's cost as measured")
    plan.add_argument("--suite", help="with --results: the suite to plan for (default: the first)")
    plan.add_argument("--price-per-hour", type=number(float, 0.01, 10_000, "USD per instance hour, "),
                      help="USD per accelerator-instance hour (default: specdec/prices.json)")
    plan.add_argument("--prices", type=Path, help="a price table to use instead of specdec/prices.json")
    plan.add_argument("--tokens-per-second", type=number(float, 0.001),
                      help="output tokens per second of the environment, for the cost per million tokens "
                      "(default with --results: the measured speculative throughput)")
    plan.add_argument("--variant", metavar="NAME",
                      help="speculative variant to forecast (default: the environment's first)")
    plan.add_argument("--json", action="store_true", help="print JSON for scripts")
    plan.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from specdec.config import load_environment
    from specdec.plan import forecast
    from specdec.plan.render import as_json, as_text
    from specdec.planner import plan
    from specdec.pricing import PRICES_PATH, PriceMissing, load_table
    from specdec.variants import VariantNotFound, speculative_variant

    environment = load_environment(args.env)  # refuses a configuration that does not fit
    serving = environment.serving
    memory = plan(serving, environment.instance, environment.accelerators.logical_neuron_cores)
    try:
        variant = speculative_variant(serving.resolved_variants(), args.variant,
                                      f"environments/{args.env}.json")
    except VariantNotFound as error:
        print(error, file=sys.stderr)
        return 2
    floors = forecast.floors(environment, variant)
    try:
        acceptance, draft_cost, measured_tps, how = _acceptance(args, floors, variant.name)
        table = load_table(args.prices or PRICES_PATH)
    except UserError as error:
        print(error, file=sys.stderr)
        return 1
    low, high = variant.spec.k_range
    speed = (forecast.speed_up_table(acceptance, draft_cost, variant.num_speculative_tokens,
                                     range(low, high + 1)) if acceptance is not None else None)
    try:
        cost, cost_problem = forecast.hourly_cost(environment, table, args.price_per_hour), None
    except PriceMissing as missing:
        cost, cost_problem = None, str(missing)
    tokens_per_s = args.tokens_per_second or measured_tps
    if args.json:
        print(json.dumps(as_json(environment, variant, memory, floors, speed, how, cost, cost_problem,
                                 tokens_per_s),
                         indent=2))
    else:
        print(as_text(environment, variant, memory, floors, speed, how, cost, cost_problem, tokens_per_s))
    return 0


def _acceptance(args: argparse.Namespace, floors,
                variant: str) -> tuple[float | None, float, float | None, str]:
    """a, c, the measured output tokens/s (or None), and where they came from: from results, the
    run of the variant of that name, or of the results' first speculative variant."""
    if args.results is None:
        if args.acceptance is None:
            return None, floors.draft_cost, None, "no acceptance given (--acceptance or --results)"
        return args.acceptance, floors.draft_cost, None, "a from --acceptance; c from the bandwidth floors"
    from specdec.bench.results import load_results
    from specdec.tune.cli import _read
    from specdec.tune.estimate import from_results

    results = load_results(args.results, _read(args.results))
    estimates = from_results(args.results, results, args.suite)
    estimate = next((e for e in estimates if e.variant == variant), estimates[0])
    run = results.run(estimate.workload.split(" ")[0], estimate.variant)
    measured = run.summary.output_tokens_per_s if run else None
    return estimate.acceptance, estimate.draft_cost, measured, f"{estimate.workload}: {estimate.how}"

"""`python -m specdec tune RESULTS|METRICS`: recommend k from what was measured."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from specdec.arguments import number
from specdec.validation import UserError


def add_parser(commands) -> None:
    tune = commands.add_parser(
        "tune", help="recommend k per suite from benchmark results or a vLLM /metrics capture",
        description="Estimate acceptance and the draft's cost from what was measured, and the k that "
        "Leviathan et al.'s model says is best (docs/plan-and-tune.md).")
    tune.add_argument("source", metavar="RESULTS|METRICS",
                      help="results JSON (path or s3:// URL), or vLLM /metrics (URL or saved file)")
    tune.add_argument("-e", "--env", default="dev",
                      help="environment whose models and TP give the draft's cost for a metrics capture "
                      "(default: dev)")
    tune.add_argument("--variant", metavar="NAME",
                      help="for a metrics capture: the environment's variant that served it (default: "
                      "its first speculative variant); its draft, k range and setting are used")
    tune.add_argument("--suite", help="only this suite of the results")
    tune.add_argument("--k", type=number(int, 1, 15),
                      help="k the server ran with (vLLM V0 metrics do not say)")
    tune.add_argument("--plot", type=Path, default=Path("tune.png"),
                      help="PNG of expected speed-up against k (default: tune.png)")
    tune.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from specdec.tune.estimate import from_prometheus, from_results
    from specdec.tune.render import recommendation

    try:
        text = _read(args.source)
        if text.lstrip().startswith("{"):
            from specdec.bench.results import load_results

            estimates = from_results(args.source, load_results(args.source, text), args.suite)
        else:
            variant, setting, draft_cost = _scraped_variant(args.env, args.variant)
            estimates = [from_prometheus(args.source, text, draft_cost, args.k, variant, setting)]
        from specdec.tune.plot import write_plot

        write_plot(estimates, args.plot)
    except UserError as error:
        print(error, file=sys.stderr)
        return 1
    print(recommendation(estimates))
    print(f"plot: {args.plot}")
    return 0


def _read(source: str) -> str:
    from specdec.tune.estimate import TuneError

    if source.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(source, timeout=10) as response:  # noqa: S310 (http(s) only)
                return response.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError) as error:
            raise TuneError(f"{source}: cannot be fetched: {getattr(error, 'reason', error)}") from None
    if source.startswith("s3://"):
        from specdec.report.cli import _read_s3

        return _read_s3(source)
    path = Path(source)
    if not path.is_file():
        raise TuneError(f"{source}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise TuneError(f"{source}: byte {error.start} is not UTF-8") from None
    if not text.strip():
        raise TuneError(f"{source}: the file is empty")
    return text


def _scraped_variant(env_name: str, name: str | None):
    """The speculative variant a metrics capture came from, where its k is set, and its draft's
    cost c by the bandwidth model (as `plan` counts it)."""
    from specdec.config import load_environment
    from specdec.plan.forecast import floors
    from specdec.variant_rules import key_path
    from specdec.variants import speculative_variant

    environment = load_environment(env_name)
    serving = environment.serving
    variant = speculative_variant(serving.resolved_variants(), name, f"environments/{env_name}.json")
    return (variant, key_path(serving, variant, "num_speculative_tokens"),
            floors(environment, variant).draft_cost)

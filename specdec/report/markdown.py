"""The report as Markdown (pure): tables, the charts' file names, and the method in words."""

from __future__ import annotations

from specdec.report.build import Report, Row

CHARTS = {
    "speed_up": "speed-up.png",
    "itl": "itl-distribution.png",
    "tokens_per_step": "tokens-per-step.png",
    "bandwidth": "bandwidth.png",
    "cost": "cost.png",
}


def _num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{suffix}"


def _pair(percentiles, digits: int = 1) -> str:
    return "n/a" if percentiles is None else f"{percentiles.p50:,.{digits}f} / {percentiles.p90:,.{digits}f}"


def render(report: Report, charts: set[str]) -> str:
    lines = ["# SpecDec benchmark report", "",
             f"Built by `python -m specdec report` from {len(report.sources)} results file(s). "
             "Latencies, token counts and throughput are measured by the load generator against the "
             "servers named below; speed-up, step time, bandwidth and cost are derived from them by "
             "the formulas under *Method*.", ""]
    lines += _measured(report) + _variants(report) + _headline(report, charts) + _details(report)
    lines += _section("Inter-token latency per request", "itl", charts,
                      "Each point is one request's mean time per output token after the first.")
    lines += _steps(report, charts) + _bandwidth(report, charts) + _cost(report, charts)
    if len(report.sources) > 1:
        lines += _comparison(report)
    lines += _method(report)
    if report.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in report.notes] + [""]
    return "\n".join(lines)


def headline(report: Report) -> str:
    """The "Does speculation pay?" section alone, without chart links: for a CI job summary."""
    return "\n".join(_headline(report, set()))


def _measured(report: Report) -> list[str]:
    lines = ["## What was measured", "",
             "| results | environment | image | target | draft | k | instance | requests x concurrency "
             "| max output tokens | temperature | load generator | started (UTC) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for source in report.sources:
        r, d, m = source.results, source.results.deployment, source.results.method
        chips = f", {d.chips_per_server} chips per server" if d.chips_per_server else ""
        described = [r.described(v.name) for v in r.variants]
        speculative = [v for v in described if v.role != "baseline"]
        lines.append(
            f"| {source.label} | {d.environment or 'n/a'} | {_same(v.image for v in described)} | "
            f"{d.target_model} | {_same(v.draft_model for v in speculative)} | "
            f"{_same(v.num_speculative_tokens for v in speculative)} | "
            f"{d.instance_type or 'n/a'}{chips} | "
            f"{m.requests} x {m.concurrency} | {m.max_output_tokens} | {m.temperature:g} | "
            f"{m.load_generator} {m.load_generator_version} | {r.started_at:%Y-%m-%d %H:%M} |")
    return lines + [""]


def _same(values) -> str:
    """The one value every variant shares, "per variant" when they differ, n/a when none is known."""
    known = list(dict.fromkeys(v for v in values if v is not None))
    return "n/a" if not known else str(known[0]) if len(known) == 1 else "per variant (see *Variants*)"


def _variants(report: Report) -> list[str]:
    lines = ["## Variants", "",
             "What each server ran, as the results say (n/a: not known). Every speculative variant is "
             "compared with the baseline of its results file.", "",
             "| results | variant | role | engine | draft | k | method | image | URL |",
             "|---|---|---|---|---|---|---|---|---|"]
    for source in report.sources:
        for variant in source.results.variants:
            v = source.results.described(variant.name)
            lines.append(f"| {source.label} | {v.name} | {v.role} | {v.engine or 'n/a'} | "
                         f"{v.draft_model or ('none' if v.role == 'baseline' else 'n/a')} | "
                         f"{v.num_speculative_tokens or ('none' if v.role == 'baseline' else 'n/a')} | "
                         f"{v.speculative_method or 'n/a'} | {v.image or 'n/a'} | {v.url} |")
    return lines + [""]


def _headline(report: Report, charts: set[str]) -> list[str]:
    lines = ["## Does speculation pay?", "",
             "Speed-up is the baseline's median inter-token latency over the variant's, per suite: "
             "how many times faster each output token arrives.", "",
             "| results | suite | variant | ITL p50 (ms) | baseline ITL p50 (ms) | speed-up | "
             "TTFT p50 (ms) | baseline TTFT p50 (ms) | tokens/step |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in report.rows:
        if row.role == "baseline":
            continue
        base = _baseline_of(report, row)
        lines.append(f"| {row.label} | {row.suite} | {row.variant} | {_num(_p50(row.run.summary.itl_ms))} | "
                     f"{_num(_p50(base.run.summary.itl_ms))} | {_num(row.speed_up, 2, 'x')} | "
                     f"{_num(_p50(row.run.summary.ttft_ms))} | {_num(_p50(base.run.summary.ttft_ms))} | "
                     f"{_num(row.run.summary.tokens_per_step, 2)} |")
    return lines + [""] + _chart("speed_up", "speed-up per suite", charts)


def _details(report: Report) -> list[str]:
    lines = ["## Every suite and variant", "",
             "Percentiles are over requests (p50 / p90).", "",
             "| results | suite | variant | requests | errors | TTFT (ms) | ITL (ms) | end-to-end (s) "
             "| output tokens/s | tokens/step | prompt / output tokens (mean) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in report.rows:
        s = row.run.summary
        lines.append(f"| {row.label} | {row.suite} | {row.variant} | {s.requests} | {s.errors} | "
                     f"{_pair(s.ttft_ms)} | {_pair(s.itl_ms)} | {_pair(s.e2e_s, 2)} | "
                     f"{_num(s.output_tokens_per_s)} | {_num(s.tokens_per_step, 2)} | "
                     f"{_num(s.prompt_tokens_mean, 0)} / {_num(s.output_tokens_mean, 0)} |")
    return lines + [""]


def _steps(report: Report, charts: set[str]) -> list[str]:
    return _section(
        "Tokens per decode step", "tokens_per_step", charts,
        "Output tokens per streamed chunk after the first: vLLM streams one chunk per engine step, so "
        "this is the mean number of tokens each target step produced. The baseline's is 1; a "
        "speculative server's is 1 + the mean number of accepted draft tokens, at most k + 1. It is "
        "measured by the client, so it works on images that report no acceptance metrics.")


def _bandwidth(report: Report, charts: set[str]) -> list[str]:
    rows = [r for r in report.rows if r.bandwidth is not None]
    lines = ["## Memory-bandwidth utilization", "",
             "Bytes one decode step reads from HBM (weights of the target, plus k passes of the draft "
             "when speculating, plus the KV cache of the batch at mid-answer context) over the measured "
             "step time (ITL p50 x tokens per step), against the HBM bandwidth of the server's chips "
             "(2.9 TB/s per Trainium2 chip). Decode at small batch is bandwidth-bound: the closer to "
             "100 %, the less a faster kernel could gain.", ""]
    if not rows:
        return lines + ["Not computed: see *Notes*.", ""]
    lines += ["| results | suite | variant | step time (ms) | utilization |", "|---|---|---|---|---|"]
    lines += [f"| {r.label} | {r.suite} | {r.variant} | {_num(r.step_ms)} | "
              f"{_num(r.bandwidth * 100, 1, ' %')} |" for r in rows]
    return lines + [""] + _chart("bandwidth", "bandwidth utilization", charts)


def _cost(report: Report, charts: set[str]) -> list[str]:
    rows = [r for r in report.rows if r.usd_per_million is not None]
    lines = ["## Cost per million output tokens", "",
             "The hourly price of the chips one server occupies (its share of the instance) over the "
             "output tokens it produced per hour at the benchmark's load. At higher concurrency a "
             "server produces more tokens per hour, so this is the cost at *this* load, not the best "
             "achievable.", ""]
    if not rows:
        return lines + ["Not computed: see *Notes*.", ""]
    lines += [f"Price: {report.price_source}.", "",
              "| results | suite | variant | output tokens/s | USD per million output tokens |",
              "|---|---|---|---|---|"]
    lines += [f"| {r.label} | {r.suite} | {r.variant} | {_num(r.run.summary.output_tokens_per_s)} | "
              f"{_num(r.usd_per_million, 2)} |" for r in rows]
    return lines + [""] + _chart("cost", "cost per million output tokens", charts)


def _comparison(report: Report) -> list[str]:
    def k_of(source, name: str) -> str:
        return str(source.results.described(name).num_speculative_tokens or "?")

    def header(source) -> str:
        speculative = source.results.speculative
        if len(speculative) != 1:
            return source.label
        return f"{source.label} (k={k_of(source, speculative[0].name)})"

    lines = ["## Results side by side", "",
             "| suite | " + " | ".join(header(s) for s in report.sources) + " |",
             "|---|" + "---|" * len(report.sources)]
    suites = list(dict.fromkeys(r.suite for r in report.rows))
    for suite in suites:
        cells = []
        for source in report.sources:
            found = [r for r in report.rows_of(source.label) if r.suite == suite and r.role != "baseline"]
            named = len(source.results.speculative) > 1
            cells.append(", ".join((f"{r.variant} (k={k_of(source, r.variant)}): " if named else "")
                                   + f"{_num(r.speed_up, 2, 'x')} ({_num(r.run.summary.tokens_per_step, 2)} "
                                   "tok/step)" for r in found) or "not run")
        lines.append(f"| {suite} | " + " | ".join(cells) + " |")
    return lines + ["", "Speed-up (tokens per step) of each speculative variant over its own baseline.", ""]


def _method(report: Report) -> list[str]:
    return ["## Method", "",
            "- Every variant got the same prompts, in the same order, with the same concurrency, "
            "max_tokens and temperature; variants ran one at a time (" +
            report.sources[0].results.method.order + ").",
            "- TTFT: request sent to first streamed token. ITL: (last token time - first token time) / "
            "(output tokens - 1), per request. End-to-end: request sent to last byte. Output "
            "tokens/s: all output tokens over the run's wall-clock time. Token counts are the "
            "server's own (usage in every streamed chunk).",
            "- Percentiles are over requests, with linear interpolation.", ""]


def _section(title: str, chart: str, charts: set[str], text: str) -> list[str]:
    return [f"## {title}", "", text, ""] + _chart(chart, title.lower(), charts)


def _chart(key: str, alt: str, charts: set[str]) -> list[str]:
    return [f"![{alt}]({CHARTS[key]})", ""] if key in charts else []


def _p50(percentiles) -> float | None:
    return None if percentiles is None else percentiles.p50


def _baseline_of(report: Report, row: Row) -> Row:
    return next(r for r in report.rows_of(row.label) if r.suite == row.suite and r.role == "baseline")

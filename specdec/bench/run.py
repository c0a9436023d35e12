"""`python -m specdec bench` against URLs: wait for the servers, drive the load generator over
every suite and variant with identical load, and write one results document.

The Job in the cluster runs exactly this, against the in-cluster Services.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from specdec.bench import loadgen
from specdec.bench.results import WORDS, Deployment, Method, Results, Run, Variant, summarize
from specdec.bench.suites import load_suite, requests_for
from specdec.validation import UserError

HEALTH_POLL_SECONDS = 10
HEALTH_REPORT_SECONDS = 60
# Suites are the outer loop and the variants of a suite run back to back, so a slow drift of the
# node (thermal, other tenants of the host) touches every variant of a suite alike.
ORDER = "suites in the order given; within a suite, each variant in turn, one at a time"

Progress = Callable[[str], None]


class BenchError(UserError):
    """The benchmark cannot run; `str()` is one line."""


@dataclass(frozen=True)
class BenchPlan:
    variants: list[Variant]
    suites: list[str]
    requests: int
    concurrency: int
    max_output_tokens: int
    temperature: float
    deployment: dict = field(default_factory=dict)  # Deployment fields the caller knows


def wait_for_health(variants: list[Variant], timeout_s: float, progress: Progress,
                    sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once every server answers GET /health with 200; BenchError after `timeout_s`."""
    deadline, last_report = time.monotonic() + timeout_s, float("-inf")
    waiting = list(variants)
    while True:
        problems = {v.name: _health_problem(v.url) for v in waiting}
        waiting = [v for v in waiting if problems[v.name]]
        if not waiting:
            progress("health: " + ", ".join(f"{v.name} ok" for v in variants))
            return
        if time.monotonic() >= deadline:
            raise BenchError("servers not healthy after "
                             f"{timeout_s:.0f} s: " + "; ".join(f"{v.name} {v.url}/health: "
                                                               f"{problems[v.name]}" for v in waiting))
        if time.monotonic() - last_report >= HEALTH_REPORT_SECONDS:
            progress("waiting for /health: " + "; ".join(f"{v.name}: {problems[v.name]}" for v in waiting))
            last_report = time.monotonic()
        sleep(HEALTH_POLL_SECONDS)


def _health_problem(url: str) -> str | None:
    """None once the server is ready: vLLM's /health answers 200 only once the model is loaded;
    a server without /health (404) is ready when it lists its models."""
    problem = _get(f"{url}/health")
    return _get(f"{url}/v1/models") if problem == "HTTP 404" else problem


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http(s) only)
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return str(reason)[:120]


def benchmark(plan: BenchPlan, log: Path, progress: Progress) -> Results:
    suites = {name: load_suite(name) for name in plan.suites}
    total, done = len(plan.suites) * len(plan.variants), 0
    runs: list[Run] = []
    model = plan.deployment.get("target_model")
    started = _now()
    for suite in plan.suites:
        load = loadgen.Load(prompts=requests_for(suites[suite], plan.requests),
                            concurrency=plan.concurrency, max_output_tokens=plan.max_output_tokens,
                            temperature=plan.temperature)
        for variant in plan.variants:
            done += 1
            progress(f"[{done}/{total}] {suite} x {variant.name}: {plan.requests} requests at "
                     f"concurrency {plan.concurrency}, up to {plan.max_output_tokens} output tokens")
            run_started = _now()
            measured = loadgen.run(variant.url, model, load, log,
                                   lambda line: progress(f"      {line}"))
            # Every server must serve the same model; the first one names it for the rest.
            if model is None:
                model = measured.model
            summary = summarize(measured.requests, measured.errors, measured.duration_s)
            runs.append(Run(suite=suite, variant=variant.name, started_at=run_started,
                            finished_at=_now(), duration_s=measured.duration_s,
                            token_counts=measured.token_counts, summary=summary,
                            requests=measured.requests, errors=measured.error_messages))
            progress(f"      {_headline(summary)}")
            if measured.token_counts == WORDS:
                progress("      note: the server reported no token usage; token figures are words")
    return Results(
        started_at=started,
        finished_at=_now(),
        deployment=Deployment(**{**plan.deployment, "target_model": model}),
        method=Method(load_generator=loadgen.LOAD_GENERATOR, load_generator_version=loadgen.version(),
                      endpoint=loadgen.ENDPOINT, requests=plan.requests,
                      concurrency=plan.concurrency, max_output_tokens=plan.max_output_tokens,
                      temperature=plan.temperature, order=ORDER),
        variants=plan.variants,
        runs=runs,
    )


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the whole new one, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def _headline(summary) -> str:
    itl = f"ITL p50 {summary.itl_ms.p50:.1f} ms" if summary.itl_ms else "no ITL (no decoded tokens)"
    steps = f", {summary.tokens_per_step:.2f} tokens/step" if summary.tokens_per_step else ""
    return (f"{summary.requests} ok, {summary.errors} failed: {itl}{steps}, "
            f"{summary.output_tokens_per_s:.1f} output tokens/s")


def _now() -> datetime:
    return datetime.now(UTC)

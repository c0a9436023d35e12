"""The benchmark results document: the contract between the benchmark and everything that reads
it (`report`, the dashboards, CI, `plan` and `tune`).

One JSON document per benchmark run. The pydantic models below are the source of truth;
`specdec/bench/results.schema.json` is generated from them (`python -m specdec results-schema
--write`) for readers in other languages, and a test keeps the two in sync. Summaries are
computed here, from the per-request measurements the load generator made, so that a reader can
always recompute them.
"""

from __future__ import annotations

import json
import statistics
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from specdec import validation
from specdec.validation import UserError

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "results.schema.json"
BASELINE_ROLE = "baseline"
# Where token counts come from: the server's usage reports, or words when it sends none.
SERVER_USAGE = "server usage"
WORDS = "words"
SPECULATIVE_ROLE = "speculative"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"  # a DNS label, like the variant's Service
# Facts a variant may carry about what served it (the --deployment document's "variants" block).
VARIANT_FACTS = ("engine", "image", "draft_model", "num_speculative_tokens", "speculative_method")


class ResultsError(UserError):
    """A results file that cannot be used; `str()` is one line per problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Deployment(_Strict):
    """What served the requests, as far as the benchmark was told (null: not known)."""

    environment: str | None = Field(None, description="SpecDec environment name.")
    region: str | None = Field(None, description="AWS region.")
    instance_type: str | None = Field(None, description="Instance type of the accelerator nodes.")
    capacity_type: Literal["on_demand", "capacity_block", "capacity_reservation"] | None = Field(
        None, description="How the accelerator capacity was bought.")
    chips_per_server: int | None = Field(None, ge=1, description="Trainium2 chips each server uses.")
    tensor_parallel_size: int | None = Field(None, ge=1)
    max_num_seqs: int | None = Field(None, ge=1, description="Sequences each server batches.")
    image: str | None = Field(None, description="Serving image.")
    target_model: str = Field(description="Target model (the servers' model id).")
    draft_model: str | None = Field(
        None, description="Draft model of the recipe's speculative server; a variant's own draft_model "
        "takes precedence.")
    num_speculative_tokens: int | None = Field(
        None, ge=1, description="k of the recipe's speculative server; a variant's own "
        "num_speculative_tokens takes precedence.")


class Method(_Strict):
    """How it was measured: enough to rerun it, and to judge whether two files compare."""

    load_generator: str = Field(description="Load generator that timed every request.")
    load_generator_version: str
    endpoint: str = Field(description="API path the requests went to.")
    requests: int = Field(ge=1, description="Requests per suite and variant.")
    concurrency: int = Field(ge=1, description="Requests in flight at once.")
    max_output_tokens: int = Field(ge=1, description="max_tokens of every request.")
    temperature: float = Field(ge=0)
    order: str = Field(description="In which order suites and variants ran.")


class Variant(_Strict):
    """One server the benchmark measured; what served it, where known (null: not known)."""

    name: str = Field(pattern=NAME_PATTERN)
    role: Literal["speculative", "baseline"]
    url: str = Field(description="Base URL of the OpenAI-compatible server.")
    engine: str | None = Field(
        None, description="Serving engine: nxdi or vllm-neuron (specdec/variants.py).")
    image: str | None = Field(None, description="Serving image; null: the deployment's image.")
    draft_model: str | None = Field(
        None, description="Draft model or EAGLE3 head; null on a speculative variant: the deployment's "
        "draft_model, if this is its only speculative variant or is named speculative.")
    num_speculative_tokens: int | None = Field(
        None, ge=1, description="k; null on a speculative variant: the deployment's, as for draft_model.")
    speculative_method: str | None = Field(None, description="`method` of vLLM's --speculative-config.")


class Request(_Strict):
    """One successful request, as the load generator timed it."""

    ttft_ms: float = Field(ge=0, description="Time to first token (ms).")
    itl_ms: float | None = Field(
        None, ge=0, description="Inter-token latency per output token after the first (ms): "
        "(last token time - first token time) / (output tokens - 1); null for one-token answers.")
    e2e_s: float = Field(ge=0, description="Request latency, send to last byte (s).")
    prompt_tokens: int = Field(ge=0, description="Prompt tokens, as the server counted them.")
    output_tokens: int = Field(ge=0, description="Output tokens, as the server counted them.")
    chunks: int = Field(ge=0, description="Streamed chunks that carried output.")


class Percentiles(_Strict):
    p50: float
    p90: float


class Summary(_Strict):
    """Per suite and variant; percentiles are over requests."""

    requests: int = Field(ge=0, description="Successful requests.")
    errors: int = Field(ge=0, description="Requests that failed.")
    ttft_ms: Percentiles | None
    itl_ms: Percentiles | None
    e2e_s: Percentiles | None
    output_tokens_per_s: float = Field(
        ge=0, description="Output tokens of all requests over the run's wall-clock duration.")
    tokens_per_step: float | None = Field(
        None, ge=0, description="Mean output tokens per decode step: sum(output tokens - 1) / "
        "sum(chunks - 1). The server streams one chunk per engine step, and the first token comes "
        "from the prefill; about 1 without speculation, up to k + 1 with it.")
    prompt_tokens_mean: float | None = None
    output_tokens_mean: float | None = None


class Run(_Strict):
    suite: str
    variant: str
    started_at: datetime
    finished_at: datetime
    duration_s: float = Field(gt=0)
    token_counts: Literal["server usage", "words"] = Field(
        description="Where token counts come from: the server's usage reports, or whitespace-separated "
        "words when the server sent no usage (then every token figure is in words).")
    summary: Summary
    requests: list[Request]
    errors: list[str] = Field(default_factory=list, description="Error messages, at most 20.")


class Results(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    started_at: datetime
    finished_at: datetime
    deployment: Deployment
    method: Method
    variants: list[Variant] = Field(min_length=1)
    runs: list[Run] = Field(min_length=1)

    def run(self, suite: str, variant: str) -> Run | None:
        return next((r for r in self.runs if r.suite == suite and r.variant == variant), None)

    @property
    def suites(self) -> list[str]:
        return list(dict.fromkeys(r.suite for r in self.runs))

    @property
    def baseline(self) -> Variant | None:
        return next((v for v in self.variants if v.role == BASELINE_ROLE), None)

    @property
    def speculative(self) -> list[Variant]:
        return [v for v in self.variants if v.role != BASELINE_ROLE]

    def inherits_deployment(self, name: str) -> bool:
        """Whether the deployment's draft_model and k describe this variant: they describe the
        recipe's speculative server, the one named speculative or the only speculative variant
        (documents written before variants carried their own facts)."""
        speculative = self.speculative
        return any(v.name == name for v in speculative) and (
            name == SPECULATIVE_ROLE or len(speculative) == 1)

    def described(self, name: str) -> Variant:
        """The variant with what the deployment says filled in where it says nothing itself; a
        reader asks this, not the deployment, for a variant's draft, k and image."""
        variant = next(v for v in self.variants if v.name == name)
        d = self.deployment
        update = {"image": variant.image or d.image}
        if self.inherits_deployment(name):
            update |= {"draft_model": variant.draft_model or d.draft_model,
                       "num_speculative_tokens": variant.num_speculative_tokens or d.num_speculative_tokens}
        return variant.model_copy(update=update)


def percentiles(values: list[float]) -> Percentiles | None:
    """p50 and p90 with linear interpolation between samples (numpy's default method)."""
    if not values:
        return None
    if len(values) == 1:
        return Percentiles(p50=values[0], p90=values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return Percentiles(p50=cuts[49], p90=cuts[89])


def summarize(requests: list[Request], errors: int, duration_s: float) -> Summary:
    decoding = [r for r in requests if r.chunks > 1 and r.output_tokens > 1]
    steps = sum(r.chunks - 1 for r in decoding)
    return Summary(
        requests=len(requests),
        errors=errors,
        ttft_ms=percentiles([r.ttft_ms for r in requests]),
        itl_ms=percentiles([r.itl_ms for r in requests if r.itl_ms is not None]),
        e2e_s=percentiles([r.e2e_s for r in requests]),
        output_tokens_per_s=sum(r.output_tokens for r in requests) / duration_s,
        tokens_per_step=sum(r.output_tokens - 1 for r in decoding) / steps if steps else None,
        prompt_tokens_mean=statistics.fmean(r.prompt_tokens for r in requests) if requests else None,
        output_tokens_mean=statistics.fmean(r.output_tokens for r in requests) if requests else None,
    )


def consistency_problems(results: Results) -> list[tuple[str, object, str]]:
    """Rules that relate several fields; the schema alone cannot say them."""
    found: list[tuple[str, object, str]] = []
    names = [v.name for v in results.variants]
    if len(set(names)) != len(names):
        found.append(("variants", names, "each variant name once"))
    if sum(v.role == BASELINE_ROLE for v in results.variants) > 1:
        found.append(("variants", names, "at most one baseline"))
    for i, variant in enumerate(results.variants):
        for key in ("draft_model", "num_speculative_tokens", "speculative_method"):
            if variant.role == BASELINE_ROLE and getattr(variant, key) is not None:
                found.append((f"variants.{i}.{key}", getattr(variant, key),
                              "null on the baseline: it does not speculate"))
    seen: set[tuple[str, str]] = set()
    for i, run in enumerate(results.runs):
        if run.variant not in names:
            found.append((f"runs.{i}.variant", run.variant, f"one of the variants {names}"))
        if (run.suite, run.variant) in seen:
            found.append((f"runs.{i}", f"{run.suite}/{run.variant}", "one run per suite and variant"))
        seen.add((run.suite, run.variant))
        if run.summary.requests != len(run.requests):
            found.append((f"runs.{i}.summary.requests", run.summary.requests,
                          f"the number of requests listed ({len(run.requests)})"))
    return found


def load_results(source: str, text: str) -> Results:
    """Parse and check a results document; ResultsError names the file, the field and the value."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(f"{source}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{source}: a results document is a JSON object, not {type(data).__name__}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsError(validation.line(source, "schema_version", version,
                                           f"{SCHEMA_VERSION}, the version this SpecDec reads"))
    try:
        results = Results.model_validate_json(text)
    except ValidationError as error:
        raise ResultsError(_lines(source, validation.problems(error))) from None
    problems = consistency_problems(results)
    if problems:
        raise ResultsError(_lines(source, problems))
    return results


def _lines(source: str, problems: list[tuple[str, object, str]]) -> str:
    return "\n".join(validation.line(source, *problem) for problem in problems)


def json_schema() -> str:
    schema = Results.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/specdec/specdec/specdec/bench/results.schema.json"
    schema["title"] = "SpecDec benchmark results"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"

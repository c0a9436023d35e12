"""The load generator: GuideLLM (vllm-project/guidellm), pinned in requirements-bench.txt.

Why GuideLLM (docs/benchmark.md has the comparison): it runs anywhere pip does, needs no
tokenizer download when the prompts are given as text and the server reports usage, asks vLLM
for usage in every streamed chunk (`continuous_usage_stats`), and records per request the
number of streamed chunks that carried output (`token_iterations`) next to the server's token
counts. Tokens per chunk is tokens per decode step, which is how SpecDec measures speculation
on images that report no acceptance metrics.

This module builds GuideLLM's scenario (pure), runs it in a child process, and turns its JSON
report into SpecDec's per-request records (pure). It never times anything itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from specdec.bench.results import SERVER_USAGE, WORDS, Request
from specdec.validation import UserError

LOAD_GENERATOR = "guidellm"
ENDPOINT = "/v1/chat/completions"
# A request may take minutes on a cold or saturated server; GuideLLM's default is no timeout.
REQUEST_TIMEOUT_S = 900
MAX_ERROR_MESSAGES = 20
# GuideLLM logs its progress every few seconds when its console is off (benchmark/progress.py).
PROGRESS_LINE = re.compile(r"elapsed=(?P<elapsed>[\d.]+)s \| successful=(?P<ok>\d+) errored=(?P<failed>\d+)")
PROGRESS_SECONDS = 30


class LoadGeneratorError(UserError):
    """GuideLLM could not run or its report cannot be read; `str()` says why in one line."""


@dataclass(frozen=True)
class Load:
    """The same for every variant of a run: that is what makes the comparison fair."""

    prompts: list[str]
    concurrency: int
    max_output_tokens: int
    temperature: float


@dataclass(frozen=True)
class Measured:
    model: str
    requests: list[Request]
    errors: int
    error_messages: list[str]
    duration_s: float
    token_counts: str


def scenario(url: str, model: str | None, load: Load, data_path: Path, report_path: Path) -> dict:
    """A GuideLLM scenario: `concurrency` streams, one request per prompt, then stop."""
    return {
        "spec": {
            "backend": {
                "kind": "openai_http",
                "target": url,
                "model": model or "",  # empty: GuideLLM asks the server's /v1/models
                "request_format": ENDPOINT,
                "max_tokens": load.max_output_tokens,
                "timeout": REQUEST_TIMEOUT_S,
                "http2": False,
                # SpecDec waited for the server itself, by /health or, lacking one, /v1/models.
                "validate_backend": False,
                "extras": {"body": {"temperature": load.temperature}},
            },
            "profile": {"kind": "concurrent", "streams": [load.concurrency]},
            "data": [{"kind": "json_file", "path": str(data_path)}],
            "constraints": [{"kind": "max_requests", "count": len(load.prompts)}],
            "outputs": [{"kind": "json", "path": str(report_path)}],
        }
    }


def measured(report: dict) -> Measured:
    """SpecDec's records out of a GuideLLM JSON report (one benchmark)."""
    try:
        benchmark = report["benchmarks"][0]
        successful = benchmark["requests"]["successful"]
        # Without usage in the stream GuideLLM has no token counts (it would need the model's
        # tokenizer, a download) and falls back to counting chunks as tokens, which would hide
        # speculation entirely: count whitespace-separated words instead, and say so.
        by_words = any(r["output_metrics"]["text_tokens"] is None for r in successful)
        requests = [_request(r, by_words) for r in successful]
        failed = benchmark["requests"]["errored"] + benchmark["requests"]["incomplete"]
        messages = [str(r["info"].get("error") or "no error message") for r in failed]
        return Measured(model=benchmark["config"]["backend"]["model"], requests=requests,
                        errors=len(failed), error_messages=messages[:MAX_ERROR_MESSAGES],
                        duration_s=benchmark["duration"],
                        token_counts=WORDS if by_words else SERVER_USAGE)
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise LoadGeneratorError(f"the GuideLLM report has an unexpected shape ({error!r}): is "
                                 "the installed guidellm the version requirements-bench.txt pins?") from None


def _request(r: dict, by_words: bool) -> Request:
    timings = r["info"]["timings"]
    if not by_words:
        return Request(ttft_ms=r["time_to_first_token_ms"], itl_ms=r["inter_token_latency_ms"],
                       e2e_s=r["request_latency"], prompt_tokens=r["prompt_tokens"],
                       output_tokens=r["output_tokens"], chunks=timings["token_iterations"])
    words = r["output_metrics"]["text_words"] or 0
    decoding = timings["last_token_iteration"] - timings["first_token_iteration"] if words > 1 else None
    return Request(ttft_ms=r["time_to_first_token_ms"],
                   itl_ms=1000 * decoding / (words - 1) if decoding is not None else None,
                   e2e_s=r["request_latency"], prompt_tokens=r["input_metrics"]["text_words"] or 0,
                   output_tokens=words, chunks=timings["token_iterations"])


def run(url: str, model: str | None, load: Load, log: Path,
        progress: Callable[[str], None]) -> Measured:
    """Run GuideLLM once against `url`; its own log goes to `log`, its progress to `progress`."""
    with tempfile.TemporaryDirectory(prefix="specdec-bench-") as tmp:
        folder = Path(tmp)
        data_path, report_path = folder / "prompts.jsonl", folder / "report.json"
        data_path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in load.prompts))
        scenario_path = folder / "scenario.json"
        scenario_path.write_text(json.dumps(scenario(url, model, load, data_path, report_path)))
        command = [sys.executable, "-m", "guidellm", "run", "--scenario", str(scenario_path),
                   "--disable-console"]
        with log.open("a") as out, subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env=_quiet_env()) as child:
            last_shown = time.monotonic()
            for line in child.stdout:
                out.write(line)
                status = PROGRESS_LINE.search(line)
                if status and time.monotonic() - last_shown >= PROGRESS_SECONDS:
                    ok, failed, elapsed = status.group("ok", "failed", "elapsed")
                    progress(f"{ok}/{len(load.prompts)} done, {failed} failed, {float(elapsed):.0f} s")
                    last_shown = time.monotonic()
        if child.returncode != 0 or not report_path.is_file():
            raise LoadGeneratorError(f"guidellm stopped with exit code {child.returncode} against "
                                     f"{url}: {_last_line(log)} (full log: {log})")
        return measured(json.loads(report_path.read_text()))


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(LOAD_GENERATOR)
    except PackageNotFoundError:
        raise LoadGeneratorError("guidellm is not installed: pip install -r requirements-bench.txt") from None


def _quiet_env() -> dict[str, str]:
    # No model hub: prompts are text and token counts come from the server's usage reports.
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["no output"])[-1][:300]


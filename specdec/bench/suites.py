"""The prompt suites: data files written for SpecDec, one JSON object per line.

Structured prompts (JSON extraction, lists, code templates, form letters) ask for output whose
next tokens a small draft guesses well; open-ended ones (essays, stories, reasoning) do not.
Each prompt is about 40 words, about 64 Qwen3 tokens with the chat template, like the
published run's 64 input tokens; the benchmark reports the count the server measured.
"""

from __future__ import annotations

import json
from pathlib import Path

from specdec.validation import UserError

SUITES_DIR = Path(__file__).resolve().parent / "suites"
SUITE_NAMES = ("structured", "open-ended")


class SuiteError(UserError):
    """A suite file that cannot be used; `str()` is one line."""


def load_suite(name: str, directory: Path = SUITES_DIR) -> list[str]:
    path = directory / f"{name}.jsonl"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.jsonl")))
        raise SuiteError(f"--suite {name}: no such suite; available: {known}")
    prompts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise SuiteError(f"{path}:{number}: not valid JSON: {error.msg}") from None
        prompt = row.get("prompt") if isinstance(row, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise SuiteError(f"{path}:{number}: prompt is missing or empty: each line needs a "
                             '"prompt" string')
        prompts.append(prompt)
    if not prompts:
        raise SuiteError(f"{path}: holds no prompts")
    return prompts


def requests_for(prompts: list[str], count: int) -> list[str]:
    """`count` prompts, cycling through the suite in order: every variant gets the same list."""
    return [prompts[i % len(prompts)] for i in range(count)]

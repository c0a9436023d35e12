"""argparse types whose refusals read like every other SpecDec error: the value and what is allowed."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def number(parse: Callable[[str], float], low: float, high: float | None = None,
           what: str = "") -> Callable[[str], float]:
    """A number from `low` up to `high` (inclusive; None: no upper bound), as `parse` reads it."""
    kind = "a whole number" if parse is int else "a number"

    def read(text: str) -> float:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if value < low or (high is not None and value > high):
            allowed = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
            raise argparse.ArgumentTypeError(f"{value:g} is not allowed: {what}{allowed}")
        return value
    return read

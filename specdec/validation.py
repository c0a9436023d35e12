"""One-line problems out of pydantic errors, shared by every file a user hands SpecDec
(environment files, benchmark results): `<file>: <key path> = <value> is not allowed: <what is>`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the metrics forwarder's pod ships this module without pydantic
    from pydantic import ValidationError


class UserError(Exception):
    """A mistake in what the user gave (a file, an argument); `str()` is the whole message, one
    line per problem, and the command line prints it without a traceback."""


def show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def problems(error: ValidationError) -> list[tuple[str, Any, str]]:
    """(key path, value, what is allowed) for each pydantic error."""
    found = []
    for e in error.errors():
        path = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            found.append((path, e["input"], "no such key (check the spelling)"))
        elif e["type"] == "missing":
            found.append((path, None, "a value: this key is required"))
        else:
            found.append((path, e.get("input"), e["msg"][0].lower() + e["msg"][1:]))
    return found


def line(source: str, path: str, value: Any, allowed: str) -> str:
    return f"{source}: {path} = {show(value)} is not allowed: {allowed}"

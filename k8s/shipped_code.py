"""SpecDec's own Python code, shipped to a pod in a ConfigMap: no image to build or push."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def package_files(package: str) -> list[str]:
    """Every file of a package folder, e.g. specdec/bench, relative to the repository."""
    return sorted(str(p.relative_to(REPO)) for p in (REPO / package).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def read(paths: list[str]) -> dict[str, str]:
    return {path: (REPO / path).read_text() for path in paths}


def config_map_key(path: str) -> str:
    """ConfigMap keys cannot hold '/'."""
    return path.replace("/", "--")

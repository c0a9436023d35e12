"""Download Hugging Face models into the shared model cache once, and mark each one complete.

Runs in the model prefetch Job (k8s/model_cache.py ships this file in a ConfigMap), so it needs
only the standard library at import time; huggingface_hub and boto3 are imported where used.

For each model id the folder `<models-dir>/<id>` ends up holding every file of the repository at
one commit plus a marker file (`--marker`) listing those files and sizes. Serving pods wait for
the marker, so they never load a half-written model. Re-running is cheap and safe:
- a folder whose marker matches the files on disk is skipped without touching the network;
- otherwise huggingface_hub's snapshot_download resumes: it keeps complete files (it records
  their commit and etag under `<folder>/.cache/huggingface/`) and continues `.incomplete` ones;
- every file's size is then checked against the Hub's listing before the marker is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Where huggingface_hub keeps its per-file download state inside a `local_dir` download.
HUB_STATE_DIR = Path(".cache") / "huggingface"
INCOMPLETE_SUFFIX = ".incomplete"
PROGRESS_INTERVAL_SECONDS = 30.0


class PrefetchError(Exception):
    """A model could not be made complete; the Job fails and Kubernetes retries it."""


@dataclass(frozen=True)
class RemoteSnapshot:
    """What the Hub says a model repository holds at one commit."""

    revision: str
    sizes: dict[str, int]  # repository path -> bytes

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


class Hub(Protocol):
    def snapshot(self, model_id: str) -> RemoteSnapshot: ...

    def download(self, model_id: str, revision: str, folder: Path) -> None: ...


def log(message: str) -> None:
    print(f"[prefetch] {message}", flush=True)


def gigabytes(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def size_problems(folder: Path, sizes: dict[str, int]) -> list[str]:
    """Files that are missing or whose size differs from the expected one."""
    problems = []
    for name, expected in sorted(sizes.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif (actual := path.stat().st_size) != expected:
            problems.append(f"{name}: {actual} bytes, expected {expected}")
    return problems


def incomplete_downloads(folder: Path) -> list[Path]:
    """Partial files huggingface_hub leaves behind when a download is interrupted."""
    state = folder / HUB_STATE_DIR
    return sorted(state.rglob(f"*{INCOMPLETE_SUFFIX}")) if state.is_dir() else []


def read_marker(folder: Path, marker: str) -> RemoteSnapshot | None:
    try:
        data = json.loads((folder / marker).read_text())
        return RemoteSnapshot(revision=str(data["revision"]),
                              sizes={str(k): int(v) for k, v in data["files"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_marker(folder: Path, marker: str, model_id: str, snapshot: RemoteSnapshot) -> None:
    """Write the marker atomically, so a reader sees either no marker or a whole one."""
    body = {"model": model_id, "revision": snapshot.revision, "files": snapshot.sizes,
            "total_bytes": snapshot.total_bytes}
    temporary = folder / f"{marker}.tmp"
    temporary.write_text(json.dumps(body, indent=1, sort_keys=True))
    os.replace(temporary, folder / marker)


def is_complete(folder: Path, marker: str) -> bool:
    recorded = read_marker(folder, marker)
    return recorded is not None and not size_problems(folder, recorded.sizes)


def bytes_on_disk(folder: Path) -> int:
    """Bytes written so far, partial downloads included (they live under HUB_STATE_DIR)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:  # a partial file renamed while we looked
            continue
    return total


class ProgressReporter:
    """Logs how much of a model is on disk every `interval` seconds while it downloads."""

    def __init__(self, model_id: str, folder: Path, total: int,
                 interval: float = PROGRESS_INTERVAL_SECONDS) -> None:
        self._model_id, self._folder, self._total, self._interval = model_id, folder, total, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProgressReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> None:
        done = min(bytes_on_disk(self._folder), self._total)
        share = 100 * done / self._total if self._total else 100
        log(f"{self._model_id}: {gigabytes(done)} of {gigabytes(self._total)} ({share:.0f}%)")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.report()


def prefetch_model(model_id: str, models_dir: Path, marker: str, hub: Hub) -> str:
    """Make `<models_dir>/<model_id>` complete; returns 'skipped' or 'downloaded'."""
    folder = models_dir / model_id
    if is_complete(folder, marker):
        log(f"{model_id}: complete ({marker} matches the files on disk), skipping")
        return "skipped"
    if (folder / marker).exists():
        log(f"{model_id}: {marker} does not match the files on disk; removing it and repairing")
        (folder / marker).unlink()

    snapshot = hub.snapshot(model_id)
    folder.mkdir(parents=True, exist_ok=True)
    present = [n for n in snapshot.sizes if not size_problems(folder, {n: snapshot.sizes[n]})]
    partial = incomplete_downloads(folder)
    log(f"{model_id}@{snapshot.revision}: {len(snapshot.sizes)} files, "
        f"{gigabytes(snapshot.total_bytes)}; {len(present)} already present, "
        f"{len(partial)} partial download(s) to resume")

    with ProgressReporter(model_id, folder, snapshot.total_bytes) as progress:
        hub.download(model_id, snapshot.revision, folder)
        progress.report()

    problems = size_problems(folder, snapshot.sizes)
    leftovers = incomplete_downloads(folder)
    if problems or leftovers:
        details = problems + [f"{p.relative_to(folder)}: partial download" for p in leftovers]
        raise PrefetchError(f"{model_id}: incomplete after download: " + "; ".join(details[:10]))
    write_marker(folder, marker, model_id, snapshot)
    log(f"{model_id}: verified {len(snapshot.sizes)} files, wrote {marker}")
    return "downloaded"


class HuggingFaceHub:
    """The real Hub, through huggingface_hub (installed by the Job before this script runs)."""

    def __init__(self, token: str | None) -> None:
        from huggingface_hub import HfApi

        self._token = token
        self._api = HfApi(token=token)

    def snapshot(self, model_id: str) -> RemoteSnapshot:
        info = self._api.model_info(model_id, files_metadata=True)
        sizes = {s.rfilename: int(s.size) for s in info.siblings or [] if s.size is not None}
        if not sizes:
            raise PrefetchError(f"{model_id}: the Hub lists no files (wrong id, or a gated model "
                                "without a token?)")
        return RemoteSnapshot(revision=info.sha, sizes=sizes)

    def download(self, model_id: str, revision: str, folder: Path) -> None:
        from huggingface_hub import snapshot_download

        snapshot_download(model_id, revision=revision, local_dir=folder, token=self._token)


def read_token(secret_name: str | None, region: str | None,
               client_factory: Callable[..., object] | None = None) -> str | None:
    """The Hugging Face token, read from Secrets Manager with the pod's own (Pod Identity) role."""
    if not secret_name:
        return None
    if client_factory is None:
        import boto3

        client_factory = boto3.client
    client = client_factory("secretsmanager", region_name=region)
    token = client.get_secret_value(SecretId=secret_name)["SecretString"].strip()
    if not token:
        raise PrefetchError(f"secret {secret_name} is empty")
    log(f"using the Hugging Face token from secret {secret_name}")
    return token


def prepare_directory(path: Path) -> None:
    """A directory every serving pod can write to, whatever user its image runs as."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)  # the file system is private to this cluster's serving namespace
    log(f"ready: {path}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="Hugging Face model ids, e.g. Qwen/Qwen3-32B")
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--marker", required=True, help="file name written into each complete model")
    parser.add_argument("--compile-cache-dir", type=Path, required=True)
    parser.add_argument("--hf-token-secret", default=None, help="Secrets Manager secret name")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"))
    return parser.parse_args(argv)


def main(argv: list[str], hub_factory: Callable[[str | None], Hub] = HuggingFaceHub,
         token_reader: Callable[[str | None, str | None], str | None] = read_token) -> int:
    args = parse_args(argv)
    prepare_directory(args.compile_cache_dir)
    hub = hub_factory(token_reader(args.hf_token_secret, args.region))
    started = time.monotonic()
    failed = []
    for model_id in args.models:
        try:
            prefetch_model(model_id, args.models_dir, args.marker, hub)
        except Exception as exc:  # report every model, then fail the Job so it retries
            log(f"{model_id}: FAILED: {exc}")
            failed.append(model_id)
    log(f"done in {time.monotonic() - started:.0f} s; "
        + (f"failed: {', '.join(failed)}" if failed else "all models complete"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

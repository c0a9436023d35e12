"""The model prefetch script, run offline against a fake Hub: what the serving pods can rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k8s.scripts import prefetch_models as prefetch
from k8s.scripts.prefetch_models import RemoteSnapshot

MARKER = ".specdec-complete"
MODEL = "Qwen/Qwen3-1.7B"
FILES = {"config.json": b"{}", "model-00001-of-00002.safetensors": b"a" * 300,
         "model-00002-of-00002.safetensors": b"b" * 200, "tokenizer/vocab.json": b"v" * 10}


class FakeHub:
    """Serves FILES; `fail_after` makes a download stop early like an interrupted transfer."""

    def __init__(self, files: dict[str, bytes] = FILES, fail_after: int | None = None) -> None:
        self.files, self.fail_after = files, fail_after
        self.downloads: list[str] = []
        self.written: list[str] = []

    def snapshot(self, model_id: str) -> RemoteSnapshot:
        return RemoteSnapshot("abc123", {name: len(data) for name, data in self.files.items()})

    def download(self, model_id: str, revision: str, folder: Path) -> None:
        self.downloads.append(model_id)
        for i, (name, data) in enumerate(self.files.items()):
            path = folder / name
            if path.is_file() and path.stat().st_size == len(data):
                continue  # huggingface_hub keeps files it already completed
            path.parent.mkdir(parents=True, exist_ok=True)
            if self.fail_after is not None and i >= self.fail_after:
                partial = folder / prefetch.HUB_STATE_DIR / "download" / f"{name}.etag.incomplete"
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_bytes(data[: len(data) // 2])
                return
            path.write_bytes(data)
            self.written.append(name)


def model_folder(tmp_path: Path) -> Path:
    return tmp_path / "models" / MODEL


def test_a_fresh_download_writes_every_file_and_then_the_marker(tmp_path):
    hub = FakeHub()
    assert prefetch.prefetch_model(MODEL, tmp_path / "models", MARKER, hub) == "downloaded"
    folder = model_folder(tmp_path)
    assert {n: (folder / n).read_bytes() for n in FILES} == FILES
    marker = json.loads((folder / MARKER).read_text())
    assert marker["revision"] == "abc123"
    assert marker["files"] == {n: len(d) for n, d in FILES.items()}
    assert marker["total_bytes"] == sum(len(d) for d in FILES.values())


def test_a_complete_model_is_skipped_without_asking_the_hub(tmp_path):
    prefetch.prefetch_model(MODEL, tmp_path / "models", MARKER, FakeHub())

    class Offline(FakeHub):
        def snapshot(self, model_id):
            raise AssertionError("a complete model must not need the network")

    hub = Offline()
    assert prefetch.prefetch_model(MODEL, tmp_path / "models", MARKER, hub) == "skipped"
    assert hub.downloads == []


def test_an_interrupted_download_leaves_no_marker_and_fails(tmp_path):
    with pytest.raises(prefetch.PrefetchError, match="partial download"):
        prefetch.prefetch_model(MODEL, tmp_path / "models", MARKER, FakeHub(fail_after=2))
    assert not (model_folder(tmp_path) / MARKER).exists()
    assert prefetch.size_problems(model_folder(tmp_path), {n: len(d) for n, d in FILES.items()}) == [
        "model-00002-of-00002.safetensors: missing", "tokenizer/vocab.json: missing"]


def test_a_rerun_keeps_complete_files_and_finishes_the_partial_ones(tmp_path):
    with pytest.raises(prefetch.PrefetchError):
        prefetch.prefetch_model(MODEL, tmp_path / "models", MARKER, FakeHub(fail_after=2))
    # The real huggingface_hub removes the .incomplete file once it has finished that file.
    for partial in prefetch.incomplete_downloads(model_folder(tmp_path)):
        partial.unlink()
    resumed = FakeHub()
    assert prefetch.prefetch_model(MODEL, tmp_path / "models", MARKER, resumed) == "downloaded"
    assert resumed.written == ["model-00002-of-00002.safetensors", "tokenizer/vocab.json"]
    assert (model_folder(tmp_path) / MARKER).is_file()


def test_a_truncated_file_under_a_marker_is_detected_and_repaired(tmp_path):
    prefetch.prefetch_model(MODEL, tmp_path / "models", MARKER, FakeHub())
    shard = model_folder(tmp_path) / "model-00001-of-00002.safetensors"
    shard.write_bytes(b"a" * 10)
    assert not prefetch.is_complete(model_folder(tmp_path), MARKER)

    hub = FakeHub()
    assert prefetch.prefetch_model(MODEL, tmp_path / "models", MARKER, hub) == "downloaded"
    assert hub.written == ["model-00001-of-00002.safetensors"]
    assert shard.stat().st_size == 300


def test_a_download_whose_sizes_do_not_match_the_hub_gets_no_marker(tmp_path):
    class Corrupting(FakeHub):
        def download(self, model_id, revision, folder):
            super().download(model_id, revision, folder)
            (folder / "config.json").write_bytes(b"{ truncated")

    with pytest.raises(prefetch.PrefetchError, match=r"config.json: 11 bytes, expected 2"):
        prefetch.prefetch_model(MODEL, tmp_path / "models", MARKER, Corrupting())
    assert not (model_folder(tmp_path) / MARKER).exists()


def test_an_unreadable_marker_counts_as_incomplete(tmp_path):
    folder = model_folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("not json")
    assert not prefetch.is_complete(folder, MARKER)


def test_main_prepares_the_compile_cache_and_reports_failures_in_its_exit_code(tmp_path, capsys):
    hubs = {"good": FakeHub(), "bad": FakeHub(fail_after=0)}

    class PerModel:
        def snapshot(self, model_id):
            return hubs[model_id].snapshot(model_id)

        def download(self, model_id, revision, folder):
            hubs[model_id].download(model_id, revision, folder)

    argv = ["good", "bad", "--models-dir", str(tmp_path / "models"), "--marker", MARKER,
            "--compile-cache-dir", str(tmp_path / "compile")]
    code = prefetch.main(argv, hub_factory=lambda token: PerModel(), token_reader=lambda s, r: None)
    assert code == 1
    assert (tmp_path / "models" / "good" / MARKER).is_file()
    assert not (tmp_path / "models" / "bad" / MARKER).exists()
    assert (tmp_path / "compile").stat().st_mode & 0o777 == 0o777
    logs = capsys.readouterr().out
    assert "bad: FAILED" in logs and "failed: bad" in logs


def test_the_token_is_read_from_the_named_secret_only_when_one_is_configured():
    calls = []

    class Client:
        def get_secret_value(self, SecretId):
            calls.append(SecretId)
            return {"SecretString": "hf_secret\n"}

    def factory(service, region_name):
        assert (service, region_name) == ("secretsmanager", "us-east-2")
        return Client()

    assert prefetch.read_token(None, "us-east-2", factory) is None
    assert prefetch.read_token("specdec/hf-token", "us-east-2", factory) == "hf_secret"
    assert calls == ["specdec/hf-token"]


def test_progress_is_logged_as_bytes_on_disk_out_of_the_total(tmp_path, capsys):
    folder = tmp_path / "m"
    (folder / prefetch.HUB_STATE_DIR).mkdir(parents=True)
    for path in (folder / "a.bin", folder / prefetch.HUB_STATE_DIR / "b.incomplete"):
        with path.open("wb") as sparse:  # sizes without the disk space
            sparse.truncate(250_000_000)
    prefetch.ProgressReporter("m", folder, total=1_000_000_000).report()
    assert "m: 0.50 GB of 1.00 GB (50%)" in capsys.readouterr().out

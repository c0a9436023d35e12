"""The commands the e2e workflow adds: `results wait` (polling S3) and `report --summary`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from specdec.__main__ import main
from specdec.bench.wait import WaitTimeout, wait_for_results
from tests.results_factory import recipe

SINCE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
PREFIX = "benchmarks/ci/"
OLD = f"{PREFIX}20261130T090000Z/results.json"  # a run of an earlier deploy
LOG = f"{PREFIX}20261201T103000Z/results.guidellm.log"
NEW = f"{PREFIX}20261201T103000Z/results.json"


class FakeTime:
    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def wait(listings: list[list[str]], timeout_s: float = 600, poll_s: float = 60):
    fake, lines, looks = FakeTime(), [], iter(listings)
    key = wait_for_results(lambda: next(looks), SINCE, timeout_s=timeout_s, poll_s=poll_s, clock=fake.clock,
                           sleep=fake.sleep, progress=lines.append, where=f"s3://b/{PREFIX}")
    return key, lines, fake


def test_it_waits_past_older_runs_and_unfinished_ones_and_says_what_it_saw_at_each_look():
    key, lines, fake = wait([[], [OLD], [OLD, LOG], [OLD, LOG, NEW]])
    assert key == NEW
    assert fake.sleeps == [60, 60, 60] and len(lines) == 4
    assert lines[0] == (f"0h00m00s s3://b/{PREFIX}: 0 object(s), no run started since then yet; "
                        "next look in 60 s")
    assert lines[1].startswith("0h01m00s") and "1 object(s), no run started since then yet" in lines[1]
    assert "1 run(s) since then; newest started 10:30:00Z and has results.guidellm.log, no results.json yet" \
        in lines[2]
    assert lines[3] == f"0h03m00s s3://b/{PREFIX}: found {NEW}"


def test_a_run_that_started_exactly_at_the_deploy_time_counts():
    key, _, _ = wait([[f"{PREFIX}20261201T100000Z/results.json"]])
    assert key == f"{PREFIX}20261201T100000Z/results.json"


def test_it_gives_up_with_one_line_within_the_timeout():
    with pytest.raises(WaitTimeout) as raised:
        wait([[OLD, LOG]] * 100, timeout_s=300, poll_s=60)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"results wait: no results.json under s3://b/{PREFIX} from a run started at or "
                              "after 2026-12-01T10:00:00Z within 0h05m00s (last look: 2 object(s), 1 run(s)")


@mock_aws
def test_the_command_downloads_the_results_it_found(tmp_path, capsys):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="specdec-ci-results")
    for key in (OLD, LOG, NEW):
        s3.put_object(Bucket="specdec-ci-results", Key=key, Body=b"{}" if key != NEW else b'{"new": 1}')
    out = tmp_path / "results.json"
    assert main(["results", "wait", "-e", "ci", "--bucket", "specdec-ci-results",
                 "--since", "2026-12-01T10:00:00Z", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == {"new": 1}
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == f"results: s3://specdec-ci-results/{NEW} (saved as {out})"


@mock_aws
def test_the_command_times_out_with_one_line_and_exit_1(monkeypatch, capsys):
    fake = FakeTime()
    monkeypatch.setattr(time, "monotonic", fake.clock)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="specdec-ci-results")
    assert main(["results", "wait", "-e", "ci", "--bucket", "specdec-ci-results", "--since",
                 "2026-12-01T10:00:00", "--timeout-minutes", "3", "--poll-seconds", "60"]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3 and fake.sleeps == [60, 60, 60]
    error = captured.err.strip()
    assert error.startswith("results wait: no results.json under s3://specdec-ci-results/benchmarks/ci/")
    assert "\n" not in error


@pytest.mark.parametrize("argv,expected", [
    (["--since", "yesterday"], "--since: 'yesterday' is not allowed: an ISO time"),
    (["--since", "2026-12-01T10:00:00Z", "--timeout-minutes", "0"], "--timeout-minutes: 0 is not allowed"),
    ([], "the following arguments are required: --since"),
])
def test_bad_wait_arguments_are_one_line(capsys, argv, expected):
    with pytest.raises(SystemExit) as exited:
        main(["results", "wait", "-e", "ci", "--bucket", "b", *argv])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip()
    assert expected in error and "\n" not in error


def test_the_report_appends_its_headline_table_to_the_summary(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(recipe().model_dump_json())
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert main(["report", str(results), "--out", str(tmp_path / "report"), "--summary", str(summary)]) == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n## Does speculation pay?")
    assert "| results | structured | speculative |" in text and "3.00x" in text
    assert "![" not in text  # the charts are in the artifact, not next to the summary
    assert text.split("## Does speculation pay?")[1] in (tmp_path / "report" / "report.md").read_text()

"""Wait for the results of a benchmark run that started after a given time (pure polling).

The benchmark Job uploads each run under `benchmarks/<env>/<start time>/` and writes results.json
last, so a results.json in a folder named at or after the deploy's start is a finished run of that
deploy. Listing, the clock and sleeping are passed in: the e2e workflow gives boto3 and real time,
the tests give lists and a fake clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from specdec.bench.publish import RUN_FOLDER_TIME
from specdec.validation import UserError

# The folder name is the run's start time as publish.run_folder writes it.
RUN_KEY = re.compile(r"/(?P<start>\d{8}T\d{6}Z)/(?P<name>[^/]+)$")
RESULTS_FILE = "results.json"


class WaitTimeout(UserError):
    """No results in time; `str()` is one line."""


def _runs_since(keys: list[str], since: datetime) -> dict[datetime, dict[str, str]]:
    """Start time -> {file name: key}, for the run folders that started at or after `since`."""
    runs: dict[datetime, dict[str, str]] = {}
    for key in keys:
        match = RUN_KEY.search(key)
        if match:
            start = datetime.strptime(match["start"], RUN_FOLDER_TIME).replace(tzinfo=UTC)
            if start >= since.replace(microsecond=0):
                runs.setdefault(start, {})[match["name"]] = key
    return runs


def _seen(keys: list[str], runs: dict[datetime, dict[str, str]]) -> str:
    if not runs:
        return f"{len(keys)} object(s), no run started since then yet"
    newest = max(runs)
    return (f"{len(keys)} object(s), {len(runs)} run(s) since then; newest started "
            f"{newest:%H:%M:%S}Z and has {', '.join(sorted(runs[newest]))}, no {RESULTS_FILE} yet")


def wait_for_results(list_keys: Callable[[], list[str]], since: datetime, *, timeout_s: float,
                     poll_s: float, clock: Callable[[], float], sleep: Callable[[float], None],
                     progress: Callable[[str], None], where: str) -> str:
    """The key of the newest finished run's results.json that started at or after `since`.

    Prints one line per look; raises WaitTimeout once `timeout_s` has passed without one.
    """
    started = clock()
    while True:
        keys = list_keys()
        runs = _runs_since(keys, since)
        elapsed = clock() - started
        finished = [runs[start][RESULTS_FILE] for start in sorted(runs) if RESULTS_FILE in runs[start]]
        if finished:
            progress(f"{_clock(elapsed)} {where}: found {finished[-1]}")
            return finished[-1]
        if elapsed + poll_s > timeout_s:
            raise WaitTimeout(f"results wait: no {RESULTS_FILE} under {where} from a run started at or after "
                              f"{since:%Y-%m-%dT%H:%M:%SZ} within {_clock(timeout_s)} (last look: "
                              f"{_seen(keys, runs)}); the benchmark Job may still be waiting for the servers")
        progress(f"{_clock(elapsed)} {where}: {_seen(keys, runs)}; next look in {poll_s:.0f} s")
        sleep(poll_s)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m{secs:02d}s"

#!/usr/bin/env python3
"""Synth speed: `cdk synth` of the dev environment against a bare VPC + EKS cluster app.

Both run through the same pinned CDK CLI, alternately, so machine noise hits both alike.
Prints each run, the medians and their ratio; exits non-zero when the ratio exceeds the target.
Usage: python benchmarks/synth_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5
CDK = ["npx", "--no-install", "cdk", "synth", "--quiet"]
COMMANDS = {
    "specdec dev": [*CDK, "SpecDecStack", "-c", "env=dev"],
    "bare cluster": [*CDK, "--app", f"{sys.executable} benchmarks/bare_cluster_app.py"],
}


def timed(command: list[str]) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        start = time.perf_counter()
        result = subprocess.run([*command, "--output", outdir], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"synth failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for i in range(1, runs + 1):
        for name, command in COMMANDS.items():
            samples[name].append(timed(command))
            print(f"run {i}/{runs}  {name:<13} {samples[name][-1]:6.2f} s", flush=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["specdec dev"] / medians["bare cluster"]
    for name, median in medians.items():
        print(f"median         {name:<13} {median:6.2f} s")
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"ratio          {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())

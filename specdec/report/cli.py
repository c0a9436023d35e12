"""`python -m specdec report RESULTS... --out DIR`: a Markdown report with PNG charts."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from specdec.arguments import number
from specdec.validation import UserError

REPORT_FILE = "report.md"


def add_parser(commands) -> None:
    report = commands.add_parser(
        "report", help="a Markdown report with charts from benchmark results (files or s3:// URLs)",
        description="Compare each variant with its baseline: speed-up, latency distributions, tokens "
        "per step, memory-bandwidth utilization and cost per million output tokens.")
    report.add_argument("results", nargs="+", metavar="RESULTS", help="results JSON: a path or s3:// URL")
    report.add_argument("--out", type=Path, required=True, help="folder for report.md and the charts")
    report.add_argument("--price-per-hour", type=number(float, 0.01, 10_000, "USD per instance hour, "),
                        help="USD per accelerator-instance hour, e.g. your Capacity Block's rate "
                        "(default: specdec/prices.json)")
    report.add_argument("--summary", type=Path, metavar="FILE",
                        help="also append the headline table to FILE, e.g. $GITHUB_STEP_SUMMARY")
    report.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the benchmark Job's pod carries this parser but not the report's modules.
    from specdec.bench.results import load_results
    from specdec.report.build import Source, build, check_comparable

    try:
        sources = [Source(label, load_results(location, _read(location)))
                   for label, location in zip(_labels(args.results), args.results, strict=True)]
        for location, source in zip(args.results, sources, strict=True):
            check_comparable(location, source.results)
        report = build(sources, args.price_per_hour)
        _write(report, args.out)
        if args.summary:
            _append_summary(report, args.summary)
    except UserError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"report: {args.out / REPORT_FILE}")
    for note in report.notes:
        print(f"note: {note}")
    return 0


def _append_summary(report, path: Path) -> None:
    from specdec.report.build import ReportError
    from specdec.report.markdown import headline

    # Appended: GitHub's job summary file collects every step's Markdown.
    try:
        with path.open("a", encoding="utf-8") as summary:
            summary.write(headline(report) + "\n")
    except OSError as error:
        raise ReportError(f"--summary {path}: cannot be written: {error.strerror}") from None


def _read(location: str) -> str:
    from specdec.report.build import ReportError

    if location.startswith("s3://"):
        return _read_s3(location)
    path = Path(location)
    if not path.is_file():
        raise ReportError(f"{location}: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ReportError(f"{location}: byte {error.start} is not UTF-8: not a results file") from None
    except OSError as error:
        raise ReportError(f"{location}: cannot be read: {error.strerror}") from None


def _read_s3(url: str) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from specdec.bench.publish import S3_URL
    from specdec.report.build import ReportError

    match = S3_URL.match(url)
    if not match or not match.group("prefix"):
        raise ReportError(f"{url}: not an S3 object URL like s3://bucket/benchmarks/dev/.../results.json")
    try:
        body = boto3.client("s3").get_object(Bucket=match.group("bucket"), Key=match.group("prefix"))["Body"]
        return body.read().decode("utf-8")
    except (BotoCoreError, ClientError) as error:
        raise ReportError(f"{url}: cannot be read: {error}") from None
    except UnicodeDecodeError as error:
        raise ReportError(f"{url}: byte {error.start} is not UTF-8: not a results file") from None


def _labels(locations: list[str]) -> list[str]:
    """Short, unique names for the files: their stem, or folder/stem when stems repeat."""
    stems = [loc.rstrip("/").split("/")[-1].removesuffix(".json") for loc in locations]
    if len(set(stems)) == len(stems):
        return stems
    parents = ["/".join(loc.rstrip("/").split("/")[-2:]).removesuffix(".json") for loc in locations]
    return parents if len(set(parents)) == len(parents) else [f"{i + 1}: {s}" for i, s in enumerate(stems)]


def _write(report, out: Path) -> None:
    """Build in a scratch folder next to `out`, then move in: never a half-written report."""
    from specdec.report.charts import write_all  # matplotlib: only once the inputs are known good
    from specdec.report.markdown import CHARTS, render

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as scratch:
        folder = Path(scratch)
        charts = write_all(report, folder)
        (folder / REPORT_FILE).write_text(render(report, charts))
        out.mkdir(exist_ok=True)
        for name in [REPORT_FILE, *CHARTS.values()]:
            (out / name).unlink(missing_ok=True)
        for produced in folder.iterdir():
            shutil.move(str(produced), out / produced.name)

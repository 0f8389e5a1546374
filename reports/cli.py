"""``drillbook report``: the monthly or quarterly DR summary from the drill history.

The ``report`` subcommand of ``drillbook.cli`` (also ``python -m drillbook.reports.cli``).
``main_report(argv)`` returns the exit code: 0 written, 1 the history has no drill in
the period, 2 a usage error or a file that cannot be read or written (one line on
stderr). A history line that cannot be counted is named by its line number on stderr
and in the summary, and skipped; the others are counted.

Examples::

    drillbook report                          # this month, Markdown on stdout
    drillbook report --quarter 2026-Q4 --format html -o q4.html
    drillbook report --days 90 --format both -o reports/out/
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from drillbook.redact import Scrubber
from drillbook.reports.files import atomic_write_text
from drillbook.reports.fmt import one_line
from drillbook.reports.history import DEFAULT_PATH, read_history
from drillbook.reports.periods import Period, last_days, month, quarter
from drillbook.reports.summary import summarise
from drillbook.reports.summary_render import render_html, render_markdown

DEFAULT_OUT = Path("reports/out")


def build_parser(prog: str = "drillbook report") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Monthly/quarterly DR summary (runbook 001 'Monthly Report Template') "
        "from the drill history: targets, % of drills meeting RTO and RPO, drills "
        "conducted/passed, average and worst RTO per service, findings, open gaps.",
    )
    p.add_argument(
        "--history",
        default=None,
        help=f"history file (default {DEFAULT_PATH}; env DRILLBOOK_HISTORY)",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--month",
        nargs="?",
        const="current",
        metavar="YYYY-MM",
        help="a calendar month (default: the current month)",
    )
    when.add_argument(
        "--quarter",
        nargs="?",
        const="current",
        metavar="YYYY-Qn",
        help="a calendar quarter (default: the current quarter)",
    )
    when.add_argument("--days", type=int, metavar="N", help="the last N days, e.g. 90")
    p.add_argument("--format", choices=("md", "html", "both"), default="md")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="file to write (md: default stdout; html: default "
        "reports/out/summary-<period>.html); a folder with --format both",
    )
    return p


def _period(args: argparse.Namespace) -> Period:
    if args.days is not None:
        return last_days(args.days)
    if args.quarter is not None:
        return quarter(args.quarter)
    return month(args.month)


def _outputs(args: argparse.Namespace, period: Period, md: str, page: str) -> list[Path]:
    """Write the summary where asked (Markdown alone goes to stdout by default)."""
    out = Path(args.output) if args.output else None
    if args.format == "md":
        if out is None:
            sys.stdout.write(md)
            return []
        return [atomic_write_text(out, md)]
    if args.format == "html":
        return [atomic_write_text(out or DEFAULT_OUT / f"summary-{period.slug}.html", page)]
    folder = out or DEFAULT_OUT
    return [
        atomic_write_text(folder / f"summary-{period.slug}.md", md),
        atomic_write_text(folder / f"summary-{period.slug}.html", page),
    ]


def main_report(argv: Sequence[str] | None = None, prog: str = "drillbook report") -> int:
    parser = build_parser(prog)
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2

    def fail(message: str) -> int:
        print(f"{prog}: {message}", file=sys.stderr)
        return 2

    try:
        period = _period(args)
    except ValueError as exc:
        return fail(str(exc))
    path = Path(args.history or os.environ.get("DRILLBOOK_HISTORY") or DEFAULT_PATH)
    if not path.is_file():
        return fail(
            f"no history file at {path}: run drills with the report plugin first "
            "(pytest drills), or pass --history"
        )
    try:
        history = read_history(path)
    except OSError as exc:
        return fail(f"cannot read the history: {one_line(exc)}")
    for line in history.problem_lines(most=20):
        print(f"{prog}: {line}", file=sys.stderr)
    scrub = Scrubber()
    skipped = [str(p) for p in history.problems]
    summary = summarise(scrub.data(history.rows), period, source=str(path), skipped=skipped)
    try:
        written = _outputs(
            args, period, scrub.final(render_markdown(summary)), scrub.final(render_html(summary))
        )
    except OSError as exc:
        return fail(f"cannot write the summary: {one_line(exc)} (choose another -o)")
    for w in written:
        print(f"wrote {w}")
    if not summary.rows and not summary.self_checks:
        print(f"{prog}: no drill in {period.label} in {path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main_report())

"""``drillbook report``: the monthly or quarterly DR summary from the drill history.

Meant to be wired as the ``report`` subcommand of ``drillbook.cli``; until then it runs
as ``python -m reports.cli`` from the project root. ``main_report(argv)`` returns the
exit code: 0 written, 1 the history has no drill in the period, 2 usage error.

Examples::

    drillbook report                          # this month, Markdown on stdout
    drillbook report --quarter 2026-Q4 --format html -o q4.html
    drillbook report --days 90 --format both -o reports/out/
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from drillbook.redact import Scrubber
from drillbook.reports.files import atomic_write_text
from drillbook.reports.history import DEFAULT_PATH, read_history
from drillbook.reports.summary import (
    Period,
    last_days,
    month,
    quarter,
    render_html,
    render_markdown,
    summarise,
)


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


def main_report(argv: Sequence[str] | None = None, prog: str = "drillbook report") -> int:
    import os

    parser = build_parser(prog)
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        period = _period(args)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    path = Path(args.history or os.environ.get("DRILLBOOK_HISTORY") or DEFAULT_PATH)
    if not path.exists():
        print(
            f"{prog}: no history at {path}: run drills with the report plugin first "
            "(pytest drills), or pass --history",
            file=sys.stderr,
        )
        return 2
    history = read_history(path)
    scrub = Scrubber()
    summary = summarise(scrub.data(history.rows), period, source=str(path))
    md = scrub.final(render_markdown(summary))
    html = scrub.final(render_html(summary))
    if history.skipped:
        print(f"{prog}: skipped {history.skipped} unreadable lines in {path}", file=sys.stderr)
    out = Path(args.output) if args.output else None
    written: list[Path] = []
    if args.format == "md":
        if out is None:
            sys.stdout.write(md)
        else:
            written.append(atomic_write_text(out, md))
    elif args.format == "html":
        target = out or Path("reports/out") / f"summary-{period.slug}.html"
        written.append(atomic_write_text(target, html))
    else:
        folder = out or Path("reports/out")
        written.append(atomic_write_text(folder / f"summary-{period.slug}.md", md))
        written.append(atomic_write_text(folder / f"summary-{period.slug}.html", html))
    for w in written:
        print(f"wrote {w}")
    if not summary.rows:
        print(f"{prog}: no drill in {period.label} in {path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main_report())

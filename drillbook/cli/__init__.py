"""The ``drillbook`` command; one module per subcommand, each with ``register(sub)``.

- ``init``: scaffold a team repository (drills.toml, example drills, nightly CI).
- ``doctor``: can I run drills here, and if not, what do I install?
- ``clean``: remove what a ``kill -9``'d pytest left behind (servers and run dirs).
- ``check``: validate the targets file (``drills.toml``) and print each RPO bound.
- ``runbook check``: a Markdown runbook read the way a drill runs it.
- ``verify``: restore the newest real backup of each service and check it.
- ``report``: the monthly/quarterly summary from the drill history.

Service modules (``drillbook.fixtures``, ``drillbook.reports``) are imported lazily: a
command that does not need boto3 or psycopg does not pay for importing them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from drillbook import __version__

# Subcommand modules of this package, in the order ``--help`` lists them.
COMMANDS = ("init", "check", "runbook", "verify", "doctor", "clean")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drillbook",
        description="Disaster-recovery drill harness: prerequisites, cleanup, targets.",
    )
    parser.add_argument("--version", action="version", version=f"drillbook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser(
        "report",
        help="monthly/quarterly DR summary (HTML, Markdown) from the drill history",
        add_help=False,
    )
    for name in COMMANDS:
        importlib.import_module(f"drillbook.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in and args_in[0] == "report":
        module = importlib.import_module("drillbook.reports.cli")
        return int(module.main_report(args_in[1:], prog="drillbook report"))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --version, --help, usage errors: an exit code, not an exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

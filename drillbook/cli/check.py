"""``drillbook check``: validate the targets file (drills.toml), print each RPO bound."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_check(args: argparse.Namespace) -> int:
    from drillbook import targets

    code, text = targets.check_command(args.file)
    # A value echoed from the file may hold any character; a terminal or CI log that
    # cannot show it gets an escape, never a UnicodeEncodeError traceback.
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout.write(text.encode(encoding, "backslashreplace").decode(encoding) + "\n")
    return int(code)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="validate a targets file and show each service's RPO bound",
        description="Exit 0 valid, 1 invalid, 2 a declared backup cannot meet its RPO.",
    )
    p.add_argument("file", nargs="?", default="drills.toml", help="targets file (drills.toml)")
    p.set_defaults(func=cmd_check)

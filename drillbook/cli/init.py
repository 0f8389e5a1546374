"""``drillbook init [DIR] [--from-table FILE] [--force]``: scaffold a team's drill repository.

Writes ``drills.toml``, one example drill per service kind under ``drills/``, the nightly
CI job (GitHub Actions and GitLab CI) and a README of the two commands. Existing files
are never overwritten without ``--force``; on any problem nothing is written.

``--from-table FILE`` adds the services of a Markdown tier table (``| Service | RPO | RTO
| ... |``, the shape the runbooks use) to drills.toml; rows it cannot read are reported
by line (and written commented out where a value is only missing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drillbook import scaffold
from drillbook.targets import TargetsError
from drillbook.tiertable import MAX_TABLE_BYTES, TierTables, read_tier_tables


def register(sub: Any) -> None:
    p = sub.add_parser(
        "init",
        help="scaffold a repository for drills: drills.toml, example drills, nightly CI",
        description="Writes drills.toml, drills/*_example/, .github/workflows/drills.yml, "
        ".gitlab-ci.yml and drills/README.md. Exit 0 written, 1 nothing written.",
    )
    p.add_argument("dir", nargs="?", default=".", help="the repository (default: .)")
    p.add_argument(
        "--from-table",
        metavar="FILE",
        help="a Markdown file with a tier table (| Service | RPO | RTO | ... |)",
    )
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(func=cmd_init)


def _read_table(path: str) -> tuple[TierTables, str]:
    file = Path(path)
    try:
        if file.stat().st_size > MAX_TABLE_BYTES:
            raise scaffold.ScaffoldError(f"{path}: larger than {MAX_TABLE_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise scaffold.ScaffoldError(f"{path}: cannot read: {why}") from None
    tables = read_tier_tables(text)
    if not tables.rows:
        problems = "; ".join(f"line {p.line}: {p.message}" for p in tables.problems[:3])
        raise scaffold.ScaffoldError(
            f"{path}: no tier table (a table with Service, RPO and RTO columns)"
            + (f" ({problems})" if problems else "")
        )
    return tables, file.name


def cmd_init(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    try:
        tables, source = _read_table(args.from_table) if args.from_table else (None, "")
        planned = scaffold.plan(root, tables=tables, source=source)
        toml = next(p for p in planned if p.path.name == "drills.toml")
        scaffold.check_targets(toml.text, str(toml.path))
        written = scaffold.write(planned, force=args.force)
    except scaffold.ScaffoldError as exc:
        print(f"drillbook init: {exc}", file=sys.stderr)
        return 1
    except TargetsError as exc:  # a table value the loader rejects: nothing written
        print(f"drillbook init: the drills.toml from the table is invalid: {exc}", file=sys.stderr)
        return 1
    if tables is not None:
        for problem in tables.problems:
            print(f"{args.from_table}:{problem.line}: {problem.message}", file=sys.stderr)
        sys.stderr.flush()
    for path in written:
        print(f"wrote {path}")
    if tables is not None:
        flagged = {p.line for p in tables.problems}
        ready = sum(1 for r in tables.rows if r.complete and r.line not in flagged)
        print(f"{ready} of {len(tables.rows)} table services ready; "
              f"{len(tables.problems)} rows need attention (see drills.toml)")  # fmt: skip
    print(f"next: cd {root} && pytest drills   (drillbook check drills.toml: the RPO bounds)")
    return 0

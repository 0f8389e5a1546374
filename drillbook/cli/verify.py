"""``drillbook verify``: restore the newest real backup of each service and check it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from drillbook.project import find_upwards


def cmd_verify(args: argparse.Namespace) -> int:
    from drillbook.verify.command import Options, run_command

    targets = Path(args.targets) if args.targets else None
    if targets is None:
        folder = find_upwards(Path.cwd())
        targets = (folder or Path.cwd()) / "drills.toml"
    return run_command(
        Options(
            services=list(args.services),
            targets=targets,
            json=args.json,
            write_reference=args.write_reference,
            report_dir=args.report_dir,
            history=args.history,
            metrics=args.metrics,
            quiet=args.quiet,
        )
    )


def register(sub: Any) -> None:
    p = sub.add_parser(
        "verify",
        help="restore the newest real backup of each service into a sandbox and check it",
        description=(
            "Restore each service's newest backup ([services.NAME.source] in drills.toml) "
            "into a local server, run the integrity checks, compare the structure with its "
            "reference and the volumes with the last good run, and judge the backup's age "
            "and the restore time against the RPO and RTO targets. S3 credentials come from "
            "the environment only. Exit 0 verified, 1 failed, 3 not verified (could not "
            "run), 2 invalid command line or drills.toml. Work files go to $DRILLBOOK_TMPDIR."
        ),
    )
    p.add_argument(
        "services", nargs="*", metavar="SERVICE", help="default: every service with a source"
    )
    p.add_argument(
        "--targets", metavar="FILE", help="targets file (default: drills.toml, found upwards)"
    )
    p.add_argument(
        "--json", metavar="PATH", help="drills.json with the verify section ('none': off)"
    )
    p.add_argument(
        "--write-reference",
        metavar="FILE",
        help="write the restored structure to FILE (commit it; set source.reference to it); "
        "{service} in FILE for several services",
    )
    p.add_argument(
        "--report-dir", metavar="DIR", help="default: reports/out/verify next to drills.toml"
    )
    p.add_argument(
        "--history", metavar="PATH", help="default: reports/verify-history.jsonl ('none': off)"
    )
    p.add_argument(
        "--metrics", metavar="PATH", help="Prometheus textfile (default <report dir>/verify.prom)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_verify)

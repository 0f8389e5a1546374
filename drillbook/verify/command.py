"""``drillbook verify``: restore each service's newest real backup and say if it is good.

Exit status: 0 every service verified (PASS); 1 a verification FAILed (a finding);
3 none failed but one could not run (NOT VERIFIED: it proved nothing); 2 the command
line or drills.toml is invalid. Nothing but the exit status 0 means "our backups
restore".

The services' restores run one after the other, each into its own local server and
work folder (both removed afterwards, also on Ctrl-C); the artefacts are written once
at the end: drills.json with the verify section, a self-contained HTML page, one
history row per service and the Prometheus textfile.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from drillbook.record import DrillRecord
from drillbook.targets import Targets, TargetsError
from drillbook.verify import outputs, report
from drillbook.verify.model import FAIL, NOT_VERIFIED, VerifyResult
from drillbook.verify.progress import Progress
from drillbook.verify.source import SourceSpec, sources_from_file

EXIT = {"PASS": 0, FAIL: 1, NOT_VERIFIED: 3}
OFF = ("none", "off", "")


@dataclass
class Options:
    services: list[str]
    targets: Path
    json: str | None = None
    write_reference: str | None = None
    report_dir: str | None = None
    history: str | None = None
    metrics: str | None = None
    quiet: bool = False


def _path(value: str | None, default: Path) -> Path | None:
    if value is None:
        return default
    return None if value.strip().lower() in OFF else Path(value)


def artefact_paths(opts: Options, root: Path) -> outputs.Paths:
    out_dir = Path(opts.report_dir) if opts.report_dir else root / outputs.REPORT_DIR
    return outputs.Paths(
        json=_path(opts.json, out_dir / "drills.json"),
        html=out_dir / "verify.html",
        history=_path(opts.history, root / outputs.HISTORY_FILE),
        metrics=_path(opts.metrics, out_dir / "verify.prom"),
    )


def plan(opts: Options) -> tuple[Targets, dict[str, SourceSpec], list[str]]:
    """The targets, the sources and the services to verify (TargetsError when invalid)."""
    from drillbook.targets import load_targets

    targets = load_targets(opts.targets)
    sources = sources_from_file(opts.targets)
    names = opts.services or [n for n in targets.services if n in sources]
    for name in names:
        targets.get(name)  # an unknown name is an error, with a suggestion
    if opts.write_reference and len(names) > 1 and "{service}" not in opts.write_reference:
        raise TargetsError(
            "--write-reference with several services needs {service} in the file name",
            allowed="--write-reference verify/{service}.structure, or name one service",
        )
    return targets, sources, names


def verify_one(
    name: str, targets: Targets, sources: dict[str, SourceSpec], opts: Options, history: list[Any]
) -> tuple[DrillRecord, VerifyResult]:
    from drillbook.drill import Drill
    from drillbook.fixtures import procs
    from drillbook.scenarios.verify import run, sandbox

    target = targets.get(name)
    record = outputs.new_record(name, target, targets.digest)
    drill = Drill(record)
    box = sandbox.FreshSandbox()
    ref = opts.write_reference.replace("{service}", name) if opts.write_reference else None
    t0 = time.monotonic()
    try:
        with procs.owned_dir(procs.current_run(), f"verify-{name}") as workdir:
            ctx = run.Context(
                drill=drill,
                service=name,
                target=target,
                spec=sources.get(name),
                base_dir=opts.targets.resolve().parent,
                workdir=workdir,
                sandbox=box,
                history=history,
                progress=Progress(enabled=not opts.quiet),
                write_reference=Path(ref) if ref else None,
            )
            result = run.verify(ctx).result
    finally:
        box.close()
        drill.close()
    return outputs.finish_record(record, result, t0), result


def summary_line(r: VerifyResult) -> str:
    h = report.headline(r)
    if r.not_verified_reason:
        return f"NOT VERIFIED  {r.service}: [{r.not_verified_code}] {r.not_verified_reason}"
    codes = f"  findings: {', '.join(r.codes)}" if r.codes else ""
    return (
        f"{r.outcome:12}  {r.service}: {h['backup']}; age {h['age']}; {h['times']}; "
        f"total {h['rto']}; {h['size']}; restored {h['restored']}{codes}"
    )


def run_command(opts: Options, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from drillbook.reports.history import read_history

    out, err = out or sys.stdout, err or sys.stderr
    started = time.time()
    try:
        targets, sources, names = plan(opts)
    except TargetsError as exc:
        print(f"drillbook verify: {exc}", file=err)
        return 2
    root = opts.targets.resolve().parent
    paths = artefact_paths(opts, root)
    history = read_history(paths.history).rows if paths.history else []
    if not names:
        print("NOT VERIFIED: no service in drills.toml declares [services.NAME.source]", file=out)
        return EXIT[NOT_VERIFIED]
    records, results = [], []
    for name in names:
        record, result = verify_one(name, targets, sources, opts, history)
        records.append(record)
        results.append(result)
        print(summary_line(result), file=out)
        for f in result.findings:
            print(f"    {f.code}: {f.message}", file=out)
    written = outputs.write_all(records, results, paths, started=started, args=sys.argv[1:])
    for e in written.errors:
        print(f"drillbook verify: could not write {e}", file=err)
    for what, path in (
        ("report", written.html),
        ("json", written.json),
        ("metrics", written.metrics),
    ):
        if path is not None:
            print(f"{what}: {path}", file=out)
    verdict = report.overall(results)
    print(f"verify: {verdict} ({len(results)} services)", file=out)
    return EXIT.get(verdict, 1)

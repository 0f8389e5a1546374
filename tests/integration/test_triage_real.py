"""Triage against a real PostgreSQL: each injected fault lands on its runbook procedure.

- kill the server -> total_loss (procedure B);
- a bad UPDATE breaking an invariant an integrity query checks -> corruption (A);
- DROP TABLE of a table present in a snapshot taken before -> partial_loss (C);
- nothing -> degraded (investigate).

The probes are small callables written here from the runbook's questions and this test's
own invariant (money is conserved): what a team writes for its domain. The generic probes
(any schema, against a snapshot) are ``drillbook.scenarios.postgres.triage.probes``,
tested with every fault in tests/scenarios/test_pg_faults.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.record import DrillRecord
from drillbook.triage import Incident, TriageProbes, classify
from drillbook.verdict import evaluate

ACCOUNTS = 10
TOTAL = 1000  # money is conserved: the sum of all balances never changes


def load(pg: Any) -> None:
    pg.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
    pg.execute(
        "INSERT INTO accounts SELECT i, %s FROM generate_series(1, %s) i",
        (TOTAL // ACCOUNTS, ACCOUNTS),
    )
    pg.execute("CREATE TABLE orders (id int PRIMARY KEY, account int NOT NULL)")
    pg.execute(
        "INSERT INTO orders SELECT i, 1 + i %% %s FROM generate_series(1, 50) i", (ACCOUNTS,)
    )
    pg.execute("CREATE TABLE audit (id serial PRIMARY KEY, note text)")
    pg.execute("INSERT INTO audit (note) VALUES ('opened'), ('funded')")


def snapshot(pg: Any) -> dict[str, int]:
    """Row count of every user table: what "nothing is missing" means after the fault."""
    tables = pg.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    return {t: pg.execute(f'SELECT count(*) FROM "{t}"')[0][0] for (t,) in tables}


def postgres_probes(pg: Any, before: dict[str, int]) -> TriageProbes:
    def reachable() -> bool:
        pg.probe()
        return True

    def corrupt() -> str | None:
        """Integrity query: balances conserved and never negative, orders point at accounts."""
        (total, negative) = pg.execute(
            "SELECT coalesce(sum(balance), 0), count(*) FILTER (WHERE balance < 0) FROM accounts"
        )[0]
        problems = []
        if total != TOTAL:
            problems.append(f"sum(balance) = {total}, expected {TOTAL}")
        if negative:
            problems.append(f"{negative} negative balances")
        exists = pg.execute("SELECT to_regclass('orders') IS NOT NULL")[0][0]
        if exists:
            orphans = pg.execute(
                "SELECT count(*) FROM orders o LEFT JOIN accounts a ON a.id = o.account "
                "WHERE a.id IS NULL"
            )[0][0]
            if orphans:
                problems.append(f"{orphans} orders without an account")
        return "; ".join(problems) or None

    def missing() -> str | None:
        now = snapshot(pg)
        problems = []
        for table, rows in before.items():
            if table not in now:
                problems.append(f"table {table} missing")
            elif now[table] < rows:
                problems.append(f"{table}: {rows} -> {now[table]} rows")
        return "; ".join(problems) or None

    return TriageProbes(reachable=reachable, corrupt=corrupt, missing=missing)


@pytest.fixture
def db(pg: Any) -> Iterator[tuple[Any, dict[str, int]]]:
    load(pg)
    yield pg, snapshot(pg)
    if not pg.is_healthy():  # the kill case: leave the session server running
        pg.start()


def _kill(pg: Any) -> None:
    pg.kill()


def _corrupt(pg: Any) -> None:
    # A bad deploy debits an account without crediting anyone: every row is present.
    pg.execute("UPDATE accounts SET balance = balance - 500 WHERE id = 3")


def _drop(pg: Any) -> None:
    pg.execute("DROP TABLE audit")


def _nothing(pg: Any) -> None:
    pass


FAULTS: dict[str, tuple[Callable[[Any], None], Incident]] = {
    "kill": (_kill, Incident.TOTAL_LOSS),
    "bad update": (_corrupt, Incident.CORRUPTION),
    "drop table": (_drop, Incident.PARTIAL_LOSS),
    "nothing": (_nothing, Incident.DEGRADED),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_triaged_to_its_procedure(db: tuple[Any, dict[str, int]], fault: str) -> None:
    pg, before = db
    inject, expected = FAULTS[fault]
    probes = postgres_probes(pg, before)
    assert classify(probes).observed is Incident.DEGRADED  # healthy before the fault
    drill = Drill(DrillRecord("triage", "triage"))
    try:
        with drill.fault(fault):
            inject(pg)
        result = drill.triage(probes, expected=expected)
    finally:
        drill.close()
    assert result.observed is expected, result.evidence
    assert drill.record.triage is not None
    assert drill.record.triage["observed"] == expected.value
    assert "TRIAGE_MISMATCH" not in {f.code for f in evaluate(drill.record)}
    evidence = " | ".join(result.evidence)
    if expected is Incident.TOTAL_LOSS:
        assert "reachable: probe error" in evidence
    if expected is Incident.CORRUPTION:
        assert "sum(balance) = 500, expected 1000" in evidence
    if expected is Incident.PARTIAL_LOSS:
        assert "table audit missing" in evidence


def test_deleted_rows_without_a_dropped_table_are_partial_loss(
    db: tuple[Any, dict[str, int]],
) -> None:
    pg, before = db
    pg.execute("DELETE FROM orders WHERE id > 40")
    result = classify(postgres_probes(pg, before), Incident.PARTIAL_LOSS)
    assert result.observed is Incident.PARTIAL_LOSS
    assert "orders: 50 -> 40 rows" in " ".join(result.evidence)


def test_a_wrong_expectation_is_triage_mismatch(db: tuple[Any, dict[str, int]]) -> None:
    pg, before = db
    drill = Drill(DrillRecord("triage", "triage"))
    try:
        with drill.fault("DROP TABLE audit (the drill claims: corruption)"):
            _drop(pg)
        drill.triage(postgres_probes(pg, before), expected=Incident.CORRUPTION)
    finally:
        drill.close()
    [f] = [f for f in evaluate(drill.record) if f.code == "TRIAGE_MISMATCH"]
    assert "partial_loss" in f.message and "corruption" in f.message

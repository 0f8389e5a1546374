"""PostgreSQL scenarios: what a drill takes, breaks, repairs and checks.

Import the modules by their role; each one's ``__all__`` is its public API (listed in
docs/reference.md)::

    from drillbook.scenarios.postgres import backup, checks, faults, recovery, stack, triage
    from drillbook.scenarios.postgres.ledger import PostgresLedgerSink

- :mod:`.stack`: the set-up (primary archiving WAL to S3, the application's data, backups)
- :mod:`.backup`: ``pg_dump``, ``pg_basebackup``, continuous WAL archiving to S3
- :mod:`.faults`: total loss, damaged pages, bad UPDATEs, orphans, duplicated keys, drops
- :mod:`.recovery`: restore a dump, PITR, selective restore, standby and promotion
- :mod:`.checks`: integrity checks generic over any schema, and the snapshot they compare
- :mod:`.triage`: the decision tree's questions answered for PostgreSQL
- :mod:`.ledger`: the RPO ledger as rows of a table
- :mod:`.schema`: application data (the runbooks' schema, a team's SQL file, northwind)
"""

from drillbook.scenarios.postgres import (
    backup,
    checks,
    faults,
    ledger,
    recovery,
    schema,
    stack,
    triage,
)

__all__ = [
    "backup",
    "checks",
    "faults",
    "ledger",
    "recovery",
    "schema",
    "stack",
    "triage",
]

"""Broken recoveries that must fail, each with the finding that names what broke.

Each case is a shipped drill with one thing broken on purpose (issue 11: a gap in the
WAL archive, a PITR that replays nothing, a target past the archive, a truncated dump,
a dump altered and re-hashed in its own metadata, a lost primary brought back instead
of the standby promoted, an RDB snapshot older than its bound). A case passes only when
the drill FAILs with its code (``drill_expect_fail``); the healthy drills themselves
run in ``pytest drills``. The hangs (``os.system`` past ``--drill-deadline``) are in
tests/integration/test_deadlines.py: they need a pytest of their own.
"""

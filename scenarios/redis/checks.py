"""The checks a Redis restore must pass, recorded with ``drill.check`` (a failed one fails
the drill: INTEGRITY_FAILED), and the session model's count of who lost what.

- :func:`check_load`: the server came up from its files, with every key of the snapshot.
- :func:`check_snapshot_age`: the newest snapshot at t0 within the schedule's bound.
- :func:`session_loss`: sessions and *users* that lost them, from every acknowledged
  login of a :class:`~drillbook.scenarios.redis.ledger.SessionSink`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from drillbook.drill import Drill
from drillbook.ledger import LedgerWrite, WriteStatus, checksum_of
from drillbook.scenarios.redis.backup import RdbSnapshot
from drillbook.scenarios.redis.ledger import SessionSink
from drillbook.scenarios.redis.recovery import LoadResult

__all__ = ["SessionLoss", "check_load", "check_snapshot_age", "session_loss"]


def check_load(
    drill: Drill,
    load: LoadResult,
    *,
    what: str,
    expected_keys: int | None = None,
) -> bool:
    """The server came up from *what* (*load*: the start's result), and with
    *expected_keys* (the keys redis-check-rdb counted in the snapshot) loaded every one.

    Records one or two ``drill.check``: the load, and every key loaded. Keys that
    expired while the snapshot sat in S3 are dropped at load (legitimately): loaded +
    expired must equal *expected_keys*. True when they passed.
    """
    ok = drill.check(
        f"{what} loads (server starts, DBSIZE answers)",
        load.loaded,
        detail=(
            f"started in {load.seconds:.3f} s, DBSIZE {load.dbsize}"
            if load.loaded
            else f"the server did not start: {load.error}"
        ),
    )
    if not ok or expected_keys is None:
        return ok
    loaded = load.keys_loaded if load.keys_loaded is not None else load.dbsize
    expired = load.keys_expired or 0
    got = None if loaded is None else loaded + expired
    return drill.check(
        f"{what}: every key in the snapshot loaded",
        got == expected_keys,
        detail=f"{loaded} loaded + {expired} expired at load; the snapshot holds {expected_keys}",
        expected=expected_keys,
        actual=got,
    )


def check_snapshot_age(
    drill: Drill,
    newest: RdbSnapshot | None,
    *,
    at_mono: float,
    bound: float,
    scale: float | None = None,
    label: str = "newest RDB snapshot in S3",
) -> bool:
    """The *newest* snapshot at t0 (*at_mono*) is no older than *bound* seconds (the
    runbooks alert on "backup older than the RPO"); a stalled backup job fails here.

    Records one ``drill.check`` named after *label*, with the age at production scale
    when *scale* (production seconds per drill second) is given. True when it passed.
    """
    if newest is None:
        return drill.check(f"{label} exists at t0", False, detail="no snapshot was ever taken")
    age = newest.age(at_mono)
    detail = f"age {age:.3f} s at t0, bound {bound:.3f} s (interval + snapshot duration)"
    if scale:
        detail += (
            f"; at production scale ({scale:.0f}x) {age * scale / 3600:.2f} h vs "
            f"{bound * scale / 3600:.2f} h"
        )
    return drill.check(
        f"{label} no older than the RPO bound at t0",
        age <= bound,
        detail=detail,
        expected=round(bound, 3),
        actual=round(age, 3),
    )


@dataclass
class SessionLoss:
    """Sessions (logins acknowledged before t0) and users after the restore."""

    sessions_before_t0: int
    sessions_survived: int
    sessions_lost: int
    users_with_sessions: int
    users_with_lost_sessions: int
    users_logged_out: int  # every session of the user lost: they must log in again
    lost_before_snapshot: int  # acknowledged before the snapshot point, missing: a finding
    present_after_snapshot: int  # acknowledged after the snapshot reply, present: a finding
    corrupted: int
    index_dangling: int  # index entries without their session key
    index_missing: int  # session keys missing from their user's index

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def session_loss(
    sink: SessionSink,
    writes: Iterable[LedgerWrite],
    readback: Mapping[int, str],
    index: Mapping[int, set[int]],
    *,
    t0_mono: float,
    snapshot: RdbSnapshot | None = None,
) -> SessionLoss:
    """Count lost sessions and the users behind them, from every acknowledged login.

    *sink*: the session store's ledger sink; *writes*: the ledger writer's writes;
    *readback*/*index*: ``sink.read_all()`` / ``sink.read_index()`` after the restore;
    *t0_mono*: the fault. Records nothing (the drill notes and checks the result).

    Counted from the writer's full list (not the ledger result's capped seq lists). With
    a *snapshot*, a login acknowledged before its BGSAVE that is missing, or one
    acknowledged after the BGSAVE reply that is present, is an integrity finding.
    """
    acked = [
        w
        for w in writes
        if w.status is WriteStatus.ACKED and w.ack_mono is not None and w.ack_mono < t0_mono
    ]
    by_user: dict[int, list[bool]] = {}
    lost = survived = corrupted = lost_before = present_after = 0
    for w in acked:
        got = readback.get(w.seq)
        present = got is not None
        if got is not None and checksum_of(got) != w.checksum:
            corrupted += 1
        by_user.setdefault(sink.user_of(w.seq), []).append(present)
        if present:
            survived += 1
        else:
            lost += 1
        if snapshot is not None and w.ack_mono is not None:
            if not present and w.ack_mono < snapshot.sent_mono:
                lost_before += 1
            if present and w.sent_mono > snapshot.reply_mono:
                present_after += 1
    indexed = {(u, s) for u, seqs in index.items() for s in seqs}
    present_keys = {(sink.user_of(s), s) for s in readback}
    return SessionLoss(
        sessions_before_t0=len(acked),
        sessions_survived=survived,
        sessions_lost=lost,
        users_with_sessions=len(by_user),
        users_with_lost_sessions=sum(1 for v in by_user.values() if not all(v)),
        users_logged_out=sum(1 for v in by_user.values() if not any(v)),
        lost_before_snapshot=lost_before,
        present_after_snapshot=present_after,
        corrupted=corrupted,
        index_dangling=len(indexed - present_keys),
        index_missing=len(present_keys - indexed),
    )

"""Redis assessment, the auth service's session model, and the checks drills record.

- :func:`assess` / :func:`choose_procedure`: the runbook's "Immediate Assessment"
  (``redis-cli ping``, ``INFO``, ``redis-check-rdb dump.rdb``) and its order of
  procedures: data in memory -> investigate; server down with its AOF -> restart;
  down with only a good local dump.rdb -> restart; files gone or corrupt, or the data
  flushed (a FLUSHALL is in the AOF too) -> restore the snapshot from S3.
- :class:`SessionSink`: the auth service's session store as a ledger sink. Every
  numbered write is a login: ``sess:<seq>`` (the session, with a TTL) and the user's
  index ``user:<id>:sessions`` written together in MULTI/EXEC. After a restore,
  :func:`session_loss` counts the sessions and the *users* that lost them.
- :func:`check_load`, :func:`check_snapshot_age`: the checks a restore must pass,
  recorded with ``drill.check`` (a failed one fails the drill: INTEGRITY_FAILED).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from drillbook.drill import Drill, StepContext
from drillbook.fixtures.base import Capability
from drillbook.fixtures.redis import RedisHandle
from drillbook.ledger import LedgerWrite, WriteStatus, checksum_of
from drillbook.record import Phase
from drillbook.scenarios.redis.persistence import RdbSnapshot, check_rdb
from drillbook.scenarios.redis.recovery import LoadResult, handle_layout_offline

# -- assessment and the choice of procedure ----------------------------------------------------


class Procedure(str, Enum):
    INVESTIGATE = "none: the data is in memory, investigate"
    RESTART_AOF = "quick recovery: restart, the server replays its AOF"
    RESTART_RDB = "quick recovery: restart, the server loads its local dump.rdb"
    RESTORE_S3 = "restore from backup: SHUTDOWN NOSAVE, dump.rdb from S3, start, DBSIZE"


@dataclass
class Assessment:
    reachable: bool
    dbsize: int | None = None
    error: str | None = None
    files: dict[str, int] = field(default_factory=dict)
    aof: dict[str, Any] | None = None
    rdb_check: dict[str, Any] | None = None
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(
    step: StepContext, handle: RedisHandle, *, expected_keys: int | None = None
) -> Assessment:
    """``redis-cli ping``, ``INFO``/``DBSIZE``, the data files and ``redis-check-rdb``."""
    a = Assessment(reachable=False)
    info: dict[str, Any] = {}
    try:
        with handle.client(timeout=2) as c:
            step.call("redis-cli ping", c.ping)
            a.dbsize = int(step.call("redis-cli DBSIZE", c.dbsize))
            a.reachable = True
            info = step.call("redis-cli INFO persistence", c.info, "persistence")
    except Exception as exc:
        a.error = f"{type(exc).__name__}: {exc}"[:300]
    a.evidence.append(
        f"ping: {'PONG' if a.reachable else 'no answer'}"
        + (f", DBSIZE {a.dbsize}" if a.dbsize is not None else f" ({a.error})")
    )
    if info:
        a.evidence.append(
            f"INFO: aof_enabled {info.get('aof_enabled')}, loading {info.get('loading')}, "
            f"rdb_changes_since_last_save {info.get('rdb_changes_since_last_save')}"
        )
    if expected_keys is not None and a.dbsize is not None:
        a.evidence.append(f"expected about {expected_keys} keys")
    if handle.supports(Capability.DATA_DIR):
        data_dir = Path(handle.data_dir)
        for path in sorted(data_dir.rglob("*")):
            if path.is_file():
                a.files[str(path.relative_to(data_dir))] = path.stat().st_size
        layout = handle_layout_offline(handle)
        a.aof = layout.describe()
        a.evidence.append(
            f"data dir: {len(a.files)} files; AOF {layout.kind}"
            + (f" ({layout.total_size} bytes)" if layout.kind != "none" else "")
        )
        rdb = data_dir / "dump.rdb"
        if rdb.exists():
            check = check_rdb(step, handle, rdb)
            a.rdb_check = check.to_dict()
            a.evidence.append(
                f"redis-check-rdb dump.rdb: {'OK' if check.ok else 'CORRUPT'}"
                + (f", {check.keys} keys" if check.keys is not None else "")
            )
        else:
            a.evidence.append("no local dump.rdb")
    step.note("assessment", a.to_dict())
    return a


def choose_procedure(a: Assessment, *, expected_keys: int | None = None) -> Procedure:
    """The runbook's order: investigate, quick restart, restore from backup."""
    if a.reachable:
        missing = a.dbsize == 0 or (
            expected_keys is not None and a.dbsize is not None and a.dbsize < expected_keys // 2
        )
        # A FLUSHALL is logged to the AOF: a restart replays it. Only the snapshot helps.
        return Procedure.RESTORE_S3 if missing else Procedure.INVESTIGATE
    if a.aof and a.aof.get("kind") != "none" and a.aof.get("files"):
        return Procedure.RESTART_AOF
    if a.rdb_check and a.rdb_check.get("ok"):
        return Procedure.RESTART_RDB
    return Procedure.RESTORE_S3


def decide(
    drill: Drill,
    handle: RedisHandle,
    *,
    expected: Procedure | None = None,
    expected_keys: int | None = None,
) -> Procedure:
    """Assess (decision phase), choose the procedure, record it; a choice other than
    *expected* fails the drill (TRIAGE_MISMATCH)."""
    with drill.step(
        "assess: redis-cli ping, DBSIZE, data files, redis-check-rdb", Phase.DECISION
    ) as s:
        a = assess(s, handle, expected_keys=expected_keys)
    proc = choose_procedure(a, expected_keys=expected_keys)
    with drill.decision(proc.value) as d:
        d.note("evidence", a.evidence)
    drill.record.triage = {
        "observed": proc.name,
        "expected": expected.name if expected else None,
        "procedure": proc.value,
        "evidence": a.evidence,
    }
    return proc


# -- checks -------------------------------------------------------------------------------------


def check_load(
    drill: Drill,
    load: LoadResult,
    *,
    what: str,
    expected_keys: int | None = None,
) -> bool:
    """The server came up from *what*, and (for a snapshot) loaded every key it holds.

    Keys that expired while the snapshot sat in S3 are dropped at load (legitimately):
    loaded + expired must equal the keys redis-check-rdb counted in the file.
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
    """The newest snapshot at t0 is no older than the schedule's bound (the runbooks
    alert on "backup older than the RPO"); a stalled backup job fails here."""
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


# -- sessions --------------------------------------------------------------------------------------


class SessionSink:
    """The auth service's session store, as a ledger sink: each write is one login.

    ``sess:<seq>`` holds the session (the ledger payload) with a TTL, and the user's
    index ``user:<id>:sessions`` gets the seq, both in one MULTI/EXEC (the service's
    own write pattern). Each login belongs to a pseudo-random user (a hash of its seq).
    """

    def __init__(
        self,
        handle: RedisHandle,
        *,
        users: int = 500,
        ttl: int = 86400,
        prefix: str = "sess:",
        index_prefix: str = "user:",
    ) -> None:
        if users < 1:
            raise ValueError("users must be >= 1")
        self.handle = handle
        self.read_handle = handle
        self.users = users
        self.ttl = ttl
        self.prefix = prefix
        self.index_prefix = index_prefix
        self._client: Any = None

    def user_of(self, seq: int) -> int:
        """A stable pseudo-random user per login: some users log in twice, most once."""
        digest = hashlib.blake2b(seq.to_bytes(8, "little"), digest_size=8).digest()
        return int.from_bytes(digest, "little") % self.users

    def index_key(self, user: int) -> str:
        return f"{self.index_prefix}{user}:sessions"

    def prepare(self) -> None:
        with self.handle.client() as c:
            c.ping()

    def write(self, seq: int, payload: str) -> None:
        if self._client is None:
            self._client = self.handle.client(timeout=1)
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.set(f"{self.prefix}{seq}", payload, ex=self.ttl)
            pipe.sadd(self.index_key(self.user_of(seq)), seq)
            pipe.execute()
        except Exception:
            self.close()
            raise

    def read_all(self) -> dict[int, str]:
        out: dict[int, str] = {}
        with self.read_handle.client(timeout=10) as c:
            keys = list(c.scan_iter(match=f"{self.prefix}*", count=1000))
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                for key, value in zip(chunk, c.mget(chunk), strict=True):
                    if value is None:
                        continue
                    with contextlib.suppress(ValueError):
                        out[int(key.decode()[len(self.prefix) :])] = value.decode(
                            "utf-8", "replace"
                        )
        return out

    def read_index(self) -> dict[int, set[int]]:
        """user -> session seqs, as the restored index says."""
        out: dict[int, set[int]] = {}
        with self.read_handle.client(timeout=10) as c:
            for key in c.scan_iter(match=f"{self.index_prefix}*:sessions", count=1000):
                user = int(key.decode()[len(self.index_prefix) :].split(":", 1)[0])
                out[user] = {int(m) for m in c.smembers(key)}
        return out

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None


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

"""Split-brain: writes the old primary accepted after the partition, and its fencing.

While region A is cut off, whatever still runs inside it (a job, an application
instance that did not get the DNS change) can keep writing to the old primary: with
asynchronous replication it accepts them, with synchronous replication every commit
waits for a standby it cannot reach and none is acknowledged. :class:`SplitBrainWriter`
is that writer (a ledger on the old primary, directly, from inside region A).

After the partition heals, the procedure is: stop the writer, inventory what the old
primary holds that the new one does not, export it to the surviving region's object
store and read the export back (so nothing is lost silently), then fence: stop the old
primary, ``pg_rewind`` it onto the new primary's timeline and start it as a standby of
the new primary, where a write is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from drillbook.drill import StepContext
from drillbook.errors import DrillNotRun
from drillbook.ledger import LedgerWriter
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink

TABLE = "split_brain_writes"


@dataclass
class SplitBrain:
    accepted: int = 0  # rows the old primary holds (committed, visible)
    acknowledged: int = 0  # writes the writer saw acknowledged
    in_flight: int = 0  # never answered (a synchronous commit waiting for its standby)
    failed: int = 0
    on_new_primary: int = 0
    export_key: str | None = None
    exported: int = 0
    preserved: bool = False  # the export read back with every accepted row
    fenced: bool = False
    left_after_fencing: int | None = None  # split-brain rows still on the old primary
    fencing: str = ""
    write_refused: str = ""
    seqs: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seqs"] = self.seqs[:50]
        return out


class SplitBrainWriter:
    """A ledger writing to the old primary from inside the partitioned region."""

    def __init__(self, old_primary: Any, *, dbname: str, cadence: float = 0.02) -> None:
        self.sink = PostgresLedgerSink(old_primary, dbname=dbname, table=TABLE)
        self.writer = LedgerWriter(self.sink, cadence=cadence, name="split-brain")
        self.dbname = dbname

    def prepare(self) -> None:
        """Create the table before the partition, so it exists on both sides."""
        self.sink.prepare()

    def start(self) -> None:
        self.writer.start()

    def halt(self) -> None:
        """Stop issuing writes; a write stuck waiting for its standby stays in flight."""
        self.writer.stop(timeout=1.0)

    def close(self) -> None:
        """After fencing (a stuck write has failed with its server by then)."""
        self.writer.close()


def inventory(writer: SplitBrainWriter, new_primary: Any) -> SplitBrain:
    """What the old primary accepted, and what of it the new primary has."""
    writes = writer.writer.writes
    out = SplitBrain(
        acknowledged=sum(w.status == "acked" for w in writes),
        in_flight=sum(w.status == "inflight" for w in writes),
        failed=sum(w.status == "failed" for w in writes),
    )
    held = writer.sink.read_all()
    out.accepted = len(held)
    out.seqs = sorted(held)
    reader = PostgresLedgerSink(new_primary, dbname=writer.dbname, table=TABLE)
    out.on_new_primary = len(set(reader.read_all()) & set(held))
    return out


def export(
    step: StepContext, writer: SplitBrainWriter, s3: Any, bucket: str, sb: SplitBrain
) -> None:
    """The accepted rows to s3://bucket/split-brain/<time>.json, read back and compared."""
    rows = writer.sink.read_all()
    body = json.dumps({"table": TABLE, "rows": {str(k): v for k, v in sorted(rows.items())}})
    digest = hashlib.sha256(body.encode()).hexdigest()
    key = f"split-brain/{time.strftime('%Y%m%dT%H%M%S')}-{TABLE}.json"
    c = s3.client()
    with contextlib.suppress(Exception):
        c.create_bucket(Bucket=bucket)
    step.call(f"PutObject s3://{bucket}/{key} ({len(rows)} rows)", c.put_object,
              Bucket=bucket, Key=key, Body=body.encode())  # fmt: skip
    back = c.get_object(Bucket=bucket, Key=key)["Body"].read()
    kept = json.loads(back)["rows"]
    sb.export_key, sb.exported = f"s3://{bucket}/{key}", len(kept)
    sb.preserved = hashlib.sha256(back).hexdigest() == digest and len(kept) == sb.accepted
    step.note("split_brain_export", {"key": sb.export_key, "rows": len(kept), "sha256": digest})


def rewind_as_standby(step: StepContext, old: Any, new: Any) -> None:
    """Fence the old primary: stop it, pg_rewind onto the new primary, start as standby."""
    os_user = getattr(old, "os_user", None)
    if os_user is None:
        raise DrillNotRun(
            "pg_rewind runs on the old primary's data directory as its server user on this "
            "host: only the local backend can do that",
            code="BACKEND_UNSUPPORTED",
        )
    step.call(f"stop the old primary {old.name} (fast shutdown)", old.stop)
    # A promoted server's control file names its new timeline only after a checkpoint:
    # without one pg_rewind sees "the same timeline" and rewinds nothing.
    with new.connect() as conn:
        step.sql(conn, "CHECKPOINT")
    source = f"host={new.host} port={new.port} user={new.user} dbname=postgres"
    env = {"PGPASSWORD": new.password, "HOME": "/tmp", "LC_ALL": "C"}
    step.run(
        [old.tool("pg_rewind"), f"--target-pgdata={old.data_dir}", f"--source-server={source}",
         "--write-recovery-conf", "--progress"],
        env=env, user=os_user.uid if os_user.is_other else None,
        group=os_user.gid if os_user.is_other else None, timeout=120,
    )  # fmt: skip
    old.adopt_data_dir()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(old.data_dir, "postmaster.pid"))
    step.call(f"start {old.name} as a standby of {new.name}", old.restart, 60, hot_standby="on")


def rows_left(old: Any, dbname: str) -> int:
    """Split-brain rows the old primary still holds (0 once rewound)."""
    return int(old.execute(f"SELECT count(*) FROM {TABLE}", dbname=dbname)[0][0])


def write_refused(old: Any, dbname: str) -> str:
    """Try one write on the fenced old primary; the error text, or '' if it was accepted."""
    try:
        old.execute(
            f"INSERT INTO {TABLE} (seq, payload) VALUES (-1, 'after fencing')", dbname=dbname
        )
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return ""

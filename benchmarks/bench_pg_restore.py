#!/usr/bin/env python3
"""PostgreSQL restore: the drill's recorded restore step vs the bare commands, same backup.

Issue 4's benchmark: "for 100 MB and 1 GB databases, the drill-measured restore step vs
the bare ``pg_restore -j2`` / base-backup restore on the same backup, side by side,
ratio (goal <= 1.03)".

Per size, set up once (not timed): a moto S3 server, a source PostgreSQL loaded with
:func:`scenarios.postgres.schema.app_database` (scale 10 ~ 100 MB, scale 100 ~ 1 GB),
then restarted with WAL archiving to S3 (:class:`WalArchive`); in a drill step
``pg_dump -Fc`` and ``pg_basebackup`` into a :class:`BackupStore`; then ``--wal-mb`` of
writes after the base backup (a ``wal_filler`` table, so the PITR has WAL to replay),
archived; the source is stopped, so the archive is fixed for every round. The dump and
``base.tar`` are downloaded once more into a local directory for the bare side.

Every round (order drill/bare alternating from round to round), each restore into a
fresh server (created and closed outside the timing):

- logical, drill: ``restore_dump(step, store, [dump], target, dbname="app", jobs=N)``
  inside ``drill.step("restore", Phase.EXECUTION)``: S3 download with SHA-256
  verification, ``CREATE DATABASE``, ``pg_restore -j N --no-owner --exit-on-error``.
  Timed as the step's duration; its parts are the step's recorded commands.
- logical, bare: the already-downloaded dump: ``createdb`` + the same ``pg_restore``
  command line by hand (``subprocess.run``), same server build and environment.
- physical, drill: ``pitr(step, pg_factory, store, base, archive, credentials_from=src)``
  in a step: new server handle, download + verify ``base.tar``, extract (``tarfile``),
  ``recovery.signal``, ownership for the server user, start in recovery (WAL fetched by
  ``restore_command`` from S3), wait until ``pg_is_in_recovery()`` is false.
- physical, bare: the already-downloaded ``base.tar``: ``tar -xf`` (as the server user,
  so no chown), ``recovery.signal``, the same settings file (drillbook's base settings +
  the same ``restore_command`` on the same archive, ``recovery_target_timeline=latest``,
  ``recovery_target_action=promote``, ``hot_standby=off``), ``postgres -D`` spawned as
  the server user, polled (TCP, same credentials, every ``--bare-interval`` s, default
  0.02 = drillbook's own poll) until ``pg_is_in_recovery()`` is false.

Each restore is checked outside the timing (row counts of every table; for PITR the
``wal_filler`` rows written after the base backup, so the replay reached the end).
Two asides, also outside any timing, split what the drill pays that the bare side does
not: the same S3 objects fetched with one plain GET each and their SHA-256 computed
alone (vs the step's recorded ``s3 get ... (verify sha256)``), and pitr's ownership walk
(``adopt_data_dir``) repeated on the restored data directory.
Printed: per size and comparison, drill median [min-max], bare median [min-max], and
the drill/bare ratio taken within each round, median [min-max] over rounds; the 1-minute
load average is sampled before every measurement and printed with every row.

Run from the project root::

    .venv/bin/python benchmarks/bench_pg_restore.py                         # 100 MB, 3 rounds
    .venv/bin/python benchmarks/bench_pg_restore.py --sizes 100MB,1GB --rounds 3,2

Nothing is asserted. Every server (LocalBackend handles, hand-started postmasters) is
stopped in a ``finally`` and every directory removed (they all live in the run dir,
which is removed at the end).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402

from drillbook.drill import Drill  # noqa: E402
from drillbook.fixtures import procs  # noqa: E402
from drillbook.fixtures.local import LocalBackend, LocalPostgres, OsUser  # noqa: E402
from drillbook.record import DrillRecord, Phase, Step  # noqa: E402
from drillbook.scenarios.postgres import schema  # noqa: E402
from drillbook.scenarios.postgres.backup import Backup, WalArchive, base_backup, pg_dump  # noqa: E402
from drillbook.scenarios.postgres.recovery import pitr, restore_dump  # noqa: E402
from drillbook.scenarios.store import BackupStore, sha256_file  # noqa: E402

ONE_GET = TransferConfig(multipart_threshold=1 << 40)  # never split into ranged GETs

DB = "app"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load1() -> float:
    return os.getloadavg()[0]


def conf_value(v: Any) -> str:
    """A value as postgresql.conf spells it (as drillbook writes its drillbook.conf)."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, int | float):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def parse_size(text: str) -> tuple[str, int]:
    """'100MB' -> ('100MB', 10), '1GB' -> ('1GB', 100): ~10 MB per scale unit (decimal)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([MG])B?\s*", text, re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"size {text!r}: use e.g. 100MB or 1GB")
    mb = float(m.group(1)) * (1000 if m.group(2).upper() == "G" else 1)
    return text.strip().upper(), max(1, round(mb / schema.MB_PER_SCALE))


@dataclass
class Sample:
    size: str
    kind: str  # logical | physical
    side: str  # drill | bare
    round: int
    total: float
    parts: dict[str, float]
    load1: float
    check: str = ""


@dataclass
class SizeSetup:
    label: str
    scale: int
    db_bytes: int = 0
    dump_bytes: int = 0
    base_bytes: int = 0
    wal_segments: int = 0
    filler_rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    setup_seconds: dict[str, float] = field(default_factory=dict)


# -- helpers -------------------------------------------------------------------------------


def row_counts(pg: Any, dbname: str, tables: tuple[str, ...]) -> dict[str, int]:
    with pg.connect(dbname, timeout=30) as conn:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in tables
        }


def command_parts(step: Step, rules: list[tuple[str, str, str]]) -> dict[str, float]:
    """Durations of the step's top-level commands, by (kind, text prefix) -> part name;
    ``other`` is the rest of the step (Python between the commands)."""
    parts: dict[str, float] = {}
    for cmd in step.commands:
        for kind, prefix, name in rules:
            if cmd.kind == kind and cmd.text.startswith(prefix) and cmd.duration is not None:
                parts[name] = parts.get(name, 0.0) + cmd.duration
                break
    assert step.duration is not None
    parts["other"] = step.duration - sum(parts.values())
    return parts


# -- the benchmark for one size -----------------------------------------------------------------


class SizeBench:
    def __init__(self, backend: LocalBackend, label: str, scale: int, args: Any) -> None:
        self.backend = backend
        self.args = args
        self.run = procs.current_run()
        self.setup = SizeSetup(label, scale)
        self.tag = re.sub(r"[^a-z0-9]", "", label.lower())
        self.handles: list[Any] = []  # every LocalBackend handle, closed in close()
        self.dirs: list[Path] = []
        self.s3: Any = None
        self.src: Any = None
        self.store: BackupStore | None = None
        self.archive: WalArchive | None = None
        self.dump: Backup | None = None
        self.base: Backup | None = None
        self.dump_file: Path | None = None
        self.base_tar: Path | None = None
        self.install = backend.pg_install()
        self.dump_obj: Any = None
        self.base_obj: Any = None
        self.chown_walks: list[float] = []
        self.user = OsUser.unprivileged()

    def _pg(self, name: str, **kw: Any) -> Any:
        handle = self.backend.postgres(name, **kw)
        self.handles.append(handle)
        return handle

    def _close_handle(self, handle: Any) -> None:
        try:
            handle.close()
        finally:
            if handle in self.handles:
                self.handles.remove(handle)

    # -- setup (not timed) --------------------------------------------------------------
    def prepare(self) -> None:
        st = self.setup
        t = time.monotonic()
        self.s3 = self.backend.s3(f"bench-{self.tag}")
        self.handles.append(self.s3)
        self.store = BackupStore(self.s3, "bench-backups")
        self.store.ensure_bucket()
        self.archive = WalArchive.create(self.s3, "bench-wal")
        self.src = self._pg(f"src-{self.tag}")
        st.setup_seconds["servers"] = time.monotonic() - t

        t = time.monotonic()
        log(f"{st.label}: loading app_database scale {st.scale} ...")
        schema.app_database(self.src, DB, scale=st.scale)
        st.setup_seconds["load"] = time.monotonic() - t
        st.db_bytes = int(self.src.execute("SELECT pg_database_size(%s)", (DB,))[0][0])
        st.counts = row_counts(self.src, DB, schema.TABLES)
        log(f"{st.label}: loaded {st.db_bytes / 1e6:.0f} MB in {st.setup_seconds['load']:.0f} s")

        # Archiving from here on only: the load's WAL is not needed by any restore.
        t = time.monotonic()
        self.src.restart(**self.archive.server_settings(archive_timeout=60))
        setup_drill = Drill(DrillRecord(drill_id="bench-setup", name="bench-setup"))
        try:
            with setup_drill.step("backups", Phase.SETUP) as s:
                self.dump = pg_dump(s, self.src, self.store, dbname=DB, fmt="custom")
                self.base = base_backup(s, self.src, self.store)
        finally:
            setup_drill.close()
        st.setup_seconds["backups"] = time.monotonic() - t
        st.dump_bytes = self.dump.size
        st.base_bytes = self.base.size
        log(
            f"{st.label}: dump {st.dump_bytes / 1e6:.0f} MB, base backup "
            f"{st.base_bytes / 1e6:.0f} MB in {st.setup_seconds['backups']:.0f} s"
        )

        # WAL after the base backup, for the PITR to replay.
        t = time.monotonic()
        st.filler_rows = self._write_filler(self.args.wal_mb)
        self.archive.wait_archived(self.src, timeout=300)
        self.src.stop()  # the archive is now fixed for every round
        st.wal_segments = len(self.archive.segments())
        st.setup_seconds["wal"] = time.monotonic() - t
        log(f"{st.label}: {st.filler_rows} filler rows, {st.wal_segments} WAL segments archived")

        # The bare side starts from the same files, already downloaded (one plain GET
        # each, checked against the SHA-256 recorded at upload).
        t = time.monotonic()
        files = self.run.mkdir(f"bench-files-{self.tag}")
        self.dirs.append(files)
        self.dump_obj = self.dump.objects[0]
        self.dump_file = files / Path(self.dump_obj.key).name
        self.base_obj = next(o for o in self.base.objects if o.key.endswith("/base.tar"))
        self.base_tar = files / "base.tar"
        tars = [o.key for o in self.base.objects if o.key.endswith(".tar")]
        if len(tars) != 1:
            raise RuntimeError(f"base backup with tablespaces: {tars}")
        for obj, path in ((self.dump_obj, self.dump_file), (self.base_obj, self.base_tar)):
            self.store.client.download_file(self.store.bucket, obj.key, str(path), Config=ONE_GET)
            if sha256_file(path) != obj.sha256:
                raise RuntimeError(f"{obj.key}: checksum mismatch after download")
        self.base_tar.chmod(0o644)
        self.dump_file.chmod(0o644)
        st.setup_seconds["download for bare"] = time.monotonic() - t

    def _write_filler(self, wal_mb: int) -> int:
        if wal_mb <= 0:
            return 0
        with self.src.connect(DB, timeout=30) as conn:
            conn.execute("CREATE TABLE wal_filler (id bigint PRIMARY KEY, pad text NOT NULL)")
            start = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
            n = 0
            batch = 20_000
            while True:
                conn.execute(
                    "INSERT INTO wal_filler SELECT g, repeat(md5(g::text), 6)"
                    " FROM generate_series(%s::bigint, %s) g",
                    (n + 1, n + batch),
                )
                n += batch
                done = conn.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (start,)
                ).fetchone()[0]  # type: ignore[index]
                if done >= wal_mb * 1024 * 1024:
                    return n

    # -- logical ------------------------------------------------------------------------
    def logical(self, side: str, rnd: int) -> Sample:
        assert self.store and self.dump and self.dump_file
        target = self._pg(f"l{side[0]}-{self.tag}-{rnd}")
        try:
            load = load1()
            if side == "drill":
                drill = Drill(DrillRecord(drill_id="bench", name="bench"))
                try:
                    with drill.step("restore", Phase.EXECUTION) as s:
                        restore_dump(
                            s, self.store, [self.dump], target, dbname=DB, jobs=self.args.jobs
                        )
                finally:
                    drill.close()
                step = drill.record.steps[-1]
                assert step.duration is not None
                total = step.duration
                parts = command_parts(
                    step,
                    [
                        ("api", "s3 get", "download+verify"),
                        ("sql", "CREATE DATABASE", "create db"),
                        ("argv", target.tool("pg_restore"), "pg_restore"),
                    ],
                )
            else:
                env = {**os.environ, **target.env()}
                t0 = time.monotonic()
                subprocess.run(
                    [target.tool("createdb"), DB],
                    env=env,
                    check=True,
                    capture_output=True,
                    stdin=subprocess.DEVNULL,
                )
                t1 = time.monotonic()
                subprocess.run(
                    [
                        target.tool("pg_restore"),
                        "-j",
                        str(self.args.jobs),
                        "--no-owner",
                        "--exit-on-error",
                        "-d",
                        DB,
                        str(self.dump_file),
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                    stdin=subprocess.DEVNULL,
                )
                t2 = time.monotonic()
                total = t2 - t0
                parts = {"create db": t1 - t0, "pg_restore": t2 - t1}
            counts = row_counts(target, DB, schema.TABLES)
            check = "ok" if counts == self.setup.counts else f"MISMATCH {counts}"
        finally:
            self._close_handle(target)
        return Sample(self.setup.label, "logical", side, rnd, total, parts, load, check)

    # -- physical -----------------------------------------------------------------------
    def physical(self, side: str, rnd: int) -> Sample:
        return self._physical_drill(rnd) if side == "drill" else self._physical_bare(rnd)

    def _verify_pitr(self, conn_pg: Callable[[], Any]) -> str:
        tables = schema.TABLES + (("wal_filler",) if self.setup.filler_rows else ())
        expected = {**self.setup.counts}
        if self.setup.filler_rows:
            expected["wal_filler"] = self.setup.filler_rows
        with conn_pg() as conn:
            got = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}
            rec = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        if rec:
            return "STILL IN RECOVERY"
        return "ok" if got == expected else f"MISMATCH {got}"

    def _physical_drill(self, rnd: int) -> Sample:
        assert self.store and self.base and self.archive
        made: list[Any] = []

        def factory(name: str, **kw: Any) -> Any:
            handle = self._pg(name, **kw)
            made.append(handle)
            return handle

        try:
            load = load1()
            drill = Drill(DrillRecord(drill_id="bench", name="bench"))
            try:
                with drill.step("restore", Phase.EXECUTION) as s:
                    restored = pitr(
                        s,
                        factory,
                        self.store,
                        self.base,
                        self.archive,
                        credentials_from=self.src,
                        name=f"pd-{self.tag}-{rnd}",
                    )
            finally:
                drill.close()
            step = drill.record.steps[-1]
            assert step.duration is not None
            parts = command_parts(
                step,
                [
                    ("api", "s3 get", "download+verify"),
                    ("api", "tar -xf", "extract"),
                    ("api", "start ", "start (until SELECT 1)"),
                    ("api", "wait until promoted", "wait promoted"),
                ],
            )
            check = self._verify_pitr(lambda: restored.connect(DB, timeout=30))
            # Aside (outside the step): the ownership walk pitr does before the start
            # (adopt_data_dir), repeated on the restored data dir: same files, same chowns.
            t = time.monotonic()
            restored.adopt_data_dir()
            self.chown_walks.append(time.monotonic() - t)
        finally:
            for handle in made:
                self._close_handle(handle)
        return Sample(self.setup.label, "physical", "drill", rnd, step.duration, parts, load, check)

    def _bare_settings(self, port: int, sock: Path) -> str:
        assert self.archive
        merged = {
            **LocalPostgres.BASE_SETTINGS,
            "listen_addresses": "127.0.0.1",
            "port": port,
            "unix_socket_directories": str(sock),
            "archive_mode": "off",
            "restore_command": self.archive.restore_command,
            "recovery_target_action": "promote",
            "hot_standby": "off",
            "recovery_target_timeline": "latest",
        }
        return "\n".join(f"{k} = {conf_value(v)}" for k, v in merged.items()) + "\n"

    def _physical_bare(self, rnd: int) -> Sample:
        assert self.base_tar
        root = self.run.mkdir(f"bare-pitr-{self.tag}-{rnd}")
        self.dirs.append(root)
        data, sock, logf = root / "data", root / "sock", root / "postgres.log"
        data.mkdir(mode=0o700)
        sock.mkdir()
        logf.touch()
        self.user.own(root)  # empty dirs: what a DBA prepares before the restore
        port = procs.free_port()
        conf_text = self._bare_settings(port, sock)
        as_user: dict[str, Any] = {}
        if self.user.is_other:
            as_user = {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}
        proc: subprocess.Popen[bytes] | None = None
        interval = self.args.bare_interval
        try:
            load = load1()
            t0 = time.monotonic()
            subprocess.run(
                ["tar", "-xf", str(self.base_tar), "-C", str(data)],
                check=True,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                **as_user,
            )
            t1 = time.monotonic()
            (data / "recovery.signal").touch()
            (data / "drillbook.conf").write_text(conf_text)  # replaces the source's
            if self.user.is_other:
                for p in (data / "recovery.signal", data / "drillbook.conf"):
                    os.chown(p, self.user.uid, self.user.gid)
            proc = self.run.spawn(
                [self.install.tool("postgres"), "-D", str(data)],
                label=f"bare postgres pitr {self.tag}-{rnd}",
                log_path=logf,
                env={**os.environ, "LC_ALL": "C"},
                user=self.user.uid if self.user.is_other else None,
                group=self.user.gid if self.user.is_other else None,
            )
            t2 = time.monotonic()
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"bare postgres exited {proc.returncode}:\n" + logf.read_text()[-3000:]
                    )
                try:
                    with psycopg.connect(
                        host="127.0.0.1",
                        port=port,
                        user=self.src.user,
                        password=self.src.password,
                        dbname="postgres",
                        autocommit=True,
                        connect_timeout=2,
                    ) as conn:
                        if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False:
                            break
                except psycopg.OperationalError:
                    pass
                time.sleep(interval)
            t3 = time.monotonic()
            parts = {"extract": t1 - t0, "start->promoted": t3 - t1, "signal+conf+spawn": t2 - t1}
            check = self._verify_pitr(
                lambda: psycopg.connect(
                    host="127.0.0.1",
                    port=port,
                    user=self.src.user,
                    password=self.src.password,
                    dbname=DB,
                    autocommit=True,
                    connect_timeout=30,
                )
            )
        finally:
            if proc is not None:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)  # fast shutdown
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        procs.kill_group(proc.pid, proc.pid, None)
                        proc.wait(10)
                procs.wait_gone(proc.pid, 10)
                self.run.forget(proc.pid)
            shutil.rmtree(root, ignore_errors=True)
            self.dirs.remove(root)
        return Sample(self.setup.label, "physical", "bare", rnd, t3 - t0, parts, load, check)

    # -- asides: what the drill's download is made of ------------------------------------
    def download_whatif(self) -> dict[str, float]:
        """The same objects fetched with one plain GET each (no ranged parts), then their
        SHA-256 alone: what ``store.get_file`` (boto3 ``download_file``: HEAD, then 8 MB
        ranged GETs on 10 threads, then SHA-256) would cost without the ranged parts."""
        assert self.store
        tmp = self.run.mkdir(f"bench-whatif-{self.tag}")
        out = {}
        try:
            for name, obj in (("dump", self.dump_obj), ("base.tar", self.base_obj)):
                path = tmp / name
                t = time.monotonic()
                self.store.client.download_file(
                    self.store.bucket, obj.key, str(path), Config=ONE_GET
                )
                out[f"{name}: one GET"] = time.monotonic() - t
                t = time.monotonic()
                sha256_file(path)
                out[f"{name}: sha256"] = time.monotonic() - t
                path.unlink()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out

    def close(self) -> None:
        for handle in reversed(list(self.handles)):
            try:
                handle.close()
            except Exception as exc:  # keep closing the others
                log(f"closing {handle}: {exc}")
        self.handles.clear()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs.clear()


# -- report ---------------------------------------------------------------------------------


def fmt(xs: list[float], digits: int = 2) -> str:
    if not xs:
        return "-"
    return f"{statistics.median(xs):.{digits}f} [{min(xs):.{digits}f}-{max(xs):.{digits}f}]"


def rows_for(
    samples: list[Sample], size: str
) -> list[tuple[str, list[float], list[float], list[float], list[float]]]:
    """(what, drill values, bare values, per-round ratios, loads) for one size."""

    def pick(kind: str, side: str) -> dict[int, Sample]:
        return {s.round: s for s in samples if s.size == size and s.kind == kind and s.side == side}

    out = []
    specs: list[
        tuple[str, str, Callable[[Sample], float | None], Callable[[Sample], float | None]]
    ] = [
        (
            "logical: step total / createdb+pg_restore",
            "logical",
            lambda s: s.total,
            lambda s: s.total,
        ),
        (
            "logical: pg_restore -j2 alone",
            "logical",
            lambda s: s.parts.get("pg_restore"),
            lambda s: s.parts.get("pg_restore"),
        ),
        (
            "logical: step minus download / bare",
            "logical",
            lambda s: s.total - s.parts.get("download+verify", 0.0),
            lambda s: s.total,
        ),
        (
            "physical: pitr step total / tar+start+promoted",
            "physical",
            lambda s: s.total,
            lambda s: s.total,
        ),
        (
            "physical: step minus download / bare",
            "physical",
            lambda s: s.total - s.parts.get("download+verify", 0.0),
            lambda s: s.total,
        ),
        (
            "physical: extract (tarfile / tar -xf)",
            "physical",
            lambda s: s.parts.get("extract"),
            lambda s: s.parts.get("extract"),
        ),
        (
            "physical: start->promoted",
            "physical",
            lambda s: (
                s.parts.get("start (until SELECT 1)", 0.0) + s.parts.get("wait promoted", 0.0)
            ),
            lambda s: s.parts.get("start->promoted"),
        ),
    ]
    for what, kind, fd, fb in specs:
        drill, bare = pick(kind, "drill"), pick(kind, "bare")
        dv, bv, ratios, loads = [], [], [], []
        for r in sorted(set(drill) & set(bare)):
            d, b = fd(drill[r]), fb(bare[r])
            if d is None or b is None:
                continue
            dv.append(d)
            bv.append(b)
            ratios.append(d / b if b > 0 else float("nan"))
            loads += [drill[r].load1, bare[r].load1]
        out.append((what, dv, bv, ratios, loads))
    return out


def print_report(setups: list[SizeSetup], samples: list[Sample], extra: dict[str, Any]) -> None:
    print()
    print(f"{'size':6} {'what':48} {'drill s':>22} {'bare s':>22} {'drill/bare':>20} {'load1':>12}")
    print("-" * 136)
    for st in setups:
        for what, dv, bv, ratios, loads in rows_for(samples, st.label):
            if not dv:
                continue  # a kind not run (--kinds)
            print(
                f"{st.label:6} {what:48} {fmt(dv):>22} {fmt(bv):>22} {fmt(ratios, 3):>20} "
                f"{fmt(loads, 1) if loads else '-':>12}"
            )
        print()
    print("parts (median [min-max] s):")
    for st in setups:
        for kind in ("logical", "physical"):
            for side in ("drill", "bare"):
                ss = [
                    s for s in samples if s.size == st.label and s.kind == kind and s.side == side
                ]
                if not ss:
                    continue
                names = list(dict.fromkeys(k for s in ss for k in s.parts))
                cells = ", ".join(
                    f"{n} {fmt([s.parts[n] for s in ss if n in s.parts])}" for n in names
                )
                print(
                    f"  {st.label:6} {kind:8} {side:5} total {fmt([s.total for s in ss])}: {cells}"
                )
        whatif = extra.get("download", {}).get(st.label)
        if whatif:
            print(
                f"  {st.label:6} aside, same objects, one plain GET each then SHA-256: "
                + ", ".join(f"{k} {fmt(v)}" for k, v in whatif.items())
            )
        walks = extra.get("chown_walk", {}).get(st.label)
        if walks:
            print(
                f"  {st.label:6} aside, adopt_data_dir() walk on the restored data dir: "
                f"{fmt(walks)}"
            )
    bad = [s for s in samples if s.check != "ok"]
    print()
    print(
        "checks: "
        + (
            "every restore has every row (and PITR every post-backup row), promoted"
            if not bad
            else "; ".join(f"{s.size} {s.kind} {s.side} r{s.round}: {s.check}" for s in bad)
        )
    )
    print("goal: drill/bare <= 1.03")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sizes", default="100MB", help="comma list, e.g. 100MB,1GB")
    ap.add_argument("--rounds", default="3", help="rounds, one number or one per size (e.g. 3,2)")
    ap.add_argument("--kinds", default="logical,physical")
    ap.add_argument("--jobs", type=int, default=2, help="pg_restore -j (both sides)")
    ap.add_argument(
        "--wal-mb",
        type=int,
        default=64,
        help="MB of WAL written after the base backup (PITR replays it)",
    )
    ap.add_argument(
        "--bare-interval",
        type=float,
        default=0.02,
        help="bare poll interval, s (drillbook's wait_until: 0.02)",
    )
    ap.add_argument("--postgres", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    rounds = [int(r) for r in args.rounds.split(",")]
    if len(rounds) == 1:
        rounds *= len(sizes)
    if len(rounds) != len(sizes):
        ap.error("--rounds: one number, or one per size")
    kinds = [k for k in args.kinds.split(",") if k]

    started = dt.datetime.now().astimezone()
    backend = LocalBackend(postgres=args.postgres)
    install = backend.pg_install()
    print(
        f"{started:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, load average "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}; PostgreSQL {install.version} "
        f"({install.source}: {install.bindir}); pg_restore -j{args.jobs}; "
        f"--wal-mb {args.wal_mb}",
        flush=True,
    )
    setups: list[SizeSetup] = []
    samples: list[Sample] = []
    extra: dict[str, Any] = {"download": {}, "chown_walk": {}}
    try:
        for (label, scale), n_rounds in zip(sizes, rounds, strict=True):
            bench = SizeBench(backend, label, scale, args)
            try:
                bench.prepare()
                st = bench.setup
                setups.append(st)
                print(
                    f"{label}: scale {scale}, database {st.db_bytes / 1e6:.0f} MB, dump "
                    f"{st.dump_bytes / 1e6:.0f} MB, base.tar {st.base_bytes / 1e6:.0f} MB, "
                    f"{st.wal_segments} WAL segments in the archive "
                    f"({st.filler_rows} rows after the base backup); setup "
                    + ", ".join(f"{k} {v:.0f} s" for k, v in st.setup_seconds.items()),
                    flush=True,
                )
                whatif: dict[str, list[float]] = {}
                for r in range(n_rounds):
                    for kind in kinds:
                        order = ("drill", "bare") if r % 2 == 0 else ("bare", "drill")
                        for side in order:
                            fn = bench.logical if kind == "logical" else bench.physical
                            s = fn(side, r)
                            samples.append(s)
                            print(
                                f"  {label} round {r + 1} {kind:8} {side:5} "
                                f"{s.total:8.2f} s (load {s.load1:.2f}) "
                                + " ".join(f"{k}={v:.2f}" for k, v in s.parts.items())
                                + f" check={s.check}",
                                flush=True,
                            )
                    for k, v in bench.download_whatif().items():
                        whatif.setdefault(k, []).append(v)
                extra["download"][label] = whatif
                extra["chown_walk"][label] = bench.chown_walks
            finally:
                bench.close()
        print_report(setups, samples, extra)
        ended = dt.datetime.now().astimezone()
        print(f"ended {ended:%H:%M}, load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "started": started.isoformat(),
                        "ended": ended.isoformat(),
                        "postgres": install.version,
                        "args": vars(args) | {"json": str(args.json)},
                        "setups": [asdict(s) for s in setups],
                        "samples": [asdict(s) for s in samples],
                        "extra": extra,
                    },
                    indent=2,
                )
            )
    finally:
        procs.close_current_run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

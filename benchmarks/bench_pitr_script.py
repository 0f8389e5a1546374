#!/usr/bin/env python3
"""A total-loss PITR drill vs a bare bash script doing the same recovery (issue 14).

Both sides do everything, from an empty machine to the row count check, against a
fresh SeaweedFS server (``weed mini``, started untimed before each measurement and
stopped after, so no side finds another's WAL):

- ``drill``: drillbook's scenario functions as a drill calls them (``stack.build`` with
  a ``pgbench -i -s 9`` loader, ``base_backup`` to S3, writes after it, the ledger,
  ``archive_now``, snapshot, ``faults.total_loss``, detect, triage, ``recovery.pitr``,
  ``checks.run_all``, ledger read-back, the row counts), servers closed at the end;
- ``drill-same-checks``: the same drill with only what the script checks (no snapshot,
  no ledger, no triage, no ``run_all``): the row counts;
- ``script``: ``benchmarks/pitr_script.sh``: initdb, postgres as the unprivileged user,
  ``pgbench -i``, ``pg_basebackup -D - -Ft | aws s3 cp -`` (aws-cli, streamed), the same
  writes, WAL archived and restored with ``curl --aws-sigv4`` (one PUT/GET per segment),
  SIGKILL + wipe, ``aws s3 cp ... - | tar -x``, ``recovery.signal``, promote, the same
  row counts.

The drills run in this process (no pytest start-up: that is the suite's benchmark).
Rounds are paired and the order of the three sides rotates from round to round; every
ratio is taken within a round, then summarised: median [min-max]. "Where the time goes"
lists the drill's recorded steps and the PITR step's commands. Nothing is asserted.

    .venv/bin/python benchmarks/bench_pitr_script.py --rounds 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drillbook.drill import Drill  # noqa: E402
from drillbook.fixtures import procs  # noqa: E402
from drillbook.fixtures.local import LocalBackend, OsUser  # noqa: E402
from drillbook.record import DrillRecord, Phase  # noqa: E402
from drillbook.scenarios.postgres import checks, faults, recovery, stack, triage  # noqa: E402
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink  # noqa: E402
from drillbook.triage import Incident  # noqa: E402

SCRIPT = Path(__file__).with_name("pitr_script.sh")
DB = "bench"
SIDES = ("drill", "drill-same-checks", "script")
COUNTS = (
    "SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT count(*) FROM pgbench_history),"
    " (SELECT count(*) FROM filler)"
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def med(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.median(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]"


@dataclass
class Sample:
    side: str
    round: int
    total: float
    parts: dict[str, float] = field(default_factory=dict)
    ok: bool = False
    detail: str = ""
    load1: float = 0.0
    facts: dict[str, float] = field(default_factory=dict)  # counts and rates, not durations


class Bench:
    def __init__(self, args: Any) -> None:
        self.args = args
        self.backend = LocalBackend(postgres=args.postgres)
        self.install = self.backend.pg_install()
        self.expected = (args.scale * 100_000, 2 * args.tx, args.filler_rows)

    # -- the drill side -------------------------------------------------------------------
    def _loader(self, db: Any) -> None:
        argv = [db.tool("pgbench"), "-i", "-s", str(self.args.scale), "-q", DB]
        subprocess.run(argv, env={**os.environ, **db.env()}, check=True, capture_output=True)

    def drill(self, rnd: int, s3: Any, *, full: bool) -> Sample:
        handles: list[Any] = []
        tag = f"{'f' if full else 's'}{rnd}"

        def factory(name: str, **kw: Any) -> Any:
            handle = self.backend.postgres(f"{name}-{tag}", **kw)
            handles.append(handle)
            return handle

        drill = Drill(DrillRecord(drill_id=f"bench-{tag}", name="bench total-loss PITR"))
        started = time.monotonic()
        counts: Any = None
        replayed = 0
        try:
            st = stack.build(drill, factory, s3, dbname=DB, loader=self._loader, archive_timeout=60)
            base = st.base_backup()
            with drill.step("writes after the base backup", Phase.SETUP) as s:
                with st.db.connect() as conn:
                    s.sql(conn, FILLER.format(n=self.args.filler_rows))
                pgbench = [st.primary.tool("pgbench"), "-n", "-c", "2", "-j", "2"]
                s.run([*pgbench, "-t", str(self.args.tx), DB], env=st.primary.env())
            snap = checks.snapshot(st.db.connect()) if full else None
            ledger = drill.ledger(PostgresLedgerSink(st.db), name="bench") if full else None
            if ledger is not None:
                drill.wait_for_writes(ledger, 100)
            st.archive_now(Phase.SETUP)
            with drill.fault("SIGKILL the server and wipe its data directory"):
                faults.total_loss(st.primary)
            drill.detect(st.primary.probe, name="SELECT 1")
            if snap is not None:
                probes = triage.probes(st.primary, snap, dbname=DB)
                drill.triage(probes, expected=Incident.TOTAL_LOSS)
            with drill.step("PITR: base backup + archived WAL", Phase.EXECUTION) as s:
                restored = recovery.pitr(
                    s, factory, st.store, base, st.archive, credentials_from=st.primary
                )
            drill.wait_healthy(restored.probe, name="SELECT 1 on the restored server")
            counts = tuple(restored.execute(COUNTS, dbname=DB)[0])
            replayed = restored.log_tail(20000).count("restored log file")
            drill.check("row counts", counts == self.expected, f"{counts}")
            if full and snap is not None and ledger is not None:
                checks.run_all(drill, restored, snap, dbname=DB, expect_counts="equal")
                drill.verify_ledger(ledger, read_from=restored.with_database(DB))
        finally:
            drill.close()
            closing = time.monotonic()
            for handle in reversed(handles):
                handle.close()
        total = time.monotonic() - started
        sample = self._drill_sample(drill, full, rnd, total, time.monotonic() - closing, counts)
        sample.facts["segments replayed"] = replayed
        return sample

    def _drill_sample(
        self, drill: Drill, full: bool, rnd: int, total: float, close: float, counts: Any
    ) -> Sample:
        rec = drill.record
        parts: dict[str, float] = {}
        facts: dict[str, float] = {}
        for step in rec.steps:
            key = re.sub(r"\s+", " ", step.name)[:48]
            parts[key] = parts.get(key, 0.0) + (step.duration or 0.0)
            if step.name.startswith("PITR"):
                for cmd in step.commands:
                    text = re.sub(r"-[fs]\d+\b", "", re.sub(r"\S*/", "", cmd.text))
                    sub = "  pitr: " + text.split(" (")[0][:44]
                    parts[sub] = parts.get(sub, 0.0) + (cmd.duration or 0.0)
                fetch = step.notes.get("wal_fetch") or {}
                facts["wal prefetcher s/segment"] = fetch.get("seconds_per_segment") or 0.0
                facts["wal segments fetched"] = fetch.get("segments_fetched") or 0
                facts["asked before spooled"] = fetch.get("asked_before_spooled") or 0
        parts["close servers"] = close
        parts["outside steps"] = total - close - sum(s.duration or 0.0 for s in rec.steps)
        failed = [f"{f.code}: {f.message[:120]}" for f in rec.findings if f.severity == "fail"]
        failed += [f"check {c.name}: {c.detail[:80]}" for c in rec.checks if not c.passed]
        side = "drill" if full else "drill-same-checks"
        ok = not failed
        return Sample(side, rnd, total, parts, ok, "; ".join(failed) or f"{counts}", facts=facts)

    # -- the script side ------------------------------------------------------------------
    def script(self, rnd: int, s3: Any) -> Sample:
        work = procs.current_run().mkdir(f"script-{rnd}")
        bucket = "bench-script"
        s3.client().create_bucket(Bucket=bucket)
        env = {
            **os.environ,
            "PGBIN": str(self.install.bindir),
            "PORT": str(free_port()),
            "WORK": str(work),
            "RUNAS": OsUser.unprivileged().name,
            "S3_ENDPOINT": s3.endpoint,
            "S3_REGION": s3.region,
            "BUCKET": bucket,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "SCALE": str(self.args.scale),
            "FILLER_ROWS": str(self.args.filler_rows),
            "PGBENCH_TX": str(self.args.tx),
        }
        started = time.monotonic()
        try:
            res = subprocess.run(
                ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900
            )
        finally:
            total = time.monotonic() - started
            pglog = work / "postgres.log"
            replayed = pglog.read_text().count("restored log file") if pglog.exists() else 0
            shutil.rmtree(work, ignore_errors=True)
        parts: dict[str, float] = {}
        last = 0.0
        counts = None
        for line in res.stdout.splitlines():
            if line.startswith("phase "):
                _, name, at = line.split()
                parts[name] = float(at) - last
                last = float(at)
            elif line.startswith("counts "):
                counts = tuple(int(x) for x in line.split()[1:])
        ok = res.returncode == 0 and counts == self.expected
        detail = f"{counts}" if ok else f"rc {res.returncode} counts {counts}: {res.stderr[-300:]}"
        return Sample(
            "script", rnd, total, parts, ok, detail, facts={"segments replayed": replayed}
        )

    # -- one measurement --------------------------------------------------------------------
    def measure(self, side: str, rnd: int) -> Sample:
        s3 = self.backend.s3(f"s3-{side}-{rnd}")
        try:
            load = os.getloadavg()[0]
            if side == "script":
                sample = self.script(rnd, s3)
            else:
                sample = self.drill(rnd, s3, full=side == "drill")
            sample.load1 = load
            return sample
        finally:
            s3.close()


FILLER = (
    "CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 6) AS pad"
    " FROM generate_series(1, {n}) g"
)


def report(samples: list[Sample], rounds: int) -> None:
    by: dict[tuple[str, int], Sample] = {(s.side, s.round): s for s in samples}
    print("\nside                    total s (median [min-max])   ratio to script (same round)")
    for side in SIDES:
        totals = [s.total for s in samples if s.side == side]
        ratios = [
            by[(side, r)].total / by[("script", r)].total
            for r in range(rounds)
            if (side, r) in by and ("script", r) in by
        ]
        print(f"{side:22}  {med(totals):28}  {med(ratios)}")
    print("goals: drill-same-checks <= 1.2x script; drill <= 1.6x script")
    for side in SIDES:
        print(f"\nwhere the time goes, {side} (median [min-max] s over rounds):")
        names: list[str] = []
        for s in samples:
            names += [n for n in s.parts if s.side == side and n not in names]
        for name in names:
            vals = [s.parts[name] for s in samples if s.side == side and name in s.parts]
            print(f"  {name:50} {med(vals)}")
        facts: list[str] = []
        for s in samples:
            facts += [n for n in s.facts if s.side == side and n not in facts]
        for name in facts:
            vals = [float(s.facts[name]) for s in samples if s.side == side and name in s.facts]
            print(f"  ({name}) {med(vals)}")
    bad = [s for s in samples if not s.ok]
    print("\nchecks: " + ("every side restored every row" if not bad else ""))
    for s in bad:
        print(f"  FAILED {s.side} round {s.round + 1}: {s.detail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=int, default=9, help="pgbench -i -s (9: ~173 MB base)")
    ap.add_argument("--filler-rows", type=int, default=300_000, help="rows written after the base")
    ap.add_argument("--tx", type=int, default=1000, help="pgbench -t per client (2 clients)")
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--postgres", default="auto")
    args = ap.parse_args(argv)
    sides = [s for s in args.sides.split(",") if s]
    bench = Bench(args)
    print(
        f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, load "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}; PostgreSQL {bench.install.version}; "
        f"pgbench -s {args.scale}, {args.filler_rows} filler rows, 2x{args.tx} pgbench tx",
        flush=True,
    )
    samples: list[Sample] = []
    try:
        for rnd in range(args.rounds):
            order = sides[rnd % len(sides) :] + sides[: rnd % len(sides)]
            for side in order:
                sample = bench.measure(side, rnd)
                samples.append(sample)
                log(
                    f"round {rnd + 1} {side:18} {sample.total:7.2f} s load {sample.load1:.2f}"
                    f" {'ok' if sample.ok else 'FAILED'} {sample.detail[:200]}"
                )
        report(samples, args.rounds)
    finally:
        procs.close_current_run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

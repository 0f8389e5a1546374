#!/usr/bin/env python3
"""The RTO projection against a measurement: a drill at size S projected to 5 x S.

Issue 14: "the RTO projection scales every phase that grows with size: within 15 % of the
RTO measured at 5x the size". The drill is the total-loss PITR of drills/q1_auth_pitr (the
primary loaded with ``schema.app_database`` at ``--scale``, a base backup to S3, ledger
writes archived, SIGKILL + data directory wiped, PITR from the base backup and the WAL,
``checks.run_all``, the ledger read back), written to a temporary drill file and run by
pytest in a fresh process, once per size and round (sizes alternating), on the default
local backend. Each run's record is read from its report JSON.

From every record at S, the projection to the database size measured at 5 x S is made
two ways and compared with the RTO measured at 5 x S in the same round:

- new (``drillbook.projection``): every step that recorded its bytes (the PITR step, the
  integrity checks) at its own rate, the rest fixed;
- old (before issue 14): the largest restore step at its rate, everything else,
  validation included, held fixed.

Printed: per size the measured phases (detection, decision, execution, validation) and
the scaled steps (seconds, MB, MB/s), then the projected vs measured RTO and per phase,
and the error (projected / measured - 1), median [min-max] over the rounds. Nothing is
asserted; the drills clean up after themselves (their fixtures) and the temporary folder
is removed.

Run from the project root::

    .venv/bin/python benchmarks/bench_projection.py --scale 10 --factor 5 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drillbook.projection import Measured, measured_steps, scale  # noqa: E402
from drillbook.record import DrillRecord, Phase  # noqa: E402

DRILL = textwrap.dedent(
    '''
    """bench_projection's drill: q1's total-loss PITR at $BENCH_SCALE."""
    import os

    import pytest

    from drillbook.record import Phase
    from drillbook.scenarios.postgres import checks, faults, recovery, stack
    from drillbook.scenarios.postgres.ledger import PostgresLedgerSink


    @pytest.mark.drill(service="auth", scenario="bench: total loss -> PITR")
    def test_pitr_at_scale(drill, pg_factory, s3):
        scale = int(os.environ["BENCH_SCALE"])
        st = stack.build(drill, pg_factory, s3, dbname="auth", scale=scale)
        base = st.base_backup()
        snap = checks.snapshot(st.db.connect())
        ledger = drill.ledger(PostgresLedgerSink(st.db), name="auth")
        drill.wait_for_writes(ledger, 100)
        st.archive_now(Phase.SETUP)
        drill.wait_for_writes(ledger, 150)
        with drill.fault("SIGKILL the server and wipe its data directory"):
            faults.total_loss(st.primary)
        drill.detect(st.primary.probe, name="SELECT 1")
        drill.decide("total loss: PITR")
        with drill.step("PITR: base backup + WAL", Phase.EXECUTION) as s:
            restored = recovery.pitr(
                s, pg_factory, st.store, base, st.archive, credentials_from=st.primary
            )
        drill.wait_healthy(restored.probe, name="SELECT 1 on the restored server")
        checks.run_all(drill, restored, snap, dbname="auth", expect_counts="equal")
        drill.verify_ledger(ledger, read_from=restored.with_database("auth"))
    '''
)


def run_drill(folder: Path, scale: int) -> DrillRecord:
    """One drill at *scale* in a fresh pytest process; its record."""
    reports = folder / f"reports-{scale}"
    shutil.rmtree(reports, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "pytest", str(folder / "test_bench_projection.py"), "-q",
        "-p", "no:cacheprovider", f"--rootdir={folder}",
        f"--drill-targets={ROOT / 'drills.toml'}", f"--drill-report-dir={reports}",
        "--drill-history=none", "--drill-metrics=none",
    ]  # fmt: skip
    env = {**os.environ, "BENCH_SCALE": str(scale)}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=folder)
    latest = reports / "latest.json"
    if not latest.exists():
        raise SystemExit(f"the drill at scale {scale} wrote no report:\n{out.stdout[-3000:]}")
    (entry,) = json.loads(latest.read_text())["drills"]
    rec = DrillRecord.from_dict(entry["record"])
    if rec.verdict != "PASS":
        print(f"  warning: drill at scale {scale} is {rec.verdict}: {rec.findings}")
    return rec


def phases(rec: DrillRecord) -> dict[str, float]:
    return {p: end - start for p, (start, end) in rec.phase_bounds().items()}


def db_bytes(rec: DrillRecord) -> int:
    """The validated database's size (run_all's note)."""
    for s in rec.steps:
        if s.phase == Phase.VALIDATION.value and "database_bytes" in s.notes:
            return int(s.notes["database_bytes"])
    raise SystemExit("no validation step with database_bytes: is run_all older than issue 14?")


def projections(small: DrillRecord, size: int) -> tuple[float, float, dict[str, float]]:
    """(new projected RTO, old projected RTO, new per phase) of *small* at *size* bytes."""
    rto = small.rto_seconds or 0.0
    measured = measured_steps(small.steps)
    fixed, steps = scale(rto, measured, size)
    new = fixed + sum(s.projected_seconds for s in steps)
    restores = [m for m in measured if m.phase == Phase.EXECUTION.value]
    main = max(restores, key=lambda m: m.nbytes)
    old = (rto - main.seconds) + size * main.seconds / main.nbytes
    per_phase = phases(small)
    for m, s in zip([m for m in measured if m.nbytes and m.seconds], steps, strict=True):
        per_phase[m.phase] += s.projected_seconds - m.seconds
    return new, old, per_phase


def med(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "n/a"
    lo, mid, hi = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} [{fmt.format(lo)}-{fmt.format(hi)}]"


def describe(label: str, recs: list[DrillRecord]) -> None:
    print(f"\n{label}: database {med([db_bytes(r) / 1e6 for r in recs], '{:.0f}')} MB")
    print(f"  RTO measured        {med([r.rto_seconds or 0 for r in recs])} s")
    for p in phases(recs[0]):
        print(f"  {p:19} {med([phases(r).get(p, 0.0) for r in recs])} s")
    names = [m.name for m in measured_steps(recs[0].steps)]
    for name in names:
        got: list[Measured] = [m for r in recs for m in measured_steps(r.steps) if m.name == name]
        print(
            f"  step {name[:30]:30} {med([m.seconds for m in got])} s,"
            f" {med([m.nbytes / 1e6 for m in got], '{:.0f}')} MB,"
            f" {med([m.nbytes / m.seconds / 1e6 for m in got], '{:.0f}')} MB/s"
        )
        commands(recs, name)


def commands(recs: list[DrillRecord], step: str, top: int = 5) -> None:
    """The step's longest recorded commands (what is fixed and what grows inside it)."""
    spans: dict[str, list[float]] = {}
    for r in recs:
        for s in r.steps:
            if s.name == step:
                for c in s.commands:
                    key = c.text[:60]
                    spans.setdefault(key, []).append(c.duration or 0.0)
    longest = sorted(spans.items(), key=lambda kv: -statistics.median(kv[1]))[:top]
    for text, ds in longest:
        print(f"      {med(ds)} s  {text}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=int, default=10, help="app_database scale (10 ~ 100 MB)")
    ap.add_argument("--factor", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    base = Path(os.environ.get("DRILLBOOK_TMPDIR") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-projection-", dir=base))
    try:
        (folder / "test_bench_projection.py").write_text(DRILL)
        small: list[DrillRecord] = []
        large: list[DrillRecord] = []
        for r in range(args.rounds):
            sizes = [args.scale, args.scale * args.factor]
            for sc in sizes if r % 2 == 0 else sizes[::-1]:
                print(f"round {r + 1}: scale {sc}, load {os.getloadavg()[0]:.1f}", flush=True)
                (small if sc == args.scale else large).append(run_drill(folder, sc))
        describe(f"S (scale {args.scale})", small)
        describe(f"{args.factor}xS (scale {args.scale * args.factor})", large)
        report(small, large)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(small: list[DrillRecord], large: list[DrillRecord]) -> None:
    """Projection from each S round to the same round's 5xS database size."""
    new_err, old_err = [], []
    phase_err: dict[str, list[float]] = {p: [] for p in phases(large[0])}
    print("\nprojected from S vs measured at 5xS (same round):")
    for s, big in zip(small, large, strict=True):
        new, old, per_phase = projections(s, db_bytes(big))
        measured = big.rto_seconds or 0.0
        new_err.append(new / measured - 1)
        old_err.append(old / measured - 1)
        got = phases(big)
        for p, v in per_phase.items():
            if got.get(p, 0.0) >= 0.05:  # an error of a phase that took no time means nothing
                phase_err[p].append(v / got[p] - 1)
        print(f"  RTO measured {measured:.2f} s, projected new {new:.2f} s, old {old:.2f} s")
        print("    per phase projected/measured s: " + ", ".join(
            f"{p} {per_phase[p]:.2f}/{got.get(p, 0.0):.2f}" for p in per_phase
        ))  # fmt: skip
    pct = "{:+.0%}"
    print(f"  RTO error new (every growing step scaled): {med(new_err, pct)}")
    print(f"  RTO error old (restore step only):        {med(old_err, pct)}")
    for p, errs in phase_err.items():
        if errs:
            print(f"  {p:12} error: {med(errs, pct)}")


if __name__ == "__main__":
    main()

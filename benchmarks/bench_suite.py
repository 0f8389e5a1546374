#!/usr/bin/env python3
"""The suite's own speed: pytest start-up with the plugin, ``pytest drills`` serial and
with ``-n 2``, and where a drill's wall time goes.

Issue 14's goals (printed here, never asserted in a test):

- pytest start-up with the plugin <= 1 s over bare pytest (``-p no:drillbook``), both
  collecting one trivial test in an empty folder (median of ``--rounds``, the two
  alternating, each round's difference taken between its own two runs);
- ``pytest drills`` <= 60 s serial on 2 cores, and ``-n 2`` <= 0.6 x serial;
- where the time goes, per drill and summed, from the run's drills.json (the drill
  record's clock) and each test's pytest phases (recorded by a small plugin this script
  hands to pytest):

  ======================  =====================================================
  set-up before t0        drill record start -> t0 (servers, data, backups, ledger)
  inside the RTO          t0 -> validated (a drill that failed: t0 -> its end)
  after validation        validated -> end of the test's call
  teardown                pytest teardown of the test (servers closed)
  outside the record      the test's set-up before the ``drill`` fixture started
  outside the tests       the run's wall minus every test (start-up, collection,
                          session servers closed, the report written)
  ======================  =====================================================

Run from the project root (the drills start real servers; the machine's load is
printed with every figure, since a shared 2-core VM moves them 2-3x)::

    .venv/bin/python benchmarks/bench_suite.py --rounds 7              # everything
    .venv/bin/python benchmarks/bench_suite.py --skip-drills           # start-up only
    .venv/bin/python benchmarks/bench_suite.py --skip-startup --drills drills/smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest"]

# The plugin that records each test's setup/call/teardown durations (on the xdist
# controller too: it sees every worker's reports).
TIMING_PLUGIN = """
import json, os
_OUT = os.environ["BENCH_SUITE_TIMES"]
_TIMES = {}

def pytest_runtest_logreport(report):
    _TIMES.setdefault(report.nodeid, {})[report.when] = report.duration

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        with open(_OUT, "w") as fh:
            json.dump(_TIMES, fh)
"""


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def med(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


# -- start-up -----------------------------------------------------------------------------


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU user+sys) seconds of one run; CPU is what a loaded machine moves least."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{output[-2000:]!r}")
    return took, usage.ru_utime + usage.ru_stime


def startup(rounds: int) -> None:
    """Bare pytest vs pytest with the plugin, collecting one test in an empty folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        folder = Path(tmp)
        (folder / "test_one.py").write_text("def test_one():\n    assert True\n")
        common = ["--co", "-q", "-p", "no:cacheprovider", "test_one.py"]
        bare_argv = [*PYTEST, *common, "-p", "no:drillbook"]
        plugin_argv = [*PYTEST, *common]
        _timed(plugin_argv, folder, env)  # warm the page cache once, not counted
        got: dict[str, list[tuple[float, float]]] = {"bare": [], "plugin": []}
        for i in range(rounds):
            pair = [("bare", bare_argv), ("plugin", plugin_argv)]
            for name, argv in reversed(pair) if i % 2 else pair:
                got[name].append(_timed(argv, folder, env))
    print(f"== pytest start-up (--co of one test), {rounds} rounds, load {load()}")
    for k, what in enumerate(("wall", "CPU")):
        bare = [b[k] for b in got["bare"]]
        plugin = [p[k] for p in got["plugin"]]
        diff = [p - b for p, b in zip(plugin, bare, strict=True)]
        print(f"  {what:4s} bare pytest (-p no:drillbook)  {med(bare)} s")
        print(f"  {what:4s} pytest with the plugin         {med(plugin)} s")
        print(f"  {what:4s} plugin - bare (same round)     {med(diff)} s   (goal <= 1 s)")
    print(f"  PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")


# -- the drills ----------------------------------------------------------------------------


def run_drills(target: str, workers: int, keep: Path) -> dict[str, Any]:
    """One ``pytest <target>`` (``-n workers`` if > 0): wall, per-test phases, records."""
    keep.mkdir(parents=True, exist_ok=True)
    (keep / "bench_suite_timing.py").write_text(TIMING_PLUGIN)
    times = keep / "times.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "BENCH_SUITE_TIMES": str(times),
        "PYTHONPATH": os.pathsep.join([str(keep), os.environ.get("PYTHONPATH", "")]),
    }
    argv = [*PYTEST, target, "-q", "-p", "bench_suite_timing", "-p", "no:randomly"]
    argv += [f"--drill-report-dir={keep / 'reports'}", "--drill-history=none"]
    if workers:
        argv += ["-n", str(workers)]
    before = load()
    with open(keep / "output.txt", "wb") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # CPU of pytest, its workers and servers
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = (keep / "output.txt").read_text(errors="replace")
    doc = json.loads((keep / "reports" / "latest.json").read_text())
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rc": proc.returncode,
        "load": f"{before} -> {load()}",
        "times": json.loads(times.read_text()),
        "drills": doc["drills"],
        "tail": output.strip().splitlines()[-1:],
    }


def split(run: dict[str, Any]) -> tuple[dict[str, float], list[tuple[str, dict[str, float]]]]:
    """Seconds per part of every drill (see the module docstring), and the totals."""
    rows = []
    total = dict.fromkeys(("pre_t0", "rto", "after", "teardown", "outside", "tests"), 0.0)
    for entry in run["drills"]:
        rec = entry["record"]
        phases = run["times"].get(entry["drill_id"], {})
        origin, end = rec["origin_mono"], rec["finished_mono"] or rec["origin_mono"]
        t0, validated = rec["t0_mono"], rec["validated_mono"]
        part = {
            "pre_t0": (t0 or end) - origin,
            "rto": ((validated or end) - t0) if t0 else 0.0,
            "after": (end - validated) if validated else 0.0,
            "teardown": phases.get("teardown", 0.0),
            "tests": sum(phases.values()),
        }
        part["outside"] = max(0.0, part["tests"] - (end - origin) - part["teardown"])
        rows.append((entry["drill_id"], part))
        for key, value in part.items():
            total[key] += value
    return total, rows


def show_split(name: str, run: dict[str, Any], workers: int, per_drill: bool) -> None:
    total, rows = split(run)
    tests = total["tests"] or 1.0
    print(
        f"== {name}: wall {run['wall']:.1f} s, CPU {run['cpu']:.1f} s (pytest, workers and "
        f"every server it started), exit {run['rc']}, load {run['load']}"
    )
    print(f"  {run['tail'][0] if run['tail'] else ''}")
    labels = {
        "pre_t0": "set-up before t0",
        "rto": "inside the RTO",
        "after": "after validation",
        "teardown": "teardown",
        "outside": "outside the record",
    }
    for key, label in labels.items():
        print(f"  {label:22s} {total[key]:7.1f} s  {100 * total[key] / tests:5.1f} % of tests")
    span = run["wall"] * max(1, workers)
    print(f"  {'sum of the tests':22s} {total['tests']:7.1f} s")
    print(f"  {'outside the tests':22s} {span - total['tests']:7.1f} s  (wall x workers - tests)")
    if per_drill:
        print(f"  {'drill':58s} {'total':>6s} {'pre':>6s} {'rto':>6s} {'after':>5s} {'tdown':>5s}")
        for drill_id, p in sorted(rows, key=lambda r: -r[1]["tests"]):
            print(
                f"  {drill_id[-58:]:58s} {p['tests']:6.1f} {p['pre_t0']:6.1f} {p['rto']:6.1f}"
                f" {p['after']:5.1f} {p['teardown']:5.1f}"
            )


def drills(target: str, workers: int, per_drill: bool, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-suite-runs-") as tmp:
        base = keep or Path(tmp)
        serial = run_drills(target, 0, base / "serial")
        show_split(f"pytest {target} (serial)", serial, 1, per_drill)
        if workers:
            parallel = run_drills(target, workers, base / f"n{workers}")
            show_split(f"pytest {target} -n {workers}", parallel, workers, per_drill)
            ratio = parallel["wall"] / serial["wall"]
            print(f"== -n {workers} / serial wall: {ratio:.2f}  (goal <= 0.6)")
            got = {d["drill_id"] for d in parallel["drills"]}
            want = {d["drill_id"] for d in serial["drills"]}
            missing = sorted(want - got)
            print(f"  report of the -n {workers} run: {len(got)} drills, missing {missing}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="start-up rounds (default 7)")
    ap.add_argument("--drills", default="drills", help="what `pytest` runs (default drills)")
    ap.add_argument("--workers", type=int, default=2, help="-n for the parallel run (0: none)")
    ap.add_argument("--skip-startup", action="store_true")
    ap.add_argument("--skip-drills", action="store_true")
    ap.add_argument("--per-drill", action="store_true", help="one line per drill")
    ap.add_argument("--keep", type=Path, help="keep outputs, reports and timings here")
    args = ap.parse_args()
    os.environ.setdefault("DRILLBOOK_TMPDIR", tempfile.gettempdir() + "/drillbook-bench-suite")
    if not args.skip_startup:
        startup(args.rounds)
    if not args.skip_drills:
        drills(args.drills, args.workers, args.per_drill, args.keep)


if __name__ == "__main__":
    main()

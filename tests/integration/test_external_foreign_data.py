"""The external backend never destroys someone else's data (issue 12).

Servers started here with the local backend hold someone else's data
(:mod:`.foreign_data`: versioned buckets with objects, versions, metadata and a delete
marker; Redis keys of every type in four databases; application databases with rows,
one named like a drill's, and a table in the maintenance database). Every shipped drill
then runs against them through ``--drill-backend=external`` in a pytest of its own, and
a full dump taken before and after must be byte-identical: drills that would need to
change something the run did not create end NOT RUN, never a silent pass. With the
S3 host allow-listed, only that host changes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.integration import foreign_data as fd
from tests.integration.foreign_data import Servers, servers

ROOT = fd.ROOT
__all__ = ["servers"]  # the module fixture
PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
SUMMARY = re.compile(r"drills: (\d+) passed, (\d+) failed, (\d+) not run")


@dataclass
class Outcome:
    passed: int
    failed: int
    not_run: int
    output: str


def run_drills(servers: Servers, *args: str, allow: str = "", cwd: Path = ROOT) -> Outcome:
    res = subprocess.run(
        [*PYTEST, "--no-drill-report", *args],
        cwd=cwd,
        env=servers.env(allow),
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = res.stdout + res.stderr
    assert "INTERNALERROR" not in out and "Traceback" not in out.split("= drills =")[-1], out
    found = SUMMARY.search(out)
    assert found, out
    passed, failed, not_run = (int(g) for g in found.groups())
    return Outcome(passed, failed, not_run, out)


def assert_identical(before: dict[str, fd.Dump], after: dict[str, fd.Dump], *kinds: str) -> int:
    """Every dump of *kinds* byte-identical; the bytes compared."""
    compared = 0
    for kind in kinds:
        assert fd.differences(before[kind], after[kind]) == [], kind
        compared += fd.size(before[kind])
    return compared


def test_every_drill_leaves_foreign_data_byte_identical(servers: Servers) -> None:
    before = servers.dump()
    result = run_drills(servers, "drills")
    after = servers.dump()
    compared = assert_identical(before, after, "postgres", "redis", "s3")
    # Drills that can run there ran (and passed); the rest are NOT RUN, none failed.
    assert result.failed == 0, result.output
    assert result.passed >= 1 and result.not_run >= 1, result.output
    assert "CREATE DATABASE orders: a database of that name already exists" in result.output
    entries = ", ".join(f"{k} {len(v)} entries" for k, v in before.items())
    print(
        f"foreign data: {result.passed} drills PASS, {result.not_run} NOT RUN, "
        f"{compared} bytes compared ({entries})"
    )


def test_an_existing_bucket_of_the_drills_name_is_never_reused(servers: Servers) -> None:
    """The issue's reproduction: ``pytest drills/ransomware`` (and the object_storage drill
    on the same bucket name) against an endpoint where a ``media-assets`` bucket with
    someone's objects exists: NOT RUN, the bucket's versioning, lock and objects as they
    were."""
    fd.plant_s3(servers.s3.client(), (fd.COLLIDING_BUCKET,))
    before = servers.dump()
    prefix = "drills/object_storage/test_object_storage.py::test_prefix_deletion_version_restore"
    result = run_drills(servers, "drills/ransomware", prefix)
    after = servers.dump()
    assert_identical(before, after, "postgres", "redis", "s3")
    assert (result.passed, result.failed, result.not_run) == (0, 0, 3), result.output
    refused = r"refused on the external s3 at [^:]+:\d+: (\w+) (?:on bucket )?(\S+):"
    refusals = set(re.findall(refused, result.output))
    # object_storage reaches the colliding bucket; the ransomware drills are refused one
    # step earlier, at their proof of object lock (COMPLIANCE retention on a scratch
    # bucket of the run's own: nothing could delete it before it expires).
    assert ("PutBucketVersioning", fd.COLLIDING_BUCKET) in refusals, result.output
    others = {bucket for _op, bucket in refusals} - {fd.COLLIDING_BUCKET}
    assert all(b.startswith("drillbook-lock-rules-") for b in others), result.output
    assert result.output.count("it asks for COMPLIANCE retention") >= len(others)


def test_only_the_allow_listed_host_is_touched(servers: Servers) -> None:
    """With the S3 host allow-listed a drill may reuse (and teardown remove) the colliding
    bucket; PostgreSQL and Redis, not listed, and the other buckets stay byte-identical."""
    client = servers.s3.client()
    if fd.COLLIDING_BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        fd.plant_s3(client, (fd.COLLIDING_BUCKET,))
    before = servers.dump()
    prefix = "drills/object_storage/test_object_storage.py::test_prefix_deletion_version_restore"
    result = run_drills(servers, prefix, allow=f"127.0.0.1:{servers.s3.port}")
    after = servers.dump()
    assert_identical(before, after, "postgres", "redis")
    changed = fd.differences(before["s3"], after["s3"])
    assert changed, "the allow-listed bucket was reused and removed"
    assert all(fd.COLLIDING_BUCKET in line or "s3:buckets" in line for line in changed), changed
    assert result.not_run == 0, result.output


def test_a_refusal_drill_code_swallows_is_still_not_run(servers: Servers, tmp_path: Path) -> None:
    """A drill that catches the guard's refusal and goes on cannot pass."""
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "test_swallow.py").write_text(
        textwrap.dedent(
            """
            def test_swallows_the_refusal(s3):
                try:
                    s3.client().put_object(Bucket="foreign-prod", Key="x", Body=b"drill")
                except Exception:
                    pass  # "the write failed, never mind"
            """
        )
    )
    before = servers.dump()["s3"]
    res = subprocess.run(
        [*PYTEST, str(tmp_path)],
        cwd=tmp_path,
        env=servers.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "NOT RUN" in out and "PutObject on bucket foreign-prod" in out, out
    assert "1 not run" in out, out  # the call "passed"; its teardown makes it NOT RUN
    assert fd.differences(before, servers.dump()["s3"]) == []

"""The Redis and S3 stages of a verification.

Redis: the RDB loads into a local server (:mod:`.rdb`); keys per database and memory are
the counts volume drift is judged on. S3: the bucket is listed and compared with its
manifest (:mod:`.inventory`); the newest object's LastModified is the backup's age.
"""

from __future__ import annotations

from pathlib import Path

from drillbook.scenarios.verify import inventory, rdb
from drillbook.scenarios.verify.locate import Fetched
from drillbook.scenarios.verify.reader import FileSource, NoSuchBackup, S3Source
from drillbook.scenarios.verify.run import Context, Outcome
from drillbook.verify import formats
from drillbook.verify.model import NotVerified, VerifyResult
from drillbook.verify.source import parse_s3_url


def redis(ctx: Context, result: VerifyResult, fetched: Fetched) -> Outcome:
    info = result.backup
    assert info is not None
    info.format = "rdb"
    try:
        header = formats.parse_rdb_header(FileSource.head_bytes(fetched.path, 65536))
    except formats.FormatError as exc:
        raise rdb.RdbCorrupt(f"{fetched.path.name}: {exc}") from None
    info.created = header.created
    info.created_from = "rdb ctime" if header.created else None
    info.server_version = header.aux.get("redis-ver") or header.aux.get("valkey-ver")
    info.dump_version = f"RDB {header.version}"
    with ctx.drill.step(
        "load RDB into a local server", ctx.restore_phase, timeout=ctx.timeout
    ) as step:
        loaded = step.call(f"load {fetched.path.name}", rdb.load, fetched.path, timeout=ctx.timeout)
        step.processed(info.size or 0)
    result.restore_s = step.step.duration
    result.restore_ran = True
    result.server = loaded.server
    out = Outcome(result, loaded.handle, None, loaded.handle.close)
    with ctx.drill.step("validate loaded keys", ctx.validate_phase) as step:
        result.counts = dict(loaded.keys)
        result.restored_bytes = loaded.used_memory
        alive = loaded.handle.is_healthy()
        result.check("server answers after the load", alive)
        total = sum(loaded.keys.values())
        result.check("keys loaded", total > 0, f"{total} keys in {len(loaded.keys)} databases")
        step.note("keys", result.counts)
    result.validate_s = step.step.duration
    if not alive:
        result.add("RESTORE_FAILED", "the server stopped answering after loading the RDB")
    if total == 0:
        result.add("RESTORE_EMPTY", "the RDB loaded with no keys")
    result.validated = True
    return out


def _manifest(ctx: Context) -> bytes:
    spec = ctx.spec
    assert spec is not None and spec.manifest is not None
    if spec.manifest.startswith("s3://"):
        loc = parse_s3_url(spec.manifest, "manifest")
        src = S3Source(loc.bucket, endpoint=spec.endpoint, region=spec.region)
        try:
            return src.read_small(loc.key, inventory.MAX_MANIFEST)
        except NoSuchBackup as exc:
            raise NotVerified("SOURCE_UNREADABLE", f"manifest {spec.manifest}: {exc}") from None
    path = Path(spec.manifest)
    path = path if path.is_absolute() else ctx.base_dir / path
    try:
        return FileSource.head_bytes(path, inventory.MAX_MANIFEST)
    except OSError as exc:
        raise NotVerified("SOURCE_UNREADABLE", f"manifest {path}: {exc.strerror or exc}") from None


def inventory_check(ctx: Context, result: VerifyResult) -> Outcome:
    spec = ctx.spec
    assert spec is not None and spec.url is not None
    src = S3Source(spec.url.bucket, endpoint=spec.endpoint, region=spec.region)
    with ctx.drill.step(f"list {spec.url}", ctx.restore_phase, timeout=ctx.timeout) as step:
        listing = step.call(f"list {spec.url}", lambda: list(src.list(spec.url.key)))
    result.restore_s = step.step.duration
    if not listing:
        raise NoSuchBackup(f"{spec.url}: no objects")
    try:
        expected = inventory.parse_manifest(_manifest(ctx))
    except (inventory.ManifestError, ValueError) as exc:
        raise NotVerified("SOURCE_UNREADABLE", f"manifest {spec.manifest}: {exc}") from None
    with ctx.drill.step("compare with the manifest", ctx.validate_phase) as step:
        cmp = inventory.compare(listing, expected)
        step.note("objects", {"listed": cmp.objects, "manifest": cmp.expected_objects})
    result.validate_s = step.step.duration
    result.backup.size, result.backup.files = cmp.bytes, cmp.objects  # type: ignore[union-attr]
    result.backup.modified = cmp.newest  # type: ignore[union-attr]
    result.counts = {"objects": cmp.objects}
    result.restored_bytes = cmp.bytes
    result.check("every manifest object present at its size", cmp.ok, cmp.problems())
    if not cmp.ok:
        result.add("INVENTORY_MISMATCH", f"{spec.url} vs {spec.manifest}: {cmp.problems()}")
    if cmp.extra:
        result.add(
            "INVENTORY_MISMATCH",
            f"{len(cmp.extra)} objects not in the manifest (newer than it?): "
            + ", ".join(cmp.extra[:5]),
            severity="warn",
        )
    result.restore_ran = result.validated = True
    return Outcome(result)


def s3_inventory(ctx: Context, result: VerifyResult) -> Outcome:
    from drillbook.verify.model import BackupInfo

    assert ctx.spec is not None
    result.backup = BackupInfo(ctx.spec.display(), format="inventory")
    return inventory_check(ctx, result)

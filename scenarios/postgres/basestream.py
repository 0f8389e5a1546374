"""Base backups streamed: ``pg_basebackup``'s tar piped into S3 while it is taken, and
piped from S3 into ``tar -x`` when restored. No full copy on local disk either way.

- taking: ``pg_basebackup -D - -Ft -v`` writes one tar to stdout (``-X none`` or
  ``-X fetch``: ``-X stream`` cannot go to stdout; the ``backup_manifest`` is inside the
  tar); :meth:`BackupStore.put_stream` uploads it as a multipart upload while it is
  produced and records the SHA-256 computed on the stream. Where the backup starts
  (its START WAL LOCATION and timeline, what a PITR replays from) is read from ``-v``'s
  "write-ahead log start point" line.
- restoring: the GET streams into the system ``tar -x`` (faster than Python's tarfile:
  0.65 s vs 0.99 s on 173 MB here), hashed on the way; the checksum is held to the
  catalog's once the last byte went through, before anything starts on the files.
  Without a ``tar`` binary, the object is downloaded and unpacked with :mod:`tarfile`.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import IO

from drillbook.drill import StepContext
from drillbook.redact import redact
from drillbook.scenarios.common import scratch_dir
from drillbook.scenarios.postgres import wal
from drillbook.scenarios.store import BackupStore, StoredObject

__all__ = ["extract_tar", "label_start", "parse_label", "restore_base", "stream_base_backup"]

START = re.compile(r"write-ahead log start point: ([0-9A-F]+/[0-9A-F]+) on timeline (\d+)")
TAKE_TIMEOUT = 3600.0  # a base backup still running after this long is killed


def stream_base_backup(
    step: StepContext,
    argv: list[str],
    env: dict[str, str],
    store: BackupStore,
    key: str,
    *,
    timeout: float = TAKE_TIMEOUT,
) -> tuple[StoredObject, int | None, int | None]:
    """Run *argv* (``pg_basebackup -D - -Ft -v ...``) with *env* and upload its stdout
    to *store* as *key*, one recorded call of *step*. Returns the object, the backup's
    start LSN and timeline (None when the log line is missing). A failed or timed-out
    run raises RuntimeError with its last stderr lines and leaves no object behind."""
    text = f"{redact(' '.join(argv))} | s3 multipart put {store.url(store.prefix + key)}"
    return step.call(text, _stream, argv, env, store, key, timeout)


def _stream(
    argv: list[str], env: dict[str, str], store: BackupStore, key: str, timeout: float
) -> tuple[StoredObject, int | None, int | None]:
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,
        )
        killer = threading.Timer(timeout, _kill_group, (proc,))
        killer.start()
        try:
            assert proc.stdout is not None
            head = _Head(proc.stdout)
            with proc.stdout:
                obj = store.put_stream(head, key)
            rc = proc.wait(timeout=60)
        except BaseException:
            _kill_group(proc)
            proc.wait(timeout=10)
            raise
        finally:
            killer.cancel()
        err.seek(0)
        log = err.read().decode("utf-8", "replace")
    if rc != 0:
        with contextlib.suppress(Exception):
            store.client.delete_object(Bucket=store.bucket, Key=obj.key)
        store.catalog.pop(obj.key, None)
        tail = " | ".join(log.strip().splitlines()[-3:])
        raise RuntimeError(f"{Path(argv[0]).name} exited {rc}: {tail or 'no error output'}")
    found = START.search(log)  # printed with -X fetch; with -X none, only the label has it
    if found is None:
        return obj, *label_start(head.head)
    return obj, wal.parse_lsn(found.group(1)), int(found.group(2))


class _Head:
    """A reader that keeps the first *keep* bytes read through it: the tar's first
    member is the ``backup_label``, which says where the backup starts."""

    def __init__(self, raw: IO[bytes], keep: int = 1 << 20) -> None:
        self.raw = raw
        self.keep = keep
        self.head = b""

    def read(self, n: int = -1, /) -> bytes:
        data = self.raw.read(n)
        if len(self.head) < self.keep:
            self.head += data[: self.keep - len(self.head)]
        return data


def label_start(tar_head: bytes) -> tuple[int | None, int | None]:
    """(START WAL LOCATION, START TIMELINE) from the ``backup_label`` in the first bytes
    of a base backup's tar; (None, None) when it is not there."""
    broken = contextlib.suppress(tarfile.TarError, OSError, EOFError, UnicodeDecodeError)
    with broken, tarfile.open(fileobj=io.BytesIO(tar_head), mode="r|") as tf:
        for member in tf:
            if member.name == "backup_label":
                f = tf.extractfile(member)
                return parse_label(f.read().decode() if f else "")
    return None, None


def parse_label(text: str) -> tuple[int | None, int | None]:
    """(START WAL LOCATION, START TIMELINE) of a ``backup_label``'s text."""
    lsn = timeline = None
    for line in text.splitlines():
        if line.startswith("START WAL LOCATION:"):
            lsn = wal.parse_lsn(line.split(":", 1)[1].split()[0])
        elif line.startswith("START TIMELINE:"):
            timeline = int(line.split(":", 1)[1])
    return lsn, timeline


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def restore_base(
    step: StepContext, store: BackupStore, name: str, objects: list[StoredObject], data_dir: Path
) -> None:
    """Unpack the tars of base backup *name* (base.tar, tablespace tars) from *store*
    into the empty *data_dir*, streamed and verified; each one a recorded call of *step*
    (a mismatch raises ``BackupCorrupt``)."""
    for obj in objects:
        rel = obj.key[len(store.prefix + name) + 1 :]
        if not rel.endswith(".tar"):
            continue  # a backup_manifest uploaded beside the tar (older backups)
        target = data_dir if rel == "base.tar" else data_dir / "pg_tblspc" / rel[: -len(".tar")]
        how = "tar -xf -" if shutil.which("tar") else "tarfile"
        text = f"s3 get {store.url(obj.key)} (verify sha256) | {how} -C {target}"
        step.call(text, _get_into, store, obj, target)
    # On disk before the server starts: the extraction's write-back is the restore's own
    # cost (it grows with the data), not a hidden part of the start-up's syncfs.
    step.call(f"syncfs {data_dir} (the restored files on disk)", syncfs, data_dir)


def syncfs(path: Path) -> None:
    """Flush the filesystem holding *path* (``syncfs(2)``; ``sync(2)`` where libc has none)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _get_into(store: BackupStore, obj: StoredObject, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    tar = shutil.which("tar")
    if tar is None:  # no tar binary: download, then Python's tarfile
        scratch = scratch_dir("base-tar")
        try:
            store.get_file(obj.key, scratch / "base.tar", obj)
            extract_tar(scratch / "base.tar", target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [tar, "-xf", "-", "-C", str(target)], stdin=subprocess.PIPE, stderr=err
        )
        pipe = _Pipe(proc)
        try:
            # Every byte is hashed, also after tar stopped reading (at its end-of-archive
            # blocks, or at a header it gave up on): the checksum, not tar, says whether
            # the stream is the backup, so bytes after the archive cannot pass unverified.
            store.get_stream(obj.key, pipe.write, obj)
        except BrokenPipeError:
            pass  # tar was killed: its status says so below
        finally:
            pipe.close()
            _wait(proc)
        err.seek(0)
        errors = " | ".join(err.read().decode("utf-8", "replace").strip().splitlines()[-3:])
    if proc.returncode != 0:
        raise RuntimeError(f"tar -x of {store.url(obj.key)} exited {proc.returncode}: {errors}")


class _Pipe:
    """A pipe into a process that may stop reading: what comes after is dropped (the
    caller still hashes it) and the process's exit status says why it stopped. Killed
    by a signal (out of memory, the watchdog), it is not waited for: the download ends."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None
        self.proc = proc
        self.raw = proc.stdin
        self.broken = False

    def write(self, chunk: bytes) -> None:
        if self.broken:
            return
        try:
            self.raw.write(chunk)
        except BrokenPipeError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1)
            if self.proc.returncode is not None and self.proc.returncode < 0:
                raise
            self.broken = True

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.raw.close()


def _wait(proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    """Wait for *proc* with a deadline; killed when it passes (or on any other error)."""
    try:
        proc.wait(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise


def extract_tar(tar: Path, target: Path) -> None:
    """Unpack the tar file *tar* into *target*: the system ``tar`` where there is one,
    else Python's :mod:`tarfile`."""
    target.mkdir(parents=True, exist_ok=True)
    binary = shutil.which("tar")
    if binary is not None:
        argv = [binary, "-xf", str(tar), "-C", str(target)]
        res = subprocess.run(argv, capture_output=True, timeout=TAKE_TIMEOUT)
        if res.returncode != 0:
            msg = res.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"tar -xf {tar} exited {res.returncode}: {msg}")
        return
    with tarfile.open(tar) as tf:
        tf.extractall(target, filter="fully_trusted")

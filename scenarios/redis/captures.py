"""What Redis' persistence had captured at t0: the recovery-point oracle's samples.

Registered by :func:`~.stack.build` (``drill.protect``), sampled just before the fault:

- the RDB snapshots in S3: the newest one uploaded had every write acknowledged before
  its BGSAVE was sent (Redis runs commands one at a time; the fork sees all before it);
  its bound is the drill's compressed one (interval + snapshot duration), with the scale
  to production;
- the AOF: with ``appendfsync always`` every acknowledged write; ``everysec`` every
  write acknowledged more than 2 s before t0 (Redis may postpone a write that long
  behind a slow fsync); ``no`` more than 30 s (the kernel's dirty-page expiry). A fault
  that takes the AOF with it (the data directory lost, a FLUSHALL recorded in it) says
  so (``drillbook.capture.destroyed``) and the AOF is then not held to its point.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from drillbook.capture import Capture, CapturePoint
from drillbook.scenarios.common import source_of
from drillbook.targets import AOF_NO_FLUSH_SECONDS

if TYPE_CHECKING:
    from drillbook.scenarios.redis.stack import RedisStack

__all__ = ["AOF_WINDOW", "aof_capture", "rdb_capture"]

#: Seconds before t0 from which an acknowledged write is surely in the AOF, per mode.
AOF_WINDOW = {"always": 0.0, "everysec": 2.0, "no": AOF_NO_FLUSH_SECONDS}


def rdb_capture(st: RedisStack) -> Capture:
    """The snapshot schedule of *st* (snapshots uploaded to its store)."""
    source = source_of(st.handle)
    name = f"RDB snapshots in {st.store.url(st.store.prefix)}"

    def sample() -> CapturePoint:
        newest = st.schedule.newest(before_mono=time.monotonic())
        bound = st.rdb_bound() if st.schedule.snapshots else None
        scale = st.persistence.scale or 1.0
        if newest is None:
            return CapturePoint(
                "rdb", name, source, "nothing: no snapshot uploaded yet", seq_through=0,
                bound_s=bound, scale=scale,
            )  # fmt: skip
        return CapturePoint(
            "rdb",
            name,
            source,
            f"every write acknowledged before the BGSAVE of {newest.key}",
            acked_before_mono=newest.point_mono,
            bound_s=bound,
            scale=scale,
        )

    return Capture("rdb", name, source, sample, kinds=("rdb", "snapshot"))


def aof_capture(st: RedisStack) -> Capture | None:
    """The AOF of *st*'s server, or None when it runs without one."""
    mode = st.persistence.aof
    if mode is None:
        return None
    source = source_of(st.handle)
    name = f"AOF (appendfsync {mode}) of {st.handle.name}"
    window = AOF_WINDOW[mode]

    def sample() -> CapturePoint:
        at = time.monotonic() - window
        point = (
            "every acknowledged write"
            if window == 0
            else f"every write acknowledged more than {window:g} s before t0"
        )
        return CapturePoint("aof", name, source, point, acked_before_mono=at)

    return Capture("aof", name, source, sample, kinds=("aof",))

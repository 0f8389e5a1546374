"""A SIGKILLed PostgreSQL leaves no System V segment behind (fixtures.sysv).

Every crash drill SIGKILLs servers; each kill used to leave its postmaster's 56-byte
segment until reboot (612 of them on this machine after a day of test runs), and at
``kernel.shmmni`` no PostgreSQL can start. Another server's segment is never touched.
"""

from __future__ import annotations

import signal

from drillbook.fixtures import procs, sysv


def test_a_killed_server_s_segment_is_removed_at_close_and_no_other(pg_factory) -> None:
    victim = pg_factory("sysv-victim")
    bystander = pg_factory("sysv-bystander")
    mine, theirs = sysv.note(victim.data_dir), sysv.note(bystander.data_dir)
    assert mine is not None and theirs is not None and mine != theirs
    victim.kill(signal.SIGKILL)
    assert sysv.exists(mine), "a SIGKILLed postmaster leaves its segment (the leak)"
    victim.close()
    assert not sysv.exists(mine)
    assert sysv.exists(theirs), "the running server's segment must stay"
    assert bystander.execute("SELECT 1") == [(1,)]


def test_a_segment_still_attached_or_made_by_another_process_is_kept(pg_factory) -> None:
    server = pg_factory("sysv-live")
    seg = sysv.note(server.data_dir)
    assert seg is not None
    assert not sysv.release(seg), "attached to a running server: never removed"
    assert not sysv.release(sysv.Segment(shmid=seg.shmid, cpid=seg.cpid + 1))
    assert sysv.exists(seg)


def test_the_reaper_s_kill_removes_the_postmaster_s_segment_and_no_other(pg_factory) -> None:
    """A killed pytest's servers are SIGKILLed by the next run's reaper (procs.kill_group),
    with no handle to close: the segment is found by its creator, the postmaster killed."""
    victim = pg_factory("sysv-reaped")
    bystander = pg_factory("sysv-reaped-bystander")
    mine, theirs = sysv.note(victim.data_dir), sysv.note(bystander.data_dir)
    assert mine is not None and theirs is not None
    pid = victim.pid
    assert pid is not None and mine.cpid == pid
    assert sysv.created_by(procs.started_epochs([pid])) == [mine]
    procs.kill_group(pid, pid, procs.proc_start_time(pid))
    assert not sysv.exists(mine), "the reaper's SIGKILL left the segment"
    assert sysv.exists(theirs) and bystander.execute("SELECT 1") == [(1,)]
    victim.close()


def test_a_segment_older_than_its_creator_pid_s_process_is_not_its_own(pg_factory) -> None:
    """A pid recycled since: the segment was made before this process started."""
    seg = sysv.note(pg_factory("sysv-age").data_dir)
    assert seg is not None
    [row] = [r.split() for r in sysv.SHM_TABLE.read_text().splitlines()[1:] if
             r.split()[1] == str(seg.shmid)]  # fmt: skip
    ctime = int(row[13])
    assert sysv.created_by({seg.cpid: ctime + 5}) == []
    assert sysv.created_by({seg.cpid: ctime}) == [seg]

"""Runbook as code, the running half: a Markdown runbook section as the drill's recovery.

``drill.runbook("runbooks/cache-failure.md", section="Cache Service Recovery",
service="cache", handles={"redis": redis, "s3": s3}, bucket="backups")`` runs every step
of the section (parsed by :mod:`drillbook.runbook`, exactly as ``drillbook runbook
check`` shows it) as a recorded drill step, with the environment bound to the drill's
servers (:mod:`.binding`), ``systemctl``/``docker compose``/``pg_ctl``/``redis-cli
SHUTDOWN`` mapped onto the drill's handles (:mod:`.control`, :mod:`.shim`) and an
``aws`` S3 client where the host has none (:mod:`.s3cli`). See :mod:`.executor` for the
findings.

A drill that is only "fault, then the runbook, then checks"::

    @pytest.mark.drill(service="cache", scenario="complete failure -> runbook")
    def test_cache_runbook(drill, redis_factory, s3):
        ...                                   # set-up: servers, backups, the ledger
        with drill.fault("SIGKILL and the data directory lost"):
            faults.lose_data_dir(redis)
        drill.detect(redis.probe)
        drill.decide("restore the newest snapshot (runbook: Restore from Backup)")
        drill.runbook("runbooks/cache-failure.md", section="Cache Service Recovery",
                      service="cache", handles={"redis": redis, "s3": s3}, bucket="backups")
        drill.verify_ledger(ledger)
"""

from drillbook.scenarios.runbook.executor import (
    RunbookFailed,
    RunbookResult,
    StepResult,
    run_runbook,
    runbook_variant,
)

__all__ = ["RunbookFailed", "RunbookResult", "StepResult", "run_runbook", "runbook_variant"]

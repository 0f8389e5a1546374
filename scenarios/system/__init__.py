"""Multi-service and region drills: the fault proxy between regions, the reference
application's journeys, the full-system stack and the two-region stack
(runbooks/full-system.md, runbooks/region-failover.md)."""

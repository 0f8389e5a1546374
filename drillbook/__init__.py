"""drillbook: DR drill harness engine (record, timeline, ledger, targets, verdicts)."""

__version__ = "0.1.0"

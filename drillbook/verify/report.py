"""The verify section of a report: its data (for drills.json) and a self-contained HTML.

The data is what a reader of the report needs per service, computed once here:
outcome, the backup (where, format, major, size, own timestamp), its age against the
allowed age, download / restore / validation times and their sum against the RTO
target, throughput, what was restored (tables and rows, or keys), the structure
reference, drift, trend and findings. :func:`render_section` turns it into one HTML
``<section>`` with no external resource (it prints to PDF); :func:`render_page` wraps
it into a whole document for ``drillbook verify``'s own report file.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from drillbook.targets import format_duration
from drillbook.verify.model import FAIL, NOT_VERIFIED, OUTCOMES, PASS, VerifyResult
from drillbook.verify.progress import human_bytes

SECTION_SCHEMA = "drillbook.verify/1"
COLOURS = {PASS: "#1a7f37", FAIL: "#cf222e", NOT_VERIFIED: "#9a6700"}


def overall(results: Sequence[VerifyResult]) -> str:
    """FAIL if one failed, else NOT VERIFIED if one could not run (or none ran), else PASS."""
    outcomes = {r.outcome for r in results}
    if FAIL in outcomes:
        return FAIL
    if NOT_VERIFIED in outcomes or not results:
        return NOT_VERIFIED
    return PASS


def _secs(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f} s" if value < 120 else f"{format_duration(round(value))} ({value:.0f} s)"


def _age(value: float | None) -> str:
    return "n/a" if value is None else format_duration(round(value)) or "0"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "n/a"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def headline(r: VerifyResult) -> dict[str, str]:
    """The human figures of one result (also used for the terminal summary)."""
    spent = sum(s or 0.0 for s in (r.download_s, r.restore_s, r.validate_s))
    size = r.backup.size if r.backup else None
    rows = sum(r.counts.values()) if r.counts else None
    return {
        "backup": r.backup.location if r.backup else (r.source or "no source"),
        "age": f"{_age(r.backup_age_s)} (allowed {_age(r.max_age_s)})",
        "times": f"download {_secs(r.download_s)}, restore {_secs(r.restore_s)}, "
        f"validation {_secs(r.validate_s)}",
        "rto": f"{_secs(spent)} vs RTO {_age(r.rto_target_s)}",
        "size": f"{human_bytes(size)} at {human_bytes(r.throughput)}/s"
        if r.throughput
        else human_bytes(size),
        "restored": f"{len(r.counts)} tables/dbs, {rows} rows/keys, {human_bytes(r.restored_bytes)}"
        if rows is not None
        else "nothing",
    }


def section_data(results: Sequence[VerifyResult]) -> dict[str, Any]:
    """The verify section of drills.json."""
    return {
        "schema": SECTION_SCHEMA,
        "overall": overall(results),
        "counts": {o: sum(1 for r in results if r.outcome == o) for o in OUTCOMES},
        "services": [{**r.to_dict(), "headline": headline(r)} for r in results],
    }


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def service_html(r: VerifyResult) -> str:
    h = headline(r)
    colour = COLOURS.get(r.outcome, "#57606a")
    rows = [
        ("backup", h["backup"]),
        (
            "format",
            f"{r.backup.format or '?'} (major {r.backup.major or '?'})" if r.backup else "n/a",
        ),
        (
            "taken",
            f"{_when(r.backup.taken_at)} ({r.backup.created_from or 'file time'})"
            if r.backup
            else "n/a",
        ),
        ("age at check", h["age"]),
        ("restored into", r.server or "n/a"),
        ("times", h["times"]),
        ("total", h["rto"]),
        ("size", h["size"]),
        ("restored", h["restored"]),
        ("structure", _reference_text(r)),
        ("trend", r.trend or "no earlier good run"),
    ]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    findings = "".join(
        f"<li><b>{_e(f.code)}</b> ({_e(f.severity)}): {_e(f.message)}</li>" for f in r.findings
    )
    checks = "".join(
        f"<li>{'&#10003;' if c['passed'] else '&#10007;'} {_e(c['name'])}: {_e(c['detail'])}</li>"
        for c in r.checks
    )
    why = (
        f"<p class='why'>Could not run [{_e(r.not_verified_code)}]: {_e(r.not_verified_reason)}</p>"
        if r.not_verified_reason
        else ""
    )
    return (
        f"<article id='verify-{_e(r.service)}'><h3>{_e(r.service)} "
        f"<span class='badge' style='background:{colour}'>{_e(r.outcome)}</span></h3>{why}"
        f"<table>{table}</table>"
        + (f"<h4>Findings</h4><ul>{findings}</ul>" if findings else "")
        + (
            f"<details><summary>Checks ({len(r.checks)})</summary><ul>{checks}</ul></details>"
            if checks
            else ""
        )
        + "</article>"
    )


def _reference_text(r: VerifyResult) -> str:
    ref = r.reference or {}
    if "written" in ref:
        return f"reference written to {ref['written']} ({ref.get('objects')} objects)"
    if "path" in ref:
        if ref.get("ok"):
            return f"{r.objects} objects, identical to {ref['path']}"
        missing, extra = len(ref.get("missing", [])), len(ref.get("extra", []))
        return f"{missing} missing, {extra} added vs {ref['path']}"
    return f"{r.objects} objects, no reference to compare with" if r.objects else "n/a"


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}"
    "table{border-collapse:collapse;margin:.5em 0}th,td{text-align:left;padding:2px 10px;"
    "border-bottom:1px solid #d0d7de;vertical-align:top}th{color:#57606a;font-weight:500}"
    ".badge{color:#fff;border-radius:4px;padding:1px 8px;font-size:.8em}"
    ".why{color:#9a6700}article{margin-bottom:2em}"
)


def render_section(results: Sequence[VerifyResult]) -> str:
    """One ``<section>`` with every service's verification."""
    verdict = overall(results)
    body = "".join(service_html(r) for r in results) or "<p>No service was verified.</p>"
    return (
        f"<section class='verify'><h2>Restore tests of real backups "
        f"<span class='badge' style='background:{COLOURS.get(verdict)}'>{_e(verdict)}</span>"
        f"</h2>{body}</section>"
    )


def render_page(results: Sequence[VerifyResult], *, title: str = "drillbook verify") -> str:
    stamp = _when(max((r.started for r in results), default=None))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1><p>{_e(stamp)}</p>{render_section(results)}</body></html>\n"
    )

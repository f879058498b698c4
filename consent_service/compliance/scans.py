"""The scan history: every run of the cookie scanner is kept with its report, its counts and what
changed since the site's previous scan, so a shop owner sees a cookie appear (or a fix land) and an
auditor sees when it was checked and by whom.

The scanner itself (consent_service.scan) knows nothing of the database; the command stores what it
returns here. Storing a scan and reading the history write their own access-log entries.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, undefer

from ..errors import NotFound, ServiceError
from ..ids import is_id, new_id
from ..models import Scan
from ..scan.diff import changes
from ..scan.report import FORMAT
from ..times import iso, parse_iso
from .access_log import log_access

#: How many scans a page of the history holds, unless asked otherwise, and at most.
PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
#: The report's counts that a history list shows.
_SUMMARY_KEYS = ("pages", "visits", "duration_seconds", "cookies", "storage", "third_parties", "findings")


@dataclass(frozen=True)
class ScanPage:
    """One page of a site's history, newest first; `next_before` continues it (None: the last page)."""

    scans: list[Scan]
    next_before: str | None


def _change_counts(diff: dict[str, Any], previous_id: str | None) -> dict[str, Any]:
    return {
        "previous_id": previous_id, "changed": diff["changed"],
        "cookies_added": len(diff["cookies"]["added"]), "cookies_removed": len(diff["cookies"]["removed"]),
        "storage_added": len(diff["storage"]["added"]), "storage_removed": len(diff["storage"]["removed"]),
        "findings_new": len(diff["findings"]["new"]), "findings_resolved": len(diff["findings"]["resolved"]),
    }


def store_scan(session: Session, site_id: str, document: dict[str, Any], *, actor: str,
               html: str | None = None) -> Scan:
    """Keep a scan's JSON report (and its HTML report), with what changed since the site's previous
    scan; logged as `scan.store`. ValueError when the document is not a scan report."""
    if not isinstance(document, dict) or document.get("format") != FORMAT or "summary" not in document:
        raise ValueError(f"not a {FORMAT} scan report")
    previous = session.execute(
        sa.select(Scan).options(undefer(Scan.document)).where(Scan.site_id == site_id)
        .order_by(Scan.id.desc()).limit(1)
    ).scalar_one_or_none()
    diff = changes(previous.document if previous is not None else None, document)
    report = document["summary"]
    summary = {key: report.get(key) for key in _SUMMARY_KEYS}
    summary["start_urls"] = list(document.get("start_urls") or [])
    summary["changes"] = _change_counts(diff, previous.id if previous is not None else None)
    scan = Scan(
        id=new_id(), site_id=site_id, actor=actor, scanned_at=parse_iso(document["scanned_at"]),
        finished_at=parse_iso(document.get("finished_at") or document["scanned_at"]),
        policy_version=document.get("policy_version"), exit_code=int(report["exit_code"]), summary=summary,
        previous_id=previous.id if previous is not None else None, changes=diff, document=document,
        report_html=gzip.compress(html.encode("utf-8"), mtime=0) if html is not None else None,
    )
    session.add(scan)
    log_access(session, site_id=site_id, actor=actor, action="scan.store", commit=False, details={
        "scan_id": scan.id, "exit_code": scan.exit_code, "findings": report.get("findings", {}).get("error"),
        "pages": report.get("pages")})
    session.commit()
    return scan


def parse_history_args(args: Mapping[str, str | None]) -> tuple[int, str | None]:
    """`limit` (1 to MAX_PAGE_SIZE) and `before` (a scan id) of a history request, or a 400."""
    raw = args.get("limit")
    limit = PAGE_SIZE
    if raw not in (None, ""):
        if not (len(raw) <= 4 and raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE_SIZE):
            raise ServiceError("invalid_filter", f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}",
                               details={"parameter": "limit"})
        limit = int(raw)
    before = args.get("before") or None
    if before is not None and not is_id(before):
        raise ServiceError("invalid_filter", "before must be a scan id (the `next_before` of the previous page)",
                           details={"parameter": "before"})
    return limit, before


def scan_history(session: Session, site_id: str, *, actor: str, limit: int = PAGE_SIZE,
                 before: str | None = None) -> ScanPage:
    """A page of the site's scans, newest first, starting after `before` (a scan id); logged."""
    query = sa.select(Scan).where(Scan.site_id == site_id).order_by(Scan.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(Scan.id < before)
    scans = list(session.execute(query).scalars())
    more = len(scans) > limit
    scans = scans[:limit]
    log_access(session, site_id=site_id, actor=actor, action="scan.list", rows=len(scans),
               details={"before": before, "limit": limit})
    return ScanPage(scans, scans[-1].id if more else None)


def check_scan_id(scan_id: str) -> str:
    if not is_id(scan_id):
        raise ServiceError("invalid_scan_id", "a scan id is 26 characters of Crockford base32",
                           details={"scan_id": scan_id[:40]})
    return scan_id


def get_scan(session: Session, site_id: str, scan_id: str, *, actor: str, html: bool = False) -> Scan:
    """One of the site's scans with its report and changes (and its HTML report when asked); logged.
    NotFound for a scan of another site, as for one that does not exist."""
    check_scan_id(scan_id)
    columns = [undefer(Scan.report_html)] if html else [undefer(Scan.document), undefer(Scan.changes)]
    scan = session.execute(sa.select(Scan).options(*columns)
                           .where(Scan.site_id == site_id, Scan.id == scan_id)).scalar_one_or_none()
    if scan is None:
        raise NotFound("unknown_scan", f"site {site_id!r} has no scan {scan_id!r}")
    if html and scan.report_html is None:
        raise NotFound("no_html_report", f"scan {scan_id!r} was stored without its HTML report")
    log_access(session, site_id=site_id, actor=actor, action="scan.read",
               details={"scan_id": scan_id, "format": "html" if html else "json"})
    return scan


def html_report(scan: Scan) -> str:
    """The stored HTML report (get_scan(..., html=True) loads it)."""
    assert scan.report_html is not None
    return gzip.decompress(scan.report_html).decode("utf-8")


def scan_summary(scan: Scan) -> dict[str, Any]:
    """What a history list shows of one scan."""
    return {
        "id": scan.id, "site": scan.site_id, "scanned_at": iso(scan.scanned_at),
        "finished_at": iso(scan.finished_at), "stored_at": iso(scan.created_at), "actor": scan.actor,
        "policy_version": scan.policy_version, "exit_code": scan.exit_code, "clean": scan.exit_code == 0,
        **scan.summary,
    }


def scan_detail(scan: Scan) -> dict[str, Any]:
    """One scan in full: its summary, what changed since the previous scan (`diff`: the cookies and
    storage added and removed, the findings new and resolved) and the JSON report."""
    return {**scan_summary(scan), "diff": scan.changes, "report": scan.document}

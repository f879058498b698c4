"""The scan as a JSON document: what a shop owner, the CLI's `--json` and the stored scan history read.

Top level: `cookies` and `findings` (the two lists most readers want), then `storage`,
`third_parties`, `pages`, `summary`, `scanned_at` and the settings the scan ran with. Cookie values
are never part of it; nothing here is HTML (see report_html for that).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consent_service.scan.findings import KINDS
from consent_service.scan.model import STATES, Entry, Finding, HostEntry, ScanResult
from consent_service.scan.snippets import declaration_snippets

FORMAT = "consent-scan/1"
DATABASE = {"name": "Open Cookie Database", "url": "https://github.com/jkwakman/Open-Cookie-Database",
            "licence": "Apache-2.0"}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _classification(entry: Entry) -> dict[str, Any]:
    c = entry.classification
    known = None
    if c.known:
        known = {key: c.known.get(key, "") for key in ("platform", "controller", "description", "retention",
                                                        "database_category", "match")}
    return {"category": c.category, "declared": c.declared, "declared_category": c.declared_category,
            "declaration": c.declaration, "known_category": c.known_category, "known": known}


def cookie_json(entry: Entry) -> dict[str, Any]:
    return {
        "name": entry.name, "domain": entry.domain, "path": entry.path, "state": entry.state,
        "source": entry.source, "set_by": entry.set_by, "via": list(entry.via),
        "also_set_by": list(entry.also_set_by), "attribution": entry.attribution,
        **_classification(entry),
        "pages": list(entry.pages), "third_party": entry.third_party, "http_only": entry.http_only,
        "secure": entry.secure, "same_site": entry.same_site, "lifetime_seconds": entry.lifetime_seconds,
        "session": entry.lifetime_seconds is None, "partitioned": entry.partition_key is not None,
        "partition_key": entry.partition_key,
    }


def storage_json(entry: Entry) -> dict[str, Any]:
    return {
        "type": entry.type, "name": entry.name, "origin": entry.origin, "domain": entry.domain,
        "state": entry.state, "source": entry.source, "set_by": entry.set_by, "via": list(entry.via),
        "also_set_by": list(entry.also_set_by), "attribution": entry.attribution, **_classification(entry),
        "builtin": entry.classification.builtin, "pages": list(entry.pages), "third_party": entry.third_party,
    }


def host_json(entry: HostEntry) -> dict[str, Any]:
    return {"host": entry.host, "state": entry.state, "requests": entry.requests, "examples": entry.examples,
            "resource_types": entry.resource_types, "pages": entry.pages,
            "consent_service": entry.consent_service}


def finding_json(finding: Finding) -> dict[str, Any]:
    return {"kind": finding.kind, "level": finding.level, "name": finding.name, "domain": finding.domain,
            "state": finding.state, "page": finding.page, "item": finding.item, "message": finding.message,
            "pages": list(finding.pages), "category": finding.category,
            "declared_category": finding.declared_category, "known_category": finding.known_category}


def _order(entry: Entry) -> tuple[int, str, str]:
    return (STATES.index(entry.state), entry.name.lower(), entry.domain)


def summary(result: ScanResult) -> dict[str, Any]:
    levels = Counter(f.level for f in result.findings)
    kinds = Counter(f.kind for f in result.findings)
    seconds = result.finished_at - result.started_at

    def per_state(items: list[Any]) -> dict[str, int]:
        counts = Counter(item.state for item in items)
        return {state: counts.get(state, 0) for state in STATES}

    return {
        "pages": len(result.pages), "visits": len(result.visits), "states": list(STATES),
        "duration_seconds": round(seconds, 2), "visits_per_minute": round(result.visits_per_minute, 1),
        "cookies": per_state(result.cookies), "storage": per_state(result.storage),
        "third_parties": per_state([h for h in result.third_parties if not h.consent_service]),
        "findings": {"error": levels.get("error", 0), "warning": levels.get("warning", 0),
                     "info": levels.get("info", 0), "by_kind": {kind: kinds.get(kind, 0) for kind in KINDS}},
        "exit_code": result.exit_code, "clean": result.exit_code == 0,
    }


def to_json(result: ScanResult, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole report as plain JSON-able data. With `config`, it includes the ready-to-paste
    declarations for undeclared items (as in the HTML report)."""
    document = {
        "format": FORMAT,
        "site": result.site,
        "policy_version": result.policy_version,
        "scanned_at": _iso(result.started_at),
        "finished_at": _iso(result.finished_at),
        "start_urls": result.start_urls,
        "summary": summary(result),
        "cookies": [cookie_json(e) for e in sorted(result.cookies, key=_order)],
        "findings": [finding_json(f) for f in result.findings],
        "storage": [storage_json(e) for e in sorted(result.storage, key=_order)],
        "third_parties": [host_json(h) for h in result.third_parties],
        "pages": result.pages,
        "notes": result.notes,
        "settings": result.settings,
        "service": result.service,
        "browser": result.browser_version,
        "database": DATABASE,
    }
    if config is not None:
        document["declarations_to_add"] = declaration_snippets(result, config)
    return document


def write_json(result: ScanResult, path: str | Path, config: dict[str, Any] | None = None) -> None:
    Path(path).write_text(json.dumps(to_json(result, config), indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")

"""What changed between two scans of a site, from their JSON reports (as stored with the history).

Cookies and storage items are compared by (name, domain or origin, state), findings by
(kind, name, domain, state): a cookie that moves to another page is no change; one that starts to
appear before consent is.
"""

from __future__ import annotations

from typing import Any


def _cookie_key(item: dict[str, Any]) -> tuple[str, str, str, str]:
    return ("cookie", item["name"], item.get("domain") or "", item.get("state") or "")


def _storage_key(item: dict[str, Any]) -> tuple[str, str, str, str]:
    return (item["type"], item["name"], item.get("origin") or "", item.get("state") or "")


def _finding_key(item: dict[str, Any]) -> tuple[str, str, str, str]:
    return (item["kind"], item["name"], item.get("domain") or "", item.get("state") or "")


def _compare(old: list[dict[str, Any]], new: list[dict[str, Any]], key: Any) -> dict[str, list[dict[str, Any]]]:
    before = {key(item): item for item in old}
    after = {key(item): item for item in new}
    return {"added": [after[k] for k in after if k not in before],
            "removed": [before[k] for k in before if k not in after]}


def changes(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """Items and findings added and removed since `previous` (None: everything is new)."""
    previous = previous or {}
    cookies = _compare(previous.get("cookies", []), current.get("cookies", []), _cookie_key)
    storage = _compare(previous.get("storage", []), current.get("storage", []), _storage_key)
    findings = _compare(previous.get("findings", []), current.get("findings", []), _finding_key)
    return {
        "previous_scanned_at": previous.get("scanned_at"),
        "cookies": cookies, "storage": storage,
        "findings": {"new": findings["added"], "resolved": findings["removed"]},
        "changed": any(cookies.values()) or any(storage.values()) or any(findings.values()),
    }

"""Findings: where what the shop really sets breaks its declarations or its visitors' choices.

One finding per item and kind, however many pages show it (the pages are listed on the finding). An
item is "necessary" only when its category — the declared one, else the cookie database's — is
`necessary`: an unknown cookie, or one the database leaves for review, cannot be shown to be
necessary, so before any choice and after a refusal it counts as a violation until it is declared.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from consent_service.scan.classify import NECESSARY, Classifier
from consent_service.scan.model import BEFORE, REJECT, STATES, Entry, Finding, HostEntry

#: Each kind of finding with its level. `error` fails a scan (exit status 1).
LEVELS = {
    "undeclared": "error",
    "before_consent": "error",
    "after_refusal": "error",
    "third_party_before_consent": "error",
    "category_mismatch": "warning",
    "declared_unseen": "info",
}
KINDS = tuple(LEVELS)
DEFINITE = {"necessary", "preferences", "analytics", "marketing"}
_ITEM = {"cookie": "cookie", "localStorage": "localStorage key", "sessionStorage": "sessionStorage key",
         "indexedDB": "IndexedDB database"}
_LEVEL_ORDER = {"error": 0, "warning": 1, "info": 2}


def _pages(entries: list[Entry]) -> tuple[str, ...]:
    seen: list[str] = []
    for entry in entries:
        seen += [page for page in entry.pages if page not in seen]
    return tuple(seen)


def _known_hint(entry: Entry) -> str:
    known = entry.classification.known
    if not known:
        return "not in the cookie database"
    return f"the cookie database lists it under {known.get('platform') or 'a known platform'}"


def _finding(kind: str, entry: Entry, message: str, pages: tuple[str, ...], **extra: Any) -> Finding:
    c = entry.classification
    return Finding(kind=kind, level=LEVELS[kind], name=entry.name, domain=entry.domain, state=entry.state,
                   page=entry.pages[0] if entry.pages else None, message=message, item=entry.type,
                   pages=pages, category=c.category, declared_category=c.declared_category,
                   known_category=c.known_category, **extra)


def item_findings(entries: list[Entry]) -> list[Finding]:
    """undeclared, before_consent, after_refusal and category_mismatch for seen cookies and storage."""
    groups: dict[tuple[str, str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[entry.key].append(entry)
    found = []
    for group in groups.values():
        group.sort(key=lambda e: STATES.index(e.state))
        first = group[0]
        c = first.classification
        what = f"{_ITEM[first.type]} {first.name!r} on {first.domain}"
        by_state = {e.state: e for e in group}
        if not c.declared and not c.builtin:
            found.append(_finding("undeclared", first, f"{what} is not declared ({_known_hint(first)}; "
                                  f"suggested category: {c.category})", _pages(group)))
        if c.category != NECESSARY:
            for state, kind, when in ((BEFORE, "before_consent", "before the visitor has made any choice"),
                                      (REJECT, "after_refusal", "after the visitor rejected all")):
                entry = by_state.get(state)
                if entry is not None:
                    found.append(_finding(kind, entry, f"{what} ({c.category}) is present {when}",
                                          tuple(entry.pages)))
        if c.declared and c.known_category in DEFINITE and c.known_category != c.declared_category:
            found.append(_finding("category_mismatch", first,
                                  f"{what} is declared as {c.declared_category} but the cookie database "
                                  f"lists it as {c.known_category} ({(c.known or {}).get('platform', '')})",
                                  _pages(group)))
    return found


def declaration_findings(entries: list[Entry], classifier: Classifier) -> list[Finding]:
    """declared_unseen for every declaration nothing seen falls under, and category_mismatch for
    unseen exact names the cookie database knows in another category."""
    used = {id(classifier.declaration_for(entry.name)) for entry in entries}
    found = []
    for declaration in classifier.declarations:
        if id(declaration) in used:
            continue
        name = declaration.get("name") or declaration.get("pattern")
        category = declaration["category"]
        found.append(Finding(kind="declared_unseen", level=LEVELS["declared_unseen"], name=name, domain=None,
                             state=None, page=None, category=category, declared_category=category,
                             message=f"{name!r} is declared ({category}) but was not seen on any page "
                                     f"in any state"))
        if "name" in declaration:
            known = classifier.classify(name)
            if known.known_category in DEFINITE and known.known_category != category:
                found.append(Finding(
                    kind="category_mismatch", level=LEVELS["category_mismatch"], name=name, domain=None,
                    state=None, page=None, category=category, declared_category=category,
                    known_category=known.known_category,
                    message=f"{name!r} is declared as {category} but the cookie database lists it as "
                            f"{known.known_category} ({(known.known or {}).get('platform', '')})"))
    return found


def host_findings(hosts: list[HostEntry]) -> list[Finding]:
    """third_party_before_consent for every third-party host requested before any choice (the consent
    service, which serves the banner, excepted)."""
    found = []
    for host in hosts:
        if host.state != BEFORE or host.consent_service:
            continue
        example = host.examples[0] if host.examples else host.host
        found.append(Finding(kind="third_party_before_consent", level=LEVELS["third_party_before_consent"],
                             name=host.host, domain=host.host, state=BEFORE, page=host.pages[0],
                             item="host", pages=tuple(host.pages),
                             message=f"{host.requests} request(s) to {host.host} before the visitor has made "
                                     f"any choice (first: {example})"))
    return found


def find(entries: list[Entry], hosts: list[HostEntry], classifier: Classifier) -> list[Finding]:
    """Every finding of a scan, errors first."""
    found = item_findings(entries) + host_findings(hosts) + declaration_findings(entries, classifier)
    return sorted(found, key=lambda f: (_LEVEL_ORDER[f.level], KINDS.index(f.kind), f.name, f.domain or "",
                                        STATES.index(f.state) if f.state in STATES else 9))

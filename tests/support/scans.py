"""Finished scans without a browser, for the tests of what is done with one (storage, history, the
command's summary): the scanner's own records, classified against a site's configuration."""

from __future__ import annotations

from typing import Any

from consent_service.scan import BEFORE, ScanResult
from consent_service.scan.classify import Classifier
from consent_service.scan.findings import find
from consent_service.scan.model import Entry, HostEntry

HOSTILE = '<img src=x onerror="alert(1)">'


def scan_result(config: dict[str, Any], cookies: list[tuple[str, str]], started_at: float,
                page: str = "http://127.0.0.1:8000/") -> ScanResult:
    """A scan that saw `cookies` ((name, state) pairs) on `page`, set by a script whose URL and a note
    carry markup, and an ads host requested before any choice."""
    classifier = Classifier(config)
    origin = page.rsplit("/", 1)[0]
    entries = [Entry(type="cookie", name=name, domain="127.0.0.1", state=state, pages=[page], source="script",
                     set_by=f"{origin}/app.js?{HOSTILE}", attribution="observed",
                     classification=classifier.classify(name)) for name, state in cookies]
    hosts = [HostEntry("ads.example", BEFORE, [page], ["https://ads.example/p.js"], ["script"], 1)]
    return ScanResult(site=config["site"], policy_version=config["policy_version"], service=config["service"],
                      start_urls=[page], started_at=started_at, finished_at=started_at + 30, settings={},
                      pages=[], visits=[], cookies=entries, storage=[], third_parties=hosts,
                      findings=find(entries, hosts, classifier), notes=[HOSTILE])

"""The cookie scanner: what a shop really sets, before any choice, after "reject all" and after
"accept all", who sets it, and where that breaks the site's declarations.

    from consent_service.scan import fetch_config, scan, ProgressBar, to_json, render_html
    config = fetch_config("https://consent.example.com", "shop")
    result = scan(["https://shop.example/"], config=config, max_pages=20, progress=ProgressBar())

No Flask, no database here (see README.md beside this file); Playwright is imported when a scan starts.
"""

from __future__ import annotations

from consent_service.scan.diff import changes
from consent_service.scan.errors import ScanError
from consent_service.scan.model import ACCEPT, BEFORE, REJECT, STATES, Interaction, ScanResult
from consent_service.scan.progress import ProgressBar
from consent_service.scan.report import to_json, write_json
from consent_service.scan.report_html import render as render_html
from consent_service.scan.report_html import write_html
from consent_service.scan.scanner import scan
from consent_service.scan.site_config import check_config, fetch_config

__all__ = [
    "ACCEPT", "BEFORE", "REJECT", "STATES", "Interaction", "ProgressBar", "ScanError", "ScanResult", "changes",
    "check_config", "fetch_config", "render_html", "scan", "to_json", "write_html", "write_json",
]

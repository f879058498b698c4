"""`consent-service scan`: scan a site's shop in headless Chromium, write the reports, keep the scan
in the site's history and print what it found and what changed since the last scan.

Exit status: 0 when no finding is at error level, 1 when one is, 2 when the scan could not run (an
unknown site, no browser, a start URL that does not load, no banner); the reason goes to stderr.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from ..compliance.scans import store_scan
from ..extensions import db
from ..scan import ProgressBar, ScanError, ScanResult, fetch_config, render_html, scan, to_json, write_html, write_json
from ..scan.findings import KINDS
from ..scan.model import STATES
from ..sites.declaration import IDENTIFIER
from .common import cli_actor, services

#: The service's URL in the configuration a scan reads when PUBLIC_URL is not set (`make run`'s).
#: How many findings the summary lists before pointing at the reports.
LISTED_FINDINGS = 12
LISTED_CHANGES = 8
CANNOT_RUN = 2


def _fail(message: str) -> None:
    click.echo(f"scan: {message}", err=True)
    raise SystemExit(CANNOT_RUN)


def _writable(path: str | None, option: str) -> None:
    """Refuse an output path that cannot be written before spending minutes on the scan."""
    if path is None:
        return
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        _fail(f"{option} {path}: cannot write a file there")


def _local_site(site_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The site's public configuration and scan settings from this service's database."""
    shared = services()
    site = shared.site_states.get(db.session, site_id) if IDENTIFIER.match(site_id) else None
    if site is None:
        db.session.rollback()
        _fail(f"unknown site {site_id!r}: sync its declaration first (consent-service sites sync FILE)")
    assert site is not None
    config = site.banner_config(shared.settings.public_url, shared.keys(db.session, site.id).public.inline())
    db.session.rollback()  # hold no transaction open through a scan of several minutes
    defaults = {"start_urls": [site.settings["origins"][0] + "/"], "max_pages": 20, "interactions": []}
    return config, {**defaults, **{k: v for k, v in site.settings.get("scan", {}).items() if v}}


@click.command("scan")
@click.option("--site", "site_id", required=True, help="The site whose declarations the shop is checked against.")
@click.argument("urls", nargs=-1)
@click.option("--max-pages", type=click.IntRange(1, 10_000), default=None,
              help="Pages to visit at most (default: the site file's [scan] max_pages, else 20).")
@click.option("--json", "json_path", default=None, metavar="FILE", help="Write the JSON report here.")
@click.option("--html", "html_path", default=None, metavar="FILE", help="Write the HTML report here.")
@click.option("--service", "service_url", default=None, metavar="URL",
              help="Read the site's configuration from this (remote) service instead of the local database; "
                   "start URLs are then required and nothing is stored.")
@click.option("--no-store", is_flag=True, help="Do not keep this scan in the site's history.")
@with_appcontext
def scan_command(site_id: str, urls: tuple[str, ...], max_pages: int | None, json_path: str | None,
                 html_path: str | None, service_url: str | None, no_store: bool) -> None:
    """Scan the shop from URLS (default: the site's [scan] start_urls, else its first origin) in three
    browser states per page, report every cookie and storage key against the site's declarations, and
    keep the scan in the site's history."""
    _writable(json_path, "--json")
    _writable(html_path, "--html")
    if service_url is not None:
        if not urls:
            _fail("with --service, give the start URLs (the site's [scan] settings are not public)")
        try:
            config = fetch_config(service_url, site_id)
        except ScanError as error:
            _fail(str(error))
        declared: dict[str, Any] = {"start_urls": [], "max_pages": 20, "interactions": []}
    else:
        config, declared = _local_site(site_id)
    bar = ProgressBar()
    try:
        result = scan(list(urls) or declared["start_urls"], config=config,
                      max_pages=max_pages or declared["max_pages"], interactions=declared["interactions"],
                      progress=bar)
    except ScanError as error:
        bar.close()
        _fail(str(error))
    bar.close()
    written = []
    if json_path:
        write_json(result, json_path, config)
        written.append(json_path)
    if html_path:
        write_html(result, html_path, config)
        written.append(html_path)
    document = to_json(result, config)
    stored, problem = None, None
    if service_url is None and not no_store:
        try:
            stored = store_scan(db.session, site_id, document, actor=cli_actor(), html=render_html(result, config))
        except SQLAlchemyError as error:
            db.session.rollback()
            problem = (f"the scan ran but could not be stored ({type(error).__name__}: is the database there, "
                       "with every migration applied? consent-service db upgrade)")
    click.echo(summary_text(result, document, stored.changes if stored else None,
                            stored.previous_id if stored else None))
    if stored is not None:
        click.echo(f"stored as scan {stored.id} (GET /v1/sites/{site_id}/scans/{stored.id})")
    if written:
        click.echo("wrote " + ", ".join(written))
    if problem:
        _fail(problem)
    raise SystemExit(result.exit_code)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _per_state(counts: dict[str, int]) -> str:
    return ", ".join(f"{state} {counts.get(state, 0)}" for state in STATES)


def _item(item: dict[str, Any]) -> str:
    where = item.get("domain") or item.get("origin") or ""
    where = "" if where == item["name"] else where
    kind = item.get("type") or item.get("item") or "cookie"
    state = item.get("state")
    return f"{kind} {item['name']}" + (f" ({where})" if where else "") + (f", {state}" if state else "")


def summary_text(result: ScanResult, document: dict[str, Any], diff: dict[str, Any] | None,
                 previous_id: str | None) -> str:
    """One screen: what was visited, counts by state and by kind of finding, the findings at error
    level first, and what changed since the previous scan."""
    counts = document["summary"]
    findings = counts["findings"]
    lines = [
        f"scan of {result.site}: {counts['pages']} pages x {len(STATES)} states, {counts['visits']} visits in "
        f"{counts['duration_seconds']:.0f} s ({counts['visits_per_minute']} per minute)",
        f"  cookies: {_per_state(counts['cookies'])}",
        f"  storage: {_per_state(counts['storage'])}",
        f"  third-party hosts: {_per_state(counts['third_parties'])}",
        f"findings: {_count(findings['error'], 'error')}, {_count(findings['warning'], 'warning')}, "
        f"{findings['info']} info",
    ]
    by_kind = Counter({kind: findings["by_kind"].get(kind, 0) for kind in KINDS})
    if any(by_kind.values()):
        lines.append("  " + ", ".join(f"{kind} {count}" for kind, count in by_kind.items() if count))
    listed = document["findings"]  # errors first (findings.find orders them)
    for finding in listed[:LISTED_FINDINGS]:
        lines.append(f"  {finding['level']:<7} {finding['kind']:<27} {finding['message']}")
    if len(listed) > LISTED_FINDINGS:
        lines.append(f"  ... and {len(listed) - LISTED_FINDINGS} more in the reports")
    for note in result.notes[:3]:
        lines.append(f"note: {note}")
    if diff is not None:
        lines += _changes_text(diff, previous_id)
    return "\n".join(lines)


def _changes_text(diff: dict[str, Any], previous_id: str | None) -> list[str]:
    if previous_id is None:
        return ["since the last scan: this is the site's first stored scan"]
    if not diff["changed"]:
        return [f"since the last scan ({previous_id}, {diff['previous_scanned_at']}): nothing changed"]
    changed = [("+", item) for group in ("cookies", "storage") for item in diff[group]["added"]]
    changed += [("-", item) for group in ("cookies", "storage") for item in diff[group]["removed"]]
    lines = [f"since the last scan ({previous_id}, {diff['previous_scanned_at']}): "
             f"{_count(sum(sign == '+' for sign, _ in changed), 'item')} added, "
             f"{sum(sign == '-' for sign, _ in changed)} removed; "
             f"{_count(len(diff['findings']['new']), 'finding')} new, {len(diff['findings']['resolved'])} resolved"]
    lines += [f"  {sign} {_item(item)}" for sign, item in changed[:LISTED_CHANGES]]
    lines += [f"  new:      {f['kind']} {_item(f)}" for f in diff["findings"]["new"][:LISTED_CHANGES]]
    lines += [f"  resolved: {f['kind']} {_item(f)}" for f in diff["findings"]["resolved"][:LISTED_CHANGES]]
    return lines

"""Compliance commands of `consent-service`: the same domain functions the API calls.

    consent-service export --site S [--since ...] [--until ...] [--format csv] > file
    consent-service proof seal [--site S] [--all-pending]
    consent-service proof verify --site S
    consent-service purge --site S [--dry-run]
"""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from .access_log import log_access, log_access_apart
from .cli import cli_actor, main
from .errors import ServiceError
from .exports import ExportFilters, ExportSummary, parse_format, stream_export
from .extensions import db
from .policies import site_states
from .retention import purge
from .seals import seal_pending, site_ids, snapshot_connection, verify


def _site(site_id: str):  # type: ignore[no-untyped-def]
    site = site_states.get(db.session, site_id)
    if site is None:
        raise click.ClickException(f"unknown site {site_id!r}; sync its declaration first")
    return site


@main.command("export")
@click.option("--site", "site_id", required=True)
@click.option("--since", default=None, help="ISO-8601 date or date-time (inclusive).")
@click.option("--until", default=None, help="ISO-8601 date or date-time (exclusive).")
@click.option("--method", default=None)
@click.option("--visitor-id", default=None)
@click.option("--policy-version", default=None)
@click.option("--format", "fmt", default="ndjson", help="ndjson (default) or csv.")
@with_appcontext
def export_command(site_id: str, since: str | None, until: str | None, method: str | None,
                   visitor_id: str | None, policy_version: str | None, fmt: str) -> None:
    """Stream the site's consent records to standard output, with a closing summary."""
    site = _site(site_id)
    try:
        filters = ExportFilters.parse({"since": since, "until": until, "method": method,
                                       "visitor_id": visitor_id, "policy_version": policy_version})
        fmt = parse_format(fmt)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    summary = ExportSummary(site_id=site.id, format=fmt, filters=filters)
    out = sys.stdout.buffer
    engine = db.engine
    try:
        with snapshot_connection(engine) as connection, connection.begin():
            for chunk in stream_export(connection, site.id, filters, fmt, summary):
                out.write(chunk)
        out.flush()
    finally:
        log_access_apart(engine, site_id=site.id, actor=cli_actor(), action="export", rows=summary.count,
                         details={"filters": filters.to_dict(), "format": fmt, "complete": summary.complete,
                                  "first_record_id": summary.first_record_id,
                                  "last_record_id": summary.last_record_id,
                                  "seal_id": summary.seal.id if summary.seal else None})
    click.echo(f"exported {summary.count} records of {site.id}", err=True)


@main.group("proof")
def proof_group() -> None:
    """Seals and verification of the consent records."""


@proof_group.command("seal")
@click.option("--site", "site_id", default=None, help="One site (default: every site).")
@click.option("--all-pending", is_flag=True,
              help="Seal every settled record now, not only full or overdue batches.")
@with_appcontext
def proof_seal(site_id: str | None, all_pending: bool) -> None:
    """Seal full batches and overdue records (run it from cron so idle sites are sealed too)."""
    settings = current_app.extensions["consent"].settings
    targets = [_site(site_id).id] if site_id else site_ids(db.session)
    for target in targets:
        made = seal_pending(db.session, target, settings.seal_batch_size, settings.seal_max_age_seconds,
                            force=all_pending)
        records = sum(seal.record_count for seal in made)
        last = f"; chain head {made[-1].digest}" if made else ""
        click.echo(f"{target}: {len(made)} seals, {records} records sealed{last}")


@proof_group.command("verify")
@click.option("--site", "site_id", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@with_appcontext
def proof_verify(site_id: str, as_json: bool) -> None:
    """Check every seal and record; exit status 1 names the first mismatch."""
    site = _site(site_id)
    report = verify(db.session, site.id)
    log_access(db.session, site_id=site.id, actor=cli_actor(), action="proof.verify",
               rows=report.sealed_records + report.unsealed_records,
               details={"ok": report.ok, "problem": report.problem.to_dict() if report.problem else None})
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        click.echo(f"{site.id}: ok — {report.seals} seals ({report.purged_seals} purged), "
                   f"{report.sealed_records} sealed records, {report.unsealed_records} not yet sealed")
    if not report.ok:
        problem = report.problem
        assert problem is not None
        raise click.ClickException(f"{site.id}: {problem.kind}: {problem.message}")


@main.command("purge")
@click.option("--site", "site_id", required=True)
@click.option("--dry-run", is_flag=True, help="Say what would be removed, remove nothing.")
@with_appcontext
def purge_command(site_id: str, dry_run: bool) -> None:
    """Remove whole sealed periods past expiry-or-withdrawal plus the site's retention buffer."""
    site = _site(site_id)
    result = purge(db.session, site, actor=cli_actor(), dry_run=dry_run,
                   cache=current_app.extensions["consent"].consent_cache)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{site.id}: {verb} {result.records} records in {len(result.seals)} sealed periods "
               f"(retention ended before {result.to_dict()['cutoff']}), {result.visitor_keys} visitor keys")

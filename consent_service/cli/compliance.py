"""`consent-service export`, `proof …` and `purge`: the same audited operations the API calls."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from ..compliance.export import ExportSummary, export_consents
from ..compliance.filters import ExportFilters, parse_format
from ..compliance.retention import purge
from ..compliance.seals import seal_pending, site_ids
from ..compliance.verify import verify
from ..errors import ServiceError
from ..extensions import db
from .common import cli_actor, services, site_or_fail


@click.command("export")
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
    site = site_or_fail(site_id)
    try:
        filters = ExportFilters.parse({"since": since, "until": until, "method": method,
                                       "visitor_id": visitor_id, "policy_version": policy_version})
        fmt = parse_format(fmt)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    summary = ExportSummary(site_id=site.id, format=fmt, filters=filters)
    out = sys.stdout.buffer
    for chunk in export_consents(db.engine, site.id, filters, fmt, actor=cli_actor(), summary=summary):
        out.write(chunk)
    out.flush()
    click.echo(f"exported {summary.count} records of {site.id}", err=True)


@click.group("proof")
def proof_group() -> None:
    """Seals and verification of the consent records."""


@proof_group.command("seal")
@click.option("--site", "site_id", default=None, help="One site (default: every site).")
@click.option("--all-pending", is_flag=True,
              help="Seal every settled record now, not only full or overdue batches.")
@with_appcontext
def proof_seal(site_id: str | None, all_pending: bool) -> None:
    """Seal full batches and overdue records (run it from cron so idle sites are sealed too)."""
    settings = services().settings
    targets = [site_or_fail(site_id).id] if site_id else site_ids(db.session)
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
    site = site_or_fail(site_id)
    report = verify(db.session, site.id, actor=cli_actor())
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        click.echo(f"{site.id}: ok — {report.seals} seals ({report.purged_seals} purged), "
                   f"{report.sealed_records} sealed records, {report.unsealed_records} not yet sealed")
    if not report.ok:
        problem = report.problem
        assert problem is not None
        raise click.ClickException(f"{site.id}: {problem.kind}: {problem.message}")


@click.command("purge")
@click.option("--site", "site_id", required=True)
@click.option("--dry-run", is_flag=True, help="Say what would be removed, remove nothing.")
@with_appcontext
def purge_command(site_id: str, dry_run: bool) -> None:
    """Remove whole sealed periods past expiry-or-withdrawal plus the site's retention buffer."""
    site = site_or_fail(site_id)
    result = purge(db.session, site, actor=cli_actor(), dry_run=dry_run, cache=services().consent_cache)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{site.id}: {verb} {result.records} records in {len(result.seals)} sealed periods "
               f"(retention ended before {result.to_dict()['cutoff']}), {result.visitor_keys} visitor keys")

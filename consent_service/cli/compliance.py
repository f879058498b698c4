"""`consent-service export`, `proof …` and `purge`: the same audited operations the API calls."""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..compliance.export import ExportSummary, export_consents
from ..compliance.filters import ExportFilters, parse_format
from ..compliance.receipts import ReceiptRefused, check_receipts
from ..compliance.retention import purge
from ..compliance.seal_keys import SealVerifier
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
    shared = services()
    for chunk in export_consents(db.engine, site.id, filters, fmt, actor=cli_actor(), keyring=shared.keyring,
                                 seal_keys=shared.seal_signer.verifier.jwks(), summary=summary):
        out.write(chunk)
    out.flush()
    head = f"; chain head {summary.head.digest} (seal {summary.head.id})" if summary.head else ""
    click.echo(f"exported {summary.count} records of {site.id}{head}", err=True)


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
                            services().seal_signer, force=all_pending)
        records = sum(seal.record_count for seal in made)
        last = f"; chain head {made[-1].digest}" if made else ""
        click.echo(f"{target}: {len(made)} seals, {records} records sealed{last}")


HEAD = re.compile(r"^[0-9a-f]{64}$")


def _load_keys(source: str) -> SealVerifier:
    """Published seal keys from a JWKS file or an http(s) URL (…/v1/sites/S/proof/keys)."""
    try:
        if re.match(r"^https?://", source):
            with urllib.request.urlopen(source, timeout=10) as response:  # noqa: S310 (http(s) only)
                return SealVerifier.from_jwks(json.load(response))
        return SealVerifier.from_jwks(json.loads(Path(source).read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:  # SealKeyError and JSON errors are ValueErrors
        raise click.ClickException(f"cannot read seal keys from {source}: {error}") from None


@proof_group.command("verify")
@click.option("--site", "site_id", required=True)
@click.option("--expect-head", default=None, metavar="DIGEST",
              help="A chain head (seal digest) kept outside the database: fail if the chain no longer reaches it.")
@click.option("--keys", "keys_source", default=None, metavar="FILE|URL",
              help="Verify with these published seal keys (JWKS) instead of the service's own.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@with_appcontext
def proof_verify(site_id: str, expect_head: str | None, keys_source: str | None, as_json: bool) -> None:
    """Check every policy text, seal and record; exit status 1 names the first mismatch."""
    if expect_head is not None and not HEAD.match(expect_head):
        raise click.ClickException("--expect-head must be a seal digest: 64 lowercase hexadecimal digits")
    site = site_or_fail(site_id)
    verifier = _load_keys(keys_source) if keys_source else services().seal_signer.verifier
    report = verify(db.session, site.id, verifier, actor=cli_actor(), expect_head=expect_head)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        head = f"; chain head {report.head['digest']} (seal {report.head['seal_id']})" if report.head else ""
        click.echo(f"{site.id}: ok — {report.seals} seals ({report.purged_seals} purged), "
                   f"{report.sealed_records} sealed records, {report.unsealed_records} not yet sealed, "
                   f"{report.policy_versions} policy texts{head}")
    if not report.ok:
        problem = report.problem
        assert problem is not None
        raise click.ClickException(f"{site.id}: {problem.kind}: {problem.message}")


@proof_group.command("keys")
@with_appcontext
def proof_keys() -> None:
    """Print the seal keys' public halves as a JWKS (keep a copy before retiring a key)."""
    click.echo(json.dumps(services().seal_signer.verifier.jwks(), indent=2))


@proof_group.command("check-receipt")
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--keys", "keys_source", required=True, metavar="FILE|URL",
              help="The published seal keys (JWKS): a file, or the service's …/proof/keys URL.")
def proof_check_receipt(receipt_file: Path, keys_source: str) -> None:
    """Check a visitor's receipt file offline: exit status 1 says what does not hold."""
    verifier = _load_keys(keys_source)
    try:
        checked = check_receipts(receipt_file.read_bytes(), verifier)
    except ReceiptRefused as refusal:
        raise click.ClickException(f"{receipt_file.name}: refused: {refusal}") from None
    for consent in checked:
        given = [p["purpose"] for p in consent["purposes"] if p["status"] == "given"]
        click.echo(f"ok: record {consent['record_id']} of {consent['principal_id']} at {consent['time']}: "
                   f"{consent['method']}, given {', '.join(given)}; notice {consent['notice']['version']} "
                   f"({consent['notice']['hash'][:12]}…)")


@click.command("purge")
@click.option("--site", "site_id", required=True)
@click.option("--dry-run", is_flag=True, help="Say what would be removed, remove nothing.")
@with_appcontext
def purge_command(site_id: str, dry_run: bool) -> None:
    """Remove whole sealed periods past expiry-or-withdrawal plus the site's retention buffer."""
    site = site_or_fail(site_id)
    result = purge(db.session, site, services().seal_signer, actor=cli_actor(), dry_run=dry_run,
                   cache=services().consent_cache)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{site.id}: {verb} {result.records} records in {len(result.seals)} sealed periods "
               f"(retention ended before {result.to_dict()['cutoff']}), {result.visitor_keys} visitor keys")

"""`consent-service signing-keys …`: each site's Ed25519 token keys. Public keys only are ever
printed; rotation and retirement are written to the access log."""

from __future__ import annotations

import json
from datetime import timedelta

import click
from flask.cli import with_appcontext

from ..compliance.access_log import log_access
from ..errors import ServiceError
from ..extensions import db
from ..sites.signing_keys import DEFAULT_PUBLISH_AHEAD, all_keys, retire_key, rewrap_keys, rotate_key
from ..times import iso, utcnow
from .common import cli_actor, services, site_or_fail


@click.group("signing-keys")
def signing_keys() -> None:
    """Token-signing keys of the sites (public halves in each site's JWKS)."""


@signing_keys.command("list")
@click.option("--site", "site_id", required=True)
@with_appcontext
def keys_list(site_id: str) -> None:
    """Key ids and states: signing, published (signs later), verifying (older) or retired."""
    site = site_or_fail(site_id)
    services().keys(db.session, site.id)  # a site synced before keys existed gets its first one
    rows = all_keys(db.session, site.id)
    now = utcnow()
    signer = max((row for row in rows if row.retired_at is None and row.signs_from <= now),
                 key=lambda row: (row.signs_from, row.created_at), default=None)
    for row in rows:
        if row.retired_at is not None:
            state = f"retired {iso(row.retired_at)}"
        elif row is signer:
            state = "signing"
        elif row.signs_from > now:
            state = f"published, signs from {iso(row.signs_from)}"
        else:
            state = "verifying"
        click.echo(f"{row.kid}\t{state}\tcreated {iso(row.created_at)}")


@signing_keys.command("rotate")
@click.option("--site", "site_id", required=True)
@click.option("--ahead", "ahead_seconds", type=click.IntRange(min=0), default=None,
              help=f"Seconds the new key is published before it signs (default "
                   f"{int(DEFAULT_PUBLISH_AHEAD.total_seconds())}: longer than shops' JWKS refresh and the "
                   "banner's cache). Use more when shops hold a JWKS file.")
@click.option("--now", "at_once", is_flag=True, help="Sign with the new key at once (after a leak).")
@with_appcontext
def keys_rotate(site_id: str, ahead_seconds: int | None, at_once: bool) -> None:
    """Create a new key for the site; it becomes the newest key and signs once published."""
    site = site_or_fail(site_id)
    if at_once and ahead_seconds:
        raise click.UsageError("give --now or --ahead, not both")
    ahead = timedelta(0) if at_once else (
        DEFAULT_PUBLISH_AHEAD if ahead_seconds is None else timedelta(seconds=ahead_seconds))
    services().keys(db.session, site.id)
    row = rotate_key(db.session, services().keyring, site.id, ahead)
    log_access(db.session, site_id=site.id, actor=cli_actor(), action="signing_key.rotate",
               details={"kid": row.kid, "signs_from": iso(row.signs_from)})
    services().site_keys.forget(site.id)
    click.echo(f"{site.id}: new signing key {row.kid}, published now, signs from {iso(row.signs_from)}")


@signing_keys.command("retire")
@click.option("--site", "site_id", required=True)
@click.argument("kid")
@with_appcontext
def keys_retire(site_id: str, kid: str) -> None:
    """Stop a key verifying: the tokens it signed count as invalid from now on."""
    site = site_or_fail(site_id)
    try:
        row = retire_key(db.session, site.id, kid)
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    log_access(db.session, site_id=site.id, actor=cli_actor(), action="signing_key.retire",
               details={"kid": row.kid})
    services().site_keys.forget(site.id)
    click.echo(f"{site.id}: retired signing key {row.kid}")


@signing_keys.command("jwks")
@click.option("--site", "site_id", required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the JWKS to this file (for shops that verify from a file).")
@with_appcontext
def keys_jwks(site_id: str, output: str | None) -> None:
    """Print the site's JWKS: its active public keys, as GET /v1/sites/<site>/jwks.json serves them."""
    site = site_or_fail(site_id)
    text = json.dumps(services().keys(db.session, site.id).public.jwks(), indent=2, sort_keys=True) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"wrote the JWKS of {site.id} to {output}", err=True)
    else:
        click.echo(text, nl=False)


@signing_keys.command("rewrap")
@with_appcontext
def keys_rewrap() -> None:
    """Wrap every site's private keys under the newest SECRET_KEYS entry (after prepending one)."""
    count = rewrap_keys(db.session, services().keyring)
    click.echo(f"re-wrapped {count} signing keys")

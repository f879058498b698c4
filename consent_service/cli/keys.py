"""`consent-service keys …`: API keys for backends (read), auditors (export) and admins."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..auth import SCOPES, create_key, list_keys, revoke_key
from ..compliance.access_log import log_access
from ..consents.visitor_keys import compact_keys, rewrap_keys
from ..errors import ServiceError
from ..extensions import db
from ..models import Site
from .common import cli_actor, services


@click.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--site", "site_id", required=True)
@click.option("--scope", type=click.Choice(SCOPES), required=True)
@click.option("--label", default=None, help="What the key is for, e.g. 'shop backend'.")
@with_appcontext
def keys_create(site_id: str, scope: str, label: str | None) -> None:
    """Create a key; its secret is printed once, on the last line."""
    if db.session.get(Site, site_id) is None:
        raise click.ClickException(f"unknown site {site_id!r}; sync its declaration first")
    key, plaintext = create_key(db.session, site_id, scope, label)
    log_access(db.session, site_id=site_id, actor=cli_actor(), action="key.create",
               details={"key_id": key.id, "scope": scope})
    click.echo(f"created {scope} key {key.id} for site {site_id}; store it now, it is not shown again:",
               err=True)
    click.echo(plaintext)


@keys.command("list")
@click.option("--site", "site_id", required=True)
@with_appcontext
def keys_list(site_id: str) -> None:
    """Key ids, scopes and states (never secrets)."""
    for key in list_keys(db.session, site_id):
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        click.echo(f"{key.id}\t{key.scope}\t{state}\t{key.created_at:%Y-%m-%d %H:%M}\t{key.label or ''}")


@keys.command("revoke")
@click.argument("key_id")
@with_appcontext
def keys_revoke(key_id: str) -> None:
    """Revoke a key; it stops working at once in this process and within seconds everywhere."""
    try:
        key = revoke_key(db.session, key_id, services().verified_keys)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    log_access(db.session, site_id=key.site_id, actor=cli_actor(), action="key.revoke",
               details={"key_id": key.id})
    click.echo(f"revoked {key.id}")


@keys.command("rewrap")
@with_appcontext
def keys_rewrap() -> None:
    """Wrap visitor keys stored before wrapping, and re-wrap keys under the newest secret (after
    prepending one to SECRET_KEYS): run it once after upgrading and after each rotation."""
    rewrapped, unopenable = rewrap_keys(db.session, services().keyring)
    click.echo(f"rewrapped {rewrapped} visitor keys; {unopenable} open with no configured secret")
    if unopenable:
        raise click.ClickException(f"{unopenable} visitor keys open with no configured secret: "
                                   "put back the secret that wrapped them, then run this again")


@keys.command("compact")
@with_appcontext
def keys_compact() -> None:
    """Rewrite the visitor-key table's parts, so no erased key's bytes stay in its files even if a
    long transaction held one back at erasure time (run it daily from cron)."""
    rewritten, busy = compact_keys(db.engine)
    if not rewritten and not busy:
        click.echo("checkpointed the database")
        return
    click.echo(f"rewrote {rewritten} parts of visitor_keys")
    if busy:
        raise click.ClickException(f"{busy} parts are in use by a long transaction; run this again later")

"""The `consent-service` command: the same domain functions the API calls, for operators.

    consent-service db upgrade                      apply migrations
    consent-service sites sync sites/*.toml         publish site declarations
    consent-service keys create --site S --scope read|export|admin
    consent-service keys list --site S / keys revoke KEY_ID
"""

from __future__ import annotations

import getpass
import sys

import click
from flask.cli import FlaskGroup, with_appcontext

from . import create_app
from .access_log import log_access
from .auth import SCOPES, create_key, list_keys, revoke_key
from .errors import ServiceError
from .extensions import db
from .policies import sync_declarations
from .sites import SiteFileError, load_site_file


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False)
def main() -> None:
    """Consent service administration."""


@main.group()
def sites() -> None:
    """Site declarations."""


@sites.command("sync")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@with_appcontext
def sites_sync(paths: tuple[str, ...]) -> None:
    """Validate every file, then apply them all in one transaction (or none)."""
    try:
        declarations = [load_site_file(path) for path in paths]
    except SiteFileError as error:
        raise click.ClickException(str(error)) from None
    seen: dict[str, str] = {}
    for path, declaration in zip(paths, declarations, strict=True):
        if declaration.site_id in seen:
            raise click.ClickException(f"{path}: site.id {declaration.site_id!r} is also declared in "
                                       f"{seen[declaration.site_id]}")
        seen[declaration.site_id] = path
    for result in sync_declarations(db.session, declarations):
        state = "published policy version" if result.published else "unchanged at policy version"
        extra = " (settings updated)" if result.settings_changed else ""
        click.echo(f"{result.site_id}: {state} {result.version}{extra}")


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--site", "site_id", required=True)
@click.option("--scope", type=click.Choice(SCOPES), required=True)
@click.option("--label", default=None, help="What the key is for, e.g. 'shop backend'.")
@with_appcontext
def keys_create(site_id: str, scope: str, label: str | None) -> None:
    """Create a key; its secret is printed once, on the last line."""
    from .models import Site

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
        key = revoke_key(db.session, key_id)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    log_access(db.session, site_id=key.site_id, actor=cli_actor(), action="key.revoke",
               details={"key_id": key.id})
    click.echo(f"revoked {key.id}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
from . import cli_compliance  # noqa: E402,F401  (compliance commands attach themselves to main)

"""`consent-service sites …`: publish site declarations."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..extensions import db
from ..sites.declaration import SiteFileError, load_site_file
from ..sites.sync import sync_declarations
from .common import services


@click.group()
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
        raise click.ClickException(f"[{error.code}] {error}") from None
    seen: dict[str, str] = {}
    for path, declaration in zip(paths, declarations, strict=True):
        if declaration.site_id in seen:
            raise click.ClickException(f"{path}: site.id {declaration.site_id!r} is also declared in "
                                       f"{seen[declaration.site_id]}")
        seen[declaration.site_id] = path
    for result in sync_declarations(db.session, declarations, services().site_states, services().keyring):
        click.echo(result.summary())

"""What every command shares: who is acting (for the access log), the app's services and sites."""

from __future__ import annotations

import getpass

import click
from flask import current_app

from ..extensions import db
from ..services import Services
from ..sites.state import SiteState


def cli_actor() -> str:
    """The access-log actor for a command: the operating-system user who ran it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def services() -> Services:
    return current_app.extensions["consent"]


def site_or_fail(site_id: str) -> SiteState:
    site = services().site_states.get(db.session, site_id)
    if site is None:
        raise click.ClickException(f"unknown site {site_id!r}; sync its declaration first")
    return site

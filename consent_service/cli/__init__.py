"""The `consent-service` command: the same domain functions the API calls, for operators.

    consent-service db upgrade                      apply migrations (Flask-Migrate)
    consent-service sites sync sites/*.toml         publish site declarations
    consent-service keys create --site S --scope read|export|admin
    consent-service keys list --site S / keys revoke KEY_ID / keys rewrap / keys compact
    consent-service signing-keys list|rotate|jwks --site S / signing-keys retire --site S KID / rewrap
    consent-service export --site S [--since …] [--until …] [--format csv] > file
    consent-service proof seal [--site S] [--all-pending] / proof verify --site S [--expect-head D]
    consent-service proof keys / proof check-receipt FILE --keys FILE|URL
    consent-service purge --site S [--dry-run]
    consent-service scan --site S [URL…] [--max-pages N] [--json FILE] [--html FILE]

Commands live in one module per subject and are registered here, explicitly.
"""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup

from ..app import create_app
from . import compliance, keys, scan, signing_keys, sites


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False)
def main() -> None:
    """Consent service administration."""


main.add_command(sites.sites)
main.add_command(keys.keys)
main.add_command(signing_keys.signing_keys)
main.add_command(compliance.export_command)
main.add_command(compliance.proof_group)
main.add_command(compliance.purge_command)
main.add_command(scan.scan_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

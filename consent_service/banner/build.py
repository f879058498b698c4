"""Build the banner for a site file and write or measure it (the service does the same at request
time; this is for looking at the output).

    .venv/bin/python -m consent_service.banner.build sites/demo.toml [--service URL] [--version N] [--keys N]
        [-o out.js]

The public keys inlined are fixed stand-ins of the real ones' size (the service inlines the site's
own): one normally, two while a rotation is under way.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent_service.banner.bundle import banner_version, render_banner
from consent_service.sites.declaration import load_site_file
from consent_service.sites.state import SiteState
from consent_service.tokens import PublicKeys, b64url


def stand_in_keys(count: int = 1) -> PublicKeys:
    """`count` public keys with key ids like the service's (8 characters), the same on every call."""
    keys = {}
    for index in range(count):
        seed = hashlib.sha256(b"banner stand-in key %d" % index).digest()
        keys[b64url(seed[:6])] = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return PublicKeys(keys)


def site_file_config(site_file: str | Path, service: str = "http://127.0.0.1:5000", version: int = 1,
                     keys: int = 1) -> dict[str, Any]:
    """The configuration the service would inline for a site file at a policy version."""
    decl = load_site_file(site_file)
    state = SiteState(id=decl.site_id, settings=decl.settings, version=version,
                      policy_hash=decl.policy_hash, notice=decl.notice)
    return state.banner_config(service, stand_in_keys(keys).inline())


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the consent banner for one site declaration.")
    parser.add_argument("site_file")
    parser.add_argument("--service", default="http://127.0.0.1:5000", help="service base URL inlined in the script")
    parser.add_argument("--version", type=int, default=1, help="policy version to inline")
    parser.add_argument("--keys", type=int, default=1, help="public keys to inline (2 during a rotation)")
    parser.add_argument("-o", "--output", help="write the minified script here")
    args = parser.parse_args()

    config = site_file_config(args.site_file, args.service, args.version, args.keys)
    bundle = render_banner(config)
    if args.output:
        Path(args.output).write_bytes(bundle.body)
    print(f"banner {banner_version()} for {config['site']}: {len(bundle.body):,} bytes, "
          f"{len(bundle.gzip):,} gzip, {len(bundle.br):,} brotli, ETag {bundle.etag}")


if __name__ == "__main__":
    main()

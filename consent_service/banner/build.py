"""Build the banner for a site file and write or measure it (the service does the same at request
time; this is for looking at the output).

    .venv/bin/python -m consent_service.banner.build sites/demo.toml [--service URL] [--version N] [-o out.js]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from consent_service.banner.bundle import banner_version, render_banner
from consent_service.sites.declaration import load_site_file
from consent_service.sites.state import SiteState


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the consent banner for one site declaration.")
    parser.add_argument("site_file")
    parser.add_argument("--service", default="http://127.0.0.1:5000", help="service base URL inlined in the script")
    parser.add_argument("--version", type=int, default=1, help="policy version to inline")
    parser.add_argument("-o", "--output", help="write the minified script here")
    args = parser.parse_args()

    decl = load_site_file(args.site_file)
    state = SiteState(id=decl.site_id, settings=decl.settings, version=args.version,
                      policy_hash=decl.policy_hash, notice=decl.notice)
    bundle = render_banner(state.banner_config(args.service))
    if args.output:
        Path(args.output).write_bytes(bundle.body)
    print(f"banner {banner_version()} for {decl.site_id}: {len(bundle.body):,} bytes, "
          f"{len(bundle.gzip):,} gzip, {len(bundle.br):,} brotli, ETag {bundle.etag}")


if __name__ == "__main__":
    main()

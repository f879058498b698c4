"""The public keys a shop checks consent tokens with, and nothing else: a shop never holds a
service secret, so it can check a token but never mint one.

Where they come from:

- a JWKS file (`consent-service signing-keys jwks --site S -o S.jwks.json`, RFC 7517);
- the site file, whose `[site] jwks = "S.jwks.json"` names that file (relative to the site file);
- a JWKS document already in memory, or `PublicKeys`;
- the service's `GET /v1/sites/<site>/jwks.json`, kept current by remote.py (ETag, last good copy).

A rotation publishes a new key ahead of signing with it (ten minutes by default, more when asked):
a shop using a file must install the new file within that time.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..tokens import PublicKeys, TokenVerifier
from .remote import CacheFile, RemoteDocument, site_url

#: What `keys=` accepts: PublicKeys, a JWKS document, or the path of a JWKS file or of a site file.
KeySource = PublicKeys | Mapping[str, Any] | str | Path


def site_file_jwks(path: str | Path, site_id: str) -> Path | None:
    """The JWKS file a site file names (`[site] jwks`), resolved beside it; None when it names none."""
    path = Path(path)
    try:
        site = tomllib.loads(path.read_text(encoding="utf-8"))["site"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: cannot read the site file: {error}") from None
    if site.get("id") != site_id:
        raise ValueError(f"{path}: the file declares site {site.get('id')!r}, not {site_id!r}")
    named = site.get("jwks")
    if named is None:
        return None
    if not isinstance(named, str) or not named:
        raise ValueError(f"{path}: site.jwks must name a JWKS file")
    return path.parent / named


def load_keys(source: KeySource, site_id: str) -> PublicKeys:
    """Public keys from any static source (see KeySource); ValueError naming what is wrong."""
    if isinstance(source, PublicKeys):
        return source
    if isinstance(source, Mapping):
        return PublicKeys.from_jwks(source)
    path = Path(source)
    if path.suffix == ".toml":
        named = site_file_jwks(path, site_id)
        if named is None:
            raise ValueError(f"{path}: the site file names no JWKS file ([site] jwks = \"{site_id}.jwks.json\"); "
                             "give keys= a JWKS file or the service's URL")
        path = named
    try:
        return PublicKeys.from_jwks(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path}: cannot use this JWKS file: {error}") from None


def service_keys(service_url: str, site_id: str, *, timeout: float = 2.0, cache: CacheFile | None = None,
                 http: Any = None) -> RemoteDocument[TokenVerifier]:
    """The site's JWKS from the service, as a verifier, with ETag and the last good copy kept."""
    return RemoteDocument(site_url(service_url, site_id, "jwks.json"),
                          lambda document: TokenVerifier(site_id, PublicKeys.from_jwks(document)),
                          name="jwks", timeout=timeout, cache=cache, http=http)

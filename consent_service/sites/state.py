"""The current state of a site as the request path needs it: its settings and its current policy
version, loaded once and kept in-process for a few seconds (a sync elsewhere is seen once that time
has passed). While the database cannot be reached, the last state loaded is served: the banner's
script, its CORS answers and the cached backend reads keep working, and writes answer 503."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..db import LastKnownCache
from ..models import PolicyVersion, Site
from .declaration import category_ids


@dataclass(frozen=True)
class SiteState:
    """What a request needs to know about a site, loaded once and shared."""

    id: str
    settings: dict[str, Any]
    version: int
    policy_hash: str
    notice: dict[str, Any]

    # Derived once per loaded state: the request path asks for them on every write.
    @functools.cached_property
    def categories(self) -> list[str]:
        return category_ids(self.notice)

    @functools.cached_property
    def origins(self) -> frozenset[str]:
        return frozenset(self.settings["origins"])

    @property
    def languages(self) -> list[str]:
        return self.notice["languages"]

    @functools.cached_property
    def banner_texts(self) -> dict[str, Any]:
        """The texts the banner carries on every page: all but the cookie declaration's labels, which
        it fetches with the declaration on the pages that show one (sites/cookie_declaration.py)."""
        return {language: {key: text for key, text in texts.items() if key != "declaration"}
                for language, texts in self.notice["texts"].items()}

    def banner_config(self, service_url: str, keys: Mapping[str, str]) -> dict[str, Any]:
        """The configuration the banner needs, as served at /config and inlined in banner.js: the
        service's public URL (never a request's Host) and the site's active public keys (key id ->
        raw Ed25519 key in base64url), which the banner verifies the consent token with."""
        return {
            "site": self.id,
            "service": service_url.rstrip("/"),
            "keys": dict(keys),
            "policy_version": self.version,
            "policy_hash": self.policy_hash,
            "cookie": {"name": self.settings["cookie_name"], "domain": self.settings["cookie_domain"]},
            "lifetimes": {"accept_days": self.settings["accept_lifetime_days"],
                          "refuse_days": self.settings["refuse_lifetime_days"]},
            "languages": self.notice["languages"],
            "default_language": self.notice["default_language"],
            "categories": self.notice["categories"],
            "cookies": self.notice["cookies"],
            "texts": self.banner_texts,
            "privacy_policy_url": self.notice["privacy_policy_url"],
        }


def load_site_state(session: Session, site_id: str) -> SiteState | None:
    row = session.execute(
        sa.select(Site, PolicyVersion)
        .join(PolicyVersion, sa.and_(PolicyVersion.site_id == Site.id,
                                     PolicyVersion.version == Site.current_version))
        .where(Site.id == site_id)
    ).first()
    if row is None:
        return None
    site, policy = row
    return SiteState(id=site.id, settings=site.settings, version=policy.version,
                     policy_hash=policy.policy_hash, notice=policy.notice)


class SiteStateCache(LastKnownCache["SiteState | None"]):
    """SiteState by site id, kept for a few seconds (misses are cached too); the last state loaded
    stands in while the database is unavailable."""

    def get(self, session: Session, site_id: str) -> SiteState | None:
        return self.read(session, site_id, lambda current: load_site_state(current, site_id))



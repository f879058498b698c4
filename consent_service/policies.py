"""Sites in the database: syncing declarations into policy versions, and the current state of a
site as the request path needs it (kept in-process for a few seconds; a sync elsewhere is seen once
that time has passed)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import PolicyVersion, Site, utcnow
from .sites import SiteDeclaration, category_ids


@dataclass(frozen=True)
class SiteState:
    """What a request needs to know about a site, loaded once and shared."""

    id: str
    settings: dict[str, Any]
    version: int
    content_hash: str
    shown: dict[str, Any]

    # Derived once per loaded state: the request path asks for them on every write.
    @functools.cached_property
    def categories(self) -> list[str]:
        return category_ids(self.shown)

    @functools.cached_property
    def origins(self) -> frozenset[str]:
        return frozenset(self.settings["origins"])

    @property
    def languages(self) -> list[str]:
        return self.shown["languages"]

    def public_config(self, service_url: str) -> dict[str, Any]:
        """The configuration the banner needs, as served at /config and inlined in banner.js."""
        return {
            "site": self.id,
            "service": service_url.rstrip("/"),
            "policy_version": self.version,
            "policy_hash": self.content_hash,
            "cookie": {"name": self.settings["cookie_name"], "domain": self.settings["cookie_domain"]},
            "lifetimes": {"accept_days": self.settings["accept_lifetime_days"],
                          "refuse_days": self.settings["refuse_lifetime_days"]},
            "languages": self.shown["languages"],
            "default_language": self.shown["default_language"],
            "categories": self.shown["categories"],
            "cookies": self.shown["cookies"],
            "texts": self.shown["texts"],
            "privacy_policy_url": self.shown["privacy_policy_url"],
        }


@dataclass(frozen=True)
class SyncResult:
    site_id: str
    version: int
    published: bool
    settings_changed: bool


def sync_declarations(session: Session, declarations: Iterable[SiteDeclaration]) -> list[SyncResult]:
    """Apply declarations in one transaction: all of them, or none if anything fails.

    A declaration whose visitor-facing content differs from the current version publishes the next
    version; settings (origins, lifetimes, cookie domain) are updated in place without one.
    """
    results = []
    try:
        for declaration in declarations:
            site = session.get(Site, declaration.site_id)
            content_hash = declaration.content_hash
            if site is None:
                site = Site(id=declaration.site_id, name=declaration.settings["name"],
                            settings=declaration.settings, current_version=0)
                session.add(site)
                session.flush()
            current = session.get(PolicyVersion, (site.id, site.current_version))
            published = current is None or current.content_hash != content_hash
            if published:
                site.current_version += 1
                session.add(PolicyVersion(site_id=site.id, version=site.current_version,
                                          content=declaration.shown, content_hash=content_hash))
            settings_changed = site.settings != declaration.settings
            if settings_changed:
                site.settings = declaration.settings
                site.name = declaration.settings["name"]
            if published or settings_changed:
                site.updated_at = utcnow()
            results.append(SyncResult(site.id, site.current_version, published, settings_changed))
        session.commit()
    except Exception:
        session.rollback()
        raise
    site_states.clear()
    return results


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
                     content_hash=policy.content_hash, shown=policy.content)


class SiteStateCache:
    """A small time-bounded in-process cache of SiteState by site id (misses are cached too)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, SiteState | None]] = {}
        self._lock = threading.Lock()
        self.ttl_seconds = 5.0

    def get(self, session: Session, site_id: str) -> SiteState | None:
        entry = self._entries.get(site_id)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            return entry[1]
        state = load_site_state(session, site_id)
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[site_id] = (now + self.ttl_seconds, state)
        return state

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


site_states = SiteStateCache()

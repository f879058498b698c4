"""The current state of a site as the request path needs it: its settings and its current policy
version, loaded once and kept in-process for a few seconds (a sync elsewhere is seen once that time
has passed). While the database cannot be reached, the last state loaded is served: the banner's
script, its CORS answers and the cached backend reads keep working, and writes answer 503."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..canonical import canonical_hash
from ..cookie_patterns import NECESSARY
from ..db import LastKnownCache
from ..models import PolicyVersion, Site
from ..regimes import (
    DEFAULT_REGIME,
    REGIMES,
    allowed_before_choice,
    categories_for,
    is_advertising,
    regime,
    regime_for_region,
)
from .declaration import category_ids, regime_notice


@dataclass(frozen=True)
class SiteState:
    """What a request needs to know about a site, loaded once and shared."""

    id: str
    settings: dict[str, Any]
    version: int
    policy_hash: str
    notice: dict[str, Any]
    #: Regime -> the policy version its visitors' view dates from (sites/sync.py); empty: all `version`.
    regime_versions: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def regime_version(self, regime_id: str | None) -> int:
        """The policy version a visitor under this regime consents to (what its token's `pv` names)."""
        return self.regime_versions.get(regime(regime_id).id, self.version)

    def regime_of(self, region: str | None) -> str:
        """The regime for a region: a subdivision's own entry, else its country's, else the default."""
        return regime_for_region(self.settings.get("regimes"), region)

    def regime_categories(self, regime_id: str | None) -> list[str]:
        """The category ids a visitor under this regime chooses (derived once per regime: every write
        asks)."""
        name = regime(regime_id).id
        ids = self._regime_categories.get(name)
        if ids is None:
            ids = self._regime_categories[name] = [c["id"] for c in categories_for(self.notice["categories"], name)]
        return ids

    @functools.cached_property
    def _regime_categories(self) -> dict[str, list[str]]:
        return {}

    # Derived once per loaded state: the request path asks for them on every write.
    @functools.cached_property
    def categories(self) -> list[str]:
        """Every declared category, of every regime (a visitor chooses `regime_categories`)."""
        return category_ids(self.notice)

    @functools.cached_property
    def separate_purposes(self) -> frozenset[str]:
        """Separate-consent purposes: never granted by "accept all"."""
        return frozenset(c["id"] for c in self.notice["categories"] if c.get("separate"))

    @functools.cached_property
    def advertising(self) -> frozenset[str]:
        """Advertising categories: what a GPC opt-out refuses."""
        return frozenset(c["id"] for c in self.notice["categories"] if is_advertising(c))

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

    @functools.cached_property
    def _regime_views(self) -> dict[str, dict[str, Any]]:
        return {}

    def regime_view(self, regime_id: str | None) -> dict[str, Any]:
        """What a visitor under this regime is shown (declaration.regime_notice), derived once."""
        name = regime(regime_id).id
        view = self._regime_views.get(name)
        if view is None:
            view = self._regime_views[name] = regime_notice(self.notice, name)
        return view

    def regime_hash(self, regime_id: str | None) -> str:
        """The SHA-256 of what a visitor under this regime is shown: that regime's policy hash
        (asked by every /config, banner.js and declaration request, so hashed once)."""
        name = regime(regime_id).id
        digest = self._regime_hashes.get(name)
        if digest is None:
            digest = self._regime_hashes[name] = canonical_hash(self.regime_view(name))
        return digest

    @functools.cached_property
    def _regime_hashes(self) -> dict[str, str]:
        return {}

    def banner_config(self, service_url: str, keys: Mapping[str, str], regime_id: str | None = None) -> dict[str, Any]:
        """The configuration the banner needs for a visitor under one regime (opt-in by default), as
        served at /config and inlined in banner.js: the service's public URL (never a request's
        Host), the site's active public keys (key id -> raw Ed25519 key in base64url), which the
        banner verifies the consent token with, and that regime's categories, texts, policy version
        and model (what runs before a choice, the first layer, what GPC means)."""
        model = regime(regime_id)
        view = self.regime_view(model.id)
        regime_config: dict[str, Any] = {"id": model.id, "before": sorted(allowed_before_choice(
            view["categories"], model.id) - {NECESSARY})}
        if model.first_layer != "dialog":
            regime_config["layer"] = model.first_layer
        if model.gpc_opt_out:
            regime_config["gpc"] = sorted(c["id"] for c in view["categories"] if is_advertising(c))
        if model.gpc_display:
            regime_config["gpc_display"] = True
        return {
            "site": self.id,
            "service": service_url.rstrip("/"),
            "keys": dict(keys),
            "policy_version": self.regime_version(model.id),
            "policy_hash": self.regime_hash(model.id),
            "regime": regime_config,
            "cookie": {"name": self.settings["cookie_name"], "domain": self.settings["cookie_domain"]},
            "lifetimes": {"accept_days": self.settings["accept_lifetime_days"],
                          "refuse_days": self.settings["refuse_lifetime_days"]},
            "languages": view["languages"],
            "default_language": view["default_language"],
            "categories": view["categories"],
            "cookies": view["cookies"],
            "texts": {language: {key: text for key, text in texts.items() if key != "declaration"}
                      for language, texts in view["texts"].items()},
            "privacy_policy_url": view["privacy_policy_url"],
            # For a shop's guard (shop/cookie_rules.py), not the script: which regime applies where,
            # and the policy version a token of each regime must name.
            "jurisdictions": {**(self.settings.get("regimes") or {"default": DEFAULT_REGIME, "regions": {}}),
                              "versions": {name: self.regime_version(name) for name in REGIMES}},
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
                     policy_hash=policy.policy_hash, notice=policy.notice,
                     regime_versions=policy.regime_versions or {})


class SiteStateCache(LastKnownCache["SiteState | None"]):
    """SiteState by site id, kept for a few seconds (misses are cached too); the last state loaded
    stands in while the database is unavailable."""

    def get(self, session: Session, site_id: str) -> SiteState | None:
        return self.read(session, site_id, lambda current: load_site_state(current, site_id))



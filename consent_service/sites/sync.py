"""Publishing site declarations: each sync writes the sites' settings and, when what visitors are
shown has changed, a new immutable policy version."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..keyring import Keyring
from ..models import PolicyVersion, Site
from ..times import utcnow
from .declaration import SiteDeclaration, regime_hashes
from .signing_keys import ensure_key
from .state import SiteStateCache


@dataclass(frozen=True)
class SyncResult:
    site_id: str
    version: int
    published: bool
    settings_changed: bool
    #: The key id of the site's first signing key, when this sync created it.
    new_key: str | None = None

    def summary(self) -> str:
        """One line for an operator: `demo: published policy version 2 (settings updated)`."""
        state = "published policy version" if self.published else "unchanged at policy version"
        extra = " (settings updated)" if self.settings_changed else ""
        extra += f"; first signing key {self.new_key}" if self.new_key else ""
        return f"{self.site_id}: {state} {self.version}{extra}"


def regime_versions(previous: PolicyVersion | None, notice: dict, version: int) -> dict[str, int]:
    """For each regime, the version since which its visitors' view is unchanged: the previous one's
    when this notice shows them the same thing, else this version. So a change to one regime's
    texts asks only that regime's visitors again."""
    if previous is None:
        return dict.fromkeys(regime_hashes(notice), version)
    before, after = regime_hashes(previous.notice), regime_hashes(notice)
    kept = previous.regime_versions or {}
    return {name: kept.get(name, previous.version) if before.get(name) == digest else version
            for name, digest in after.items()}


def sync_declarations(session: Session, declarations: Iterable[SiteDeclaration],
                      site_states: SiteStateCache | None = None, keyring: Keyring | None = None) -> list[SyncResult]:
    """Apply declarations in one transaction: all of them, or none if anything fails.

    A declaration whose visitor-facing content differs from the current version publishes the next
    version; settings (origins, lifetimes, cookie domain) are updated in place without one. With the
    keyring, a site without a signing key gets its first one in the same transaction (otherwise it
    gets it on first use).
    """
    results = []
    try:
        for declaration in declarations:
            site = session.get(Site, declaration.site_id)
            policy_hash = declaration.policy_hash
            if site is None:
                site = Site(id=declaration.site_id, name=declaration.settings["name"],
                            settings=declaration.settings, current_version=0)
                session.add(site)
                session.flush()
            current = session.get(PolicyVersion, (site.id, site.current_version))
            published = current is None or current.policy_hash != policy_hash
            if published:
                site.current_version += 1
                session.add(PolicyVersion(site_id=site.id, version=site.current_version,
                                          notice=declaration.notice, policy_hash=policy_hash,
                                          regime_versions=regime_versions(current, declaration.notice,
                                                                          site.current_version)))
            settings_changed = site.settings != declaration.settings
            if settings_changed:
                site.settings = declaration.settings
                site.name = declaration.settings["name"]
            if published or settings_changed:
                site.updated_at = utcnow()
            new_key = ensure_key(session, keyring, site.id) if keyring is not None else None
            results.append(SyncResult(site.id, site.current_version, published, settings_changed,
                                      new_key.kid if new_key is not None else None))
        session.commit()
    except Exception:
        session.rollback()
        raise
    if site_states is not None:
        site_states.clear()
    return results

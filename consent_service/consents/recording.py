"""Recording a visitor's choice: check it against the site's current policy, write it as a new
append-only record with its proof, and sign the visitor's new token with the site's key. Plain functions over a
SQLAlchemy session: the API, the CLI and the tests all call these, and none sees a Flask request."""

from __future__ import annotations

import functools
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..cookie_patterns import NECESSARY
from ..crypto import new_key
from ..errors import Conflict, ServiceError
from ..ids import new_id
from ..keyring import Keyring
from ..models import ConsentRecord
from ..regimes import regime
from ..sites.signing_keys import SiteKeys
from ..sites.state import SiteState
from ..times import utcnow
from ..tokens import TokenIssuer
from .cache import ConsentCache, summary_of
from .record_crypto import protect_record
from .store import RecordStore
from .visitor_keys import open_key, wrap_key


@dataclass
class Choice:
    """A visitor's choice as it arrives, already decoded but not yet checked against the site."""

    policy_version: int
    choices: dict[str, bool]
    method: str
    token: str | None = None
    language: str | None = None
    page_url: str | None = None
    banner_version: str | None = None
    client_record_id: str | None = None
    user_agent: str | None = None
    ip_hash: str | None = None
    gpc: bool = False
    #: The visitor's region as the operator's edge told it (regions.py), never the body's: it picks
    #: the regime whose categories, defaults and policy version the choice is checked against.
    region: str | None = None


@dataclass
class RecordedChoice:
    """A stored choice. `visitor_id` and `token` are None only for a replay by a caller who did not
    prove to be that visitor (see `_replay`)."""

    record_id: str
    visitor_id: str | None
    token: str | None
    expires_at: datetime
    policy_version: int
    choices: dict[str, bool]
    replayed: bool = False
    regime: str | None = None
    region: str | None = None


_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?\Z")


def _origin(url: str) -> tuple[str, str]:
    """(scheme://host[:port], path) of an absolute http(s) URL, normalized as browsers send an
    Origin: lower case, no default port, no user name or password; ValueError or OSError if it is
    not one."""
    parts = urlsplit(url)  # ValueError for a malformed [IPv6] host
    scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port  # .port: ValueError if bad
    if scheme not in _DEFAULT_PORTS or not host or not url.isprintable():
        raise ValueError("not an absolute http(s) URL")
    if ":" in host:
        socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])  # OSError if not an address
        host = f"[{host}]"
    elif not _HOST_NAME.match(host):
        raise ValueError("not a host name")
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}", parts.path


@functools.lru_cache(maxsize=1024)
def _page_origins(origins: frozenset[str]) -> frozenset[str]:
    """A site's declared origins, normalized as page URLs are."""
    normalized = set()
    for origin in origins:
        try:
            normalized.add(_origin(origin)[0])
        except (ValueError, OSError):
            continue
    return frozenset(normalized)


def strip_query(url: str, origins: frozenset[str] | None = None) -> str:
    """The page URL as stored: scheme, host and path only. Queries and fragments carry personal
    data, and so does a `user:password@`; all are dropped. A URL that is not an absolute http(s)
    URL with a valid host, or (given the site's origins) whose origin is not one of them, is refused:
    the banner sends its page's own `location.href`, whose origin is the request's Origin, already
    checked against the same list, so only a forged body fails here."""
    try:
        origin, path = _origin(url)
    except (ValueError, OSError):
        raise ServiceError("invalid_page_url", "page_url must be an absolute http(s) URL") from None
    if origins is not None and origin not in _page_origins(origins):
        raise ServiceError("invalid_page_url", "page_url's origin is not one of the site's origins")
    return origin + path


def _check_choices(site: SiteState, choice: Choice, regime_id: str, previous_token_valid: bool) -> None:
    # Every version since the regime's view last changed shows its visitors the same thing.
    current = site.regime_version(regime_id)
    if not current <= choice.policy_version <= site.version:
        if 0 < choice.policy_version < current:
            raise Conflict("stale_policy_version",
                           f"policy version {choice.policy_version} has been replaced by {current}; "
                           "show the visitor the current one", details={"current": current})
        raise ServiceError("unknown_policy_version",
                           f"site has no policy version {choice.policy_version}",
                           details={"current": current})
    categories = site.regime_categories(regime_id)
    missing = [c for c in categories if c not in choice.choices]
    unknown = [c for c in choice.choices if c not in categories]
    if unknown:
        raise ServiceError("unknown_category", f"not a category of this site: {', '.join(sorted(unknown))}")
    if missing:
        raise ServiceError("missing_category", f"a choice is needed for: {', '.join(missing)}")
    if choice.choices[NECESSARY] is not True:
        raise ServiceError("necessary_required", "the necessary category cannot be refused")
    optional = [choice.choices[c] for c in categories if c != NECESSARY]
    bundled = [choice.choices[c] for c in categories if c != NECESSARY and c not in site.separate_purposes]
    if choice.method == "accept_all" and not all(bundled):
        raise ServiceError("method_mismatch", "accept_all must grant every category but separate purposes")
    if choice.method == "gpc":
        if not choice.gpc or not regime(regime_id).gpc_opt_out:
            raise ServiceError("method_mismatch", "gpc records a Global Privacy Control opt-out: it needs the "
                               "Sec-GPC header, in a regime where the signal is an opt-out")
        if any(choice.choices[c] for c in site.advertising if c in categories):
            raise ServiceError("method_mismatch", "gpc must refuse every advertising category")
    if choice.method == "reject_all" and any(optional):
        raise ServiceError("method_mismatch", "reject_all must refuse every optional category")
    if choice.method == "withdraw":
        if not previous_token_valid:
            raise ServiceError("withdraw_requires_token", "withdraw needs the visitor's current token")
        if optional and all(optional):
            raise ServiceError("method_mismatch", "withdraw must refuse at least one category")


def _language(site: SiteState, requested: str | None) -> str:
    if not requested:
        return site.notice["default_language"]
    for language in site.languages:
        if language.lower() == requested.lower():
            return language
    raise ServiceError("unknown_language", f"language must be one of {', '.join(site.languages)}")


def record_choice(session: Session, site: SiteState, choice: Choice, *, keys: SiteKeys, store: RecordStore,
                  keyring: Keyring, cache: ConsentCache | None = None, now: datetime | None = None) -> RecordedChoice:
    """Store a choice as a new append-only record and sign the visitor's new token.

    Without a token whose signature is this site's, a new visitor id is issued: nobody can change
    another visitor's consent. A repeated `client_record_id` answers with the record already stored
    (and its token only to that visitor's own token, see `_replay`).
    """
    visitor_id = None
    if choice.token is not None:
        check = keys.verifier.verify(choice.token)
        if check.status == "invalid":
            raise ServiceError("invalid_token", "the token is not a valid token of this site; "
                               "send the choice without it to start afresh")
        visitor_id = check.visitor_id
    regime_id = site.regime_of(choice.region)
    _check_choices(site, choice, regime_id, previous_token_valid=visitor_id is not None)
    categories = site.regime_categories(regime_id)
    regime_version = site.regime_version(regime_id)
    language = _language(site, choice.language)
    page_url = strip_query(choice.page_url, site.origins) if choice.page_url else None

    now = now or utcnow()
    granted_optional = any(v for c, v in choice.choices.items() if c != NECESSARY)
    lifetime_days = site.settings["accept_lifetime_days" if granted_optional else "refuse_lifetime_days"]
    expires_at = now + timedelta(days=lifetime_days)
    record_id = new_id(now.timestamp())
    new_visitor = visitor_id is None
    visitor_id = visitor_id or new_id(now.timestamp())

    stored_key = None if new_visitor else store.visitor_key(session, visitor_id)
    key = open_key(keyring, site.id, visitor_id, stored_key)
    fresh_key = new_key() if stored_key is None else None
    row: dict[str, Any] = {
        "id": record_id, "site_id": site.id, "visitor_id": visitor_id,
        "policy_version": site.version, "policy_hash": site.policy_hash,
        "choices": {c: choice.choices[c] for c in categories}, "method": choice.method,
        "created_at": now, "expires_at": expires_at, "language": language, "ip_hash": choice.ip_hash,
        "gpc": bool(choice.gpc), "regime": regime_id, "region": choice.region, "regime_version": regime_version,
        "banner_version": choice.banner_version,
        "client_record_id": choice.client_record_id,
    }
    # A stored key that no configured secret opens (see visitor_keys.py) cannot take new personal
    # fields: the choice is recorded without them rather than under a key nobody keeps.
    personal = {"page_url": page_url, "user_agent": choice.user_agent} if key or fresh_key else {}
    protect_record(row, key or fresh_key or new_key(), personal)

    wrapped = wrap_key(keyring, site.id, visitor_id, fresh_key) if fresh_key is not None else None
    if not store.insert(session, row, wrapped):
        return _replay(session, site, keys.issuer, choice, None if new_visitor else visitor_id, cache)

    if cache is not None:
        cache.put(site.id, visitor_id, summary_of(row), new_visitor=new_visitor)
    return RecordedChoice(
        record_id=record_id, visitor_id=visitor_id, expires_at=expires_at, policy_version=regime_version,
        choices=row["choices"], regime=regime_id, region=choice.region,
        token=_sign(keys.issuer, visitor_id, regime_version, row["choices"], record_id, expires_at, regime_id),
    )


def _sign(issuer: TokenIssuer, visitor_id: str, version: int, choices: dict[str, bool], record_id: str,
          expires_at: datetime, regime_id: str | None) -> str:
    """The visitor's token: `pv` is the regime's policy version, `rg` the regime (opt-in when the
    record predates regimes), so the banner and the guard judge it by that regime's rules."""
    return issuer.issue(visitor_id=visitor_id, policy_version=version,
                        granted=[c for c, v in choices.items() if v], record_id=record_id,
                        expires_at=int(expires_at.timestamp()), regime=regime(regime_id).id)


def _replay(session: Session, site: SiteState, issuer: TokenIssuer, choice: Choice,
            visitor_id: str | None, cache: ConsentCache | None = None) -> RecordedChoice:
    """The answer to a `client_record_id` already stored.

    A client_record_id is no credential: it travels in every export line. So the stored record's
    token (and its visitor id) go back only to a caller whose own valid token names that visitor.
    Anyone else repeating the same choice learns that it is stored (`replayed`, no token, no visitor
    id): the banner then sends the choice again as a fresh record, so a new visitor whose first
    answer was lost still ends up with a token of its own.
    """
    existing = session.execute(sa.select(ConsentRecord).where(
        ConsentRecord.site_id == site.id, ConsentRecord.client_record_id == choice.client_record_id,
    )).scalar_one()
    if cache is not None:  # the first attempt may have stored it and died before writing it through
        cache.put(site.id, existing.visitor_id, summary_of(existing))
    same_visitor = visitor_id is None or existing.visitor_id == visitor_id
    same_choice = existing.method == choice.method and dict(existing.choices) == {
        c: choice.choices.get(c) for c in existing.choices}
    if not (same_visitor and same_choice):
        raise Conflict("client_record_id_conflict",
                       "this client_record_id was already used for a different choice")
    version = existing.regime_version or existing.policy_version
    if visitor_id is None:
        return RecordedChoice(record_id=existing.id, visitor_id=None, token=None, expires_at=existing.expires_at,
                              policy_version=version, choices=dict(existing.choices), replayed=True,
                              regime=existing.regime, region=existing.region)
    return RecordedChoice(
        record_id=existing.id, visitor_id=existing.visitor_id, expires_at=existing.expires_at,
        policy_version=version, choices=dict(existing.choices), replayed=True,
        regime=existing.regime, region=existing.region,
        token=_sign(issuer, existing.visitor_id, version, dict(existing.choices),
                    existing.id, existing.expires_at, existing.regime),
    )

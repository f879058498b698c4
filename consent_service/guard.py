"""The consent guard: WSGI middleware that keeps a shop's backend from setting cookies the visitor
has not allowed.

It wraps any WSGI application (Flask, Django, a bare callable). On each request it reads the
`consent` cookie, verifies the signed token locally (no network), and puts the decision in the WSGI
environ (`consent.decision`, `consent.gpc`). On the way out it removes every `Set-Cookie` of a cookie
declared in a category the visitor has not granted:

- cookies of the `necessary` category always pass, and so does the consent cookie itself;
- a `Set-Cookie` that deletes a cookie (`Max-Age=0` or an `Expires` in the past) always passes;
- a cookie declared nowhere follows the `undeclared` policy: `block` (default), `allow` or `report`;
- every removal (and every reported cookie) is logged once per cookie name and counted;
- cookies the browser still sends from a category the visitor's valid token refuses (set before a
  withdrawal, or HttpOnly ones the banner cannot reach) are expired with `Max-Age=0`.

It also re-issues a valid `consent` cookie from the shop's own origin with the token's full
lifetime, because browsers cap the life of cookies written by scripts (Safari: 7 days).

Declarations come from the site's TOML file (`declarations=load_site_file(...)`) or from the service's
config endpoint (`service_url=...`), fetched with `ETag`, cached and refreshed in a background thread.
A TOML file does not know the current policy version, so without `policy_version=` every version is
accepted (signature, site and expiry are still enforced); the config endpoint carries the version,
and a token for an older one then counts as "outdated": no consent.

This module needs neither Flask nor a database; `urllib3` is imported only for the config endpoint.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .sites import NECESSARY, SiteDeclaration, glob_matches, load_site_file, pattern_parts
from .tokens import TokenCheck, TokenSigner

log = logging.getLogger(__name__)

#: WSGI environ keys the guard sets for the application.
DECISION_KEY = "consent.decision"
GPC_KEY = "consent.gpc"

UndeclaredPolicy = Literal["block", "allow", "report"]
_UNDECLARED_POLICIES = ("block", "allow", "report")
_NECESSARY_ONLY = frozenset({NECESSARY})
_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class ConsentDecision:
    """What the visitor allowed, as the guard enforces it for this request.

    `status` is the token's: valid, expired, outdated, invalid, or none (no cookie). `granted` always
    holds `necessary`, and the token's categories only when the token is valid (and declarations are
    known). `gpc` is true when the request carried `Sec-GPC: 1`.
    """

    status: str
    granted: frozenset[str] = _NECESSARY_ONLY
    gpc: bool = False
    visitor_id: str | None = None
    policy_version: int | None = None
    record_id: str | None = None
    expires_at: int | None = None

    def allows(self, category: str) -> bool:
        return category in self.granted

    @property
    def decided(self) -> bool:
        """True when the visitor has a valid choice for the current policy (the banner stays closed)."""
        return self.status == "valid"


def consent_decision(environ: Mapping[str, Any]) -> ConsentDecision:
    """The guard's decision for a request (Django: `request.META`); necessary-only when unguarded."""
    decision = environ.get(DECISION_KEY)
    if isinstance(decision, ConsentDecision):
        return decision
    return ConsentDecision("none", gpc=environ.get("HTTP_SEC_GPC", "").strip() == "1")


def consent_granted(category: str) -> bool:
    """Flask helper: may the current request use cookies of `category`?"""
    from flask import request

    return consent_decision(request.environ).allows(category)


class CookieRules:
    """Declarations compiled for fast lookups: cookie name -> category, plus the site's cookie settings."""

    def __init__(self, categories: Iterable[str], cookies: Iterable[Mapping[str, Any]], *,
                 cookie_name: str = "consent", cookie_domain: str = "",
                 policy_version: int | None = None, source: str = "") -> None:
        self.categories = frozenset(categories) | {NECESSARY}
        self.cookie_name = cookie_name
        self.cookie_domain = cookie_domain or ""
        self.policy_version = policy_version
        self.source = source
        self.exact: dict[str, str] = {}
        self.patterns: list[tuple[str, str, str]] = []
        for cookie in cookies:
            if "name" in cookie:
                self.exact.setdefault(cookie["name"], cookie["category"])
            elif (parts := pattern_parts(cookie["pattern"])) is not None:
                self.patterns.append((*parts, cookie["category"]))
            else:
                self.exact.setdefault(cookie["pattern"], cookie["category"])
        # The consent cookie carries the choice itself: it is necessary whatever the file says.
        self.exact[cookie_name] = NECESSARY
        self._memo: dict[str, str | None] = {}

    def category_of(self, name: str) -> str | None:
        """The declared category of a cookie name, or None when no declaration covers it."""
        try:
            return self._memo[name]
        except KeyError:
            pass
        category = self.exact.get(name)
        if category is None:
            for prefix, suffix, pattern_category in self.patterns:
                if glob_matches(prefix, suffix, name):
                    category = pattern_category
                    break
        if len(self._memo) >= _CACHE_LIMIT:
            self._memo.clear()
        self._memo[name] = category
        return category

    @classmethod
    def from_declaration(cls, declaration: SiteDeclaration, policy_version: int | None = None) -> CookieRules:
        return cls((c["id"] for c in declaration.shown["categories"]), declaration.shown["cookies"],
                   cookie_name=declaration.settings["cookie_name"],
                   cookie_domain=declaration.settings["cookie_domain"],
                   policy_version=policy_version, source="site file")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CookieRules:
        """From the service's `GET /v1/sites/<site>/config` JSON."""
        return cls((c["id"] for c in config["categories"]), config["cookies"],
                   cookie_name=config["cookie"]["name"], cookie_domain=config["cookie"].get("domain") or "",
                   policy_version=int(config["policy_version"]), source="service config")


class ServiceDeclarations:
    """The site's declarations from the service's config endpoint.

    Fetched with `If-None-Match`, kept in memory (and in `cache_file` when given, so a restart while
    the service is down still has them), refreshed every `refresh_seconds` by a daemon thread that
    each process starts on its first request. When a fetch fails the last good copy stands.
    """

    def __init__(self, service_url: str, site_id: str, *, refresh_seconds: float = 60.0,
                 timeout: float = 2.0, cache_file: str | Path | None = None,
                 http: Any = None) -> None:
        self.url = f"{service_url.rstrip('/')}/v1/sites/{site_id}/config"
        self.refresh_seconds = refresh_seconds
        self.timeout = timeout
        self.cache_file = Path(cache_file) if cache_file else None
        self.rules: CookieRules | None = None
        self.etag: str | None = None
        self.fetched_at: float | None = None
        self.last_error: str | None = None
        self._http = http
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._load_cache_file()

    def _pool(self) -> Any:
        if self._http is None:
            import urllib3

            self._http = urllib3.PoolManager(maxsize=1, retries=False,
                                             timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))
        return self._http

    def refresh(self) -> bool:
        """Fetch once; True when the rules are current (200 or 304). Never raises."""
        headers = {"Accept": "application/json"}
        if self.etag and self.rules is not None:
            headers["If-None-Match"] = self.etag
        try:
            response = self._pool().request("GET", self.url, headers=headers, redirect=False)
            if response.status == 304 and self.rules is not None:
                self.fetched_at = time.time()
                self.last_error = None
                return True
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            config = json.loads(response.data)
            rules = CookieRules.from_config(config)
        except Exception as error:  # network, HTTP, JSON or shape: keep the last good copy
            message = f"{type(error).__name__}: {error}"
            if message != self.last_error:
                log.warning("consent guard: cannot refresh declarations from %s (%s); %s", self.url, message,
                            "keeping the last good copy" if self.rules else "only necessary cookies pass")
            self.last_error = message
            return False
        with self._lock:
            self.rules = rules
            self.etag = response.headers.get("ETag")
            self.fetched_at = time.time()
            self.last_error = None
        self._save_cache_file(config)
        return True

    def _load_cache_file(self) -> None:
        if self.cache_file is None or not self.cache_file.exists():
            return
        try:
            saved = json.loads(self.cache_file.read_text(encoding="utf-8"))
            self.rules = CookieRules.from_config(saved["config"])
            self.etag = saved.get("etag")
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("consent guard: ignoring unreadable cache file %s (%s)", self.cache_file, error)

    def _save_cache_file(self, config: Any) -> None:
        if self.cache_file is None:
            return
        try:
            temporary = self.cache_file.with_suffix(self.cache_file.suffix + ".tmp")
            temporary.write_text(json.dumps({"etag": self.etag, "config": config}), encoding="utf-8")
            os.replace(temporary, self.cache_file)
        except OSError as error:
            log.warning("consent guard: cannot write cache file %s (%s)", self.cache_file, error)

    def start(self) -> None:
        """Start the refresh thread in this process (idempotent; call again after a fork)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="consent-guard-refresh", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.timeout * 2 + 1)

    def _run(self) -> None:
        while True:
            # Without any copy, retry soon; with one, at the refresh interval.
            wait = self.refresh_seconds if self.rules is not None else min(5.0, self.refresh_seconds)
            if self._stop.wait(wait):
                return
            self.refresh()


@dataclass
class GuardStats:
    """Counters: cookies removed (by name) and undeclared cookies reported (by name)."""

    removed: Counter[str] = field(default_factory=Counter)
    reported: Counter[str] = field(default_factory=Counter)
    reissued: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {"removed": dict(self.removed), "reported": dict(self.reported),
                "removed_total": sum(self.removed.values()), "reported_total": sum(self.reported.values()),
                "reissued": self.reissued}


_MAX_AGE = re.compile(r";\s*max-age\s*=\s*([^;]*)", re.IGNORECASE)


def is_deletion(set_cookie: str, now: float | None = None) -> bool:
    """True when a Set-Cookie value deletes its cookie: Max-Age <= 0 or an Expires in the past."""
    match = _MAX_AGE.search(set_cookie)
    if match is not None:
        # Max-Age wins over Expires (RFC 6265 5.3 step 3); an unreadable one is ignored.
        try:
            return int(match.group(1).strip()) <= 0
        except ValueError:
            pass
    if "xpires" not in set_cookie and "XPIRES" not in set_cookie:
        return False
    for attribute in set_cookie.split(";")[1:]:
        key, _, value = attribute.partition("=")
        if key.strip().lower() == "expires":
            try:
                moment = email.utils.parsedate_to_datetime(value.strip())
            except (TypeError, ValueError, IndexError):
                return False
            return moment.timestamp() <= (time.time() if now is None else now)
    return False


class ConsentGuard:
    """WSGI middleware enforcing a site's cookie declarations against the visitor's signed consent.

    Give exactly one source of declarations: `declarations` (a SiteDeclaration or a path to the site's
    TOML file) or `service_url` (the consent service; the config endpoint is used). `secrets` is the
    service's `SECRET_KEYS` list, newest first. `necessary_cookies` are names that always pass, also
    while no declarations are known.
    """

    def __init__(self, app: Callable[..., Any], *, site_id: str, secrets: Iterable[str] | str,
                 declarations: SiteDeclaration | str | Path | None = None, service_url: str | None = None,
                 policy_version: int | None = None, undeclared: UndeclaredPolicy = "block",
                 necessary_cookies: Iterable[str] = (), reissue: bool = True, expire_refused: bool = True,
                 refresh_seconds: float = 60.0, fetch_timeout: float = 2.0,
                 cache_file: str | Path | None = None) -> None:
        if undeclared not in _UNDECLARED_POLICIES:
            raise ValueError(f"undeclared must be one of {', '.join(_UNDECLARED_POLICIES)}, not {undeclared!r}")
        if (declarations is None) == (service_url is None):
            raise ValueError("give exactly one of declarations (a site file) or service_url")
        if isinstance(secrets, str):
            secrets = secrets.split(",")
        self.app = app
        self.site_id = site_id
        self.undeclared = undeclared
        self.necessary_cookies = frozenset(necessary_cookies)
        self.reissue = reissue
        self.expire_refused = expire_refused
        self.stats = GuardStats()
        self._signer = TokenSigner(site_id, [s.strip() for s in secrets])
        self._checks: dict[str, TokenCheck] = {}
        # Valid decisions by (token, GPC, declarations): a visitor's next request with the same
        # cookie skips rebuilding it; expiry is still checked on every request.
        self._valid: dict[tuple[str, bool, CookieRules | None], ConsentDecision] = {}
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._static: CookieRules | None = None
        self.service: ServiceDeclarations | None = None
        if declarations is not None:
            if not isinstance(declarations, SiteDeclaration):
                declarations = load_site_file(declarations)
            if declarations.site_id != site_id:
                raise ValueError(f"the declaration is for site {declarations.site_id!r}, not {site_id!r}")
            self._static = CookieRules.from_declaration(declarations, policy_version)
        else:
            self.service = ServiceDeclarations(service_url, site_id, refresh_seconds=refresh_seconds,
                                               timeout=fetch_timeout, cache_file=cache_file)
            self.service.refresh()
            self._started = False
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._started = False

    @property
    def rules(self) -> CookieRules | None:
        """The declarations in force, or None when none are known yet."""
        if self._static is not None:
            return self._static
        return self.service.rules if self.service is not None else None

    # -- the decision ---------------------------------------------------------------------------

    def _check(self, token: str) -> TokenCheck:
        """Signature and payload, cached by token (expiry and version are checked per request)."""
        check = self._checks.get(token)
        if check is None:
            check = self._signer.verify(token, None, now=0.0)
            if len(self._checks) >= _CACHE_LIMIT:
                self._checks.clear()
            self._checks[token] = check
        return check

    def decide(self, environ: Mapping[str, Any], rules: CookieRules | None = None) -> tuple[ConsentDecision, str]:
        """The decision for a request, and the token it rests on ('' when none is valid)."""
        gpc = environ.get("HTTP_SEC_GPC", "").strip() == "1"
        rules = rules if rules is not None else self.rules
        cookie_name = rules.cookie_name if rules is not None else "consent"
        header = environ.get("HTTP_COOKIE", "")
        marker = cookie_name + "="
        if marker not in header:
            return ConsentDecision("none", gpc=gpc), ""
        best: TokenCheck | None = None
        token = ""
        now = time.time()
        for part in header.split(";"):
            part = part.strip()
            if not part.startswith(marker):
                continue
            value = part[len(marker):].strip('"')
            known = self._valid.get((value, gpc, rules))
            if known is not None and known.expires_at is not None and known.expires_at > now:
                return known, value
            check = self._check(value)
            if check.status == "valid":
                if check.expires_at is not None and check.expires_at <= now:
                    check = TokenCheck("expired", visitor_id=check.visitor_id, policy_version=check.policy_version,
                                       record_id=check.record_id, expires_at=check.expires_at)
                elif (rules is not None and rules.policy_version is not None
                      and check.policy_version != rules.policy_version):
                    check = TokenCheck("outdated", visitor_id=check.visitor_id,
                                       policy_version=check.policy_version, record_id=check.record_id,
                                       expires_at=check.expires_at)
            if best is None or (check.status == "valid" and best.status != "valid"):
                best, token = check, value
            if best.status == "valid":
                break
        assert best is not None
        if best.status != "valid":
            return ConsentDecision(best.status, gpc=gpc, visitor_id=best.visitor_id,
                                   policy_version=best.policy_version, record_id=best.record_id,
                                   expires_at=best.expires_at), ""
        # Without declarations nothing but necessary may pass, whatever the token says.
        granted = (best.granted & rules.categories) | _NECESSARY_ONLY if rules is not None else _NECESSARY_ONLY
        decision = ConsentDecision("valid", granted=granted, gpc=gpc, visitor_id=best.visitor_id,
                                   policy_version=best.policy_version, record_id=best.record_id,
                                   expires_at=best.expires_at)
        if len(self._valid) >= _CACHE_LIMIT:
            self._valid.clear()
        self._valid[(token, gpc, rules)] = decision
        return decision, token

    # -- the response -----------------------------------------------------------------------------

    def _note(self, kind: str, cookies: list[tuple[str, str | None]]) -> None:
        """Count removed (or reported) cookies of one response, under one lock; log each name once."""
        counts = self.stats.removed if kind == "removed" else self.stats.reported
        firsts = []
        with self._lock:
            for name, category in cookies:
                counts[name] = counts.get(name, 0) + 1
                if counts[name] == 1 and (kind, name) not in self._logged:
                    firsts.append((name, category))
                    if len(self._logged) < _CACHE_LIMIT:
                        self._logged.add((kind, name))
        for name, category in firsts:
            if kind == "reported":
                log.warning("consent guard: the application sets cookie %r, which site %r does not declare "
                            "(policy: report, so it passes)", name, self.site_id)
            elif category is None:
                log.warning("consent guard: removed Set-Cookie %r: not declared for site %r (policy: block)",
                            name, self.site_id)
            else:
                log.info("consent guard: removed Set-Cookie %r: category %r is not granted", name, category)

    def filter_headers(self, headers: list[tuple[str, str]], decision: ConsentDecision,
                       rules: CookieRules | None) -> list[tuple[str, str]]:
        """The response headers without the Set-Cookie lines the decision does not allow."""
        kept: list[tuple[str, str]] | None = None
        removed: list[tuple[str, str | None]] = []
        reported: list[tuple[str, str | None]] = []
        granted = decision.granted
        necessary = self.necessary_cookies
        category_of = rules.category_of if rules is not None else None
        policy = self.undeclared if rules is not None else "block"
        for index, (header, value) in enumerate(headers):
            if len(header) == 10 and header.lower() == "set-cookie":
                name = value.partition("=")[0].strip()
                if name in necessary:
                    category: str | None = NECESSARY
                elif category_of is not None:
                    category = category_of(name)
                else:
                    category = NECESSARY if name == "consent" else None
                if category is None and policy != "block":
                    if policy == "report":
                        reported.append((name, None))
                    passes = True
                else:
                    passes = category in granted or is_deletion(value)
                if not passes:
                    removed.append((name, category))
                    if kept is None:
                        kept = list(headers[:index])
                    continue
            if kept is not None:
                kept.append((header, value))
        if removed:
            self._note("removed", removed)
        if reported:
            self._note("reported", reported)
        return headers if kept is None else kept

    def _reissue_header(self, headers: list[tuple[str, str]], token: str, decision: ConsentDecision,
                        rules: CookieRules, environ: Mapping[str, Any]) -> tuple[str, str] | None:
        """The consent cookie again, from the shop's origin, unless unsafe or already being set."""
        max_age = int((decision.expires_at or 0) - time.time())
        if max_age <= 0:
            return None
        marker = rules.cookie_name + "="
        for header, value in headers:
            size = len(header)
            if size == 10 and header.lower() == "set-cookie" and value.lstrip().startswith(marker):
                return None  # the application manages the cookie itself on this response
            # A response a shared cache may store must not carry one visitor's token to another.
            if size == 13 and header.lower() == "cache-control" and (
                    "public" in value.lower() or "s-maxage" in value.lower()):
                return None
        parts = [f"{marker}{token}", "Path=/", f"Max-Age={max_age}", "SameSite=Lax"]
        if rules.cookie_domain:
            parts.append(f"Domain={rules.cookie_domain}")
        if environ.get("wsgi.url_scheme") == "https":
            parts.append("Secure")
        return ("Set-Cookie", "; ".join(parts))

    def refused_in_request(self, environ: Mapping[str, Any], decision: ConsentDecision,
                           rules: CookieRules) -> list[str]:
        """Cookies the browser sent that are declared in a category the visitor has refused (set
        before a withdrawal, or HttpOnly ones the banner cannot delete).

        Only on a valid decision: without one the banner may have just applied a choice whose token
        has not arrived yet (or is queued while the service is down), and its cookies must not be
        expired under it.
        """
        if decision.status != "valid":
            return []
        refused = []
        for part in environ.get("HTTP_COOKIE", "").split(";"):
            name = part.split("=", 1)[0].strip()
            category = rules.category_of(name) if name else None
            if category is not None and category not in decision.granted and name not in self.necessary_cookies:
                refused.append(name)
        return refused

    def _expiry_headers(self, names: list[str], headers: list[tuple[str, str]],
                        rules: CookieRules) -> list[tuple[str, str]]:
        setting = {value.split("=", 1)[0].strip() for header, value in headers if header.lower() == "set-cookie"}
        expired = []
        for name in dict.fromkeys(names):
            if name in setting:
                continue
            expired.append(("Set-Cookie", f"{name}=; Max-Age=0; Path=/"))
            if rules.cookie_domain:
                expired.append(("Set-Cookie", f"{name}=; Max-Age=0; Path=/; Domain={rules.cookie_domain}"))
        return expired

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.service is not None and not self._started:
            self._started = True
            self.service.start()
        rules = self.rules
        decision, token = self.decide(environ, rules)
        environ[DECISION_KEY] = decision
        environ[GPC_KEY] = decision.gpc
        refused = self.refused_in_request(environ, decision, rules) if self.expire_refused and rules else []

        def guarded_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = self.filter_headers(headers, decision, rules)
            if refused:
                headers = [*headers, *self._expiry_headers(refused, headers, rules)]
            if token and self.reissue and rules is not None:
                extra = self._reissue_header(headers, token, decision, rules, environ)
                if extra is not None:
                    headers = [*headers, extra]
                    self.stats.reissued += 1
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        return self.app(environ, guarded_start_response)

    def close(self) -> None:
        """Stop the refresh thread (tests, or an orderly shutdown)."""
        if self.service is not None:
            self.service.stop()

"""The consent guard: WSGI middleware that keeps a shop's backend from setting cookies the visitor
has not allowed.

It wraps any WSGI application (Flask, Django, a bare callable). On each request it reads the
`consent` cookie, verifies the token locally against the site's *public* keys (no network, no
service secret), and puts the decision in the WSGI environ (`consent.decision`, `consent.gpc`). On
the way out it removes every `Set-Cookie` of a cookie declared in a category the visitor has not
granted:

- cookies of the `necessary` category always pass, and so do the consent cookie itself, the names
  given as `necessary_cookies` and the framework's own (`framework=`, frameworks.py);
- a `Set-Cookie` that certainly deletes its cookie, read as a browser reads it (set_cookie.py), passes;
- a cookie declared nowhere follows the `undeclared` policy: `block` (default), `allow` or `report`;
- every removal (and every reported cookie) is logged once per cookie name and counted;
- cookies the browser still sends from a category the visitor's valid token refuses (set before a
  withdrawal, or HttpOnly ones the banner cannot reach) are expired with `Max-Age=0`;
- a token that does not verify (edited, spliced, another site's, a retired key's) or has expired is
  a refusal: the consent cookie is deleted and every non-necessary cookie the browser sends is
  expired. An outdated one (an older policy version) stays, and so do cookies; it grants only what
  its regime allows before a choice and it granted itself (in opt-in regimes: nothing).

Regimes (regimes.py): the token names the regime the choice was made under (`rg`), and its
categories' defaults hold. Before a choice (no token, or an outdated one) the visitor's regime comes
from the region header the shop's edge sets (`region_header=`, e.g. `CF-IPCountry`, and optionally
`subdivision_header=`) and the site's `[regimes]`: in an opt-out regime the non-necessary categories
pass until the visitor opts out (GPC refusing advertising), in opt-in ones nothing but necessary. An
outdated token keeps what it refused. Without a region header every visitor is under the site's default.

It also re-issues a valid `consent` cookie from the shop's own origin with the token's full
lifetime, because browsers cap the life of cookies written by scripts (Safari: 7 days).

Declarations come from the site's TOML file (`declarations="sites/shop.toml"`) or from the service's
config endpoint (`service_url=...`); public keys from a JWKS file, the site file (which names its
JWKS file) or the service's JWKS; remote documents are fetched with `ETag`, cached and refreshed in
a background thread. A TOML file does not know the current policy version, so without
`policy_version=` every version is accepted (signature, site and expiry are still enforced); the
config endpoint carries the version, and a token for an older one then counts as "outdated".

The engine is protocol-free (check_request, response_headers): ConsentGuard drives it as WSGI
middleware, asgi.py as ASGI middleware and django.py as Django middleware, so all three apply the
same rules and produce the same decision.

This module needs neither Flask nor a database; `urllib3` is imported only for the service's
documents. Its decision is the one shape of decision.py, as the backend API and the client answer it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..cookie_patterns import NECESSARY
from ..decision import NECESSARY_ONLY, ConsentDecision
from ..regions import RegionResolver
from ..tokens import TokenVerifier, key_id
from .cookie_rules import CookieRules
from .frameworks import framework_cookies
from .keys import KeySource, load_keys, service_keys
from .remote import CacheFile, Refresher, RemoteDocument, site_url
from .set_cookie import cookie_name, is_deletion, request_cookie_names

log = logging.getLogger(__name__)

#: WSGI environ keys the guard sets for the application.
DECISION_KEY = "consent.decision"
GPC_KEY = "consent.gpc"

UndeclaredPolicy = Literal["block", "allow", "report"]
_UNDECLARED_POLICIES = ("block", "allow", "report")
_CACHE_LIMIT = 4096
_WSP = " \t"
#: Without any copy of the keys there is no telling a good token from a forged one.
KEYS_UNKNOWN = ConsentDecision("unavailable", error="the site's public keys are not known yet")


def sends_gpc(environ: Mapping[str, Any]) -> bool:
    """Whether a WSGI request (or Django's request.META) carries Global Privacy Control: `Sec-GPC: 1`."""
    return environ.get("HTTP_SEC_GPC", "").strip(_WSP) == "1"


def consent_decision(environ: Mapping[str, Any]) -> ConsentDecision:
    """The guard's decision for a request (Django: `request.META`); necessary-only when unguarded."""
    decision = environ.get(DECISION_KEY)
    if isinstance(decision, ConsentDecision):
        return decision
    return ConsentDecision("none", gpc=sends_gpc(environ))


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a µs per request here
class GuardedRequest:
    """What the guard made of one request: its decision, the token it rests on ('' when none is
    valid), the declarations it was judged by, the cookies sent that must be expired, and whether it
    came over https (for `Secure` on the re-issued consent cookie)."""

    decision: ConsentDecision
    token: str
    rules: CookieRules | None
    refused: list[str]
    secure: bool


@dataclass
class GuardStats:
    """Counters: cookies removed and undeclared cookies reported (by name), consent cookies re-issued,
    and tokens refused as invalid."""

    removed: Counter[str] = field(default_factory=Counter)
    reported: Counter[str] = field(default_factory=Counter)
    reissued: int = 0
    invalid_tokens: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {"removed": dict(self.removed), "reported": dict(self.reported),
                "removed_total": sum(self.removed.values()), "reported_total": sum(self.reported.values()),
                "reissued": self.reissued, "invalid_tokens": self.invalid_tokens}


class ConsentGuard:
    """WSGI middleware enforcing a site's cookie declarations against the visitor's signed consent.
    With `app=None` it is the engine alone, which the ASGI guard (asgi.py) and the Django middleware
    (django.py) drive through check_request and response_headers.

    Give exactly one source of declarations: `declarations` (the path of the site's TOML file, or
    CookieRules) or `service_url` (the consent service; its config endpoint is used). `keys` are the
    site's public keys (see shop/keys.py: a JWKS file, a JWKS document or PublicKeys); without it they
    come from the site file's `[site] jwks` file, or from the service's JWKS with `service_url`.

    Necessary cookies are, in this order: `necessary_cookies` (names that count as necessary
    whatever the declarations say, also while none are known), the site's own `necessary`
    declarations, and the cookies of `framework` ("django", "flask", "starlette", "fastapi"; see
    frameworks.py) unless the site declares them in another category.
    """

    def __init__(self, app: Callable[..., Any] | None, *, site_id: str, keys: KeySource | None = None,
                 declarations: CookieRules | str | Path | None = None, service_url: str | None = None,
                 policy_version: int | None = None, undeclared: UndeclaredPolicy = "block",
                 necessary_cookies: Iterable[str] = (), framework: str | Iterable[str] | None = None,
                 reissue: bool = True, expire_refused: bool = True,
                 refresh_seconds: float = 60.0, fetch_timeout: float = 2.0,
                 cache_file: str | Path | None = None, region_header: str | None = None,
                 subdivision_header: str | None = None) -> None:
        if undeclared not in _UNDECLARED_POLICIES:
            raise ValueError(f"undeclared must be one of {', '.join(_UNDECLARED_POLICIES)}, not {undeclared!r}")
        if (declarations is None) == (service_url is None):
            raise ValueError("give exactly one of declarations (a site file) or service_url")
        self.app = app
        self.site_id = site_id
        self.undeclared = undeclared
        self.necessary_cookies = frozenset(necessary_cookies)
        self.framework_cookies = framework_cookies(framework)
        self.reissue = reissue
        self.expire_refused = expire_refused
        self.stats = GuardStats()
        #: The visitor's region from the header the shop's edge sets (never anything the client chose).
        self.regions = RegionResolver(region_header, subdivision_header)
        self._checks: dict[str, ConsentDecision] = {}
        self._checked_with: TokenVerifier | None = None
        # Valid decisions by (token, GPC, declarations): a visitor's next request with the same
        # cookie skips rebuilding it; expiry is still checked on every request.
        self._valid: dict[tuple[str, bool, CookieRules | None], ConsentDecision] = {}
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._static: CookieRules | None = None
        self._static_verifier: TokenVerifier | None = None
        self.service: RemoteDocument[CookieRules] | None = None
        self.service_keys: RemoteDocument[TokenVerifier] | None = None
        self.refresher: Refresher | None = None
        self._started = False
        if keys is None and service_url is None and not isinstance(declarations, (str, Path)):
            raise ValueError("give keys= (a JWKS file or document) with declarations that are not a site file")
        if keys is not None:
            self._static_verifier = TokenVerifier(site_id, load_keys(keys, site_id))
        elif service_url is None:
            self._static_verifier = TokenVerifier(site_id, load_keys(declarations, site_id))  # type: ignore[arg-type]
        if declarations is not None:
            self._static = (declarations if isinstance(declarations, CookieRules)
                            else CookieRules.from_site_file(declarations, site_id, policy_version))
        else:
            assert service_url is not None
            cache = CacheFile(cache_file) if cache_file else None
            self.service = RemoteDocument(site_url(service_url, site_id, "config"), CookieRules.from_config,
                                          name="config", timeout=fetch_timeout, cache=cache)
            documents: list[RemoteDocument[Any]] = [self.service]
            if self._static_verifier is None:
                self.service_keys = service_keys(service_url, site_id, timeout=fetch_timeout, cache=cache)
                documents.append(self.service_keys)
            self.refresher = Refresher(documents, refresh_seconds=refresh_seconds)
            self.refresher.refresh()
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._started = False

    @property
    def rules(self) -> CookieRules | None:
        """The declarations in force, or None when none are known yet."""
        if self._static is not None:
            return self._static
        return self.service.value if self.service is not None else None

    @property
    def verifier(self) -> TokenVerifier | None:
        """The site's public keys in force, or None when none are known yet."""
        if self._static_verifier is not None:
            return self._static_verifier
        return self.service_keys.value if self.service_keys is not None else None

    # -- the decision ---------------------------------------------------------------------------

    def _check(self, token: str, verifier: TokenVerifier) -> ConsentDecision:
        """Signature and claims, cached by token (expiry and version are checked per request)."""
        check = self._checks.get(token)
        if check is None:
            check = verifier.verify(token, None, now=0.0)
            if check.status == "invalid" and self.refresher is not None and key_id(token) not in verifier.keys:
                self.refresher.wake()  # perhaps a key published since the last refresh
            if len(self._checks) >= _CACHE_LIMIT:
                self._checks.clear()
            self._checks[token] = check
        return check

    def decide(self, environ: Mapping[str, Any], rules: CookieRules | None = None) -> tuple[ConsentDecision, str]:
        """The decision for a WSGI request, and the token it rests on ('' when none is valid)."""
        return self.decide_cookies(environ.get("HTTP_COOKIE", ""), sends_gpc(environ), rules,
                                   region=self.regions.from_environ(environ))

    def decide_cookies(self, header: str, gpc: bool, rules: CookieRules | None = None,
                       region: str | None = None) -> tuple[ConsentDecision, str]:
        """The decision for a request's `Cookie` header, and the token it rests on ('' when none is
        valid), with the defaults of the visitor's regime while there is no current choice: the
        token's regime, else the one the site maps `region` to (see the module's doc)."""
        rules = rules if rules is not None else self.rules
        decision, token = self._token_decision(header, gpc, rules)
        if decision.status not in ("none", "outdated"):
            return decision, token
        if rules is None:  # nothing is known of the site: necessary only
            return dataclasses.replace(decision, granted=NECESSARY_ONLY), token
        regime_id = decision.regime or rules.regime_of(region)
        granted = rules.before_choice(regime_id, decision.gpc)
        if decision.status == "outdated":  # what the visitor refused stays refused
            granted &= decision.granted
        return dataclasses.replace(decision, granted=granted | NECESSARY_ONLY, regime=regime_id), token

    def _token_decision(self, header: str, gpc: bool, rules: CookieRules | None) -> tuple[ConsentDecision, str]:
        """The decision as the consent cookies alone say it, and the token it rests on.

        Several consent cookies (host-only and domain-wide) may be sent: a valid one wins, then a
        genuine expired or outdated one, and the decision is `invalid` only when none verifies."""
        rules = rules if rules is not None else self.rules
        cookie_name_ = rules.cookie_name if rules is not None else "consent"
        marker = cookie_name_ + "="
        if marker not in header:
            return ConsentDecision("none", gpc=gpc), ""
        verifier = self.verifier
        if verifier is not self._checked_with:  # new keys (a rotation, a retirement): verdicts start over
            with self._lock:
                self._checks, self._valid, self._checked_with = {}, {}, verifier
        best: ConsentDecision | None = None
        token = ""
        now = time.time()
        for part in header.split(";"):
            part = part.strip(_WSP)
            if not part.startswith(marker):
                continue
            value = part[len(marker):].strip(_WSP)
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            known = self._valid.get((value, gpc, rules))
            if known is not None and known.expires_at is not None and known.expires_at.timestamp() > now:
                return known, value
            if verifier is None:
                return dataclasses.replace(KEYS_UNKNOWN, gpc=gpc), ""
            check = self._check(value, verifier)
            if check.status == "valid":
                if check.expires_at is not None and check.expires_at.timestamp() <= now:
                    check = dataclasses.replace(check, status="expired", granted=NECESSARY_ONLY)
                elif rules is not None and rules.version_for(check.regime) not in (None, check.policy_version):
                    # The token's grants stay on it: decide() keeps only its refusals.
                    check = dataclasses.replace(check, status="outdated")
            if best is None or (best.status == "invalid" and check.status != "invalid") or (
                    check.status == "valid" and best.status != "valid"):
                best, token = check, value
            if best.status == "valid":
                break
        if best is None:  # the marker was inside another cookie's value
            return ConsentDecision("none", gpc=gpc), ""
        if best.status != "valid":
            return dataclasses.replace(best, gpc=gpc), ""
        # Without declarations nothing but necessary may pass, whatever the token says; in an opt-out
        # regime a GPC signal is a standing opt-out of advertising.
        granted = ((rules.honour_gpc(best.regime, best.granted & rules.categories, gpc) | NECESSARY_ONLY)
                   if rules is not None else NECESSARY_ONLY)
        decision = dataclasses.replace(best, granted=granted, gpc=gpc)
        if len(self._valid) >= _CACHE_LIMIT:
            self._valid.clear()
        self._valid[(token, gpc, rules)] = decision
        return decision, token

    # -- the response -----------------------------------------------------------------------------

    def _note(self, kind: str, cookies: list[tuple[str, str | None]], known: bool = True) -> None:
        """Count removed (or reported) cookies of one response, under one lock; log each name once per
        reason (`known`: whether the site's declarations were known when it was removed)."""
        counts = self.stats.removed if kind == "removed" else self.stats.reported
        reason = kind if known else "unknown"
        firsts = []
        with self._lock:
            for name, category in cookies:
                counts[name] = counts.get(name, 0) + 1
                if (reason, name) not in self._logged and (len(self._logged) < _CACHE_LIMIT or counts[name] == 1):
                    firsts.append((name, category))
                    if len(self._logged) < _CACHE_LIMIT:
                        self._logged.add((reason, name))
        for name, category in firsts:
            if kind == "reported":
                log.warning("consent guard: the application sets cookie %r, which site %r does not declare "
                            "(policy: report, so it passes)", name, self.site_id)
            elif not known:
                log.warning("consent guard: removed Set-Cookie %r: the declarations of site %r are not known yet, "
                            "so only necessary cookies pass (give necessary_cookies= or framework= for those "
                            "your application cannot do without)", name, self.site_id)
            elif category is None:
                log.warning("consent guard: removed Set-Cookie %r: not declared for site %r (policy: block)",
                            name, self.site_id)
            else:
                log.info("consent guard: removed Set-Cookie %r: category %r is not granted", name, category)

    def _category(self, name: str, rules: CookieRules | None) -> str | None:
        """A cookie's category: `necessary_cookies` first, then the declarations, then the framework's."""
        if name in self.necessary_cookies:
            return NECESSARY
        if rules is not None:
            category = rules.category_of(name)
            if category is None and name in self.framework_cookies:
                return NECESSARY
            return category
        return NECESSARY if name == "consent" or name in self.framework_cookies else None

    def filter_headers(self, headers: list[tuple[str, str]], decision: ConsentDecision,
                       rules: CookieRules | None) -> list[tuple[str, str]]:
        """The response headers without the Set-Cookie lines the decision does not allow."""
        kept: list[tuple[str, str]] | None = None
        removed: list[tuple[str, str | None]] = []
        reported: list[tuple[str, str | None]] = []
        granted = decision.granted
        policy = self.undeclared if rules is not None else "block"
        for index, (header, value) in enumerate(headers):
            if len(header) == 10 and header.lower() == "set-cookie":
                name = cookie_name(value)
                category = self._category(name, rules)
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
            self._note("removed", removed, known=rules is not None)
        if reported:
            self._note("reported", reported)
        return headers if kept is None else kept

    def _reissue_header(self, headers: list[tuple[str, str]], token: str, decision: ConsentDecision,
                        rules: CookieRules, secure: bool) -> tuple[str, str] | None:
        """The consent cookie again, from the shop's origin, unless unsafe or already being set;
        `Secure` when the request came over https (as the framework judges it, proxies included)."""
        max_age = int(decision.expires_at.timestamp() - time.time()) if decision.expires_at else 0
        if max_age <= 0:
            return None
        name = rules.cookie_name
        for header, value in headers:
            size = len(header)
            if size == 10 and name in value and header.lower() == "set-cookie" and cookie_name(value) == name:
                return None  # the application manages the cookie itself on this response
            # A response a shared cache may store must not carry one visitor's token to another.
            if size == 13 and header.lower() == "cache-control" and (
                    "public" in value.lower() or "s-maxage" in value.lower()):
                return None
        parts = [f"{rules.cookie_name}={token}", "Path=/", f"Max-Age={max_age}", "SameSite=Lax"]
        if rules.cookie_domain:
            parts.append(f"Domain={rules.cookie_domain}")
        if secure:
            parts.append("Secure")
        return ("Set-Cookie", "; ".join(parts))

    def refused_in_request(self, environ: Mapping[str, Any], decision: ConsentDecision,
                           rules: CookieRules) -> list[str]:
        """Cookies the WSGI request sent that the decision refuses (see refused_cookies)."""
        return self.refused_cookies(environ.get("HTTP_COOKIE", ""), decision, rules)

    def refused_cookies(self, cookie_header: str, decision: ConsentDecision, rules: CookieRules) -> list[str]:
        """Cookies the browser sent that the decision refuses and that must go now.

        On a valid decision: those declared in a category the visitor has refused (set before a
        withdrawal, or HttpOnly ones the banner cannot delete). On an invalid one (a forged, spliced
        or foreign token) or an expired one (a browser drops the cookie when its token expires, so one
        still sent was kept or planted): the consent cookie and every cookie that is not necessary,
        undeclared ones too under the `block` policy. On any other (none, outdated, keys unknown)
        nothing: the banner may have just applied a choice whose token has not arrived yet (or is
        queued while the service is down), and its cookies must not be expired under it; an outdated
        token stays, as it names the visitor whose new choice the banner is about to ask for.
        """
        if decision.status == "valid":
            refused = []
            # A framework's cookie the site does not declare has no category here: it is never refused.
            for name in request_cookie_names(cookie_header):
                category = rules.category_of(name)
                if category is not None and category not in decision.granted and name not in self.necessary_cookies:
                    refused.append(name)
            return refused
        if decision.status not in ("invalid", "expired"):
            return []
        refused = []
        for name in request_cookie_names(cookie_header):
            if name == rules.cookie_name:
                refused.append(name)
                continue
            category = self._category(name, rules)
            if category == NECESSARY or (category is None and self.undeclared != "block"):
                continue
            refused.append(name)
        return refused

    def _expiry_headers(self, names: list[str], headers: list[tuple[str, str]],
                        rules: CookieRules | None) -> list[tuple[str, str]]:
        setting = {cookie_name(value) for header, value in headers if header.lower() == "set-cookie"}
        domain = rules.cookie_domain if rules is not None else ""
        expired = []
        for name in dict.fromkeys(names):
            if name in setting:
                continue
            expired.append(("Set-Cookie", f"{name}=; Max-Age=0; Path=/"))
            if domain:
                expired.append(("Set-Cookie", f"{name}=; Max-Age=0; Path=/; Domain={domain}"))
        return expired

    def check_request(self, cookie_header: str, gpc: bool, secure: bool, region: str | None = None) -> GuardedRequest:
        """The guard's half of a request, whatever the protocol: the decision, and what the response
        must do about the cookies the browser sent (WSGI, ASGI and the Django middleware share it).
        `region` is the visitor's, from the trusted header (`self.regions`), for the regime's defaults."""
        if self.refresher is not None and not self._started:
            self._started = True
            self.refresher.start()
        rules = self.rules
        decision, token = self.decide_cookies(cookie_header, gpc, rules, region)
        refused: list[str] = []
        if decision.status in ("invalid", "expired"):
            self.stats.invalid_tokens += decision.status == "invalid"
            # The forged cookie goes whatever expire_refused says; with no declarations, only it.
            refused = (self.refused_cookies(cookie_header, decision, rules) if rules is not None
                       else ["consent"])
            if rules is not None and not self.expire_refused:
                refused = [rules.cookie_name]
        elif self.expire_refused and rules is not None:
            refused = self.refused_cookies(cookie_header, decision, rules)
        return GuardedRequest(decision, token, rules, refused, secure)

    def response_headers(self, headers: list[tuple[str, str]], request: GuardedRequest) -> list[tuple[str, str]]:
        """The response's headers as the decision allows them: filtered, refused cookies expired, the
        consent cookie re-issued."""
        rules = request.rules
        headers = self.filter_headers(headers, request.decision, rules)
        if request.refused:
            headers = [*headers, *self._expiry_headers(request.refused, headers, rules)]
        if request.token and self.reissue and rules is not None:
            extra = self._reissue_header(headers, request.token, request.decision, rules, request.secure)
            if extra is not None:
                headers = [*headers, extra]
                self.stats.reissued += 1
        return headers

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = self.check_request(environ.get("HTTP_COOKIE", ""), sends_gpc(environ),
                                     environ.get("wsgi.url_scheme") == "https", self.regions.from_environ(environ))
        environ[DECISION_KEY] = request.decision
        environ[GPC_KEY] = request.decision.gpc

        def guarded_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = self.response_headers(headers, request)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        return self.app(environ, guarded_start_response)

    def close(self) -> None:
        """Stop the refresh thread (tests, or an orderly shutdown)."""
        if self.refresher is not None:
            self.refresher.stop()

"""The browser suites' world: the real service on one origin and the shop's test pages on another
(tests/browser/conftest.py starts them), and helpers to read what the banner did."""

from __future__ import annotations

import json
import re
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response

from tests.support import DEMO_TOML

SERVICE_ENV = {
    "SECRET_KEYS": "browser-test-secret-0123456789abcdef0123",
    "IP_PEPPER": "browser-test-pepper",
    "SITE_CACHE_SECONDS": "0",
    "RATE_LIMIT_WRITES": "10000/minute",
}


def slow_when_asked(app: Any) -> Any:
    """WSGI wrapper: a `slow=<ms>` query parameter delays the response (a slow network, server side)."""
    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        match = re.search(r"(?:^|&)slow=(\d+)", environ.get("QUERY_STRING", ""))
        if match:
            time.sleep(int(match.group(1)) / 1000)
        return app(environ, start_response)

    return wrapped


# ----------------------------------------------------------------------------------------- pages


@dataclass
class Pages:
    """The shop's origin: serves whatever pages a test registers."""

    routes: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    origin: str = ""
    service_url: str = ""

    def add(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8",
            csp: str | None = None, headers: dict[str, str] | None = None) -> str:
        data = body.encode() if isinstance(body, str) else body
        extra = {"Content-Type": content_type, "Cache-Control": "no-store", **(headers or {})}
        if csp:
            extra["Content-Security-Policy"] = csp
        self.routes[path] = (data, extra)
        return self.origin + path

    def shop(self, site: str, body: str = "", *, lang: str | None = "en", head: str = "",
             nonce: str | None = None, path: str | None = None, csp: bool = False, tall: bool = True,
             query: str = "") -> str:
        """A shop page loading the banner with one async tag; `csp` adds a strict CSP with `nonce`.
        `query` is appended to the banner's URL (e.g. "slow=1000" delays it, any value busts the cache)."""
        path = path or f"/{site}/{secrets.token_hex(4)}.html"
        nonce_attr = f' nonce="{nonce}"' if nonce else ""
        src = f"{self.service_url}/v1/sites/{site}/banner.js" + (f"?{query}" if query else "")
        lang_attr = f' lang="{lang}"' if lang else ""
        filler = "".join(f"<p>Paragraph {i} of the product list.</p>" for i in range(40)) if tall else ""
        html = (
            f"<!doctype html><html{lang_attr}><head><meta charset=utf-8><title>Shop page</title>{head}"
            f'<script src="{src}" async{nonce_attr}></script></head>'
            f"<body><header><h1>Demo shop</h1></header><main>{body}{filler}</main>"
            f'<footer><a href="#" data-consent-settings>Cookie settings</a></footer></body></html>'
        )
        policy = f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'" if (nonce and csp) else None
        return self.add(path, html, csp=policy)


def page_app(pages: Pages) -> Flask:
    app = Flask("shop_pages")

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def serve(path: str) -> Response:
        found = pages.routes.get("/" + path)
        if found is None:
            return Response("not found", status=404)
        body, headers = found
        return Response(body, headers=headers)

    return app


# --------------------------------------------------------------------------------------- service


@dataclass
class Service:
    app: Any
    url: str
    page_origin: str
    tmp: Path

    def site(self, site_id: str | None = None, edit: Any = None) -> str:
        """Declare (or re-declare) a site like the demo one, allowing only the page server's origin.
        `edit(decl_dict)` may change the decoded TOML first. Returns the site id."""
        from consent_service.extensions import db
        from consent_service.sites.declaration import parse_declaration
        from consent_service.sites.sync import sync_declarations

        site_id = site_id or "s" + secrets.token_hex(4)
        raw = tomllib.loads(DEMO_TOML.read_text(encoding="utf-8"))
        raw["site"]["id"] = site_id
        raw["site"]["origins"] = [self.page_origin]
        raw["scan"]["start_urls"] = [self.page_origin + "/"]
        raw["site"]["privacy_policy_url"] = self.page_origin + "/privacy"
        if edit:
            edit(raw)
        with self.app.app_context():
            sync_declarations(db.session, [parse_declaration(raw, site_id)], self.app.extensions["consent"].site_states)
        return site_id

    def records(self, site_id: str) -> list[dict[str, Any]]:
        """The stored records of a site, oldest first, with the columns a test checks."""
        from consent_service.extensions import db

        with self.app.app_context():
            rows = db.session.execute(sa.text(
                "SELECT * FROM consent_records WHERE site_id = :s ORDER BY id"), {"s": site_id})
            records = [dict(row._mapping) for row in rows]
        for record in records:
            if isinstance(record["choices"], str):
                record["choices"] = json.loads(record["choices"])
        return records

    def config(self, site_id: str) -> dict[str, Any]:
        with self.app.test_client() as client:
            return client.get(f"/v1/sites/{site_id}/config").get_json()


# ----------------------------------------------------------------------------------------- helpers

BANNER = "[role=dialog].cc-b"
PREFERENCES = ".cc-pv[role=dialog]"


def consent_mode_calls(page: Any) -> list[list[Any]]:
    """The gtag('consent', ...) calls in window.dataLayer, as plain lists."""
    return page.evaluate(
        "() => (window.dataLayer || []).map(a => Array.from(a)).filter(a => a[0] === 'consent')")


def token_payload(token: str) -> dict[str, Any]:
    """A token's claims, unverified (the JWT's middle part)."""
    import base64

    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def cookie(context: Any, name: str) -> dict[str, Any] | None:
    return next((c for c in context.cookies() if c["name"] == name), None)


def wait_for_record(service: Service, site: str, count: int, page: Any) -> list[dict[str, Any]]:
    for _ in range(100):
        records = service.records(site)
        if len(records) >= count:
            return records
        page.wait_for_timeout(50)
    return service.records(site)


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def wait_until(page: Any, expression: str, timeout: float = 5.0) -> Any:
    """Poll a JS expression until truthy. (page.wait_for_function evaluates strings in a way a
    strict CSP forbids, which is exactly the kind of page these tests use.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value or time.monotonic() > deadline:
            assert value, f"timed out waiting for {expression}"
            return value
        page.wait_for_timeout(25)

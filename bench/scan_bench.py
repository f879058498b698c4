"""Cookie scanner throughput: pages x states per minute for the scanner, beside a plain Playwright crawl
of the same pages and states (same browser, same waits, same banner clicks, no instrumentation) in the
same run, on a small shop of its own that embeds the real banner from a real service.

    .venv/bin/python -m bench.scan_bench [--rounds N]     (target: the scanner at >= 0.5 of the crawl)

The shop: 8 pages that link to each other, a server cookie on every page, an inline script cookie, a
first-party script writing a cookie and localStorage, a third-party tag (127.0.0.2) not held back, a
held-back analytics script, and an add-to-cart button on product pages (a declared interaction).
Both runs start their own Chromium; each round runs the crawl, then the scan; the best round counts.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import time
from typing import Any

from flask import Flask, Response

from bench.support import ServerThread
from consent_service.devserver import LateApp
from consent_service.scan.banner import FIRST_LAYER, button_names
from consent_service.scan.browser import CHROMIUM_ARGS, chromium_path
from consent_service.scan.model import BEFORE, STATES, Interaction

TARGET = 0.5
SITE = "scanbench"
SECRETS = ["scan-bench-secret-0123456789abcdef0123456"]
PRODUCTS = 6
INTERACTIONS = [Interaction(click="#add", page="/p/*")]
SETTLE_MS = 5000
TEXTS = {"title": "Cookies", "description": "We use cookies.", "accept_all": "Accept all", "reject_all": "Reject all",
         "customize": "Customize", "save": "Save", "close": "Close", "settings": "Cookie settings",
         "preferences_title": "Preferences", "always_on": "Always on", "gpc_notice": "GPC",
         "download_record": "Download", "erase_data": "Erase", "download_receipts": "Receipts",
         "privacy_policy": "Privacy policy",
         "declaration": {"cookie": "Cookie", "provider": "Provider", "purpose": "Purpose", "lifetime": "Lifetime",
                         "allowed": "Allowed", "refused": "Not allowed", "undecided": "No choice yet.",
                         "change": "Change your choice"}}


def declaration(shop_url: str) -> dict[str, Any]:
    categories = ("necessary", "preferences", "analytics", "marketing")
    cookies = [{"name": name, "category": category, "provider": "Bench shop", "lifetime": "1 year",
                "purpose": {"en": f"{name}."}}
               for name, category in (("sid", "necessary"), ("consent", "necessary"), ("cart", "necessary"),
                                      ("visits", "analytics"), ("_ga", "analytics"), ("theme", "preferences"))]
    return {"site": {"id": SITE, "name": "Bench shop", "origins": [shop_url], "default_language": "en",
                     "languages": ["en"]},
            "categories": {"necessary": {"required": True}, "preferences": {}, "analytics": {}, "marketing": {}},
            "cookies": cookies,
            "texts": {"en": {**TEXTS, "categories": {c: {"title": c, "description": c} for c in categories}}}}


def pages() -> list[str]:
    return ["/", *(f"/p/{n}" for n in range(1, PRODUCTS + 1)), "/about"]


def create_shop(service_url: str, tag_url: str) -> Flask:
    shop = Flask("scan_bench_shop")
    nav = " ".join(f'<a href="{path}">{path}</a>' for path in pages())

    def page(title: str, body: str = "") -> str:
        return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script src="{service_url}/v1/sites/{SITE}/banner.js" async></script>
<script>document.cookie = 'ab=' + (Date.now() % 2) + '; Path=/; Max-Age=86400';</script>
<script src="/app.js" defer></script><script src="{tag_url}/tag.js"></script>
<script type="text/plain" data-consent="analytics" data-src="{tag_url}/a.js"></script>
</head><body><nav>{nav}</nav><h1>{title}</h1>{body}</body></html>"""

    @shop.after_request
    def sid(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.set_cookie("sid", "bench", httponly=True, samesite="Lax")
        return response

    @shop.get("/")
    def home() -> str:
        return page("Bench shop")

    @shop.get("/p/<int:number>")
    def product(number: int) -> str:
        return page(f"Product {number}", '<button id="add" type="button">Add to cart</button>')

    @shop.get("/about")
    def about() -> str:
        return page("About")

    @shop.post("/cart")
    def cart() -> Response:
        response = Response(status=204)
        response.set_cookie("cart", "1", max_age=86400, samesite="Lax")
        return response

    @shop.get("/app.js")
    def app_js() -> Response:
        return Response("document.cookie = 'visits=1; Path=/; Max-Age=86400';"
                        "localStorage.setItem('theme', 'dark');"
                        "var b = document.getElementById('add');"
                        "if (b) b.addEventListener('click', function () { fetch('/cart', {method: 'POST'}); });",
                        mimetype="text/javascript")

    return shop


def create_tags() -> Flask:
    tags = Flask("scan_bench_tags")

    @tags.get("/tag.js")
    def tag() -> Response:
        return Response("document.cookie = '_fbp=fb.1; Path=/; Max-Age=7776000';", mimetype="text/javascript")

    @tags.get("/a.js")
    def analytics() -> Response:
        return Response("document.cookie = '_ga=GA1.1; Path=/; Max-Age=63072000';", mimetype="text/javascript")

    return tags


@contextlib.contextmanager
def servers() -> Any:
    """The service (SQLite in a temp dir), the shop on localhost and the tags on 127.0.0.2."""
    from flask_migrate import upgrade

    from consent_service.app import create_app
    from consent_service.extensions import db
    from consent_service.scan import fetch_config
    from consent_service.sites.declaration import parse_declaration
    from consent_service.sites.sync import sync_declarations

    with tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
        env = {"SECRET_KEYS": SECRETS[0], "IP_PEPPER": "scan-bench-pepper", "SITE_CACHE_SECONDS": "0",
               "RATE_LIMIT_WRITES": "100000/minute", "DATABASE_URL": f"sqlite:///{tmp}/consent.sqlite3"}
        late_service = LateApp()
        running = [ServerThread(late_service), ServerThread(create_tags(), host="127.0.0.2")]
        service_url = f"http://127.0.0.1:{running[0].port}"
        service = late_service.app = create_app(env={**env, "REDIS_PREFIX": f"cs-scan-bench-{os.getpid()}:",
                                                     "PUBLIC_URL": service_url})
        logging.disable(logging.INFO)  # migration and request logs: the figures are the output
        with service.app_context():
            upgrade()
        try:
            tag_url = f"http://127.0.0.2:{running[1].port}"
            late = LateApp()
            shop_server = ServerThread(late)
            running.append(shop_server)
            shop_url = f"http://localhost:{shop_server.port}"
            with service.app_context():
                shared = service.extensions["consent"]
                sync_declarations(db.session, [parse_declaration(declaration(shop_url), "scan bench")],
                                  shared.site_states, shared.keyring)
            late.app = create_shop(service_url, tag_url)
            yield shop_url, fetch_config(service_url, SITE)
        finally:
            for server in reversed(running):
                server.stop()
            with service.app_context():
                db.engine.dispose()


def _settle(page: Any) -> None:
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=SETTLE_MS)


def plain_crawl(urls: list[str], config: dict[str, Any]) -> float:
    """The same pages and states with Playwright alone: fresh context, load, choose in the banner, load
    again, the interactions. Nothing recorded. Returns the seconds it took, browser start included."""
    import re

    from playwright.sync_api import sync_playwright

    names = {state: re.compile("^(" + "|".join(map(re.escape, button_names(config, state))) + ")$")
             for state in STATES if state != BEFORE}
    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        for url in urls:
            for state in STATES:
                context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(url, wait_until="load")
                _settle(page)
                if state != BEFORE:
                    page.locator(FIRST_LAYER).get_by_role("button", name=names[state]).click()
                    deadline = time.monotonic() + 5
                    while not any(c["name"] == "consent" for c in context.cookies()) and time.monotonic() < deadline:
                        page.wait_for_timeout(20)
                    page.goto(url, wait_until="load")
                    _settle(page)
                for step in INTERACTIONS:
                    if step.applies_to(url):
                        page.locator(step.click).first.click()
                        page.wait_for_load_state("load")
                        _settle(page)
                context.close()
        browser.close()
    return time.monotonic() - started


def scanner_run(start: str, config: dict[str, Any], count: int) -> tuple[float, Any]:
    from consent_service.scan import scan

    started = time.monotonic()
    result = scan([start], config=config, max_pages=count, interactions=INTERACTIONS, settle_ms=SETTLE_MS)
    return time.monotonic() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    rounds = parser.parse_args().rounds
    with servers() as (shop_url, config):
        urls = [shop_url + path for path in pages()]
        visits = len(urls) * len(STATES)
        best_plain = best_scan = float("inf")
        result = None
        for _ in range(rounds):
            best_plain = min(best_plain, plain_crawl(urls, config))
            seconds, result = scanner_run(urls[0], config, len(urls))
            best_scan = min(best_scan, seconds)
        assert result is not None and sorted(p["url"] for p in result.pages) == sorted(urls), "the scan saw other pages"
    plain_rate, scan_rate = visits * 60 / best_plain, visits * 60 / best_scan
    ratio = scan_rate / plain_rate
    verdict = "meets" if ratio >= TARGET else "BELOW"
    print(f"Cookie scanner throughput: {len(urls)} pages x {len(STATES)} states = {visits} visits, "
          f"best of {rounds} round(s), browser start included")
    print(f"  plain Playwright crawl  {plain_rate:7.1f} pages x states/min  ({best_plain:5.1f} s)")
    print(f"  scanner (instrumented)  {scan_rate:7.1f} pages x states/min  ({best_scan:5.1f} s)")
    print(f"  ratio                   {ratio:7.2f}  ({verdict} the {TARGET} target)")
    print(f"  the scan found {len(result.cookies)} cookie entries, {len(result.storage)} storage entries, "
          f"{len(result.findings)} findings (exit code {result.exit_code})")


if __name__ == "__main__":
    main()

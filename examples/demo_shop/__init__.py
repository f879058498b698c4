"""A small demo shop: product list, product page, cart and sign-in, wrapped in the consent guard and
embedding the banner, served with a strict Content-Security-Policy.

The shop sets cookies the way real shops do, without asking first: `session`, `cart` and `csrf_token`
always; a `currency` preference and an `ad_id` advertising cookie server-side on every page; `_ga`
renewed server-side when the browser has it. The guard removes whatever the visitor has not allowed.
Analytics cookies (`_ga`, `_ga_XYZ`) also come from a held-back script and `ad_id` from a held-back
pixel, which the banner runs only once their category is granted.

The cases a cookie scanner has to find (docs/scanner.md scans this shop): a product video embedded
from a third party on another loopback origin (examples/demo_shop/partner.py) that sets its own
cookie (the ad network's `ad_id`), held back until advertising is allowed; a `saved` preference
cookie set only when the visitor clicks "Add to wishlist"; an `ad_id` localStorage key written by
the held-back pixel script;
and one page, /deals, where an analytics tag was pasted without being held back: the only page
that breaks the declarations, on purpose.

The shop holds no secret of the consent service: its guard checks tokens with the site's public keys
(the service's JWKS). Its own session key is its own (`DEMO_SHOP_SECRET_KEY`).

Run it with `make run` (see examples/run_demo.py), or build it with `create_shop(...)`.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, abort, g, redirect, render_template, request, session, url_for

from consent_service.shop import ConsentGuard, consent_decision

from .partner import partner_origin
from .texts import LANGUAGES, NATIVE_NAMES, SUMMARIES, TEXTS, pick_language

CURRENCIES = {"EUR": ("€", 1.0), "USD": ("$", 1.08), "CNY": ("¥", 7.8)}
DEFAULT_CURRENCY = "EUR"
YEAR = 365 * 86400
SLUG = re.compile(r"^[a-z0-9-]{1,40}$")


@dataclass(frozen=True)
class Product:
    """A product; its summary in each language is in texts.SUMMARIES."""

    slug: str
    name: str
    price_eur: float
    #: A product tour on the video host's player (partner.py), embedded as a third party.
    video: bool = False


PRODUCTS = {p.slug: p for p in [
    Product("code-editor-pro", "Code Editor Pro", 89.0, video=True),
    Product("db-studio", "DB Studio", 129.0),
    Product("api-tester", "API Tester", 49.0),
    Product("build-cache", "Build Cache", 199.0, video=True),
]}


def _parse_cart(raw: str | None) -> dict[str, int]:
    """The cart cookie: `slug.qty~slug.qty`, or `empty`."""
    cart: dict[str, int] = {}
    for item in (raw or "").split("~"):
        slug, _, quantity = item.partition(".")
        if slug in PRODUCTS and quantity.isdigit():
            cart[slug] = min(int(quantity), 99)
    return cart


def _dump_cart(cart: dict[str, int]) -> str:
    return "~".join(f"{slug}.{quantity}" for slug, quantity in cart.items() if quantity > 0) or "empty"


def _local_path(target: str) -> str:
    """`target` when it is a path on this shop (never another host, `//host` or `/\\host`), else /."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and target.isprintable():
        return target
    return "/"


def create_shop(*, service_url: str, site_id: str = "demo", secret_key: str | None = None,
                guard_options: dict[str, Any] | None = None, partner_url: str | None = None) -> Flask:
    """The shop wrapped in the guard; declarations and public keys come from the service.
    `secret_key` signs the shop's own session cookie (random when not given: one process only).
    `partner_url` is the third party's server (partner.py); without it the pages embed no third party."""
    service_url = service_url.rstrip("/")
    shop = Flask(__name__)
    shop.secret_key = secret_key or secrets.token_urlsafe(32)
    shop.config.update(SESSION_COOKIE_SAMESITE="Lax", SERVICE_URL=service_url, SITE_ID=site_id)

    @shop.before_request
    def prepare() -> None:
        g.nonce = secrets.token_urlsafe(16)
        g.lang = pick_language(session.get("lang"), request.accept_languages.values())
        g.texts = TEXTS[g.lang]
        g.cart = _parse_cart(request.cookies.get("cart"))
        g.wishlist = [slug for slug in (request.cookies.get("saved") or "").split("~") if slug in PRODUCTS]
        g.partner = partner_origin(partner_url, request.host.rsplit(":", 1)[0]) if partner_url else None
        g.csrf_token = request.cookies.get("csrf_token") or secrets.token_urlsafe(24)
        chosen = request.args.get("currency")
        g.currency_choice = chosen if chosen in CURRENCIES else None
        g.currency = g.currency_choice or request.cookies.get("currency")
        if g.currency not in CURRENCIES:
            g.currency = DEFAULT_CURRENCY
        session.setdefault("sid", secrets.token_urlsafe(16))

    def price(product: Product, quantity: int = 1) -> str:
        symbol, rate = CURRENCIES[g.currency]
        return f"{symbol}{product.price_eur * rate * quantity:,.2f}"

    @shop.context_processor
    def page_context() -> dict[str, Any]:
        return {
            "shop_name": g.texts["shop_name"], "lang": g.lang, "t": g.texts, "summaries": SUMMARIES[g.lang],
            "other_languages": [(code, NATIVE_NAMES[code]) for code in LANGUAGES if code != g.lang],
            "here": _local_path(request.full_path if request.query_string else request.path), "nonce": g.nonce,
            "banner_url": f"{service_url}/v1/sites/{site_id}/banner.js",
            "decision": consent_decision(request.environ), "user": session.get("user"),
            "cart_count": sum(g.cart.values()), "csrf_token": g.csrf_token, "currency": g.currency,
            "currencies": list(CURRENCIES), "price": price, "partner": g.partner, "wishlist": g.wishlist,
        }

    def check_csrf() -> None:
        sent = request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent, request.cookies.get("csrf_token", "")):
            abort(400, "the form has expired; go back, reload and try again")

    def posted_product() -> str:
        """The product a shop form posts (its CSRF token checked)."""
        check_csrf()
        slug = request.form.get("slug", "")
        if slug not in PRODUCTS:
            abort(400, "unknown product")
        return slug

    @shop.get("/")
    def products() -> str:
        return render_template("products.html", products=list(PRODUCTS.values()))

    @shop.get("/products/<slug>")
    def product(slug: str) -> str:
        found = PRODUCTS.get(slug)
        if found is None:
            abort(404)
        return render_template("product.html", product=found)

    @shop.get("/cart")
    def cart() -> str:
        lines = [(PRODUCTS[slug], quantity) for slug, quantity in g.cart.items()]
        return render_template("cart.html", lines=lines)

    @shop.post("/cart")
    def add_to_cart() -> Response:
        slug = posted_product()
        try:
            quantity = max(1, min(int(request.form.get("quantity", "1")), 99))
        except ValueError:
            abort(400, "quantity must be a number")
        g.cart[slug] = min(g.cart.get(slug, 0) + quantity, 99)
        return redirect(url_for("cart"), code=303)

    @shop.post("/wishlist")
    def add_to_wishlist() -> Response:
        """A preference cookie set only after a click: the guard drops it unless preferences are allowed."""
        slug = posted_product()
        wishlist = [*(item for item in g.wishlist if item != slug), slug][-len(PRODUCTS):]
        response = redirect(url_for("product", slug=slug), code=303)
        response.set_cookie("saved", "~".join(wishlist), max_age=YEAR, samesite="Lax", secure=request.is_secure)
        return response

    @shop.post("/language")
    def set_language() -> Response:
        """The visitor's own choice of language, kept in the shop's session (a necessary cookie, declared
        as keeping it: a cookie of its own would cost the banner bytes); back to the page."""
        check_csrf()
        chosen = request.form.get("lang", "")
        if chosen not in LANGUAGES:
            abort(400, "unknown language")
        session["lang"] = chosen
        return redirect(_local_path(request.form.get("next", "/")), code=303)

    @shop.get("/deals")
    def deals() -> str:
        """The page that breaks the declarations on purpose: its analytics tag is not held back."""
        return render_template("deals.html", products=list(PRODUCTS.values()))

    @shop.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "POST":
            check_csrf()
            email = request.form.get("email", "").strip()
            if not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,190}", email):
                return render_template("login.html", error=g.texts["enter_email"]), 400
            session["user"] = email
            return redirect(url_for("products"), code=303)
        return render_template("login.html", error=None)

    @shop.post("/logout")
    def logout() -> Response:
        check_csrf()
        session.pop("user", None)
        return redirect(url_for("products"), code=303)

    @shop.get("/privacy")
    def privacy() -> str:
        return render_template("privacy.html")

    @shop.get("/pixel.gif")
    def pixel() -> Response:
        """The advertising pixel a held-back script loads: it sets `ad_id` (the guard decides)."""
        response = Response(_PIXEL, mimetype="image/gif")
        response.headers["Cache-Control"] = "no-store"
        _set_ad_id(response)
        return response

    def _set_ad_id(response: Response) -> None:
        value = request.cookies.get("ad_id") or secrets.token_hex(8)
        response.set_cookie("ad_id", value, max_age=90 * 86400, samesite="Lax")

    @shop.after_request
    def cookies_and_headers(response: Response) -> Response:
        """Cookies set the way a shop sets them, without asking: the guard filters them."""
        secure = request.is_secure
        if request.endpoint == "static" or request.endpoint == "pixel":
            return response
        response.set_cookie("csrf_token", g.csrf_token, samesite="Lax", secure=secure)
        response.set_cookie("cart", _dump_cart(g.cart), max_age=30 * 86400, samesite="Lax", secure=secure)
        if g.currency_choice or "currency" not in request.cookies:
            response.set_cookie("currency", g.currency, max_age=YEAR, samesite="Lax", secure=secure)
        _set_ad_id(response)
        if "_ga" in request.cookies:  # server-side renewal of the analytics id, as some shops do
            response.set_cookie("_ga", request.cookies["_ga"], max_age=2 * YEAR, samesite="Lax", secure=secure)
        if response.mimetype == "text/html":
            partner = g.partner or ""
            response.headers["Content-Security-Policy"] = (
                f"default-src 'self'; script-src 'nonce-{g.nonce}' {service_url}; "
                f"style-src 'nonce-{g.nonce}'; connect-src 'self' {service_url}; img-src 'self' data:; "
                f"frame-src 'self' {partner}; object-src 'none'; base-uri 'none'; form-action 'self'; "
                "frame-ancestors 'none'"
            )
            response.headers["Cache-Control"] = "no-store"
            response.vary.update(("Accept-Language", "Cookie"))  # the page's language follows both
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        return response

    options = {"undeclared": "block", "necessary_cookies": ("session", "cart", "csrf_token"),
               **(guard_options or {})}
    shop.wsgi_app = ConsentGuard(shop.wsgi_app, site_id=site_id, service_url=service_url, **options)
    return shop


_PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
          b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def create_shop_from_env() -> Flask:
    """The shop as `make run` starts it: the service at CONSENT_SERVICE_URL, its own session key in
    DEMO_SHOP_SECRET_KEY (which run_demo generates, so that every worker agrees). Nothing of the
    service's configuration is read: the shop checks tokens with the site's public keys."""
    service_url = os.environ.get("CONSENT_SERVICE_URL") or f"http://127.0.0.1:{os.environ.get('PORT', '5000')}"
    secret_key = os.environ.get("DEMO_SHOP_SECRET_KEY")
    if not secret_key:
        logging.getLogger(__name__).warning("DEMO_SHOP_SECRET_KEY is not set: sessions last one process")
    return create_shop(service_url=service_url, site_id=os.environ.get("DEMO_SITE", "demo"), secret_key=secret_key,
                       partner_url=os.environ.get("DEMO_PARTNER_URL") or None)

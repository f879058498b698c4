"""The scanner's fixture: a small shop that embeds the real banner and plants a known set of cookies
and storage keys of every kind, and third-party hosts on other loopback addresses.

What is planted (the tests compare the scan with exactly this, see EXPECTED_*):

| item | how | when |
|---|---|---|
| `sid` | the shop's server, HttpOnly, every page (and the POST /cart/add answer) | always (necessary, declared) |
| `lang_pref` | the shop's server, only when the consent token grants preferences | accept |
| `cart` | the server's answer to POST /cart/add, sent by the "Add to cart" button | always, /products (interaction) |
| `consent` | the banner | reject, accept |
| `_ga` | held-back analytics script (stats host), declared *preferences*; the database says analytics | accept |
| `analytics_queue` | IndexedDB database opened by the same script (undeclared) | accept |
| `_fbp` | a marketing script from the ads host that is *not* held back (undeclared) | always |
| `ab_bucket` | an inline script (undeclared, unknown to the database) | always |
| `VISITOR_INFO1_LIVE` | Set-Cookie of a video iframe on the video host (declared marketing) | always, /products |
| `YSC` | the video iframe's script (undeclared; the database says Functional) | always, /products |
| `ui_theme` | localStorage, the shop's app.js (declared preferences) | always |
| `checkout_step` | sessionStorage, the shop's app.js (declared necessary) | always |
| `consent:scanfix:queue` | localStorage, the banner's queue of choices | reject, accept |
| `legacy_promo` | declared, never set | never |

Pages: `/`, `/products`, `/about`, `/privacy` (the banner's policy link) by links; `/landing` only in
the sitemap; `/no-banner` linked from nowhere.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, make_response, request

from consent_service.shop.keys import service_keys

SITE_ID = "scanfix"
YEAR = 365 * 86400
#: Every planted value carries this, so a test can tell that no value reached a report.
VALUE = "PLANTED-VALUE-93c1"
INTERACTIONS = [{"page": "/products*", "click": "#add-to-cart"}]

_TEXTS_EN = {
    "title": "Cookies on the Fixture Shop", "description": "We use cookies; choose which.",
    "accept_all": "Accept all", "reject_all": "Reject all", "customize": "Customize", "save": "Save choices",
    "close": "Close", "settings": "Cookie settings", "preferences_title": "Cookie preferences",
    "always_on": "Always on", "gpc_notice": "GPC is on.", "download_record": "Download my consent record",
    "erase_data": "Erase my data", "download_receipts": "Download my receipts", "privacy_policy": "Privacy policy",
    "declaration": {"cookie": "Cookie", "provider": "Provider", "purpose": "Purpose", "lifetime": "Lifetime",
                    "allowed": "Allowed", "refused": "Not allowed", "undecided": "You have not chosen yet.",
                    "change": "Change your choice"},
}
_CATEGORY_TEXTS = {name: {"title": name.title(), "description": f"{name.title()} cookies."}
                   for name in ("necessary", "preferences", "analytics", "marketing")}


def _cookie(name: str, category: str, provider: str = "Fixture Shop", *, pattern: bool = False) -> dict[str, Any]:
    return {"pattern" if pattern else "name": name, "category": category, "provider": provider,
            "lifetime": "1 year", "purpose": {"en": f"The {name} item.", "zh-CN": f"{name} 项。"}}


def declaration(shop_url: str) -> dict[str, Any]:
    """The fixture's site declaration (as decoded TOML), with the shop as its only origin."""
    zh = {**_TEXTS_EN, "title": "Fixture 商店的 Cookie", "accept_all": "全部接受", "reject_all": "全部拒绝"}
    return {
        "site": {"id": SITE_ID, "name": "Fixture Shop", "origins": [shop_url], "cookie_domain": "",
                 "cookie_name": "consent", "default_language": "en", "languages": ["en", "zh-CN"],
                 "privacy_policy_url": shop_url + "/privacy"},
        "categories": {"necessary": {"required": True, "consent_mode": ["security_storage"]},
                       "preferences": {"consent_mode": ["functionality_storage"]},
                       "analytics": {"consent_mode": ["analytics_storage"]},
                       "marketing": {"consent_mode": ["ad_storage", "ad_user_data", "ad_personalization"]}},
        "cookies": [
            _cookie("sid", "necessary"), _cookie("consent", "necessary"), _cookie("cart", "necessary"),
            _cookie("checkout_step", "necessary"), _cookie("lang_pref", "preferences"),
            _cookie("ui_theme", "preferences"),
            _cookie("_ga", "preferences", "Google Analytics"),
            _cookie("VISITOR_INFO1_LIVE", "marketing", "Video host"),
            _cookie("legacy_promo", "marketing"),
        ],
        "texts": {"en": {**_TEXTS_EN, "categories": _CATEGORY_TEXTS},
                  "zh-CN": {**zh, "categories": _CATEGORY_TEXTS}},
        # What `consent-service scan --site scanfix` uses when given nothing else.
        "scan": {"start_urls": [shop_url + "/"], "max_pages": 10, "interactions": INTERACTIONS},
    }


def _js(body: str) -> Response:
    return Response(body, mimetype="text/javascript", headers={"Cache-Control": "no-store"})


def create_third_party() -> Flask:
    """The other hosts: a video embed, an ads script and an analytics script (served on every host)."""
    app = Flask("scan_third_party")

    @app.get("/embed")
    def embed() -> Response:
        response = make_response('<!doctype html><html><body><p>video</p><script src="/embed.js"></script>'
                                 "</body></html>")
        response.set_cookie("VISITOR_INFO1_LIVE", VALUE + "-video", max_age=180 * 86400, secure=True, samesite="None")
        return response

    @app.get("/embed.js")
    def embed_js() -> Response:
        return _js("document.cookie = 'YSC=" + VALUE + "-ysc; Path=/; SameSite=None; Secure';")

    @app.get("/fbevents.js")
    def fbevents() -> Response:
        return _js("(function track() {\n"
                   "  document.cookie = '_fbp=" + VALUE + ".' + Date.now() + '; Path=/; Max-Age=7776000';\n})();")

    @app.get("/analytics.js")
    def analytics() -> Response:
        return _js("document.cookie = '_ga=" + VALUE + ".' + Date.now() + '; Path=/; Max-Age=63072000';\n"
                   "indexedDB.open('analytics_queue', 1);")

    return app


APP_JS = """
localStorage.setItem('ui_theme', '%(value)s-light');
sessionStorage.setItem('checkout_step', '%(value)s-1');
var add = document.getElementById('add-to-cart');
if (add) add.addEventListener('click', function () {
  fetch('/cart/add', {method: 'POST'}).then(function () { add.textContent = 'Added'; });
});
"""


def create_shop(*, service_url: str, hosts: dict[str, str], site_id: str = SITE_ID) -> Flask:
    """The shop. `hosts`: the base URLs of the `video`, `ads` and `stats` third parties. It checks the
    consent token with the site's public keys (no guard: the scanner must see what it really sets)."""
    app = Flask("scan_fixture_shop")
    keys = service_keys(service_url, site_id)
    banner = f'<script src="{service_url}/v1/sites/{site_id}/banner.js" async></script>'

    def page(title: str, body: str, *, with_banner: bool = True) -> str:
        return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
{banner if with_banner else ''}
<script>document.cookie = 'ab_bucket={VALUE}-' + (Math.random() < 0.5 ? 'a' : 'b') + '; Max-Age=2592000';</script>
<script src="/static/app.js" defer></script>
<script src="{hosts['ads']}/fbevents.js"></script>
<script type="text/plain" data-consent="analytics" data-src="{hosts['stats']}/analytics.js"></script>
</head><body><nav><a href="/">Home</a> <a href="/products#top">Products</a> <a href="/about">About</a>
<a href="{hosts['video']}/embed">Video host</a> <a href="mailto:shop@example.com">Mail</a>
<a href="/files/catalogue.pdf">Catalogue</a></nav><h1>{title}</h1>{body}</body></html>"""

    @app.after_request
    def cookies(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.set_cookie("sid", VALUE + "-sid", httponly=True, samesite="Lax")
            if keys.value is None:
                keys.refresh()
            check = keys.value.verify(request.cookies.get("consent")) if keys.value else None
            if check is not None and check.decided and "preferences" in check.granted:
                response.set_cookie("lang_pref", VALUE + "-en", max_age=YEAR, samesite="Lax")
        return response

    @app.get("/")
    def home() -> str:
        return page("Fixture Shop", "<p>Welcome.</p>")

    @app.get("/products")
    def products() -> str:
        return page("Products", '<p>Tools.</p><button id="add-to-cart" type="button">Add to cart</button>'
                                f'<iframe src="{hosts["video"]}/embed" title="Product video" width="300" '
                                f'height="120"></iframe>')

    @app.get("/about")
    def about() -> str:
        return page("About", "<p>About us.</p>")

    @app.get("/privacy")
    def privacy() -> str:
        return page("Privacy", "<p>Our privacy policy.</p>")

    @app.get("/landing")
    def landing() -> str:
        return page("Landing", "<p>Only the sitemap knows this page.</p>")

    @app.get("/no-banner")
    def no_banner() -> str:
        return page("No banner", "<p>This page forgot the banner.</p>", with_banner=False)

    @app.post("/cart/add")
    def cart_add() -> Response:
        response = Response(status=204)
        response.set_cookie("cart", VALUE + "-cart", max_age=30 * 86400, samesite="Lax")
        return response

    @app.get("/static/app.js")
    def app_js() -> Response:
        return _js(APP_JS % {"value": VALUE})

    @app.get("/sitemap.xml")
    def sitemap() -> Response:
        base = request.host_url.rstrip("/")
        urls = "".join(f"<url><loc>{base}{path}</loc></url>" for path in ("/", "/products", "/landing"))
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><urlset '
                        f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
                        mimetype="application/xml")

    return app

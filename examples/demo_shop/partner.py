"""The demo shop's third party: a small server on another loopback origin, standing for the companies
whose code a real shop embeds. It serves

- `/video/<slug>`: the ad network's product video player, embedded by some product pages in an
  iframe that the banner holds back until advertising is allowed. The player sets the network's
  `ad_id` on its own host (a third-party cookie, `SameSite=None; Secure`, as a real video host does);
- `/analytics.js`: an analytics tag that writes Google Analytics' one-day `_gid` on the page's host
  (a cookie the demo's declaration does not list). Only the shop's deals page loads it, with a
  snippet pasted without `data-consent`: at once, before any choice and after "Reject all", the
  violation the scanner has to find (see docs/scanner.md).

`make run` starts it on 127.0.0.1:$DEMO_PARTNER_PORT (default 8001); the shop addresses it under the
other loopback name than the one the visitor uses (see `partner_origin`), so that it is another site
in the browser's eyes, with its own cookie jar.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, abort, render_template_string, request

VIDEO_DAYS = 180
SLUG = re.compile(r"^[a-z0-9-]{1,40}$")
#: The two names of this machine: a partner addressed under the visitor's own name would share its
#: cookie jar (cookies ignore ports), so the shop swaps it for the other.
LOOPBACK_SWAP = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}

_PLAYER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Product tour</title></head>
<body style="margin:0;font:14px system-ui,sans-serif;background:#111;color:#eee;
             display:grid;place-items:center;height:100vh">
<p>&#9654; Product tour: {{ slug }}</p>
</body></html>"""

# Undeclared on purpose: the banner deletes only declared cookies of refused categories, so what the
# scanner sees after "Reject all" does not depend on whether the banner or this tag ran first.
_ANALYTICS_JS = """(function () {
  var now = Math.floor(Date.now() / 1000), id = Math.floor(Math.random() * 1e9);
  document.cookie = "_gid=GA1.1." + id + "." + now + ";Path=/;Max-Age=86400;SameSite=Lax";
})();
"""


def partner_origin(partner_url: str, visitor_host: str) -> str:
    """The partner's origin for a visitor on `visitor_host`: its own, unless that is the visitor's
    host, then under the other loopback name (127.0.0.1 <-> localhost)."""
    parts = urlsplit(partner_url)
    host = parts.hostname or ""
    if host == visitor_host.lower() and host in LOOPBACK_SWAP:
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit((parts.scheme, LOOPBACK_SWAP[host] + port, "", "", ""))
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def create_partner() -> Flask:
    """The third party's server (no guard: it is not the shop's, and sets what it likes)."""
    partner = Flask(__name__)

    @partner.get("/video/<slug>")
    def video(slug: str) -> Response:
        if not SLUG.fullmatch(slug):
            abort(404)
        response = Response(render_template_string(_PLAYER, slug=slug), mimetype="text/html")
        value = request.cookies.get("ad_id") or secrets.token_hex(8)
        response.set_cookie("ad_id", value, max_age=VIDEO_DAYS * 86400, secure=True, samesite="None")
        response.headers["Cache-Control"] = "no-store"
        return response

    @partner.get("/analytics.js")
    def analytics() -> Response:
        return Response(_ANALYTICS_JS, mimetype="text/javascript", headers={"Cache-Control": "no-store"})

    return partner

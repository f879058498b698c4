"""Bytes and time to visible: the demo site's banner as the service serves it (configuration
included) beside vanilla-cookieconsent 3.1 (cookieconsent.umd.js + cookieconsent.css, installed from
npm into a temporary directory, no configuration counted).

    .venv/bin/python -m bench.banner_size [--runs 15]

Sizes are what a browser downloads: identity, gzip (level 9) and brotli (quality 11) bodies, for the
banner of each regime the demo maps a region to (the region header injected as the operator's edge
would set it; the 8,000 B gzip budget is the opt-in banner's). Time is
measured in headless Chromium on a first visit, from the moment the script has arrived
(its Resource Timing responseEnd) to the first animation frame after the banner's dialog is in the
page; for our banner also from its own `consent:start` mark. Median of --runs fresh profiles.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import secrets
import statistics
import subprocess
import tempfile
from pathlib import Path

import brotli

from bench.banner_support import PageServer, ServerThread, launch_chromium
from bench.support import ROOT

VCC = "vanilla-cookieconsent@3.1"

# A minimal vanilla-cookieconsent setup comparable to ours: four categories, one language.
# hideFromBots must be off, or it hides itself from headless Chromium (navigator.webdriver).
VCC_RUN = {
    "hideFromBots": False,
    "categories": {"necessary": {"enabled": True, "readOnly": True}, "preferences": {}, "analytics": {},
                   "marketing": {}},
    "language": {"default": "en", "translations": {"en": {
        "consentModal": {"title": "Cookies on Demo Software Shop", "description": "We use cookies.",
                         "acceptAllBtn": "Accept all", "acceptNecessaryBtn": "Reject all",
                         "showPreferencesBtn": "Customize"},
        "preferencesModal": {"title": "Cookie preferences", "acceptAllBtn": "Accept all",
                             "acceptNecessaryBtn": "Reject all", "savePreferencesBtn": "Save choices",
                             "sections": [{"title": "Essential", "linkedCategory": "necessary"}]},
    }}},
}

# Resolves with [script arrived, visible] in page time once `selector` is in the page.
VISIBLE = """window.__visible = (selector, resource) => new Promise(resolve => {
  const done = () => requestAnimationFrame(() => {
    const arrived = Math.max(...performance.getEntriesByType('resource')
      .filter(e => resource.some(r => e.name.includes(r))).map(e => e.responseEnd));
    resolve([arrived, performance.now()]);
  });
  const found = () => { const e = document.querySelector(selector); return e && e.getBoundingClientRect().height > 0; };
  if (found()) return done();
  new MutationObserver((_, o) => { if (found()) { o.disconnect(); done(); } })
    .observe(document, {childList: true, subtree: true, attributes: true});
});"""


def sizes(data: bytes) -> tuple[int, int, int]:
    return len(data), len(gzip.compress(data, 9, mtime=0)), len(brotli.compress(data, quality=11))


#: A region of each regime in the demo site file, as the edge's headers say it.
REGIME_REGIONS = {"opt-in": {"CF-IPCountry": "FR"}, "uk": {"CF-IPCountry": "GB"},
                  "us-opt-out": {"CF-IPCountry": "US", "CF-Region-Code": "CA"}, "china": {"CF-IPCountry": "CN"},
                  "notice": {"CF-IPCountry": "AU"}}


def served_sizes(client: object, headers: dict[str, str]) -> dict[str, int]:
    served = {}
    for name, accept in (("raw", "identity"), ("gzip", "gzip"), ("brotli", "br")):
        response = client.get("/v1/sites/demo/banner.js", headers={"Accept-Encoding": accept, **headers})  # type: ignore[attr-defined]
        assert response.status_code == 200, response.status_code
        served[name] = len(response.data)
    return served


def served_demo_banner(database_dir: Path) -> tuple[object, dict[str, int], dict[str, dict[str, int]]]:
    """The real service with the demo site synced; returns the app, the served byte counts of the
    default (opt-in) banner, and those of each regime's banner."""
    from flask_migrate import upgrade

    from consent_service.app import create_app
    from consent_service.extensions import db
    from consent_service.sites.declaration import load_site_file
    from consent_service.sites.sync import sync_declarations

    env = {"SECRET_KEYS": secrets.token_hex(32), "IP_PEPPER": secrets.token_hex(16),
           "DATABASE_URL": f"sqlite:///{database_dir / 'bench.sqlite3'}",
           "REGION_COUNTRY_HEADER": "CF-IPCountry", "REGION_SUBDIVISION_HEADER": "CF-Region-Code"}
    app = create_app(env=env)
    with app.app_context():
        upgrade()
        sync_declarations(db.session, [load_site_file(ROOT / "sites" / "demo.toml")])
    client = app.test_client()
    return app, served_sizes(client, {}), {regime: served_sizes(client, headers)
                                           for regime, headers in REGIME_REGIONS.items()}


def install_vcc(directory: Path) -> Path:
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(directory), VCC],
                   check=True, stdout=subprocess.DEVNULL)
    dist = directory / "node_modules" / "vanilla-cookieconsent" / "dist"
    version = json.loads((dist.parent / "package.json").read_text())["version"]
    print(f"installed vanilla-cookieconsent {version} from npm")
    return dist


def time_to_visible(browser, url: str, selector: str, resources: list[str], runs: int,
                    own_mark: bool = False) -> tuple[float, float | None]:
    arrived_to_visible, mark_to_visible = [], []
    for _ in range(runs):
        context = browser.new_context()
        try:
            page = context.new_page()
            page.add_init_script(VISIBLE)
            page.goto(url, wait_until="commit")
            arrived, visible = page.evaluate("([s, r]) => window.__visible(s, r)", [selector, resources])
            arrived_to_visible.append(visible - arrived)
            if own_mark:
                start = page.evaluate("performance.getEntriesByName('consent:start')[0].startTime")
                mark_to_visible.append(visible - start)
        finally:
            context.close()
    return statistics.median(arrived_to_visible), (statistics.median(mark_to_visible) if own_mark else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="banner-bench-") as tmp:
        tmp_path = Path(tmp)
        app, ours, per_regime = served_demo_banner(tmp_path)
        dist = install_vcc(tmp_path / "npm")
        js, css = (dist / "cookieconsent.umd.js").read_bytes(), (dist / "cookieconsent.css").read_bytes()
        theirs = [a + b for a, b in zip(sizes(js), sizes(css), strict=True)]

        print()
        print(f"{'bytes downloaded':<44}{'raw':>9}{'gzip':>9}{'brotli':>9}")
        print(f"{'demo banner.js as served (config included)':<44}"
              f"{ours['raw']:>9,}{ours['gzip']:>9,}{ours['brotli']:>9,}")
        print(f"{'vanilla-cookieconsent 3.1 js+css (no config)':<44}{theirs[0]:>9,}{theirs[1]:>9,}{theirs[2]:>9,}")
        ratios = [ours[k] / t for k, t in zip(("raw", "gzip", "brotli"), theirs, strict=True)]
        print(f"{'ratio (ours / theirs)':<44}{ratios[0]:>9.2f}{ratios[1]:>9.2f}{ratios[2]:>9.2f}")
        print()
        print(f"{'demo banner.js per regime (region header)':<44}{'raw':>9}{'gzip':>9}{'brotli':>9}")
        for regime, served in per_regime.items():
            label = f"  {regime} ({'-'.join(REGIME_REGIONS[regime].values())})"
            print(f"{label:<44}{served['raw']:>9,}{served['gzip']:>9,}{served['brotli']:>9,}")

        service = ServerThread(app)
        pages = PageServer()
        try:
            pages.files["/vcc/cookieconsent.umd.js"] = (js, "text/javascript")
            pages.files["/vcc/cookieconsent.css"] = (css, "text/css")
            body = "<main>" + "".join(f"<p>Product {i}</p>" for i in range(30)) + "</main>"
            pages.files["/ours.html"] = ((
                "<!doctype html><html lang=en><head><meta charset=utf-8><title>ours</title>"
                f'<script src="http://127.0.0.1:{service.port}/v1/sites/demo/banner.js" async></script>'
                f"</head><body>{body}</body></html>").encode(), "text/html")
            pages.files["/vcc.html"] = ((
                "<!doctype html><html lang=en><head><meta charset=utf-8><title>vcc</title>"
                '<link rel="stylesheet" href="/vcc/cookieconsent.css">'
                f'</head><body>{body}<script src="/vcc/cookieconsent.umd.js"></script>'
                f"<script>CookieConsent.run({json.dumps(VCC_RUN)})</script></body></html>").encode(), "text/html")
            with launch_chromium() as browser:
                ours_t, ours_mark = time_to_visible(browser, pages.url("/ours.html"), ".cc-b[role=dialog]",
                                                    ["banner.js"], args.runs, own_mark=True)
                vcc_t, _ = time_to_visible(browser, pages.url("/vcc.html"), "#cc-main .cm",
                                           ["cookieconsent.umd.js", "cookieconsent.css"], args.runs)
        finally:
            service.stop()
            pages.stop()
        print()
        print(f"time to visible in headless Chromium, median of {args.runs} first visits:")
        print(f"  demo banner                 {ours_t:6.1f} ms after the script arrived "
              f"({ours_mark:.1f} ms after its own start mark; target 50 ms)")
        print(f"  vanilla-cookieconsent 3.1   {vcc_t:6.1f} ms after its script and CSS arrived")
        budget = "within" if ours["gzip"] <= 8000 else "OVER"
        print(f"\ngzip budget 8,000 bytes: {ours['gzip']:,} ({budget})")


if __name__ == "__main__":
    os.environ.setdefault("FLASK_DEBUG", "0")
    main()

"""The banner bundle without a browser: size, ETag, caching, encodings, and what the code must not do."""

from __future__ import annotations

import copy
import gzip
import re
import shutil
import subprocess

import brotli
import pytest

from consent_service.banner.bundle import banner_version, not_found_script, render_banner
from consent_service.sites.declaration import load_site_file
from consent_service.sites.state import SiteState
from tests.support import DEMO_TOML

GZIP_BUDGET = 8000


def demo_config(service: str = "http://127.0.0.1:5000", version: int = 1) -> dict:
    decl = load_site_file(DEMO_TOML)
    state = SiteState(id=decl.site_id, settings=decl.settings, version=version,
                      policy_hash=decl.policy_hash, notice=decl.notice)
    return state.banner_config(service)


def test_demo_banner_fits_the_size_budget():
    bundle = render_banner(demo_config("https://consent.example-shop.com"))
    assert len(bundle.gzip) <= GZIP_BUDGET, f"{len(bundle.gzip)} bytes gzip"
    assert len(bundle.br) < len(bundle.gzip) < len(bundle.body)


def test_encodings_decode_to_the_body():
    bundle = render_banner(demo_config())
    assert gzip.decompress(bundle.gzip) == bundle.body
    assert brotli.decompress(bundle.br) == bundle.body
    bundle.body.decode("ascii")  # ASCII only: no charset trouble on the shop's page


def test_etag_is_strong_stable_and_follows_the_config():
    config = demo_config()
    bundle = render_banner(config)
    assert re.fullmatch(r'"[0-9a-f]{64}"', bundle.etag)
    reordered = dict(reversed(list(copy.deepcopy(config).items())))
    assert render_banner(reordered).etag == bundle.etag
    assert render_banner(demo_config(version=2)).etag != bundle.etag
    assert render_banner(demo_config(service="http://other:5000")).etag != bundle.etag


def test_rendered_once_per_config():
    assert render_banner(demo_config()) is render_banner(demo_config())


def test_config_is_inlined_and_cannot_break_out():
    config = demo_config()
    config["texts"]["en"]["title"] = "</script><script>alert(1)</script>"
    body = render_banner(config).body
    assert b"</script>" not in body and b"<script>" not in body
    assert b'"policy_version":1' in body and b"Demo Software Shop" in body


def test_no_dynamic_code_or_html_sinks():
    body = render_banner(demo_config()).body.decode()
    for sink in ("eval(", "new Function", "Function(", "innerHTML", "outerHTML", "insertAdjacentHTML",
                 "document.write", "setTimeout('", 'setTimeout("', "setAttribute('on", "javascript:"):
        assert sink not in body, sink


def test_banner_version_fits_the_record():
    assert 1 <= len(banner_version()) <= 32


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_bundle_is_valid_javascript(tmp_path):
    script = tmp_path / "banner.js"
    script.write_bytes(render_banner(demo_config()).body)
    subprocess.run(["node", "--check", str(script)], check=True)


def test_unknown_site_script_is_harmless():
    body = not_found_script("</script><img src=x onerror=alert(1)>").decode()
    assert body.startswith("console.warn(\"") and body.endswith("\");\n") and body.count("\n") == 1
    assert "<" not in body and "document" not in body


def test_served_banner(client, demo):
    """What the service sends: gzip within budget, strong ETag and 304, brotli when accepted."""
    response = client.get("/v1/sites/demo/banner.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    assert len(response.data) <= GZIP_BUDGET
    assert gzip.decompress(response.data).startswith(b"(function(C,CSS,V)")
    etag = response.headers["ETag"]
    assert client.get("/v1/sites/demo/banner.js", headers={"If-None-Match": etag}).status_code == 304
    br = client.get("/v1/sites/demo/banner.js", headers={"Accept-Encoding": "br, gzip"})
    assert br.headers["Content-Encoding"] == "br" and len(br.data) < len(response.data)
    missing = client.get("/v1/sites/nope/banner.js")
    assert missing.status_code == 404 and missing.data.startswith(b"console.warn(")

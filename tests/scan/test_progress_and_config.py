"""The progress bar, the site configuration a scan reads, and a scan that has no browser."""

from __future__ import annotations

import io

import pytest

from consent_service.scan import ProgressBar, ScanError, check_config, fetch_config, scan


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_every_step_is_a_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, width=10)
    bar(1, 6, "before http://s.example/")
    bar(6, 6, "accept http://s.example/")
    bar.close()
    assert stream.getvalue().splitlines() == [
        "[##........] 1/6 pages x states  before http://s.example/",
        "[##########] 6/6 pages x states  accept http://s.example/",
    ]


def test_on_a_terminal_the_bar_is_redrawn_in_place() -> None:
    stream = Terminal()
    bar = ProgressBar(stream, width=4)
    bar(1, 2, "a")
    bar(3, 2, "b")  # more done than planned: the plan grew; never more than full
    bar.close()
    assert stream.getvalue() == "\r\x1b[2K[##..] 1/2 pages x states  a\r\x1b[2K[####] 3/3 pages x states  b\n"


def test_a_configuration_needs_what_the_scan_reads() -> None:
    config = {"site": "s", "categories": [], "cookies": [], "texts": {}}
    assert check_config(config) is config
    with pytest.raises(ScanError, match="not a site configuration"):
        check_config({"site": "s"}, "config.json")


def test_an_unreachable_service_is_a_scan_error() -> None:
    from tests.support import free_port

    with pytest.raises(ScanError, match="cannot reach the consent service"):
        fetch_config(f"http://127.0.0.1:{free_port()}", "shop", timeout=2)
    with pytest.raises(ScanError, match="must be http"):
        fetch_config("file:///etc", "shop")


def test_the_config_endpoint_of_a_service(client: object, demo: object) -> None:
    """What fetch_config reads is what the service serves (checked through the test client)."""
    response = client.get("/v1/sites/demo/config")
    assert response.status_code == 200
    config = check_config(response.get_json())
    assert config["texts"]["en"]["accept_all"] == "Accept all"


def test_no_browser_is_a_scan_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    config = {"site": "s", "categories": [], "cookies": [], "texts": {}}
    with pytest.raises(ScanError, match="no browser: Chromium not found at /nonexistent/chromium"):
        scan(["http://127.0.0.1:9/"], config=config)


@pytest.mark.parametrize(("args", "message"), [
    ({"start_urls": []}, "at least one start URL"),
    ({"start_urls": ["ftp://x/"]}, "not an http"),
    ({"start_urls": ["http://x/"], "max_pages": 0}, "must be at least 1"),
    ({"start_urls": ["http://x/"], "interactions": [{"page": "/"}]}, "needs a CSS selector"),
])
def test_arguments_that_cannot_be_scanned(args: dict, message: str) -> None:
    with pytest.raises(ScanError, match=message):
        scan(config={"site": "s"}, **args)

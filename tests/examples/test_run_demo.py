"""`make run` as a newcomer runs it: any ports, the demo site following them, a choice recorded from
Chromium on the demo shop; and the two servers stopping and starting on their own."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from consent_service.sites.declaration import load_site_file
from examples.run_demo import REFERENCE_SHOP_PORT, demo_declaration, move_to_port
from tests.support import DEMO_TOML, free_port
from tests.support.banner_pages import BANNER, wait_until
from tests.support.processes import ProcessGroup, make, poll, process_alive

HAS_TOKEN = "document.cookie.includes('consent=')"


@pytest.mark.parametrize(("url", "moved"), [
    ("http://127.0.0.1:8000", "http://127.0.0.1:8720"),
    ("http://localhost:8000/privacy", "http://localhost:8720/privacy"),
    ("http://[::1]:8000/a?b=c", "http://[::1]:8720/a?b=c"),
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),          # another port: not the reference shop
    ("https://shop.example.com:8000", "https://shop.example.com:8000"),  # not this machine
    ("https://shop.example.com/privacy", "https://shop.example.com/privacy"),
    ("http://127.0.0.1:notaport", "http://127.0.0.1:notaport"),  # left for the validation to name
])
def test_only_the_reference_shop_on_this_machine_moves(url, moved):
    assert move_to_port(url, 8720) == moved


def test_the_demo_declaration_follows_the_shop_port_and_nothing_else():
    reference = load_site_file(DEMO_TOML)
    moved = demo_declaration(8720)
    assert moved.settings["origins"] == ["http://127.0.0.1:8720", "http://localhost:8720"]
    assert moved.notice["privacy_policy_url"] == "http://127.0.0.1:8720/privacy"
    assert moved.settings["scan"]["start_urls"] == ["http://127.0.0.1:8720/"]
    assert {**moved.settings, "origins": reference.settings["origins"],
            "scan": reference.settings["scan"]} == reference.settings
    assert {**moved.settings["scan"], "start_urls": reference.settings["scan"]["start_urls"]} == \
        reference.settings["scan"]
    assert {**moved.notice, "privacy_policy_url": reference.notice["privacy_policy_url"]} == reference.notice
    assert moved.policy_hash != reference.policy_hash, "visitors are shown another link: a new version"
    same = demo_declaration(REFERENCE_SHOP_PORT)
    assert (same.settings, same.notice) == (reference.settings, reference.notice)


def test_the_launcher_refuses_bad_ports(monkeypatch, capsys):
    from examples import run_demo

    for port, shop_port, problem in (("5000", "5000", "must differ"), ("http", "8000", "PORT must be a port"),
                                     ("5000", "99999", "DEMO_PORT must be a port")):
        monkeypatch.setenv("PORT", port)
        monkeypatch.setenv("DEMO_PORT", shop_port)
        assert run_demo.main(["both"]) == 2
        assert problem in capsys.readouterr().err
    assert run_demo.main(["everything"]) == 2
    assert "usage" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ real runs


def stored_records(instance: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(instance / "consent.sqlite3") as connection:
        rows = connection.execute("SELECT method, choices, policy_version FROM consent_records ORDER BY id").fetchall()
    return [{"method": m, "choices": json.loads(c), "policy_version": v} for m, c, v in rows]


def pid_of(group: ProcessGroup, name: str) -> int:
    found = re.search(rf"{name}\s+\S+\s+pid (\d+)", group.output())
    assert found, group.output()
    return int(found.group(1))


@pytest.mark.slow
def test_make_run_on_other_ports_records_a_choice_from_chromium(tmp_path, browser):
    port, shop_port = free_port(), free_port()
    service, shop = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{shop_port}"
    instance = tmp_path / "instance"
    run = make("run", port, shop_port, instance, tmp_path / "make-run.log")
    try:
        run.wait_for(shop + "/", seconds=300)  # the first run may install the package
        run.wait_for_output("Ctrl-C stops both")
        assert f"origins http://127.0.0.1:{shop_port}, http://localhost:{shop_port}" in run.output()

        context = browser.new_context(locale="en-US")
        try:
            page = context.new_page()
            page.goto(shop + "/products/db-studio")
            page.locator(BANNER).wait_for()
            assert page.locator(f"{BANNER} a").get_attribute("href") == shop + "/privacy"
            page.get_by_role("button", name="Accept all").click()
            page.locator(BANNER).wait_for(state="detached")
            wait_until(page, HAS_TOKEN)
            page.reload()
            # The shop's backend verified the new token: the server-side status is no longer "none".
            assert page.locator("#consent-status").get_attribute("data-status") == "valid"
            assert page.locator(BANNER).count() == 0
        finally:
            context.close()
        records = stored_records(instance)
        assert [(r["method"], r["policy_version"]) for r in records] == [("accept_all", 1)]
        assert all(records[0]["choices"].values())

        output = run.output()
        # A newcomer's first run: each development secret announced once, and no packaging noise.
        assert output.count("generated a DEVELOPMENT secret") == 2, output
        assert "would be ignored" not in output and "Traceback" not in output
        assert f"{service}/v1/sites/demo/config" in output
    finally:
        run.stop()


@pytest.mark.slow
def test_the_shop_keeps_running_while_the_service_is_down_and_the_banner_keeps_the_choice(tmp_path, browser):
    port, shop_port = free_port(), free_port()
    shop = f"http://127.0.0.1:{shop_port}"
    instance = tmp_path / "instance"
    groups = [make("run", port, shop_port, instance, tmp_path / "run.log")]
    context = browser.new_context(locale="en-US")
    try:
        both = groups[0]
        both.wait_for(shop + "/", seconds=300)
        both.wait_for_output("Ctrl-C stops both")
        page = context.new_page()
        page.goto(shop + "/")
        page.locator(BANNER).wait_for()

        # The service stops; the launcher says so and keeps the shop.
        os.kill(pid_of(both, "Consent service"), signal.SIGTERM)
        both.wait_for_output("the consent service stopped")
        assert "the demo shop keeps running" in both.output()
        assert f"PORT={port} DEMO_PORT={shop_port} make run-service" in both.output()
        assert both.process.poll() is None

        page.get_by_role("button", name="Reject all").click()  # applied at once, kept in the browser
        page.locator(BANNER).wait_for(state="detached")
        assert page.evaluate("window.consent.get().decided") is True
        page.goto(shop + "/cart")
        assert page.locator("#consent-status").get_attribute("data-status") == "none"
        assert stored_records(instance) == []

        # The service comes back on its own; the next page view sends the kept choice.
        groups.append(make("run-service", port, shop_port, instance, tmp_path / "run-service.log"))
        groups[1].wait_for(f"http://127.0.0.1:{port}/healthz")
        assert "unchanged at policy version 1" in groups[1].output()
        page.goto(shop + "/")
        wait_until(page, HAS_TOKEN)
        assert [r["method"] for r in stored_records(instance)] == ["reject_all"]
        page.goto(shop + "/cart")
        assert page.locator("#consent-status").get_attribute("data-status") == "valid"
        assert page.locator(BANNER).count() == 0

        # The shop stops: its partner, which serves only the shop's pages, goes with it (and this launcher,
        # whose service was stopped above, has nothing left to run).
        partner = pid_of(both, "Demo partner")
        os.kill(pid_of(both, "Demo shop"), signal.SIGTERM)
        both.wait_for_output("the demo shop stopped")
        assert poll(lambda: not process_alive(partner), 15), "the partner server outlived the shop"
    finally:
        context.close()
        for group in groups:
            group.stop()


"""The README's curl walk-through is examples/walkthrough.sh, and it runs as written against the
service as `make run-service` starts it (any port, a fresh instance folder)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, free_port
from tests.support.processes import make, newcomer_env

SCRIPT = ROOT / "examples" / "walkthrough.sh"


def script_lines() -> str:
    """What the README shows: the script after its header and `set -eu`."""
    header, separator, body = SCRIPT.read_text(encoding="utf-8").partition("set -eu\n\n")
    assert separator and header.startswith("#!/bin/sh\n"), "the script starts with its header, then set -eu"
    return body


def test_the_readme_shows_the_script_line_for_line():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Recording and checking consent (curl walk-through)", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```\n", 1)[0]
    assert block == script_lines()
    commands = [line for line in block.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in commands if "…" in line or "<visitor_id>" in line], "no placeholders to fill in"


@pytest.mark.slow
def test_the_walkthrough_runs_against_a_real_service(tmp_path):
    port, shop_port = free_port(), free_port()
    instance = tmp_path / "instance"
    service = make("run-service", port, shop_port, instance, tmp_path / "service.log")
    try:
        service.wait_for(f"http://127.0.0.1:{port}/healthz", seconds=300)
        # The script calls .venv/bin/consent-service from the checkout: give it this venv's.
        checkout = tmp_path / "checkout"
        checkout.mkdir()
        (checkout / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
        run = subprocess.run(["sh", str(SCRIPT)], cwd=checkout, capture_output=True, text=True, timeout=120,
                             env=newcomer_env(instance, PORT=str(port), DEMO_PORT=str(shop_port)))
        assert run.returncode == 0, run.stdout + run.stderr
        choice, consent, verified, jwks = (json.loads(line) for line in run.stdout.splitlines() if line.strip())
        assert choice["policy_version"] == 1 and choice["choices"]["analytics"] is True
        assert consent["status"] == "valid" and consent["visitor_id"] == choice["visitor_id"]
        assert consent["granted"] == ["analytics", "necessary"] and consent["record_id"] == choice["record_id"]
        assert verified["status"] == "valid" and verified["record_id"] == choice["record_id"]
        assert [key["crv"] for key in jwks["keys"]] == ["Ed25519"]
        # stderr holds only the key command's own note, not the key and no warning.
        assert run.stderr.startswith("created read key ") and run.stderr.count("\n") == 1, run.stderr
    finally:
        service.stop()

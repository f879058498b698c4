"""The soak (`make soak`) in its short form: its own PostgreSQL, Redis and two gunicorn instances,
16 banners resending until acknowledged while each failure happens once. Run as a program, as
`make soak` runs it (tests do not import bench)."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys

import pytest

from tests.support import ROOT, require_service


@pytest.mark.slow
def test_quick_soak_loses_nothing():
    if not (glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb")):
        require_service("PostgreSQL server binaries", "initdb not found")
    if shutil.which("redis-server") is None:
        require_service("redis-server", "binary not found")
    run = subprocess.run([sys.executable, "-m", "bench.soak", "--quick"], cwd=ROOT, capture_output=True, text=True,
                         timeout=400)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "lost 0" in run.stdout and "duplicated 0" in run.stdout and "RESULT: PASS" in run.stdout

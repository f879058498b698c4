"""Run the consent service and the demo shop side by side, on two origins (what `make run` calls after
migrating the database and syncing sites/demo.toml).

    python -m examples.run_demo

The service listens on 127.0.0.1:$PORT (default 5000), the shop on 127.0.0.1:$DEMO_PORT (default
8000; the demo site's declared origins name port 8000). Both run under gunicorn as child processes;
Ctrl-C (or SIGTERM) stops both, and if either exits the other is stopped too.

The shop's process gets none of the service's secrets: its guard checks tokens with the site's
public keys, fetched from the service's JWKS.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The service's own settings: never in the shop's environment.
SERVICE_ONLY = ("SECRET_KEYS", "SECRET_KEYS_FILE", "IP_PEPPER", "IP_PEPPER_FILE", "DATABASE_URL", "REDIS_URL")


def _gunicorn(app: str, port: str, env: dict[str, str], workers: str = "2") -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn_conf.py"), "--bind", f"127.0.0.1:{port}",
               "--workers", workers, "--graceful-timeout", "5", app]
    if _has_control_socket():
        command[-1:-1] = ["--no-control-socket"]  # two masters would fight over the default socket
    return subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 (our own fixed command)


def _has_control_socket() -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (a fixed local http URL)
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.2)
    return False


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def service_instance_path() -> Path:
    """The service's instance folder, where its development secrets are kept (as Flask finds it)."""
    from flask import Flask

    return Path(Flask("consent_service", instance_relative_config=True).instance_path)


def main() -> int:
    from consent_service.config import ConfigError, Settings
    port = os.environ.get("PORT", "5000")
    shop_port = os.environ.get("DEMO_PORT", "8000")
    instance = service_instance_path()
    try:
        # Resolve the secrets once here, so a development secret is generated before either child
        # starts and both read the same one.
        Settings.from_env(instance_path=instance)
    except ConfigError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return 2
    service_url = f"http://127.0.0.1:{port}"
    shop_url = f"http://127.0.0.1:{shop_port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    shop_env = {name: value for name, value in env.items() if name not in SERVICE_ONLY}
    shop_env.update(CONSENT_SERVICE_URL=service_url, DEMO_SHOP_SECRET_KEY=secrets.token_urlsafe(32))

    processes: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        service = _gunicorn("wsgi:app", port, env)
        processes.append(service)
        if not _wait_until_up(f"{service_url}/healthz", service):
            print("the consent service did not start; see its output above", file=sys.stderr)
            return 1
        # The shop's guard fetches the demo site's declarations from the service as it starts.
        shop = _gunicorn("examples.demo_shop:create_shop_from_env()", shop_port, shop_env)
        processes.append(shop)
        if not _wait_until_up(shop_url + "/", shop):
            print("the demo shop did not start; see its output above", file=sys.stderr)
            return 1
        print(f"\n  Consent service: {service_url}   (config: {service_url}/v1/sites/demo/config)\n"
              f"  Demo shop:       {shop_url}\n\n  Press Ctrl-C to stop both.\n", flush=True)
        while not stopping:
            for process in processes:
                if process.poll() is not None:
                    print(f"a child process exited with status {process.returncode}; stopping",
                          file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(processes)


if __name__ == "__main__":
    sys.exit(main())

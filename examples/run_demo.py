"""Run the consent service and the demo shop side by side, on two origins (what `make run`,
`make run-service` and `make run-shop` call).

    python -m examples.run_demo            # both (make run)
    python -m examples.run_demo service    # the service alone (make run-service)
    python -m examples.run_demo shop       # the shop alone (make run-shop)

The service listens on 127.0.0.1:$PORT (default 5000), the shop on 127.0.0.1:$DEMO_PORT (default
8000), and the shop's third party (the video player and analytics tag of
examples/demo_shop/partner.py, started and stopped with the shop) on 127.0.0.1:$DEMO_PARTNER_PORT
(default 8001), which the shop's pages address as http://localhost:$DEMO_PARTNER_PORT: another site
with its own cookies, as a real embed is. Before the service starts, the database is migrated and
sites/demo.toml is synced with its loopback origins and privacy link moved to the shop's port, so
any pair of ports works without editing the file (a new privacy link is something visitors are
shown, so a change of port publishes a new policy version; harmless for a demo).

Each server runs under gunicorn as a child process. Ctrl-C (or SIGTERM) stops what this launcher
started; when one of the two exits, the other keeps running, so "the service is down, the banner
keeps the choice" can be tried by stopping the service alone (`kill <pid>` with the pid printed at
start, or run the two in two terminals).

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
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO_TOML = ROOT / "sites" / "demo.toml"
#: The shop port sites/demo.toml names in its origins and links.
REFERENCE_SHOP_PORT = 8000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MODES = ("both", "service", "shop")
#: The service's own settings: never in the shop's environment.
SERVICE_ONLY = ("SECRET_KEYS", "SECRET_KEYS_FILE", "IP_PEPPER", "IP_PEPPER_FILE", "DATABASE_URL", "REDIS_URL",
                "CONSENT_INSTANCE_PATH")


def move_to_port(url: str, port: int) -> str:
    """`url` with its port replaced when it names the reference shop on this machine, else as it is."""
    parts = urllib.parse.urlsplit(url)
    try:
        if parts.hostname not in LOOPBACK or parts.port != REFERENCE_SHOP_PORT:
            return url
    except ValueError:  # not a valid port: the declaration's validation names the problem
        return url
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def demo_declaration(shop_port: int, path: Path = DEMO_TOML) -> Any:
    """sites/demo.toml as the shop on `shop_port` needs it: origins, privacy link and the scanner's
    start pages on that port.
    The file on disk stays the reference declaration."""
    from consent_service.sites.declaration import SiteFileError, parse_declaration

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SiteFileError(f"{path.name}: {error}") from None
    site = raw.get("site", {})
    if isinstance(site.get("origins"), list):
        site["origins"] = [move_to_port(origin, shop_port) if isinstance(origin, str) else origin
                           for origin in site["origins"]]
    if isinstance(site.get("privacy_policy_url"), str):
        site["privacy_policy_url"] = move_to_port(site["privacy_policy_url"], shop_port)
    scan = raw.get("scan", {})
    if isinstance(scan.get("start_urls"), list):
        scan["start_urls"] = [move_to_port(url, shop_port) if isinstance(url, str) else url
                              for url in scan["start_urls"]]
    source = path.name if shop_port == REFERENCE_SHOP_PORT else f"{path.name} (for DEMO_PORT={shop_port})"
    return parse_declaration(raw, source)


def prepare_service(shop_port: int) -> list[str]:
    """Migrate the service's database and sync the demo site for the shop's port; what it did."""
    from flask_migrate import upgrade

    from consent_service.app import create_app
    from consent_service.extensions import db
    from consent_service.sites.sync import sync_declarations

    declaration = demo_declaration(shop_port)
    app = create_app()
    with app.app_context():
        upgrade()
        shared = app.extensions["consent"]
        results = sync_declarations(db.session, [declaration], shared.site_states, shared.keyring)
        db.engine.dispose()
    origins = ", ".join(declaration.settings["origins"])
    return [f"{result.summary()}; origins {origins}" for result in results]


def _gunicorn(app: str, port: int, env: dict[str, str], workers: int = 2) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn_conf.py"), "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--graceful-timeout", "5", app]
    if _has_control_socket():
        command[-1:-1] = ["--no-control-socket"]  # two masters would fight over the default socket
    return subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 (our own fixed command)


def _has_control_socket() -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60.0) -> bool:
    """Until `url` answers. Once the port is open a request waits for a worker to boot, however long
    a busy machine takes, rather than piling up retries in the access log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=15):  # noqa: S310 (a fixed local http URL)
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.2)
    return False


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def service_instance_path() -> Path:
    """The service's instance folder, where its development secrets are kept (as Flask finds it)."""
    from flask import Flask

    return Path(Flask("consent_service", instance_relative_config=True).instance_path)


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{name} must be a port number (1-65535), not {raw!r}")
    return int(raw)


def main(argv: list[str] | None = None) -> int:
    from consent_service.config import ConfigError, Settings
    from consent_service.sites.declaration import SiteFileError

    args = sys.argv[1:] if argv is None else argv
    mode = args[0] if args else "both"
    if mode not in MODES or len(args) > 1:
        print(f"usage: python -m examples.run_demo [{'|'.join(MODES)}]", file=sys.stderr)
        return 2
    try:
        port, shop_port = _port("PORT", 5000), _port("DEMO_PORT", REFERENCE_SHOP_PORT)
        partner_port = _port("DEMO_PARTNER_PORT", REFERENCE_SHOP_PORT + 1)
        if port == shop_port:
            raise ValueError(f"PORT and DEMO_PORT must differ (both are {port})")
        if mode != "service" and partner_port in (port, shop_port):
            raise ValueError(f"DEMO_PARTNER_PORT must differ from PORT and DEMO_PORT ({partner_port})")
        instance = Path(os.environ.get("CONSENT_INSTANCE_PATH") or service_instance_path()).resolve()
        # Resolve the secrets once here, so a development secret is generated before any child
        # starts and every process reads the same one.
        Settings.from_env(instance_path=instance)
        prepared = prepare_service(shop_port) if mode != "shop" else []
    except (ValueError, ConfigError, SiteFileError) as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return 2
    for line in prepared:
        print(line, flush=True)

    service_url = f"http://127.0.0.1:{port}"
    shop_url = f"http://127.0.0.1:{shop_port}"
    partner_url = f"http://127.0.0.1:{partner_port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CONSENT_INSTANCE_PATH": str(instance)}
    shop_env = {name: value for name, value in env.items() if name not in SERVICE_ONLY}
    shop_env.update(CONSENT_SERVICE_URL=service_url, DEMO_SHOP_SECRET_KEY=secrets.token_urlsafe(32),
                    DEMO_PARTNER_URL=partner_url)
    names = {"consent service": ("service", service_url), "demo shop": ("shop", shop_url),
             "demo partner": ("shop", f"http://localhost:{partner_port}")}
    running: dict[str, subprocess.Popen[bytes]] = {}
    started: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        if mode != "shop":
            started["consent service"] = _gunicorn("wsgi:app", port, env)
            if not _wait_until_up(f"{service_url}/healthz", started["consent service"]):
                print("the consent service did not start; see its output above", file=sys.stderr)
                return 1
        if mode != "service":
            started["demo partner"] = _gunicorn("examples.demo_shop.partner:create_partner()", partner_port,
                                                shop_env, workers=1)
            # The shop's guard fetches the demo site's declarations from the service (and keeps
            # only the necessary cookies while it cannot).
            started["demo shop"] = _gunicorn("examples.demo_shop:create_shop_from_env()", shop_port, shop_env)
            if not _wait_until_up(shop_url + "/", started["demo shop"]):
                print("the demo shop did not start; see its output above", file=sys.stderr)
                return 1
            if not _wait_until_up(partner_url + "/analytics.js", started["demo partner"]):
                print("the demo shop's partner did not start; see its output above", file=sys.stderr)
                return 1
        running.update(started)
        lines = [f"  {name.capitalize():<16} {names[name][1]:<24} pid {process.pid}"
                 for name, process in running.items()]
        if mode != "shop":
            lines.append(f"  {'Banner config':<16} {service_url}/v1/sites/demo/config")
        hint = ("Ctrl-C stops both; `kill <pid>` stops one and leaves the other running."
                if mode == "both" else "Ctrl-C stops it.")
        print("\n" + "\n".join(lines) + f"\n\n  {hint}\n", flush=True)
        while not stopping and running:
            for name, process in list(running.items()):
                if process.poll() is None:
                    continue
                del running[name]
                if name == "demo shop" and "demo partner" in running:  # it serves the shop's pages only
                    _stop({"demo partner": running.pop("demo partner")})
                other = next((n for n in running if n != "demo partner"), None)
                message = f"the {name} stopped (exit status {process.returncode})"
                if name == "demo partner":
                    message += "; the shop's pages go on without their video and analytics tag."
                elif other:
                    again = f"PORT={port} DEMO_PORT={shop_port} make run-{names[name][0]}"
                    message += (f"; the {other} keeps running. Start the {name} again with `{again}`"
                                + (", and the banner sends the choices it kept meanwhile."
                                   if name == "consent service" else "."))
                print(message, file=sys.stderr, flush=True)
            time.sleep(0.5)
        return 0 if stopping else 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(started)


if __name__ == "__main__":
    sys.exit(main())

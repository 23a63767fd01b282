"""`costper serve`: the OTLP receiver, outcome endpoint, JSON API and dashboard.

One process, one store. The socket is bound here before uvicorn starts, so a
busy port is a one-line error and `--port 0` can print the port it got.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Annotated

import typer

from costper.cli.app import app
from costper.cli.options import ConfigOption, DbOption, config, source_for, store_for
from costper.config import Config
from costper.errors import CostperError
from costper.store._server_file import server_file

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (OTLP/HTTP's 4318; 0 picks a free one).")] = 4318,
    api_key: Annotated[
        list[str] | None,
        typer.Option("--api-key", help="Require this key (repeatable; or $COSTPER_API_KEYS)."),
    ] = None,
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Receive OTLP traces and outcome events, serve the API and dashboard."""
    import uvicorn

    from costper.server.app import create_app

    cfg = config(db, config_file)
    if api_key:
        cfg = cfg.with_(api_keys=tuple(api_key))
    if host not in cfg.allowed_hosts and host not in ("0.0.0.0", "::"):
        cfg = cfg.with_(allowed_hosts=(*cfg.allowed_hosts, host.lower()))
    sock = _bind(host, port)
    from costper.store._store import is_duckdb

    # A DuckDB store is created if absent and takes writes; another backend is read from.
    source = store_for(cfg) if is_duckdb(cfg.db) else source_for(cfg)
    with source as store:
        url = _url(host, sock.getsockname()[1])
        if store.read_only:
            typer.echo(f"costper serving {store.path} read-only on {url} (dashboard and API)")
        else:
            typer.echo(
                f"costper serving {cfg.db} on {url} "
                f"(OTLP {url}/v1/traces and {url}/v1/logs, outcomes {url}/v1/outcomes)"
            )
        opened = f"{url}/?api_key=<one of your keys>" if cfg.api_keys else f"{url}/"
        typer.echo(f"dashboard: {opened}   API: {url}/api/report   docs: {url}/docs")
        if host not in LOOPBACK and not cfg.api_keys:
            typer.echo(f"warning: listening on {host} without API keys", err=True)
        if host in ("0.0.0.0", "::") and cfg.allowed_hosts == Config().allowed_hosts:
            typer.echo(
                "warning: only requests naming 127.0.0.1/localhost are answered; "
                "list this machine's names in [server] allowed_hosts",
                err=True,
            )
        server = _server_class(uvicorn.Server)(
            uvicorn.Config(
                create_app(cfg, store),
                log_level="warning",
                access_log=False,
                timeout_keep_alive=5,
                timeout_graceful_shutdown=GRACE_SECONDS,
                h11_max_incomplete_event_size=64 * 1024,
            )
        )
        with server_file(cfg.db, url):
            server.run(sockets=[sock])
    typer.echo("costper serve: stopped, store closed")


GRACE_SECONDS = 5


def _server_class(base: type) -> type:
    """uvicorn re-raises SIGTERM after its graceful shutdown, which would kill
    the process before the store is closed; this one shuts down and returns.

    SIGTERM always stops it: in-flight requests get `GRACE_SECONDS`, and if
    anything still holds the process (a stuck query) it exits hard a few
    seconds later. Acknowledged data is already committed, so nothing is lost.
    """

    class Server(base):  # type: ignore[misc,valid-type]
        def handle_exit(self, sig: int, frame: object) -> None:
            super().handle_exit(sig, frame)
            getattr(self, "_captured_signals", []).clear()
            timer = threading.Timer(GRACE_SECONDS + 5, os._exit, (3,))
            timer.daemon = True
            timer.start()

    return Server


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise CostperError(f"--host {host!r}: cannot resolve ({e.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise CostperError(f"--port {port}: cannot listen on {host} ({e.strerror})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

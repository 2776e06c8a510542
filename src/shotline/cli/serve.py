"""`shotline serve`: the API server (and, by default, its own worker), with a banner that says where
everything is, and one clear line when it cannot listen."""

from __future__ import annotations

import errno
import socket
import threading
import time
from typing import Annotated, Any

from rich.console import Console

from shotline.cli.models import ModelPath
from shotline.cli.options import (
    BrokerUrl,
    DatabaseUrl,
    DataDir,
    Engine,
    QueueKind,
    S3Bucket,
    S3Endpoint,
    StorageKind,
    build_settings,
    env_option,
)
from shotline.cli.remote import Exit, fail
from shotline.config import Settings

err = Console(stderr=True, highlight=False)
READY_POLL_S = 0.5


def serve(
    host: Annotated[str | None, env_option("HOST", "Address to bind (default 127.0.0.1; 0.0.0.0 for every "
                                                   "interface).", metavar="ADDRESS")] = None,
    port: Annotated[int | None, env_option("PORT", "Port (default 8000).", metavar="PORT")] = None,
    engine: Engine = None,
    model: ModelPath = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    queue: QueueKind = None,
    broker_url: BrokerUrl = None,
    storage: StorageKind = None,
    s3_bucket: S3Bucket = None,
    s3_endpoint_url: S3Endpoint = None,
) -> None:
    """Run the API server and the playground. With the embedded default (SQLite, local files, --queue
    inprocess) it also runs its own worker; with --queue celery, workers are `shotline worker` processes.

    Logs are lines for a person on a terminal and JSON lines otherwise (SHOTLINE_LOG_FORMAT=json|text to choose).
    Exits 8 when it cannot listen (the port is in use), 2 when a setting is invalid."""
    import uvicorn

    from shotline.api.app import create_app
    from shotline.logs import setup_logging

    settings = build_settings(host=host, port=port, engine=engine, model=model, data_dir=data_dir,
                              database_url=database_url, queue=queue, broker_url=broker_url, storage=storage,
                              s3_bucket=s3_bucket, s3_endpoint_url=s3_endpoint_url)
    setup_logging(settings.log_level, settings.log_format)
    sock = listen(settings.host, settings.port)  # before anything starts: a busy port is one line, nothing else
    try:
        application = create_app(settings)
    except ValueError as e:
        sock.close()
        fail(str(e), Exit.INVALID)
    print_banner(settings, application)
    threading.Thread(target=report_engine, args=(settings, application), name="shotline-banner", daemon=True).start()
    # access_log off: the API logs each request itself, with its request id (api/request_id.py).
    config = uvicorn.Config(application, log_config=None, access_log=False, timeout_graceful_shutdown=10,
                            timeout_keep_alive=settings.keep_alive_s)
    uvicorn.Server(config).run(sockets=[sock])


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here rather than inside uvicorn, so that a port in use ends the command
    with one sentence and its own exit code instead of a log line and uvicorn's exit."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                 flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        fail(f"--host: cannot listen on {host!r}: {e.strerror}", Exit.INVALID)
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart past TIME_WAIT
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use (another `shotline serve`?); stop it, or choose "
                 "another port with --port or SHOTLINE_PORT", Exit.CANNOT_LISTEN)
        fail(f"cannot listen on {host}:{port}: {e.strerror}", Exit.CANNOT_LISTEN)
    sock.set_inheritable(False)
    return sock


def base_url(settings: Settings) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(settings.host, settings.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return (settings.public_url or f"http://{host}:{settings.port}").rstrip("/")


def count_keys(settings: Settings, application: Any) -> str:
    configured = len(settings.api_keys)
    try:
        stored = sum(1 for k in application.state.service.keys.list() if not k.revoked)
    except Exception:  # noqa: BLE001 (the banner must not stop a server whose key store answers later)
        stored = 0
    if not configured and not stored:
        return "none yet: `shotline keys create --name me` (or SHOTLINE_API_KEYS)"
    return f"{configured} in SHOTLINE_API_KEYS, {stored} in the database"


def print_banner(settings: Settings, application: Any) -> None:
    url = base_url(settings)
    workers = ("this process's worker" if settings.queue == "inprocess" and settings.embedded_worker
               else "`shotline worker` processes")
    rows = [
        ("listening", f"http://{settings.host}:{settings.port}" if ":" not in settings.host
         else f"http://[{settings.host}]:{settings.port}"),
        ("playground", f"{url}/"),
        ("API docs", f"{url}/docs"),
        ("engine", f"{settings.engine} (loading in {workers} …)"),
        ("data", str(settings.data_dir) if not settings.database_url else settings.database_url.split("@")[-1]),
        ("keys", count_keys(settings, application)),
    ]
    err.print("[bold]Shotline[/bold] is starting")
    for name, value in rows:
        err.print(f"  {name:<12}{value}", soft_wrap=True)


def report_engine(settings: Settings, application: Any) -> None:
    """Say once whether the engine loaded: ready, or the reason it failed (the banner could not know yet)."""
    started, said = time.monotonic(), ""
    while True:
        try:
            worker = application.state.service.readiness().get("worker", "")
        except Exception:  # noqa: BLE001 (asked again next round)
            worker = ""
        if worker == "ok":
            err.print(f"  [green]engine {settings.engine} loaded[/green] in {time.monotonic() - started:.1f} s: "
                      f"ready at {base_url(settings)}/")
            return
        if "failed" in worker:
            err.print(f"  [red]engine {settings.engine} did not load:[/red] {worker.removeprefix('loading: ')}",
                      soft_wrap=True)
            return
        separate = settings.queue == "celery" or not settings.embedded_worker
        if separate and not said and worker == "no worker is running" and time.monotonic() - started > 10:
            said = worker
            err.print(f"  [yellow]no worker yet[/yellow]: tasks wait until a `shotline worker` runs engine "
                      f"{settings.engine}")
        time.sleep(READY_POLL_S)

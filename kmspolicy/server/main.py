"""Run the server: identities -> runtime (wiring) -> ASGI app -> uvicorn on a bound socket.

Layer: server (adapter). uvicorn with httptools and uvloop carries HTTP/1.1 keep-alive, TLS and
graceful shutdown on SIGTERM/SIGINT; the app itself is a raw ASGI callable (see ``app.py``). The
socket is bound here, before uvicorn starts, so that the startup line names the real address
(``--port 0`` picks a free port) and an address in use is a clean error, not a traceback.
"""

from __future__ import annotations

import gc
import ipaddress
import json
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import uvicorn

from kmspolicy.errors import ConfigError, log_safe_traceback
from kmspolicy.optable import OPERATIONS
from kmspolicy.server.app import AppOptions, KmsApp
from kmspolicy.server.backend import LoopWriteGuard, ServiceBackend, inline_operations
from kmspolicy.server.health import health_check
from kmspolicy.server.identities import (
    IdentitiesConfig,
    credentials,
    development_identities,
    load_identities,
    quotas_for,
    to_directory,
)
from kmspolicy.server.protocol import REQUEST_READ_TIMEOUT, with_read_timeout
from kmspolicy.server.sigv4 import Credential, Verifier
from kmspolicy.store.xks_http import parse_connect_to
from kmspolicy.wiring import Runtime, ServiceSettings, build_runtime

if TYPE_CHECKING:
    from kmspolicy.server.console.app import Console

SWEEP_INTERVAL_SECONDS = 30.0
#: a log line's time after its second, ``.000Z`` to ``.999Z``: formatting the millisecond
#: (``:03d``) on every access line cost more than the rest of the time text
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 4599
    data_dir: Path = Path("data")
    identities: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    store_url: str | None = None
    dev: bool = False
    root_key: str | None = None  # a root-key file or a pkcs11: URI (docs/hsm.md)
    request_timeout: float = REQUEST_READ_TIMEOUT  # seconds to receive a whole request
    #: request quotas (ThrottlingException) on/off; None: the identities file's `quotas.requests`,
    #: else on — off with --dev
    request_quotas: bool | None = None
    log_format: str = "text"  # text | json (one JSON object per line)
    log_level: str = "INFO"  # of the kmspolicy loggers (access lines are INFO)
    seed: Path | None = None  # keys, aliases and (test-only) material to create at start-up
    #: the web console under /console/ (docs/console.md); None: on with --dev, else off
    console: bool | None = None
    #: --hsm-cluster values, `cluster-ID=pkcs11:...` (with the identities file's hsm_clusters)
    hsm_clusters: tuple[str, ...] = ()
    #: external key stores: trusted CAs for proxies, --xks-connect-to HOST=ADDR:PORT, deadline
    xks_ca_bundle: Path | None = None
    xks_connect_to: tuple[str, ...] = ()
    xks_timeout: float = 2.0
    #: the certificate and key presented to proxies that require mutual TLS
    xks_client_cert: Path | None = None
    xks_client_key: Path | None = None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(settings: ServerSettings) -> IdentitiesConfig:
    if settings.identities is not None:
        return load_identities(settings.identities)
    if not _is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on `{settings.host}` with the public development credentials; "
            "pass --identities FILE (docs/identities.md) or listen on 127.0.0.1"
        )
    return development_identities()


def build_app(settings: ServerSettings, config: IdentitiesConfig) -> tuple[KmsApp[str], Runtime]:
    """Everything but the socket: the runtime (store, service) and the ASGI app over it."""
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if settings.tls_cert is not None and settings.tls_key is not None:
        check_tls(settings.tls_cert, settings.tls_key)
    if (settings.xks_client_cert is None) != (settings.xks_client_key is None):
        raise ConfigError("--xks-client-cert and --xks-client-key go together")
    runtime = build_runtime(
        ServiceSettings(
            data_dir=settings.data_dir,
            store_url=settings.store_url,
            root_key=settings.root_key,
            account=config.account,
            region=config.region,
            quotas=quotas_for(config, requests=_request_quotas_on(settings, config)),
            regions=config.regions,
            hsm_clusters=hsm_clusters(settings, config),
            xks_ca_bundle=settings.xks_ca_bundle,
            xks_connect_to=dict(parse_connect_to(o) for o in settings.xks_connect_to),
            xks_timeout=settings.xks_timeout,
            xks_client_cert=(
                (settings.xks_client_cert, settings.xks_client_key)
                if settings.xks_client_cert is not None and settings.xks_client_key is not None
                else None
            ),
        ),
        to_directory(config),
    )
    if settings.seed is not None:
        _seed(settings.seed, runtime, config)
    creds = credentials(config)
    # Before the first service is built: every service (one per region) shares this store.
    runtime.store = LoopWriteGuard(runtime.store)
    options = AppOptions(
        dev=settings.dev,
        reset=runtime.reset if settings.dev else None,
        sweep=runtime.sweep,
        sweep_interval=SWEEP_INTERVAL_SECONDS,
        on_shutdown=[runtime.close],
        request_ids=runtime.service().new_request_id,
        health=health_check(runtime),
    )
    # every operation of the model: the unimplemented ones are authorized, then answered
    # UnsupportedOperationException by the service, as in-process
    inline = inline_operations(OPERATIONS.values(), local_store=runtime.in_process)
    backend = ServiceBackend(runtime.service, frozenset(OPERATIONS), inline)
    if console_enabled(settings):
        options.console = _console(backend, creds, config, runtime, options.request_ids)
    app = KmsApp(backend, Verifier(creds.get, regions=config.regions), runtime.clock, options)
    return app, runtime


def console_enabled(settings: ServerSettings) -> bool:
    """The console is on with --console, or with --dev unless --no-console."""
    return settings.console if settings.console is not None else settings.dev


def _console(
    backend: ServiceBackend,
    creds: dict[str, Credential[str]],
    config: IdentitiesConfig,
    runtime: Runtime,
    request_ids: Callable[[], str],
) -> Console:
    from kmspolicy.server.console.app import Console

    development = None
    if config.development:
        (spec,) = config.identities
        development = creds[spec.access_key_id]
    audit_path = getattr(runtime.audit, "path", None)
    audit_key = None
    if audit_path is not None and runtime.root_key is not None:
        from kmspolicy.audit import AUDIT_KEY_NAME, read_audit_key

        # the decision log page checks each record's keyed seal too (as `audit verify
        # --data-dir` does): the key the running log seals with, read once
        audit_key = read_audit_key(audit_path.parent / AUDIT_KEY_NAME, runtime.root_key)
    return Console(
        backend,
        runtime.store,
        creds.get,
        runtime.clock,
        request_ids,
        region=config.region,
        regions=config.regions,
        development=development,
        directory=runtime.identities,
        principals=[spec.arn for spec in config.identities],
        audit_path=audit_path,
        audit_key=audit_key,
    )


def hsm_clusters(settings: ServerSettings, config: IdentitiesConfig) -> dict[str, str]:
    """The CloudHSM clusters: the identities file's, then --hsm-cluster (which wins)."""
    from kmspolicy.store.pkcs11_cluster import parse_cluster_option

    clusters = dict(config.hsm_clusters)
    clusters.update(parse_cluster_option(option) for option in settings.hsm_clusters)
    return clusters


def _request_quotas_on(settings: ServerSettings, config: IdentitiesConfig) -> bool:
    if settings.request_quotas is not None:
        return settings.request_quotas
    if config.quotas.requests is not None:
        return config.quotas.requests
    return not settings.dev


def _seed(path: Path, runtime: Runtime, config: IdentitiesConfig) -> None:
    from kmspolicy.server.seed import seed_store

    try:
        report = seed_store(
            path,
            runtime.store,
            account=config.account,
            region=config.region,
            now=runtime.clock.now(),
            rng=os.urandom,
            audit=runtime.audit,  # the operator's changes go to the chain too
        )
    except BaseException:
        runtime.close()
        raise
    logging.getLogger("kmspolicy.server").info(
        "seed %s: %d key(s) created, %d already there, %d alias(es) created",
        path,
        len(report.created),
        len(report.kept),
        len(report.aliases),
    )


def check_tls(cert: Path, key: Path) -> ssl.SSLContext:
    """Load the certificate and key as uvicorn will, so that a bad file is a clean error at
    startup (uvicorn would raise ``ssl.SSLError`` from inside its own startup)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An empty password rather than none: OpenSSL would prompt on the terminal for an
        # encrypted key; uvicorn is given no password either.
        context.load_cert_chain(str(cert), str(key), password=lambda: b"")
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            f"cannot load TLS certificate/key `{cert}` / `{key}`: {reason} "
            "(both PEM; the key unencrypted and matching the certificate)"
        ) from None
    return context


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: ServerSettings, out: TextIO = sys.stdout) -> None:
    """Run until SIGTERM/SIGINT; print the startup line and the client's exports."""
    formatter = _configure_logging(settings.log_format, settings.log_level)
    config = load_config(settings)
    app, runtime = build_app(settings, config)
    try:
        sock = bind(settings.host, settings.port)
    except ConfigError:
        runtime.close()
        raise
    host, port = sock.getsockname()[:2]
    scheme = "https" if settings.tls_cert else "http"
    app.write_access_lines_with(_access_writer(sys.stderr, formatter))
    # Everything built so far (botocore's KMS model, the codec, policies, uvicorn) lives as long
    # as the process: moved out of the collector's generations, it is never traversed again by
    # the collections that the per-request garbage triggers.
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="uvloop",
            # httptools with a deadline for reading each request: a slow client cannot hold a
            # connection (or the app's body read) longer than REQUEST_READ_TIMEOUT seconds
            http=with_read_timeout(settings.request_timeout),
            lifespan="on",
            # KMS speaks no WebSocket: an upgrade request is an ordinary HTTP request (refused
            # as an unknown operation) instead of a handshake the app would have to answer
            ws="none",
            access_log=False,  # the app writes its own access line (kmspolicy.access)
            # aws:SourceIp is the TCP peer: uvicorn's default would take X-Forwarded-For from
            # any client connecting over loopback (and costs a middleware call per request)
            proxy_headers=False,
            log_config=None,
            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
            timeout_keep_alive=75,
            timeout_graceful_shutdown=10,  # in-flight requests get 10 s after SIGTERM
            server_header=False,
        )
    )

    def stop(signum: int, frame: object) -> None:
        # Before uvicorn takes the signals over, a stop request is remembered (uvicorn starts
        # and stops at once); after its graceful shutdown, uvicorn re-raises the signal under
        # this handler, which makes the stop an ordinary exit with status 0.
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(
            f"kmspolicy serve: listening on {scheme}://{host}:{port} "
            f"(store {runtime.store_description}; root key {runtime.root_key_description}; "
            f"identities {config.source}; "
            f"dev reset {'on' if settings.dev else 'off'}; "
            f"hsm clusters {runtime.clusters_description}; "
            f"request quotas {'on' if runtime.settings.quotas.requests else 'off'})",
            file=out,
            flush=True,
        )
        if settings.dev and not _is_loopback(settings.host):
            print(
                "warning: --dev on a non-loopback address: anyone who can reach this port can "
                "delete every key (POST /_kmspolicy/reset)",
                file=sys.stderr,
                flush=True,
            )
        print(banner(config, f"{scheme}://{_client_host(host)}:{port}"), file=out, flush=True)
        if console_enabled(settings):
            print(f"console: {scheme}://{_client_host(host)}:{port}/console/", file=out, flush=True)
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        runtime.close()
        sock.close()
    logging.getLogger("kmspolicy.server").info("kmspolicy serve: stopped")


def _client_host(host: str) -> str:
    """The address a client on this machine uses: a wildcard bind is reached over loopback."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def banner(config: IdentitiesConfig, endpoint: str) -> str:
    """What a client needs, as one line to paste into a shell: the endpoint and the region,
    and for the development identity its (public, documented) credentials. An identities
    file's secrets are never printed."""
    exports = [f"AWS_ENDPOINT_URL_KMS={endpoint}"]
    if config.development:
        (spec,) = config.identities
        exports += [
            f"AWS_ACCESS_KEY_ID={spec.access_key_id}",
            f"AWS_SECRET_ACCESS_KEY={spec.secret_access_key}",
        ]
        note = f"development identity {spec.arn} (docs/identities.md)"
    else:
        note = f"with an access key of {config.source}"
    # AWS CLI v1 and some SDKs read only AWS_DEFAULT_REGION, others only AWS_REGION
    exports += [f"AWS_REGION={config.region}", f"AWS_DEFAULT_REGION={config.region}"]
    return f"export {' '.join(exports)}  # {note}"


class _Formatter(logging.Formatter):
    """``<UTC time> <logger> <level> <message>``, with the time text reused within a second
    (``strftime`` per line is most of the cost of an access-log line)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.stamp(record.created)

    def formatException(self, ei: Any) -> str:
        # every exception logged in the server (uvicorn's own too): messages withheld, as they
        # may quote request data (docs/server.md)
        exc = ei[1]
        return log_safe_traceback(exc) if exc is not None else ""

    def stamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._text}{_MILLISECONDS[int((created - second) * 1000)]}"


class _JsonFormatter(_Formatter):
    """One JSON object per line: ``{"time", "logger", "level", "message"}`` (and ``exception``)
    for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.stamp(record.created),
            "logger": record.name,
            "level": record.levelname,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)

    def line(self, created: float, logger: str, level: str, message: str) -> str:
        return json.dumps(
            {"time": self.stamp(created), "logger": logger, "level": level, "message": message}
        )


def _access_writer(stream: TextIO, formatter: _Formatter) -> Callable[[str], None]:
    """Access lines exactly as the handler would format them, written straight to ``stream``:
    a LogRecord and the handler chain per request cost more than the line itself."""
    write_text = _line_writer(stream)
    if isinstance(formatter, _JsonFormatter):

        def write_json(line: str) -> None:
            write_text(formatter.line(time.time(), "kmspolicy.access", "INFO", line) + "\n")

        return write_json

    def write(line: str) -> None:
        write_text(f"{formatter.stamp(time.time())} kmspolicy.access INFO {line}\n")

    return write


def _line_writer(stream: TextIO) -> Callable[[str], None]:
    """Whole lines written to ``stream``'s file descriptor with one ``write`` each, encoded as
    the stream encodes: the text stream's buffering around a line that is written at once
    anyway cost as much as formatting it. A stream without a descriptor is written and flushed.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError

        def write_stream(text: str) -> None:
            stream.write(text)
            stream.flush()

        return write_stream
    encoding, errors = stream.encoding, stream.errors or "strict"
    # INVARIANT: nothing written through the stream before is left in its buffer, to come out
    # after lines written past it (the log handler flushes every record it writes)
    stream.flush()

    def write_descriptor(text: str) -> None:
        data = text.encode(encoding, errors)
        written = os.write(fd, data)
        while written < len(data):  # a pipe or a signal may take part of a line
            data = data[written:]
            written = os.write(fd, data)

    return write_descriptor


def _configure_logging(log_format: str = "text", level: str = "INFO") -> _Formatter:
    formatter = _JsonFormatter() if log_format == "json" else _Formatter()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger("kmspolicy")
    root.addHandler(handler)
    root.setLevel(level.upper())
    uv = logging.getLogger("uvicorn")
    uv.addHandler(handler)
    uv.setLevel(logging.WARNING)
    return formatter

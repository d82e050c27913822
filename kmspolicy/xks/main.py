"""Run ``kmspolicy xks-proxy``: configuration -> key manager -> ASGI app -> uvicorn.

Layer: xks. The same stack as ``kmspolicy serve``: a socket bound before uvicorn starts (the
startup line names the real port), httptools with a deadline for reading each request (a slow
client cannot hold a connection), TLS from PEM files and, with ``--tls-client-ca``, mutual TLS
(a client without a certificate chained to that CA fails the handshake; with
``--tls-client-subject``, a certificate for another subject is disconnected before any request).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import uvicorn

from kmspolicy.errors import ConfigError
from kmspolicy.kms.clock import SystemClock
from kmspolicy.server.main import bind, check_tls
from kmspolicy.server.protocol import DeadlineHttpToolsProtocol, with_read_timeout
from kmspolicy.xks.app import XksApp
from kmspolicy.xks.config import ProxyConfig, load_config
from kmspolicy.xks.keys import KeyManager, SealedKeys

REQUEST_READ_TIMEOUT = 5.0  # seconds; KMS gives up on a proxy after a fraction of one


@dataclass(frozen=True, slots=True)
class ProxySettings:
    config: Path
    host: str = "127.0.0.1"
    port: int = 4600
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    tls_client_subject: str | None = None
    request_timeout: float = REQUEST_READ_TIMEOUT
    log_level: str = "INFO"


def open_keys(config: ProxyConfig) -> tuple[KeyManager, bool]:
    """The key manager the configuration names, and whether its calls block (PKCS#11)."""
    key_ids = sorted(config.keys)
    if config.root_key is not None and config.root_key.startswith("pkcs11:"):
        from kmspolicy.xks.token_keys import TokenKeys

        return TokenKeys(config.root_key, key_ids), True
    from kmspolicy.store.rootkey import open_root_key

    assert config.data_dir is not None  # the config requires one without a pkcs11: root key
    root = open_root_key(config.data_dir, config.root_key)
    try:
        return SealedKeys(config.data_dir, root, key_ids), False
    except BaseException:
        root.close()
        raise


def check_settings(settings: ProxySettings) -> None:
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if settings.tls_client_ca is not None and settings.tls_cert is None:
        raise ConfigError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    if settings.tls_client_subject is not None and settings.tls_client_ca is None:
        raise ConfigError("--tls-client-subject needs --tls-client-ca")
    if settings.tls_cert is not None and settings.tls_key is not None:
        check_tls(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca is not None:
        try:
            ssl.create_default_context(cafile=str(settings.tls_client_ca))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"cannot load the client CA `{settings.tls_client_ca}`: {exc}"
            ) from None


def protocol_class(settings: ProxySettings) -> type[DeadlineHttpToolsProtocol]:
    """httptools with the read deadline, TCP_NODELAY (an answer's head and body are two TLS
    records: Nagle's algorithm would hold the second until the client's delayed ACK, ~40 ms)
    and, with ``--tls-client-subject``, the client certificate's subject checked."""
    base = with_read_timeout(settings.request_timeout)
    subject = settings.tls_client_subject

    class ProxyProtocol(base):  # type: ignore[valid-type,misc]  # a class made at runtime
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if subject is None:
                return
            cert = transport.get_extra_info("peercert") or {}
            names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
            if subject not in names:
                logging.getLogger("kmspolicy.xks").warning(
                    '{"event":"tls-client-refused","reason":"subject CN is not %s"}', subject
                )
                transport.close()

    return ProxyProtocol


def uvicorn_config(app: XksApp, settings: ProxySettings, *, loop: str = "uvloop") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop=loop,
        http=protocol_class(settings),
        lifespan="on",
        ws="none",
        access_log=False,  # the app writes one line per request (kmspolicy.xks)
        proxy_headers=False,
        log_config=None,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        ssl_ca_certs=str(settings.tls_client_ca) if settings.tls_client_ca else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if settings.tls_client_ca else ssl.CERT_NONE,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=5,
        server_header=False,
    )


def run(settings: ProxySettings, out: TextIO = sys.stdout) -> None:
    """Serve until SIGTERM/SIGINT; print the startup line."""
    _configure_logging(settings.log_level)
    check_settings(settings)
    config = load_config(settings.config)
    keys, blocking = open_keys(config)
    try:
        app = XksApp(config, keys, SystemClock(), blocking=blocking)
        sock = bind(settings.host, settings.port)
    except BaseException:
        keys.close()
        raise
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn_config(app, settings))

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheme = "https" if settings.tls_cert else "http"
    try:
        print(
            f"kmspolicy xks-proxy: listening on {scheme}://{host}:{port}{config.base_path} "
            f"(region {config.region}; {keys.describe()}; "
            f"secondary authorization {config.policy_path or 'off'}; "
            f"mutual TLS {'on' if settings.tls_client_ca else 'off'})",
            file=out,
            flush=True,
        )
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        keys.close()
        sock.close()


def _configure_logging(level: str) -> None:
    formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger("kmspolicy")
    root.addHandler(handler)
    root.setLevel(level.upper())
    uv = logging.getLogger("uvicorn")
    uv.addHandler(handler)
    uv.setLevel(logging.WARNING)

"""A real ``kmspolicy serve`` HTTP endpoint in a background thread, for tests whose client is
not Python (the AWS CLI, the JavaScript SDK, curl) or must go through HTTP and SigV4.

Layer: server (adapter). The same app, verifier and runtime as ``kmspolicy serve`` (built by
``main.build_app``), on a free loopback port, in-memory by default; stopped and closed when the
context ends. ``kmspolicy.testing.serve_in_thread`` and the ``kms_endpoint`` pytest fixture
are this.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from kmspolicy.errors import InternalError
from kmspolicy.server.main import ServerSettings, bind, build_app, load_config
from kmspolicy.server.protocol import REQUEST_READ_TIMEOUT, with_read_timeout

START_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the server listens and how to sign in to it."""

    url: str
    region: str
    access_key_id: str | None
    secret_access_key: str | None

    def env(self) -> dict[str, str]:
        """Environment variables for a client process (AWS CLI, SDKs): endpoint, region and,
        with the development identity, its credentials."""
        env = {
            "AWS_ENDPOINT_URL_KMS": self.url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }
        if self.access_key_id is not None and self.secret_access_key is not None:
            env["AWS_ACCESS_KEY_ID"] = self.access_key_id
            env["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        return env

    def client(self, **kwargs: Any) -> Any:
        """A botocore KMS client over HTTP, the client boto3 makes (the development identity
        unless keys are given)."""
        import botocore.session

        options: dict[str, Any] = {
            "endpoint_url": self.url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }
        options.update(kwargs)
        return botocore.session.get_session().create_client("kms", **options)


@contextmanager
def serve_in_thread(
    *,
    identities: str | Path | None = None,
    store_url: str = "memory:",
    data_dir: str | Path | None = None,
    dev: bool = True,
    seed: str | Path | None = None,
    console: bool | None = None,
    xks_ca_bundle: str | Path | None = None,
    xks_connect_to: tuple[str, ...] = (),
    xks_client_cert: tuple[str | Path, str | Path] | None = None,
    request_timeout: float = REQUEST_READ_TIMEOUT,
    direct: bool = True,
) -> Iterator[Endpoint]:
    """Serve on ``127.0.0.1`` (a free port) until the context ends.

    Without ``identities`` the development identity signs in (and LocalStack's and moto's
    keys). The store is in memory unless ``store_url`` names one; the root key and decision
    log go to ``data_dir`` (a temporary directory by default). ``dev`` enables the reset
    endpoint (``POST /_kmspolicy/reset``). ``seed`` names a seed file (``--seed``); ``console``
    the web console under ``/console/`` (default: with ``dev``); ``xks_ca_bundle``,
    ``xks_connect_to`` and ``xks_client_cert`` (certificate, key) are ``--xks-ca-bundle``,
    ``--xks-connect-to`` and ``--xks-client-cert``/``--xks-client-key``; ``request_timeout``
    is ``--request-timeout``. ``direct=False`` sends every request through uvicorn's ASGI
    cycle, never straight from the HTTP protocol (``server/protocol.py``; for tests that hold
    the two paths' answers equal).
    """
    with ExitStack() as stack:
        if data_dir is None:
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="kmspolicy-"))
        settings = ServerSettings(
            port=0,
            data_dir=Path(data_dir),
            identities=Path(identities) if identities is not None else None,
            store_url=store_url,
            dev=dev,
            seed=Path(seed) if seed is not None else None,
            console=console,
            xks_ca_bundle=Path(xks_ca_bundle) if xks_ca_bundle is not None else None,
            xks_connect_to=xks_connect_to,
            xks_client_cert=Path(xks_client_cert[0]) if xks_client_cert else None,
            xks_client_key=Path(xks_client_cert[1]) if xks_client_cert else None,
            request_timeout=request_timeout,
        )
        config = load_config(settings)
        app, runtime = build_app(settings, config)
        stack.callback(runtime.close)
        sock = bind(settings.host, 0)
        stack.callback(sock.close)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                loop="asyncio",
                http=with_read_timeout(settings.request_timeout, direct=direct),
                lifespan="on",
                access_log=False,
                proxy_headers=False,
                log_config=None,
                server_header=False,
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="kmspolicy-serve", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise InternalError("the kmspolicy server thread did not start")
            time.sleep(0.01)

        def stop() -> None:
            server.should_exit = True
            thread.join(START_TIMEOUT)

        stack.callback(stop)
        dev_spec = config.identities[0] if config.development else None
        yield Endpoint(
            url=f"http://127.0.0.1:{sock.getsockname()[1]}",
            region=config.region,
            access_key_id=dev_spec.access_key_id if dev_spec else None,
            secret_access_key=dev_spec.secret_access_key if dev_spec else None,
        )

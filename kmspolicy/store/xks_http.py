"""HTTPS to an external key store proxy: the adapter behind ``kms.xks_client.XksTransport``.

Layer: store (an adapter implementing a kms port, like ``pkcs11_cluster``). Each request is
signed by botocore's ``SigV4Auth`` with service ``kms-xks-proxy`` and the key store's
credential, and sent over TLS 1.2 or later, the certificate checked against the system's CAs or
the operator's bundle (``kmspolicy serve --xks-ca-bundle``) and the endpoint's host name. A
whole exchange — connect, handshake, request, answer — must fit in ``timeout`` seconds (AWS KMS
allows 250 ms; the default here is more forgiving), and an answer is read up to 64 KiB: a slow
or hostile proxy holds one request for at most that long. A connected key store's client keeps
its connections alive in a ``ConnectionPool`` of its own (bounded, aged, closed with it).

``connect_to`` maps an endpoint's host to the address actually dialled (as curl's
``--connect-to``): the key store keeps an AWS-valid ``https://host`` endpoint while the proxy
listens elsewhere (``kmspolicy serve --xks-connect-to host=127.0.0.1:4600``); the certificate
is still checked against ``host``.

A proxy that requires mutual TLS is shown the operator's client certificate
(``--xks-client-cert``/``--xks-client-key``; AWS KMS presents one for
``cks.kms.<region>.amazonaws.com``), the same for every key store of the server.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmspolicy.errors import ConfigError
from kmspolicy.kms.xks_client import (
    INVALID_RESPONSE,
    TIMED_OUT,
    TLS,
    UNREACHABLE,
    XksProxySettings,
    XksUnreachable,
)

__all__ = ["DEFAULT_MAX_IDLE", "DEFAULT_TIMEOUT", "ConnectionPool", "XksHttp", "parse_connect_to"]

SERVICE = "kms-xks-proxy"
DEFAULT_TIMEOUT = 2.0
#: idle connections a key store's client keeps to its proxy (a TLS handshake costs more than
#: the request: bench/xks_key_store.py)
DEFAULT_MAX_IDLE = 4
_MAX_ANSWER = 64 * 1024


def parse_connect_to(option: str) -> tuple[str, tuple[str, int]]:
    """``host=address:port`` (``--xks-connect-to``) → (host, (address, port))."""
    host, sep, target = option.partition("=")
    address, colon, port = target.rpartition(":")
    if not sep or not host or not colon or not address or not port.isdigit():
        raise ConfigError(
            f"--xks-connect-to `{option}`: expected HOST=ADDRESS:PORT "
            "(e.g. xks.example.com=127.0.0.1:4600)"
        )
    return host.lower(), (address.strip("[]"), int(port))


class _Connection(http.client.HTTPSConnection):
    """HTTPS to ``host`` (SNI, certificate and Host header) over a socket to ``address``."""

    def __init__(
        self, host: str, address: tuple[str, int], context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(host, 443, timeout=timeout, context=context)
        self._address = address
        self._tls = context
        self.destination: _Destination = (host.lower(), address)

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        # small requests and answers: Nagle's algorithm against the peer's
        # delayed ACK would add tens of milliseconds to each
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class XksHttp:
    """The transport of every external key store of one server (stateless between calls)."""

    def __init__(
        self,
        *,
        ca_bundle: Path | None = None,
        connect_to: Mapping[str, tuple[str, int]] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client_cert: tuple[Path, Path] | None = None,
        max_idle: int = DEFAULT_MAX_IDLE,
    ) -> None:
        self._max_idle = max_idle
        try:
            self._tls = ssl.create_default_context(
                cafile=str(ca_bundle) if ca_bundle is not None else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the XKS CA bundle `{ca_bundle}`: {exc}") from None
        self._client_cert = client_cert
        if client_cert is not None:
            try:
                self._tls.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"cannot load the XKS client certificate `{client_cert[0]}` with its key "
                    f"`{client_cert[1]}`: {exc}"
                ) from None
        self._tls.minimum_version = ssl.TLSVersion.TLSv1_2
        self._connect_to = {k.lower(): v for k, v in (connect_to or {}).items()}
        self._timeout = timeout

    def describe(self) -> str:
        mapped = ", ".join(f"{h}={a}:{p}" for h, (a, p) in sorted(self._connect_to.items()))
        cert = f", client certificate {self._client_cert[0]}" if self._client_cert else ""
        return f"timeout {self._timeout:g}s{cert}" + (f", connect-to {mapped}" if mapped else "")

    def pool(self) -> ConnectionPool:
        """A pool of kept-alive connections for one key store's client (closed with it)."""
        return ConnectionPool(self._max_idle)

    def post(
        self,
        settings: XksProxySettings,
        path: str,
        body: bytes,
        pool: ConnectionPool | None = None,
    ) -> tuple[int, bytes]:
        host = urlsplit(settings.uri_endpoint).hostname or ""
        request = AWSRequest(
            method="POST",
            url=f"https://{host}{path}",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        SigV4Auth(
            Credentials(settings.access_key_id, settings.secret_access_key),
            SERVICE,
            settings.region,
        ).add_auth(request)
        headers = dict(request.prepare().headers.items())
        deadline = time.monotonic() + self._timeout
        address = self._connect_to.get(host.lower(), (host, 443))
        reused = pool.take((host.lower(), address)) if pool is not None else None
        try:
            if reused is not None:
                try:
                    return self._exchange(reused, True, path, body, headers, deadline, pool)
                except _Stale:
                    pass  # the proxy closed the idle connection: once more, on a new one
            connection = _Connection(host, address, self._tls, self._timeout)
            return self._exchange(connection, False, path, body, headers, deadline, pool)
        except _Stale as stale:
            raise XksUnreachable(
                UNREACHABLE, f"{host} closed the connection without an answer"
            ) from stale.__cause__
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise XksUnreachable(TLS, f"TLS with {host}: {exc}") from None
        except TimeoutError:
            raise XksUnreachable(
                TIMED_OUT, f"no answer from {host} in {self._timeout:g}s"
            ) from None
        except http.client.HTTPException as exc:
            raise XksUnreachable(INVALID_RESPONSE, f"{host}: {type(exc).__name__}") from None
        except OSError as exc:
            raise XksUnreachable(UNREACHABLE, f"{host}: {exc.strerror or exc}") from None

    @staticmethod
    def _exchange(
        connection: _Connection,
        reused: bool,
        path: str,
        body: bytes,
        headers: dict[str, str],
        deadline: float,
        pool: ConnectionPool | None,
    ) -> tuple[int, bytes]:
        """One request and its answer; the connection goes back to ``pool`` when the answer
        was read whole and the proxy keeps the connection, else it is closed."""
        kept = False
        try:
            _remaining(connection, deadline)
            try:
                connection.request("POST", path, body=body, headers=headers)
                _remaining(connection, deadline)
                response = connection.getresponse()
            except (
                http.client.RemoteDisconnected,
                BrokenPipeError,
                ConnectionResetError,
                ssl.SSLEOFError,
            ) as exc:
                # nothing of an answer: a proxy that dropped the connection (an idle one it
                # closed, or mutual TLS refusing our certificate under TLS 1.3); a TLS error
                # on a new connection stays one
                if not reused and isinstance(exc, ssl.SSLError):
                    raise
                raise _Stale from exc
            chunks: list[bytes] = []
            size = 0
            while size <= _MAX_ANSWER:
                _remaining(connection, deadline)
                chunk = response.read(8192)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if pool is not None and response.isclosed() and not response.will_close:
                kept = pool.give_back(connection.destination, connection)
            return response.status, b"".join(chunks)
        finally:
            if not kept:
                connection.close()

    def __repr__(self) -> str:
        return f"XksHttp({self.describe()})"


class _Stale(Exception):  # inside this module only
    """The connection closed before any answer came."""


_Destination = tuple[str, tuple[str, int]]  # (host, dialled address)


class ConnectionPool:
    """Kept-alive connections of one key store's client: at most ``max_idle`` idle, each
    reused for at most ``IDLE_SECONDS`` after its last answer (a proxy closes idle connections
    on its own schedule; one it closed is noticed on use and replaced once). ``max_idle`` 0
    keeps none: a TLS handshake per request. Thread-safe; each connection serves one request
    at a time."""

    __slots__ = ("_closed", "_idle", "_lock", "_max_idle")

    IDLE_SECONDS = 20.0

    def __init__(self, max_idle: int) -> None:
        self._max_idle = max_idle
        self._idle: list[tuple[_Destination, float, _Connection]] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self, destination: _Destination) -> _Connection | None:
        """An idle connection to ``destination``, or None (the stale ones are closed)."""
        now = time.monotonic()
        found: _Connection | None = None
        stale: list[_Connection] = []
        with self._lock:
            keep = []
            for entry in self._idle:
                if now - entry[1] > self.IDLE_SECONDS:
                    stale.append(entry[2])
                elif found is None and entry[0] == destination:
                    found = entry[2]
                else:
                    keep.append(entry)
            self._idle = keep
        for connection in stale:
            connection.close()
        return found

    def give_back(self, destination: _Destination, connection: _Connection) -> bool:
        """Keep ``connection`` for the next request, if there is room; False: close it."""
        with self._lock:
            if self._closed or len(self._idle) >= self._max_idle:
                return False
            self._idle.append((destination, time.monotonic(), connection))
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for _destination, _since, connection in idle:
            connection.close()

    def __len__(self) -> int:
        return len(self._idle)

    def __repr__(self) -> str:
        return f"ConnectionPool({len(self._idle)} idle of {self._max_idle})"


def _remaining(connection: http.client.HTTPSConnection, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    connection.timeout = left  # for a connection not yet made
    if connection.sock is not None:
        connection.sock.settimeout(left)

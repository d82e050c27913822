"""``kmspolicy xks-proxy``: an external key store proxy (AWS's XKS Proxy API v1).

Layer: cli (adapter). Parses options and hands them to ``kmspolicy.xks.main.run``;
docs/xks-proxy.md describes the configuration file.
"""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(path_type=Path, exists=True, dir_okay=False)


@click.command("xks-proxy", context_settings={"show_default": True})
@click.option("--config", "config", type=_FILE, required=True, help="The proxy's YAML config.")
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option(
    "--port",
    default=4600,
    type=click.IntRange(0, 65535),
    help="Port (0: any free port; the startup line names it).",
)
@click.option("--tls-cert", type=_FILE, default=None, help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=_FILE, default=None, help="PEM private key for --tls-cert.")
@click.option(
    "--tls-client-ca",
    type=_FILE,
    default=None,
    help="PEM CA certificate(s): require client certificates chained to them (mutual TLS).",
)
@click.option(
    "--tls-client-subject",
    default=None,
    metavar="CN",
    help="With --tls-client-ca: accept only a client certificate with this subject common "
    "name (AWS KMS presents cks.kms.<region>.amazonaws.com).",
)
@click.option(
    "--request-timeout",
    default=5.0,
    type=click.FloatRange(0.1, 600),
    metavar="SECONDS",
    help="Close a connection (408) whose request is not received within SECONDS.",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    help="Least severe log level written (one INFO line per request).",
)
def command(
    config: Path,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    tls_client_subject: str | None,
    request_timeout: float,
    log_level: str,
) -> None:
    """Serve the XKS Proxy API (GetKeyMetadata, Encrypt, Decrypt, GetHealthStatus) under
    /<uri_prefix>/kms/xks/v1, for an AWS KMS or kmspolicy external key store.

    Requests are SigV4-signed (service kms-xks-proxy) with a credential of the config file;
    an optional kmspolicy policy authorizes each one from its request metadata. One JSON log
    line per request on stderr (metadata and timing, never plaintext). See docs/xks-proxy.md.
    """
    from kmspolicy.xks.main import ProxySettings, run

    run(
        ProxySettings(
            config=config,
            host=host,
            port=port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_client_ca=tls_client_ca,
            tls_client_subject=tls_client_subject,
            request_timeout=request_timeout,
            log_level=log_level.upper(),
        )
    )

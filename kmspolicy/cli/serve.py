"""``kmspolicy serve``: AWS KMS on the wire (JSON 1.1 + SigV4) with every request authorized.

Layer: cli (adapter). Parses options and hands them to ``kmspolicy.server.main.serve``. Every
option can also come from the environment: ``KMSPOLICY_`` and the option's name (``--port``:
``KMSPOLICY_PORT``, ``--data-dir``: ``KMSPOLICY_DATA_DIR``, ``--store``: ``KMSPOLICY_STORE_URL``);
a flag on the command line wins.
"""

from __future__ import annotations

from pathlib import Path

import click

_PATH = click.Path(path_type=Path)
_FILE = click.Path(path_type=Path, exists=True, dir_okay=False)


@click.command("serve", context_settings={"auto_envvar_prefix": "KMSPOLICY", "show_default": True})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=4599,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free port; the startup line names it).",
)
@click.option(
    "--data-dir",
    default=Path("data"),
    show_default=True,
    type=_PATH,
    help="Directory for the SQLite store and the root key (created if missing).",
)
@click.option(
    "--identities",
    type=_FILE,
    default=None,
    help="Identities file (YAML/JSON, docs/identities.md). Default: the development identity.",
)
@click.option("--tls-cert", type=_FILE, default=None, help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=_FILE, default=None, help="PEM private key for --tls-cert.")
@click.option(
    "--store",
    "store_url",
    default=None,
    metavar="URL",
    help="Store URL: sqlite:///path/kms.db, postgresql://..., memory: (default: SQLite in "
    "--data-dir).",
)
@click.option(
    "--root-key",
    "root_key",
    default=None,
    metavar="FILE|pkcs11:URI",
    help="Root key sealing stored key material: a key file, or a key in a PKCS#11 HSM "
    "(pkcs11:module=...;token=...;object=...;pin-source=env:KMSPOLICY_HSM_PIN, docs/hsm.md). "
    "Default: $KMSPOLICY_ROOT_KEY, $KMSPOLICY_ROOT_KEY_FILE, else DATA_DIR/root.key.",
)
@click.option(
    "--request-timeout",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    metavar="SECONDS",
    help="Close a connection (408) whose request head and body are not received within "
    "SECONDS of its first byte (slow clients).",
)
@click.option(
    "--request-quotas",
    "request_quotas",
    type=click.Choice(["aws", "off"]),
    default=None,
    help="Request quotas per account and Region (ThrottlingException past AWS's requests per "
    "second, docs/server.md). Default: the identities file's quotas.requests, else aws — off "
    "with --dev.",
)
@click.option(
    "--seed",
    type=_FILE,
    default=None,
    help="YAML/JSON file of keys (fixed ids, aliases, policies, optional fixed material for "
    "tests) created at start-up when missing (docs/server.md).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    help="Server log on stderr: text lines, or one JSON object per line.",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    help="Least severe log level written (access lines are INFO).",
)
@click.option(
    "--hsm-cluster",
    "hsm_clusters",
    multiple=True,
    metavar="CLUSTER_ID=pkcs11:URI",
    help="A PKCS#11 token serving as the CloudHSM cluster CLUSTER_ID of custom key stores, e.g. "
    "cluster-234567abcdef=pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=ks1 "
    "(repeatable; added to the identities file's hsm_clusters; docs/custom-key-stores.md).",
)
@click.option(
    "--xks-ca-bundle",
    type=_FILE,
    default=None,
    help="PEM CA certificates trusted for external key store proxies (default: the system's).",
)
@click.option(
    "--xks-connect-to",
    "xks_connect_to",
    multiple=True,
    metavar="HOST=ADDRESS:PORT",
    help="Reach the external key store proxy of endpoint https://HOST at ADDRESS:PORT (its "
    "certificate still checked for HOST; repeatable; docs/xks-proxy.md).",
)
@click.option(
    "--xks-client-cert",
    type=_FILE,
    default=None,
    help="PEM certificate presented to external key store proxies that require mutual TLS "
    "(with --xks-client-key).",
)
@click.option(
    "--xks-client-key",
    type=_FILE,
    default=None,
    help="The private key of --xks-client-cert (PEM, unencrypted).",
)
@click.option(
    "--xks-timeout",
    default=2.0,
    type=click.FloatRange(0.05, 60),
    metavar="SECONDS",
    help="Deadline of each request to an external key store proxy (AWS KMS allows 0.25 s).",
)
@click.option(
    "--dev",
    is_flag=True,
    default=False,
    help="Enable POST /_kmspolicy/reset (deletes every key; for test suites). Never in production.",
)
@click.option(
    "--console/--no-console",
    default=None,
    help="The web console under /console/ (docs/console.md). Default: on with --dev, else off.",
)
def command(
    host: str,
    port: int,
    data_dir: Path,
    identities: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    store_url: str | None,
    root_key: str | None,
    request_timeout: float,
    request_quotas: str | None,
    seed: Path | None,
    log_format: str,
    log_level: str,
    hsm_clusters: tuple[str, ...],
    xks_ca_bundle: Path | None,
    xks_connect_to: tuple[str, ...],
    xks_timeout: float,
    xks_client_cert: Path | None,
    xks_client_key: Path | None,
    dev: bool,
    console: bool | None,
) -> None:
    """Serve the AWS KMS API (point AWS_ENDPOINT_URL_KMS at it) with policies enforced.

    Every request must be SigV4-signed by an identity of --identities (or the printed
    development identity). Stops cleanly on SIGTERM or Ctrl-C. Options may also be set as
    KMSPOLICY_<OPTION> environment variables (KMSPOLICY_PORT, KMSPOLICY_DATA_DIR,
    KMSPOLICY_IDENTITIES, ...). See docs/server.md.
    """
    from kmspolicy.server.main import ServerSettings, serve

    serve(
        ServerSettings(
            host=host,
            port=port,
            data_dir=data_dir,
            identities=identities,
            tls_cert=tls_cert,
            tls_key=tls_key,
            store_url=store_url,
            root_key=root_key,
            request_timeout=request_timeout,
            request_quotas=None if request_quotas is None else request_quotas == "aws",
            seed=seed,
            log_format=log_format,
            log_level=log_level.upper(),
            hsm_clusters=hsm_clusters,
            xks_ca_bundle=xks_ca_bundle,
            xks_connect_to=xks_connect_to,
            xks_timeout=xks_timeout,
            xks_client_cert=xks_client_cert,
            xks_client_key=xks_client_key,
            dev=dev,
            console=console,
        )
    )

"""``kmspolicy xks-proxy``: an external key store proxy (AWS's XKS Proxy API, v1).

Layer: xks (an adapter, beside ``server``: it reuses the server's SigV4 verifier and uvicorn
stack, the store's root keys, and ``authz`` for its secondary authorization). Modules:

- ``errors``   the specification's error names and HTTP statuses
- ``config``   the proxy's YAML configuration file
- ``keys``     the external key manager: keys sealed under a root key in a data directory
- ``wire``     request validation and response shapes of the four APIs
- ``policy``   secondary authorization: a kmspolicy policy over ``requestMetadata``
- ``app``      the ASGI application (routing, SigV4, errors, one log line per request)
- ``main``     the process: socket, TLS (mTLS), uvicorn

The format of the configuration file and the deviations are in ``docs/xks-proxy.md``.
"""

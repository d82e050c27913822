"""The HTTP adapter: AWS KMS JSON 1.1 over HTTP with SigV4, for unmodified AWS clients.

Layer: server (adapter; imports wiring and the library layers, never cli). ``sigv4`` verifies
signatures, ``identities`` reads the identities file, ``app`` is the raw ASGI application,
``backend`` adapts the KMS service and its wire codec, ``main`` runs it all under uvicorn.
See ``docs/server.md`` and ``docs/identities.md``.
"""

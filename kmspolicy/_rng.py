"""The type of injected randomness: ``rng(n)`` returns ``n`` random bytes (default os.urandom).

Layer: below every layer. It lives outside ``kmspolicy.crypto`` so that the service's ports
(``kms.ports``), and with them the decision log's reader (``kmspolicy audit verify``), import
without the ``server`` extra's cryptography.
"""

from __future__ import annotations

from collections.abc import Callable

Rng = Callable[[int], bytes]

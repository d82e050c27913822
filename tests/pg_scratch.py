"""The PostgreSQL server of the test session and its scratch schemas (the fixtures
``pg_schema`` and ``pg_store_url`` in tests/conftest.py make them); imported by the store
tests for its URL."""

from __future__ import annotations

import os
import secrets

# The server the tests use (scratch schemas are created and dropped in it).
PG_URL = os.environ.get("KMSPOLICY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def pg_unreachable() -> str | None:
    """Why the server cannot be used (None: it can)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg not installed (pip install 'kmspolicy[postgres]')"
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_URL} is unreachable: {str(exc).strip().splitlines()[0]}"


def scratch_url(session_schema: str) -> str:
    """A store URL with a schema of its own inside the session's scratch namespace."""
    return f"{PG_URL}?schema={session_schema}_{secrets.token_hex(3)}"


def drop_schemas(prefix: str) -> None:
    """Drop every schema whose name starts with ``prefix``."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)
        ).fetchall()
        for (schema,) in rows:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]

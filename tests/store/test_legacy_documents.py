"""Key documents written by older versions still load after a model field is dropped.

``KeyRecord.last_usage_operation``/``last_usage_date`` were stored but never used (last usage
lives in ``kms.usage``); rows written while they existed carry them and must still decode.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from kmspolicy.kms.model import KeyRecord
from kmspolicy.store import codec, open_store
from kmspolicy.store.rootkey import RootKey

sys.path.insert(0, str(Path(__file__).parent))
from store_records import key, key_arn, rich_key

_LEGACY = {"last_usage_operation": "Encrypt", "last_usage_date": "2026-04-11T00:00:00+00:00"}


def test_dropped_last_usage_fields_are_not_in_the_model() -> None:
    names = {f for f in KeyRecord.__dataclass_fields__}
    assert names.isdisjoint(_LEGACY)


def test_codec_ignores_legacy_last_usage_fields() -> None:
    record = key("k1")
    doc, secrets = codec.encode_key(record)
    legacy = json.dumps({**json.loads(doc), **_LEGACY})
    assert codec.decode_key(legacy, secrets) == record


def test_sqlite_row_with_legacy_last_usage_fields_still_loads(tmp_path: Path) -> None:
    path, root = tmp_path / "kms.db", RootKey.generate()
    record = rich_key("k1")
    store = open_store(f"sqlite://{path}", root)
    with store.transaction() as tx:
        tx.put_key(record)
    store.close()
    with sqlite3.connect(path) as db:  # rewrite the row as an older version stored it
        (doc,) = db.execute("SELECT doc FROM keys WHERE arn = ?", (record.arn,)).fetchone()
        legacy = json.dumps({**json.loads(doc), **_LEGACY})
        db.execute("UPDATE keys SET doc = ? WHERE arn = ?", (legacy, record.arn))
    store = open_store(f"sqlite://{path}", root)
    try:
        with store.transaction(readonly=True) as tx:
            assert tx.get_key(key_arn("k1")) == record
    finally:
        store.close()
